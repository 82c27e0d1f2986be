/**
 * The evaluation stage: one policy (with or without a PPM) answers held-out problems with one method,
 * and the chosen answer is graded against the label. The methods of the paper's comparison (spec §8,
 * Tables 5–8):
 *
 * - greedy: pass@1, one solution at temperature 0;
 * - majority: `n` sampled solutions (temperature `search.temperature`, a new seed each), answers
 *   clustered by equivalence, the largest cluster wins (maj@n); maj@k for k = 1, 2, 4, … < n by
 *   subsampling the same n, and pass@n;
 * - best-of-n: `n` sampled solutions scored step by step by the PPM; the best by its last step's score
 *   wins, and the minimum and product aggregations and the PPM-weighted vote are reported beside it;
 * - mcts: `runs` independent test-time searches (the `search` settings; spec §8.2: 32 candidates, 12
 *   rollouts), each answering with its best-scored answer, combined as the reference's eval_maj.py does:
 *   majority over the `topK` best-scored searches (the method's answer), the best-scored search alone
 *   (top1), and the PPM-weighted vote over all of them.
 * The selection rules are in ./select.ts, the candidates' making in ./sample.ts. `prompt: 'cot'` asks a
 * base model for a free-text chain of thought and reads its final answer from the text.
 *
 * Grading happens after the answer is chosen: nothing in the search sees the label (`mode: 'test'`).
 *
 * Where the candidates are made: a problem's candidates are the `eval.candidates` task (`evalTask`),
 * run by a runner (lib/runner): in this process on search dependencies, or on `rstar worker` processes
 * through a queue (lib/queue). The task is given the problem's id and question only, so the label never
 * leaves this process; the candidates come back as JSON, and this process clusters them, applies the
 * selection rules, grades and writes the record, once per problem, whichever runner made them.
 *
 * Every problem's record is appended to `outDir/results.jsonl` (one line per problem, policy and method;
 * ./metrics.ts has the format), which is the resume journal: a rerun skips problems already there, and
 * retries the ones recorded with an error (a later line supersedes an earlier one). `metrics.json` holds
 * one entry per policy and method, rewritten as problems finish.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RstarConfig } from '../config/index.js';
import { readJsonl } from '../data/jsonl.js';
import type { Problem } from '../data/problems.js';
import { assertInteger, DataError, invalidArgument, RstarError } from '../errors.js';
import { JournalWriter, openJournal } from '../generate/journal.js';
import type { SearchDeps, SearchProblem, Grader } from '../mcts/types.js';
import { defaultGrader } from '../policy/deps.js';
import { isProblemRunner, runnerOf, type ProblemRunner, type ProblemTask, type TaskSettings } from '../runner/index.js';
import {
  EVAL_METHODS,
  EVAL_PROMPTS,
  MetricsAccumulator,
  readMetricsFile,
  writeMetricsEntry,
  type AccuracyCell,
  type EvalCandidateRecord,
  type EvalMethod,
  type EvalMetricsEntry,
  type EvalPrompt,
  type EvalRecord,
  type EvalSelection,
} from './metrics.js';
import { methodSearchSettings, RUN_SEED_STRIDE, SAMPLE_SEED_STRIDE, sampleCotSolutions, sampleStepSolution, searchOnce, type Candidate } from './sample.js';
import { aggregations, argmaxAnswered, clusterIndices, majorityAtK, majorityVote, passAtN, subsampleSizes, topKMajority, weightedVote, type Scored } from './select.js';

export { EVAL_METHODS, EVAL_PROMPTS, type EvalMethod, type EvalPrompt, type EvalRecord, type EvalMetricsEntry } from './metrics.js';
export { methodSearchSettings } from './sample.js';

export interface EvalOptions {
  problems: readonly Problem[];
  method: EvalMethod;
  /** Samples per problem for 'majority' and 'best-of-n' (default 8). */
  n?: number;
  /** Independent searches per problem for 'mcts' (default 1). */
  runs?: number;
  /** 'mcts': the K of the top-K majority (default 4, the reference's eval_maj.py). */
  topK?: number;
  /** 'step' (default) or 'cot' (greedy, majority and best-of-n only). */
  prompt?: EvalPrompt;
  /** The configuration: `search` settings for 'mcts' (and temperature, seed, limits for the others). */
  config: Pick<RstarConfig, 'search' | 'prompts'>;
  /** Directory of results.jsonl and metrics.json. */
  outDir: string;
  /** Problems evaluated at once in this process (a runner such as a queue decides its own). */
  concurrency: number;
  /** The policy's name in the records (default "policy"): its path, for the CLI. */
  policy?: string;
  /**
   * The PPM's name in metrics.json (default: none). With a runner, which carries its own models, it also
   * says that there is a PPM (best-of-n needs one).
   */
  ppm?: string | null;
  /** The dataset's name in the records (default: the problems' `source`). */
  dataset?: string;
  signal?: AbortSignal;
  onProgress?: (p: EvalProgress) => void;
}

export interface EvalProgress {
  /** Problems done in all, out of `total`, and how many are right. */
  done: number;
  total: number;
  correct: number;
  /** Problems evaluated by this run, and the tokens they generated. */
  thisRun: number;
  tokensThisRun: number;
  elapsedMs: number;
}

/** What `evaluate` returns (camelCase; metrics.json holds the same as `entry`). */
export interface EvalMetrics {
  method: EvalMethod;
  n: number;
  problems: number;
  correct: number;
  /** Fraction of the problems answered correctly. */
  accuracy: number;
  /** Accuracy per level (problems without a level under "none"). */
  byLevel: Record<string, { problems: number; correct: number; accuracy: number }>;
  /** Problems for which no answer was produced. */
  empty: number;
  tokensPerProblem: number;
  /** Wall-clock milliseconds spent evaluating, over every run that contributed. */
  wallMs: number;
  /** Accuracy of every selection rule the method reports. */
  selections: Record<string, number>;
  /** The metrics.json entry. */
  entry: EvalMetricsEntry;
}

/** Problems failing in a row, none succeeding between them, that stop a run (a broken model or engine). */
const MAX_CONSECUTIVE_FAILURES = 8;

function field(problem: Problem, ...names: string[]): string | null {
  for (const name of names) {
    const v = problem.meta[name];
    if (typeof v === 'string' || typeof v === 'number') return String(v);
  }
  return null;
}

interface Settings {
  method: EvalMethod;
  n: number;
  topK: number;
  prompt: EvalPrompt;
  config: Pick<RstarConfig, 'search' | 'prompts'>;
}

/**
 * What the `eval.candidates` task runs with: the search settings as the method uses them
 * (`methodSearchSettings`), the prompt templates, and the method's own keys. No label, no selection
 * rule: those stay with the caller.
 */
export interface EvalTaskSettings extends TaskSettings {
  method: EvalMethod;
  /** Candidates per problem: 1 for greedy, the samples, or the searches. */
  n: number;
  prompt: EvalPrompt;
}

/** A problem's candidates as the task returns them (JSON), and the milliseconds they took. */
export interface EvalTaskResult {
  candidates: Candidate[];
  ms: number;
}

/** The candidates of one problem; `problem` is read for its id and question only. */
async function candidatesOf(problem: SearchProblem, s: EvalTaskSettings, deps: SearchDeps): Promise<Candidate[]> {
  const search = methodSearchSettings(s.method, s.search);
  const config = { search, prompts: s.prompts };
  if (s.prompt === 'cot') return sampleCotSolutions(problem, s.n, config, deps, s.method === 'best-of-n');
  const stride = s.method === 'mcts' ? RUN_SEED_STRIDE : SAMPLE_SEED_STRIDE;
  const one = s.method === 'mcts' ? searchOnce : sampleStepSolution;
  return Promise.all(Array.from({ length: s.n }, (_, i) => one(problem, { ...config, search: { ...search, seed: search.seed + i * stride } }, deps)));
}

/**
 * The evaluation's work on one problem, as any runner runs it (lib/runner/tasks.ts lists it for queue
 * workers): its candidates, unclustered and ungraded.
 *
 * @example
 * const settings = { search: methodSearchSettings('majority', config.search), prompts: config.prompts, method: 'majority' as const, n: 8, prompt: 'step' as const };
 * const { candidates } = await evalTask.run({ id: 'p1', question: 'What is 2 + 3?' }, settings, session.deps);
 */
export const evalTask: ProblemTask<EvalTaskSettings, EvalTaskResult> = {
  name: 'eval.candidates',
  async run(problem, settings, deps) {
    const t0 = Date.now();
    const candidates = await candidatesOf({ id: problem.id, question: problem.question }, settings, deps);
    return { candidates, ms: Date.now() - t0 };
  },
};

function taskSettingsOf(s: Settings): EvalTaskSettings {
  return { search: methodSearchSettings(s.method, s.config.search), prompts: s.config.prompts, method: s.method, n: s.n, prompt: s.prompt };
}

/** The rules a method reports, each as the index of its chosen candidate; the first is the method's answer. */
function rulesOf(method: EvalMethod, n: number, topK: number): Array<[string, (c: readonly Scored[]) => number]> {
  switch (method) {
    case 'greedy':
      return [['greedy', (c) => (c[0]?.cluster >= 0 ? 0 : -1)]];
    case 'majority':
      return [[`maj@${n}`, majorityVote]];
    case 'best-of-n':
      return [
        ['last', (c) => argmaxAnswered(c, aggregations.last)],
        ['min', (c) => argmaxAnswered(c, aggregations.min)],
        ['product', (c) => argmaxAnswered(c, aggregations.product)],
        ['weighted_vote', weightedVote],
        [`maj@${n}`, majorityVote],
      ];
    default:
      return [
        ['top_k_majority', (c) => topKMajority(c, topK)],
        ['top1', (c) => argmaxAnswered(c, aggregations.last)],
        ['weighted_vote', weightedVote],
        [`maj@${n}`, majorityVote],
      ];
  }
}

/** A task result as it came back (from another process, perhaps): the candidates, checked for shape. */
function candidatesIn(result: EvalTaskResult, s: Settings): Candidate[] {
  const list = (result as Partial<EvalTaskResult> | null)?.candidates;
  const ok = (c: Candidate): boolean =>
    c !== null && typeof c === 'object' && typeof c.text === 'string' && (c.answer === null || typeof c.answer === 'string') && (c.score === null || typeof c.score === 'number') &&
    Array.isArray(c.stepScores) && typeof c.tokens === 'number' && typeof c.timedOut === 'boolean';
  if (!Array.isArray(list) || list.length !== s.n || !list.every(ok)) {
    throw new DataError(`the candidates of an evaluation task came back malformed (expected ${s.n} candidates {text, answer, score, stepScores, tokens, timedOut}); run the same rstar version on every machine`);
  }
  return list;
}

/** A problem's record from its candidates: the rules' choices, then grading against the label. */
async function gradeCandidates(problem: Problem, result: EvalTaskResult, s: Settings, grader: Grader): Promise<Omit<EvalRecord, 'policy' | 'dataset'>> {
  const started = Date.now();
  const base = { id: problem.id, method: s.method, prompt: s.prompt, gold: problem.answer, level: field(problem, 'level'), subject: field(problem, 'subject', 'type') };
  const candidates = candidatesIn(result, s);
  const { cluster, representatives } = await clusterIndices(
    candidates.map((c) => c.answer),
    (a, b) => grader.isEquivalent(a, b),
  );
  // Grading, once per cluster, after every choice below is fixed by the candidates alone.
  const scored: Scored[] = candidates.map((c, i) => ({ cluster: cluster[i], score: c.score, stepScores: c.stepScores }));
  const rules = rulesOf(s.method, s.n, s.topK).map(([name, rule]) => [name, rule(scored)] as const);
  const right: boolean[] = [];
  for (const rep of representatives) right.push(await grader.isEquivalent(problem.answer, rep));

  const selections: Record<string, EvalSelection> = {};
  for (const [name, index] of rules) {
    selections[name] = index < 0 ? { answer: null, correct: 0 } : { answer: candidates[index].answer, correct: right[cluster[index]] ? 1 : 0 };
  }
  if (s.method !== 'greedy') {
    // maj@1, maj@2, … in order, maj@n among them, then the oracle.
    const majN = selections[`maj@${s.n}`];
    delete selections[`maj@${s.n}`];
    for (const k of subsampleSizes(s.n)) selections[`maj@${k}`] = { correct: majorityAtK(scored, right, k, problem.id) };
    selections[`maj@${s.n}`] = majN;
    selections[`pass@${s.n}`] = { correct: passAtN(scored, right) };
  }
  const chosen = rules[0][1];
  const records: EvalCandidateRecord[] = candidates.map((c, i) => ({
    text: c.text,
    answer: c.answer,
    score: c.score,
    ...(c.stepScores.length > 0 ? { step_scores: c.stepScores } : {}),
    correct: cluster[i] >= 0 && right[cluster[i]],
    tokens: c.tokens,
    timed_out: c.timedOut,
  }));
  return {
    ...base,
    answer: chosen < 0 ? null : candidates[chosen].answer,
    correct: chosen >= 0 && right[cluster[chosen]],
    selections,
    candidates: records,
    tokens: candidates.reduce((a, c) => a + c.tokens, 0),
    wall_ms: result.ms + (Date.now() - started),
  };
}

/** Validated settings of `options`; `hasPpm`: whether the candidates are made with a PPM. */
function settingsOf(options: EvalOptions, hasPpm: boolean): Settings {
  if (!EVAL_METHODS.includes(options.method)) throw invalidArgument(`one of ${EVAL_METHODS.join(', ')}`, 'method', options.method);
  const prompt = options.prompt ?? 'step';
  if (!EVAL_PROMPTS.includes(prompt)) throw invalidArgument(`one of ${EVAL_PROMPTS.join(', ')}`, 'prompt', prompt);
  if (prompt === 'cot' && options.method === 'mcts') {
    throw invalidArgument('--prompt step with --method mcts (the search needs the step format; a chain of thought has no steps to search)', '--prompt', prompt);
  }
  if (options.method === 'best-of-n' && !hasPpm) {
    throw invalidArgument('a PPM (--ppm FILE): best-of-n ranks the samples by their PPM scores', '--ppm', undefined);
  }
  const n =
    options.method === 'greedy'
      ? 1
      : options.method === 'mcts'
        ? assertInteger(options.runs ?? 1, 'runs', 1, 10_000)
        : assertInteger(options.n ?? 8, 'n', 1, 10_000);
  const topK = assertInteger(options.topK ?? 4, 'topK', 1, 10_000);
  return { method: options.method, n, topK: Math.min(topK, n), prompt, config: options.config };
}

/** The latest record of each (policy, method, id) in a results file; the file's partial last line is cut off first. */
async function readResults(path: string, keep: (r: EvalRecord) => boolean): Promise<Map<string, EvalRecord>> {
  const scan = await openJournal(path);
  const out = new Map<string, EvalRecord>();
  if (scan.validBytes === 0) return out;
  for await (const r of readJsonl<EvalRecord>(path)) if (keep(r)) out.set(r.id, r);
  return out;
}

/** Samples the process's resident set size until stopped; the highest value seen, in MiB. */
function rssSampler(): { stop(): number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 100);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss()) / (1 << 20);
    },
  };
}

function camelCells(cells: Record<string, AccuracyCell>): EvalMetrics['byLevel'] {
  return Object.fromEntries(Object.entries(cells).map(([k, c]) => [k, { problems: c.num_samples, correct: c.correct, accuracy: c.acc }]));
}

/**
 * Evaluates `problems` with one method, resuming from `outDir/results.jsonl`. A problem whose
 * evaluation fails (the engine refused a request) is recorded with its error and counts as unanswered,
 * so the metrics always cover every problem; a rerun retries it. Eight failures in a row stop the run
 * (a broken model or engine) with the last error.
 *
 * The candidates are made on `deps` in this process (`concurrency` problems at once), or by a runner
 * (`QueueRunner`: queue workers, each with its own engine), which is given each problem's id and
 * question only; clustering, selection, grading and the files stay here either way.
 *
 * @example
 * const metrics = await evaluate({ problems, method: 'majority', n: 8, config, outDir: 'eval/math500', concurrency: 8, policy: 'slm.gguf' }, session.deps);
 */
export async function evaluate(options: EvalOptions, depsOrRunner: SearchDeps | ProblemRunner): Promise<EvalMetrics> {
  const queued = isProblemRunner(depsOrRunner);
  const settings = settingsOf(options, queued ? (options.ppm ?? null) !== null : Boolean(depsOrRunner.scorer));
  const concurrency = assertInteger(options.concurrency, 'concurrency', 1, 100_000);
  const grader: Grader = queued ? defaultGrader : depsOrRunner.grader;
  const policy = options.policy ?? 'policy';
  const dataset = options.dataset ?? options.problems[0]?.source ?? 'problems';
  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const resultsPath = join(outDir, 'results.jsonl');
  const metricsPath = join(outDir, 'metrics.json');

  const ids = new Set(options.problems.map((p) => p.id));
  const mine = (r: EvalRecord): boolean => r.policy === policy && r.method === settings.method && ids.has(r.id);
  const previous = await readResults(resultsPath, mine);
  const pending = options.problems.filter((p) => previous.get(p.id)?.error !== undefined || !previous.has(p.id)); // new, or failed before
  const totals = new MetricsAccumulator();
  for (const r of previous.values()) if (r.error === undefined) totals.add(r);
  const before = (await readMetricsFile(metricsPath)).results.find((e) => e.policy === policy && e.method === settings.method);
  const baseTimeS = before?.time_s ?? 0;
  const basePeak = before?.peak_rss_mb ?? 0;
  const meta = { policy, ppm: options.ppm ?? null, method: settings.method, prompt: settings.prompt, dataset, n: settings.n, ...(settings.method === 'mcts' ? { top_k: settings.topK } : {}), selection: rulesOf(settings.method, settings.n, settings.topK)[0][0] };

  const started = Date.now();
  const rss = rssSampler();
  let peak = basePeak;
  const entryNow = (): EvalMetricsEntry => {
    const t = Date.now() - started;
    return totals.entry({ ...meta, time_s: baseTimeS + t / 1000, peak_rss_mb: Math.max(peak, process.memoryUsage.rss() / (1 << 20)) });
  };
  // Failed records stay counted until their retry lands.
  const failedBefore = [...previous.values()].filter((r) => r.error !== undefined);
  let done = options.problems.length - pending.length;
  let correct = totals.entry({ ...meta, time_s: 0, peak_rss_mb: 0 }).correct;
  let thisRun = 0;
  let tokensThisRun = 0;
  let consecutiveFailures = 0;
  let lastMetricsWrite = 0;
  let writing: Promise<void> = Promise.resolve();
  const saveMetrics = (force: boolean): Promise<void> => {
    if (!force && Date.now() - lastMetricsWrite < 2000) return writing;
    lastMetricsWrite = Date.now();
    const entry = entryNow();
    writing = writing.then(() => writeMetricsEntry(metricsPath, entry));
    return writing;
  };

  const byId = new Map(pending.map((p) => [p.id, p]));
  // Problems recorded by this run: a runner delivers each once, and a second delivery is ignored anyway.
  const recorded = new Set<string>();
  const writer = await JournalWriter.open(resultsPath);
  const record = async (outcome: Omit<EvalRecord, 'policy' | 'dataset'>): Promise<void> => {
    recorded.add(outcome.id);
    const { id, method, prompt, ...rest } = outcome;
    const line: EvalRecord = { id, policy, method, prompt, dataset, ...rest }; // "id" first: the journal reads it
    await writer.append(JSON.stringify(line));
    totals.add(line);
    done += 1;
    thisRun += 1;
    tokensThisRun += line.tokens;
    if (line.correct) correct += 1;
    peak = Math.max(peak, process.memoryUsage.rss() / (1 << 20));
    options.onProgress?.({ done, total: options.problems.length, correct, thisRun, tokensThisRun, elapsedMs: Date.now() - started });
    await saveMetrics(false);
  };
  let stopped: unknown = null;
  try {
    // The label stays here: the task sees each problem's id and question only.
    const blind: SearchProblem[] = pending.map((p) => ({ id: p.id, question: p.question }));
    await runnerOf(depsOrRunner, concurrency).runTask(evalTask, taskSettingsOf(settings), blind, {
      key: `${resultsPath}#${policy}`,
      signal: options.signal,
      maxConsecutiveFailures: MAX_CONSECUTIVE_FAILURES,
      onResult: async (result, p) => {
        const problem = byId.get(p.id);
        if (problem === undefined || recorded.has(p.id)) return;
        const outcome = await gradeCandidates(problem, result, settings, grader);
        if (recorded.has(p.id)) return;
        await record(outcome);
        consecutiveFailures = 0;
      },
      onError: async (err, p) => {
        const problem = byId.get(p.id);
        if (problem === undefined || recorded.has(p.id)) return;
        consecutiveFailures += 1;
        const message = err instanceof Error ? err.message : String(err);
        await record({
          id: problem.id, method: settings.method, prompt: settings.prompt, gold: problem.answer, level: field(problem, 'level'), subject: field(problem, 'subject', 'type'),
          answer: null, correct: false, selections: {}, candidates: [], tokens: 0, wall_ms: 0, error: message,
        });
      },
    });
  } catch (err) {
    stopped = err;
  } finally {
    await writer.close();
    peak = Math.max(peak, rss.stop());
  }
  // A problem that failed before and was not retried (the run was stopped) still counts, as wrong.
  for (const r of failedBefore) if (!recorded.has(r.id)) totals.add(r);
  await saveMetrics(true);
  const entry = entryNow();
  if (stopped !== null) {
    if (consecutiveFailures < MAX_CONSECUTIVE_FAILURES) throw stopped; // not the problems' failures: the runner's own (Redis gone, say)
    throw new RstarError('INCOMPLETE', `evaluation stopped: ${MAX_CONSECUTIVE_FAILURES} problems failed in a row (last: ${stopped instanceof Error ? stopped.message : String(stopped)}); rerun the same command to retry them`, { cause: stopped });
  }
  return {
    method: settings.method,
    n: settings.n,
    problems: entry.num_samples,
    correct: entry.correct,
    accuracy: entry.acc,
    byLevel: camelCells(totals.levelsWithNone()),
    empty: entry.empty_samples,
    tokensPerProblem: entry.tokens_per_problem,
    wallMs: entry.time_s * 1000,
    selections: entry.selections,
    entry,
  };
}
