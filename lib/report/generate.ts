/**
 * The report of a generate run (lib/generate/run.ts): solve rate and difficulty, tree sizes, where
 * rollouts end (terminal nodes by depth and reason), what verification cost and threw away, and
 * throughput; its trees go to the viewer.
 *
 * Every figure is counted over all of trees.jsonl (resumed runs included), as summary.json does.
 * Throughput is the last run's (summary.json's time over the trees it appended, the journal's last
 * lines): earlier runs' wall time is not recorded.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readJsonl } from '../data/jsonl.js';
import { DataError } from '../errors.js';
import type { GenerateRecord, GenerateSummary } from '../generate/run.js';
import { addTree, emptyTotals } from '../generate/summary.js';
import type { TreeRecord } from '../mcts/tree-record.js';
import { packTree } from './trees.js';
import type { Figure, Section, TreeEntry, TreeSet } from './types.js';
import { chart, displayPath, num, pct, readJsonIfExists, seconds } from './util.js';

/** Where a rollout ended, as the charts name it. */
function outcomeOf(n: TreeRecord['nodes'][number]): string | null {
  if (!n.terminal || n.reason === 'exhausted' || n.reason === null) return null;
  if (n.reason === 'answer') return n.correct === true ? 'correct answer' : n.correct === false ? 'wrong answer' : 'answer (ungraded)';
  return { code_error: 'code error', unfinished: 'unfinished', no_answer: 'no boxed answer', too_deep: 'too deep' }[n.reason];
}

const OUTCOME_COLORS: Record<string, string> = {
  'correct answer': '#1a9641',
  'wrong answer': '#d7191c',
  'answer (ungraded)': '#7b3294',
  'code error': '#fdae61',
  unfinished: '#969696',
  'no boxed answer': '#abd9e9',
  'too deep': '#2c7bb6',
};

interface TreeRow {
  id: string;
  nodes: number;
  maxDepth: number;
  solved: string;
  tokens: number;
  wallS: number;
  execRuns: number;
  execFailures: number;
}

export interface TreeReading {
  /** Trees in the files. */
  count: number;
  entries: TreeEntry[];
  rows: TreeRow[];
  /** Terminal nodes by depth and outcome. */
  endings: Map<string, number>;
  totals: ReturnType<typeof emptyTotals>;
  /** Generated tokens of the last `lastN` trees (the last run's). */
  lastTokens: number;
  /** Why reading stopped early: a line that is not a tree (one being written by a live run), else null. */
  unreadable: string | null;
}

/** Reads trees files once: packs the first `maxTrees` for the viewer and counts every tree. */
export async function readTrees(files: readonly string[], maxTrees: number, lastN = 0): Promise<TreeReading> {
  const reading: TreeReading = { count: 0, entries: [], rows: [], endings: new Map(), totals: emptyTotals(), lastTokens: 0, unreadable: null };
  const tokensByIndex: number[] = [];
  const trees = async function* (): AsyncGenerator<TreeRecord> {
    for (const file of files) {
      if (!existsSync(file)) continue;
      try {
        yield* readJsonl<TreeRecord>(file);
      } catch (err) {
        if (!(err instanceof DataError)) throw err;
        reading.unreadable = `${err.message}; the trees after it are left out`;
        return;
      }
    }
  };
  for await (const tree of trees()) {
    reading.count += 1;
    addTree(reading.totals, tree);
    if (reading.entries.length < maxTrees) reading.entries.push(packTree(tree));
    let maxDepth = 0;
    let correct = 0;
    for (const n of tree.nodes) {
      maxDepth = Math.max(maxDepth, n.depth);
      if (n.reason === 'answer' && n.correct === true) correct += 1;
      const outcome = outcomeOf(n);
      if (outcome !== null) {
        const key = `${n.depth}\u0000${outcome}`;
        reading.endings.set(key, (reading.endings.get(key) ?? 0) + 1);
      }
    }
    reading.rows.push({
      id: tree.id,
      nodes: tree.nodes.length - 1,
      maxDepth,
      solved: correct > 0 ? 'solved' : 'unsolved',
      tokens: tree.stats.generatedTokens,
      wallS: tree.stats.wallMs / 1000,
      execRuns: tree.stats.execRuns,
      execFailures: tree.stats.execFailures,
    });
    tokensByIndex.push(tree.stats.generatedTokens);
  }
  reading.lastTokens = tokensByIndex.slice(Math.max(0, tokensByIndex.length - lastN)).reduce((a, b) => a + b, 0);
  return reading;
}

/** The charts of a set of trees (a generate run, an evolve round's search). */
export function treeCharts(sectionId: string, r: TreeReading): Section['charts'] {
  const t = r.totals;
  const s = t.search;
  const endings = [...r.endings].map(([key, count]) => {
    const [depth, outcome] = key.split('\u0000');
    return { depth: Number(depth), outcome, count };
  });
  const outcomes = Object.keys(OUTCOME_COLORS).filter((o) => endings.some((e) => e.outcome === o));
  // A timeout counts as a failure (lib/mcts/search.ts), except under the substring error detection.
  const failedRuns = Math.max(s.execFailures, s.execTimeouts);
  return [
    chart(sectionId, 'difficulty', 'Problems by outcome', 'Easy: every answer in the tree correct; medium: some; hard: none (paper §3.4.1). Only solved trees yield training data.', {
      data: { values: (['easy', 'medium', 'hard'] as const).map((d) => ({ difficulty: d, trees: t.difficulty[d] })) },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        y: { field: 'difficulty', type: 'nominal', sort: ['easy', 'medium', 'hard'], title: null },
        x: { field: 'trees', type: 'quantitative', title: 'trees', axis: { tickMinStep: 1, format: 'd' } },
        color: { field: 'difficulty', type: 'nominal', scale: { domain: ['easy', 'medium', 'hard'], range: ['#1a9641', '#fdae61', '#d7191c'] }, legend: null },
      },
    }, { height: 120 }),
    chart(sectionId, 'sizes', 'Tree sizes', 'Nodes per tree (root excluded), solved and unsolved problems stacked.', {
      data: { values: r.rows },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { field: 'nodes', type: 'quantitative', bin: { maxbins: 30, minstep: 1 }, title: 'nodes per tree', axis: { format: 'd' } },
        y: { aggregate: 'count', type: 'quantitative', title: 'trees', axis: { tickMinStep: 1, format: 'd' } },
        color: { field: 'solved', type: 'nominal', scale: { domain: ['solved', 'unsolved'], range: ['#1a9641', '#bababa'] }, title: null },
      },
    }),
    chart(sectionId, 'endings', 'Where rollouts end', 'Terminal nodes by depth and by why they ended: graded answers, code errors, unfinished steps, depth limit.', {
      data: { values: endings },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { field: 'depth', type: 'ordinal', title: 'depth (steps)', axis: { labelAngle: 0 } },
        y: { field: 'count', type: 'quantitative', stack: 'zero', title: 'terminal nodes' },
        color: { field: 'outcome', type: 'nominal', scale: { domain: outcomes, range: outcomes.map((o) => OUTCOME_COLORS[o]) }, title: null },
      },
    }),
    chart(sectionId, 'verification', 'Verification and candidates', 'Programs run to verify steps (passed, failed, timed out), and what became of sampled candidates.', {
      data: {
        values: [
          { group: 'code runs', what: 'passed', count: s.execRuns - failedRuns },
          { group: 'code runs', what: 'failed', count: failedRuns - s.execTimeouts },
          { group: 'code runs', what: 'timed out', count: s.execTimeouts },
          { group: 'candidates', what: 'kept as nodes', count: s.nodes },
          { group: 'candidates', what: 'duplicates', count: s.duplicates },
          { group: 'candidates', what: 'collapsed into an answer', count: s.collapsed },
          { group: 'candidates', what: 'discarded', count: s.discarded },
        ],
      },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        y: { field: 'group', type: 'nominal', title: null },
        x: { field: 'count', type: 'quantitative', stack: 'zero', title: 'count' },
        color: {
          field: 'what',
          type: 'nominal',
          title: null,
          scale: { domain: ['passed', 'failed', 'timed out', 'kept as nodes', 'duplicates', 'collapsed into an answer', 'discarded'], range: ['#1a9641', '#fdae61', '#d7191c', '#2c7bb6', '#abd9e9', '#c2a5cf', '#969696'] },
        },
      },
    }, { height: 110 }),
    chart(sectionId, 'throughput', 'Tokens and time per problem', 'Each point is one problem: tokens generated by its search against its wall time (problems run concurrently).', {
      data: { values: r.rows },
      mark: { type: 'point', filled: true, opacity: 0.7, tooltip: { content: 'data' } },
      encoding: {
        x: { field: 'wallS', type: 'quantitative', title: 'search wall time (s)' },
        y: { field: 'tokens', type: 'quantitative', title: 'generated tokens' },
        color: { field: 'solved', type: 'nominal', scale: { domain: ['solved', 'unsolved'], range: ['#1a9641', '#969696'] }, title: null },
      },
    }),
  ];
}

/** The figures of a set of trees. */
export function treeFigures(r: TreeReading): Figure[] {
  const t = r.totals;
  const s = t.search;
  return [
    { label: 'solve rate', value: pct(t.trees === 0 ? null : t.solved / t.trees), hint: `${t.solved} of ${t.trees} trees hold a correct answer` },
    { label: 'nodes per tree', value: num(t.trees === 0 ? null : s.nodes / t.trees), hint: `${num(s.nodes)} nodes in all` },
    { label: 'generated tokens', value: num(s.generatedTokens) },
    { label: 'code failures', value: pct(s.execRuns === 0 ? null : s.execFailures / s.execRuns), hint: `${num(s.execFailures)} of ${num(s.execRuns)} programs failed, ${num(s.execTimeouts)} timed out` },
  ];
}

export interface GenerateReport {
  section: Section;
  treeSet: TreeSet;
}

/** The section and tree set of a generate directory. */
export async function loadGenerate(dir: string, id: string, label: string, maxTrees: number): Promise<GenerateReport> {
  const record = await readJsonIfExists<GenerateRecord>(join(dir, 'config.json'));
  const summary = await readJsonIfExists<GenerateSummary>(join(dir, 'summary.json'));
  const failures: Array<{ id?: string; error?: string }> = [];
  if (existsSync(join(dir, 'failures.jsonl'))) for await (const f of readJsonl<{ id?: string; error?: string }>(join(dir, 'failures.jsonl'))) failures.push(f);
  const r = await readTrees([join(dir, 'trees.jsonl')], maxTrees, summary?.problems.thisRun ?? 0);
  // failures.jsonl keeps every failure; a problem searched later by a resumed run has its tree since.
  const searched = new Set(r.rows.map((row) => row.id));
  const failed = [...new Map(failures.filter((f) => f.id === undefined || !searched.has(f.id)).map((f) => [f.id, f])).values()];
  const notes: string[] = [];
  if (r.unreadable) notes.push(`trees.jsonl: ${r.unreadable}.`);
  if (!summary) notes.push('summary.json is missing (the run was interrupted before its end): figures come from trees.jsonl alone.');
  if (r.count > r.entries.length) notes.push(`The tree viewer holds the first ${r.entries.length} of ${r.count} trees (rstar report --max-trees N to embed more).`);

  const figures: Figure[] = [
    { label: 'problems', value: summary ? `${summary.problems.done} / ${summary.problems.total}` : num(r.count), hint: 'problems with a tree / problems in the input' },
    ...treeFigures(r),
  ];
  if (summary && summary.elapsedMs > 0 && summary.problems.thisRun > 0) {
    const s = summary.elapsedMs / 1000;
    figures.push({ label: 'throughput (last run)', value: `${num(r.lastTokens / s, 0)} tok/s`, hint: `${summary.problems.thisRun} problems in ${seconds(s)}: ${num((summary.problems.thisRun / s) * 60)} problems/min` });
  }
  if (failed.length > 0) figures.push({ label: 'search failures', value: num(failed.length), hint: 'problems without a tree whose search failed (failures.jsonl); a rerun retries them' });

  const tables: Section['tables'] = [];
  const search = record?.config.search;
  if (search) {
    const models = record?.inputs ? Object.entries(record.inputs).filter(([, v]) => v) : [];
    tables.push({
      title: 'Settings',
      columns: ['setting', 'value'],
      rows: [
        ['mode', search.mode],
        ['rollouts', search.rollouts],
        ['candidates per expansion', search.candidates],
        ['max depth', search.maxDepth],
        ['exploration constant c', search.explorationConstant],
        ['temperature', search.temperature],
        ['PPM-augmented', search.usePpm ? 'yes' : 'no'],
        ['prompt', search.promptStyle],
        ['max tokens per step', search.maxStepTokens],
        ...models.map(([k, v]) => [k, v ? `${basename(v.path)} (sha256 ${v.sha256.slice(0, 12)}…)` : 'none'] as [string, string]),
      ],
    });
  }
  if (failed.length > 0) tables.push({ title: 'Search failures (problems without a tree)', columns: ['problem', 'error'], rows: failed.slice(0, 50).map((f) => [f.id ?? '?', f.error ?? '?']) });

  const section: Section = { id, kind: 'generate', title: `Generate: ${label}`, dirs: [displayPath(dir)], figures, charts: treeCharts(id, r), tables, notes };
  return { section, treeSet: { id: `${id}-trees`, label, section: id, trees: r.entries, omitted: r.count - r.entries.length } };
}
