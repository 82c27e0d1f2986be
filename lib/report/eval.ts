/**
 * The report of eval runs, every eval directory given on the command line in one section, so that
 * policies, methods and datasets sit side by side: accuracy by method, dataset and model; accuracy
 * against tokens per problem; maj@k curves; the other selection rules; accuracy by level and subject.
 *
 * Two layouts are read (lib/report/detect.ts says which directory holds which):
 * - `rstar eval` (issue #8): `results.jsonl`, one line per problem, policy and method with its
 *   candidates and what each selection rule chose (`selections`: maj@k, pass@n, best-of-n's
 *   aggregations, the searches' votes), and `metrics.json` (`{version, results: [entry per policy and
 *   method]}`). Accuracy, levels and rules are counted from the lines, so a run in progress shows what
 *   is done; time, tokens/s and peak memory, which only the run knows, come from metrics.json.
 * - lib/eval/evaluate.ts before #8 (an evolve round's `eval/<method>/`): `records.jsonl` and
 *   `metrics.json`, one method per directory, no selection rules (so no maj@k curve).
 * Fields are read leniently (a missing one is shown as unknown), because the contract is young.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readJsonl } from '../data/jsonl.js';
import { evalRunSubdirs, isEvalRunDir } from './detect.js';
import type { Figure, Section } from './types.js';
import { chart, displayPath, labelDirs, num, pct, readJsonIfExists, seconds } from './util.js';

/** One line of `rstar eval`'s results.jsonl, as far as the report reads it. */
interface ResultLine {
  policy?: string;
  method?: string;
  prompt?: string;
  dataset?: string;
  level?: string | number | null;
  subject?: string | null;
  answer?: string | null;
  correct?: boolean;
  selections?: Record<string, { correct?: number }>;
  candidates?: Array<{ timed_out?: boolean }>;
  tokens?: number;
  wall_ms?: number;
}

/** One entry of `rstar eval`'s metrics.json. */
interface MetricsEntry {
  policy?: string;
  method?: string;
  prompt?: string;
  dataset?: string;
  n?: number;
  time_s?: number;
  tokens_per_s?: number;
  peak_rss_mb?: number;
}

type Cells = Record<string, { problems: number; correct: number }>;

/** The accuracy of one policy with one method on one dataset. */
export interface EvalRow {
  /** The policy's name: its GGUF's, with as much of its path as tells it apart from the others shown. */
  policy: string;
  /** The policy as the run recorded it (a path); null for lib/eval records, which do not say. */
  policyPath: string | null;
  method: string;
  dataset: string;
  /** Candidates per problem (samples, searches); null when unknown. */
  n: number | null;
  problems: number;
  correct: number;
  accuracy: number;
  empty: number;
  /** Problems in which a program timed out; null when unknown. */
  timeouts: number | null;
  tokensPerProblem: number | null;
  /** Wall time of the evaluation; for lib/eval records, the sum of the problems' times. */
  wallS: number | null;
  tokensPerS: number | null;
  peakMemoryMb: number | null;
  byLevel: Cells;
  bySubject: Cells;
  /** Accuracy of each selection rule the method reports (maj@k, pass@n, last, min, …). */
  selections: Record<string, number>;
  dir: string;
}

const numberOf = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function bump(cells: Cells, key: unknown, correct: boolean): void {
  if (key === null || key === undefined || key === '') return;
  const cell = (cells[String(key).replace(/^Level\s+/i, '')] ??= { problems: 0, correct: 0 });
  cell.problems += 1;
  if (correct) cell.correct += 1;
}

/** maj@k points of a row, k ascending. */
export function majAtK(row: EvalRow): Array<{ k: number; accuracy: number }> {
  return Object.entries(row.selections)
    .map(([name, accuracy]) => ({ k: Number(/^maj@(\d+)$/.exec(name)?.[1]), accuracy }))
    .filter((p) => Number.isInteger(p.k))
    .sort((a, b) => a.k - b.k);
}

/** Rows of one `rstar eval` directory: its lines grouped by policy, method, prompt and dataset. */
async function readResultsDir(dir: string, label: string): Promise<EvalRow[]> {
  const metrics = await readJsonIfExists<{ results?: MetricsEntry[] }>(join(dir, 'metrics.json'));
  const entries = Array.isArray(metrics?.results) ? metrics.results : [];
  const groups = new Map<string, { key: MetricsEntry; lines: ResultLine[] }>();
  for await (const line of readJsonl<ResultLine>(join(dir, 'results.jsonl'))) {
    const key = { policy: line.policy, method: line.method, prompt: line.prompt, dataset: line.dataset };
    const id = JSON.stringify(key);
    const g = groups.get(id);
    if (g) g.lines.push(line);
    else groups.set(id, { key, lines: [line] });
  }
  return [...groups.values()].map(({ key, lines }) => {
    const entry = entries.find((e) => e.policy === key.policy && e.method === key.method && (e.prompt ?? key.prompt) === key.prompt && (e.dataset ?? key.dataset) === key.dataset);
    const byLevel: Cells = {};
    const bySubject: Cells = {};
    const sums = new Map<string, number>();
    let correct = 0;
    let empty = 0;
    let timeouts = 0;
    let tokens = 0;
    let wallMs = 0;
    for (const l of lines) {
      const right = l.correct === true;
      if (right) correct += 1;
      if (l.answer === null || l.answer === undefined || l.answer === '') empty += 1;
      if ((l.candidates ?? []).some((c) => c.timed_out === true)) timeouts += 1;
      tokens += l.tokens ?? 0;
      wallMs += l.wall_ms ?? 0;
      bump(byLevel, l.level, right);
      bump(bySubject, l.subject, right);
      for (const [name, sel] of Object.entries(l.selections ?? {})) sums.set(name, (sums.get(name) ?? 0) + (numberOf(sel?.correct) ?? 0));
    }
    const method = key.method ?? 'unknown';
    return {
      policy: key.policy ? basename(key.policy).replace(/\.gguf$/i, '') : label,
      policyPath: key.policy ?? null,
      method: key.prompt && key.prompt !== 'step' ? `${method} (${key.prompt})` : method,
      dataset: key.dataset ?? 'unknown',
      n: numberOf(entry?.n) ?? Math.max(1, ...lines.map((l) => l.candidates?.length ?? 1)),
      problems: lines.length,
      correct,
      accuracy: correct / lines.length,
      empty,
      timeouts,
      tokensPerProblem: tokens / lines.length,
      wallS: numberOf(entry?.time_s) ?? wallMs / 1000,
      tokensPerS: numberOf(entry?.tokens_per_s),
      peakMemoryMb: numberOf(entry?.peak_rss_mb),
      byLevel,
      bySubject,
      selections: Object.fromEntries([...sums].map(([name, sum]) => [name, sum / lines.length])),
      dir,
    };
  });
}

/** A line of records.jsonl, lib/eval/evaluate.ts before #8 (declared here: that module's types move on). */
interface LegacyRecord {
  method?: string;
  level?: string | null;
  answer?: string | null;
  correct?: boolean;
  tokens?: number;
  wallMs?: number;
}

/** The row of a lib/eval/evaluate.ts directory before #8 (records.jsonl and metrics.json, one method). */
async function readRecordsDir(dir: string, policy: string): Promise<EvalRow> {
  const metrics = await readJsonIfExists<{ method?: string; n?: number }>(join(dir, 'metrics.json'));
  const byLevel: Cells = {};
  let problems = 0;
  let correct = 0;
  let empty = 0;
  let tokens = 0;
  let wallMs = 0;
  let method: string | undefined;
  for await (const r of readJsonl<LegacyRecord>(join(dir, 'records.jsonl'))) {
    problems += 1;
    if (r.correct === true) correct += 1;
    if (r.answer === null || r.answer === undefined) empty += 1;
    tokens += r.tokens ?? 0;
    wallMs += r.wallMs ?? 0;
    method ??= r.method;
    bump(byLevel, r.level, r.correct === true);
  }
  return {
    policy,
    policyPath: null,
    method: metrics?.method ?? method ?? basename(dir),
    dataset: 'held-out', // the only writer of this layout is rstar evolve, on its held-out problems
    n: numberOf(metrics?.n),
    problems,
    correct,
    accuracy: problems === 0 ? 0 : correct / problems,
    empty,
    timeouts: null,
    tokensPerProblem: problems === 0 ? null : tokens / problems,
    wallS: wallMs / 1000,
    tokensPerS: null,
    peakMemoryMb: null,
    byLevel,
    bySubject: {},
    selections: {},
    dir,
  };
}

/** Every eval run in the given directories (a directory of method subdirectories counts as one policy). */
export async function readEvalRows(dirs: readonly string[]): Promise<EvalRow[]> {
  const labels = labelDirs(dirs);
  const rows: EvalRow[] = [];
  for (let i = 0; i < dirs.length; i++) {
    const runs = isEvalRunDir(dirs[i]) ? [dirs[i]] : evalRunSubdirs(dirs[i]);
    for (const run of runs) rows.push(...(existsSync(join(run, 'results.jsonl')) ? await readResultsDir(run, labels[i]) : [await readRecordsDir(run, labels[i])]));
  }
  // Policies with one file name in different places (every evolve round's policy.gguf) keep enough of their path.
  const paths = [...new Set(rows.flatMap((r) => (r.policyPath === null ? [] : [r.policyPath])))];
  const short = labelDirs(paths);
  const names = new Map(paths.map((p, i) => [p, short[i].replace(/\.gguf$/i, '')]));
  for (const r of rows) if (r.policyPath !== null) r.policy = names.get(r.policyPath) ?? r.policy;
  return rows;
}

/** The eval section: every eval directory together. */
export async function loadEval(dirs: readonly string[], id: string): Promise<Section> {
  const rows = await readEvalRows(dirs);
  const datasets = [...new Set(rows.map((r) => r.dataset))];
  const series = (r: EvalRow): string => `${r.policy} · ${r.method}${datasets.length > 1 ? ` · ${r.dataset}` : ''}`;
  const percent = { type: 'quantitative' as const, axis: { format: '.0%' }, scale: { domain: [0, 1] }, title: 'accuracy' };
  const charts: Section['charts'] = [
    chart(id, 'accuracy', 'Accuracy by method and model', `Share of problems answered correctly, each policy's bars side by side${datasets.length > 1 ? ', one panel per dataset' : ''}.`, {
      data: { values: rows.map((r) => ({ policy: r.policy, method: r.method, dataset: r.dataset, accuracy: r.accuracy, correct: r.correct, problems: r.problems })) },
      mark: { type: 'bar', tooltip: { content: 'data' } },
      encoding: {
        x: { field: 'method', type: 'nominal', title: null, axis: { labelAngle: 0 } },
        xOffset: { field: 'policy' },
        y: { field: 'accuracy', ...percent },
        color: { field: 'policy', type: 'nominal', title: 'policy', legend: { orient: 'bottom', columns: 2 } },
        ...(datasets.length > 1 ? { column: { field: 'dataset', type: 'nominal' as const, title: null } } : {}),
      },
    }),
  ];
  const withTokens = rows.filter((r) => r.tokensPerProblem !== null && r.tokensPerProblem > 0);
  if (withTokens.length > 0) {
    charts.push(
      chart(id, 'tokens', 'Accuracy against tokens per problem', 'Each point is one policy and method: its accuracy and what it cost in generated tokens per problem.', {
        data: { values: withTokens.map((r) => ({ policy: r.policy, method: r.method, dataset: r.dataset, accuracy: r.accuracy, tokens: r.tokensPerProblem })) },
        mark: { type: 'point', filled: true, size: 90, tooltip: { content: 'data' } },
        encoding: {
          x: { field: 'tokens', type: 'quantitative', scale: { type: 'log' }, title: 'generated tokens per problem (log)' },
          y: { field: 'accuracy', ...percent },
          color: { field: 'policy', type: 'nominal', title: 'policy' },
          shape: { field: 'method', type: 'nominal', title: 'method' },
        },
      }),
    );
  }
  const curves = rows.map((r) => ({ r, points: majAtK(r) })).filter((c) => c.points.length >= 2);
  if (curves.length > 0) {
    charts.push(
      chart(id, 'majk', 'maj@k', 'Majority vote over k of the n samples of each problem (the expected accuracy over random subsets of k), for k up to n.', {
        data: { values: curves.flatMap((c) => c.points.map((p) => ({ series: series(c.r), k: p.k, accuracy: p.accuracy }))) },
        mark: { type: 'line', point: true, tooltip: true },
        encoding: {
          x: { field: 'k', type: 'quantitative', scale: { type: 'log', base: 2 }, axis: { values: [...new Set(curves.flatMap((c) => c.points.map((p) => p.k)))] }, title: 'k (samples voted on)' },
          y: { field: 'accuracy', ...percent },
          color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 2 } },
        },
      }),
    );
  }
  const rules = rows.flatMap((r) => Object.entries(r.selections).filter(([name]) => !/^maj@\d+$/.test(name)).map(([rule, accuracy]) => ({ series: series(r), rule, accuracy })));
  if (rules.length > 0) {
    charts.push(
      chart(id, 'rules', 'Selection rules', 'Accuracy of every rule that picks an answer from the same candidates: best-of-N by the PPM (last, min, product), PPM-weighted vote, the searches\' top-1 and top-K majority, and pass@n, the oracle.', {
        data: { values: rules },
        mark: { type: 'bar', tooltip: { content: 'data' } },
        encoding: {
          x: { field: 'rule', type: 'nominal', title: null, axis: { labelAngle: 0 } },
          xOffset: { field: 'series' },
          y: { field: 'accuracy', ...percent },
          color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 2 } },
        },
      }),
    );
  }
  for (const [key, label] of [['byLevel', 'level'], ['bySubject', 'subject']] as const) {
    const cells = rows.flatMap((r) => Object.entries(r[key]).map(([value, c]) => ({ series: series(r), [label]: value, accuracy: c.correct / c.problems, problems: c.problems })));
    if (new Set(cells.map((c) => c[label])).size < 2) continue;
    charts.push(
      chart(id, label, `Accuracy by ${label}`, `Accuracy per ${label} of the problems.`, {
        data: { values: cells },
        mark: { type: 'bar', tooltip: { content: 'data' } },
        encoding: {
          x: { field: label, type: label === 'level' ? 'ordinal' : 'nominal', title: label, axis: { labelAngle: 0 } },
          xOffset: { field: 'series' },
          y: { field: 'accuracy', ...percent },
          color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 3 } },
        },
      }, { wide: true }),
    );
  }

  const best = rows.reduce<EvalRow | null>((b, r) => (b === null || r.accuracy > b.accuracy ? r : b), null);
  const figures: Figure[] = [
    { label: 'runs', value: String(rows.length), hint: 'policy × method × dataset' },
    { label: 'policies', value: String(new Set(rows.map((r) => r.policy)).size) },
    { label: datasets.length === 1 ? 'dataset' : 'datasets', value: datasets.join(', ') || 'none' },
    ...(best ? [{ label: 'best accuracy', value: pct(best.accuracy), hint: `${best.policy}, ${best.method}, ${best.dataset}` }] : []),
  ];
  const notes: string[] = [];
  if (rows.some((r) => r.timeouts === null)) {
    notes.push('Directories written by lib/eval before rstar eval (an evolve round\'s eval/) hold no selection rules and no timing: their time is the sum of the problems\' times, which ran concurrently.');
  }
  const tables: Section['tables'] = [
    {
      title: 'Results',
      columns: ['policy', 'method', 'dataset', 'n', 'problems', 'accuracy', 'no answer', 'timed out', 'tokens / problem', 'time', 'tokens / s', 'peak memory'],
      rows: rows.map((r) => [
        r.policy,
        r.method,
        r.dataset,
        r.n,
        r.problems,
        pct(r.accuracy),
        r.empty,
        r.timeouts,
        num(r.tokensPerProblem, 0),
        seconds(r.wallS),
        r.tokensPerS === null ? null : num(r.tokensPerS, 0),
        r.peakMemoryMb === null ? null : `${num(r.peakMemoryMb, 0)} MiB`,
      ]),
    },
  ];
  return { id, kind: 'eval', title: 'Evaluation', dirs: dirs.map(displayPath), figures, charts, tables, notes };
}
