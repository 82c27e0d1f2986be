/**
 * The evaluation stage: a policy (with or without a PPM) answers held-out problems, and the chosen
 * answer is graded against the label. Three methods of the paper's comparison (spec §8):
 *
 * - greedy: pass@1, one solution at temperature 0 (one path, one candidate per step);
 * - majority: `n` independent sampled solutions (temperature `search.temperature`, a new seed each),
 *   answers clustered by equivalence, the largest cluster wins (maj@n);
 * - mcts: the test-time search (spec §8.2: `search` settings of the test config) with the PPM scoring
 *   steps and answers; the best-scored answer wins (without a PPM, the majority of the tree's answers).
 *
 * Grading happens after the answer is chosen: nothing in the search sees the label (`mode: 'test'`).
 * Every problem's record is appended to `records.jsonl` (one line, the resume journal: a rerun skips
 * problems already there), and `metrics.json` is rebuilt from all records at the end.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RstarConfig, SearchConfig } from '../config/index.js';
import { readJsonl, writeJsonAtomic } from '../data/jsonl.js';
import type { Problem } from '../data/problems.js';
import { assertInteger, invalidArgument } from '../errors.js';
import { JournalWriter, openJournal } from '../generate/journal.js';
import { chooseAnswer } from '../mcts/choose.js';
import type { SearchTree } from '../mcts/search.js';
import { ProblemSearch } from '../mcts/search.js';
import type { Grader, SearchDeps } from '../mcts/types.js';

export type EvalMethod = 'greedy' | 'majority' | 'mcts';

export interface EvalOptions {
  problems: readonly Problem[];
  method: EvalMethod;
  /** Samples per problem for 'majority' (default 8). */
  n?: number;
  /** The configuration: `search` settings for 'mcts' (and temperature/seed/limits for the others). */
  config: Pick<RstarConfig, 'search' | 'prompts'>;
  /** Directory of records.jsonl and metrics.json. */
  outDir: string;
  /** Problems evaluated at once. */
  concurrency: number;
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; correct: number }) => void;
}

export interface EvalRecord {
  id: string;
  method: EvalMethod;
  gold: string;
  /** The problem's difficulty level when it has one (`meta.level`), else null. */
  level: string | null;
  /** The chosen answer, or null when no solution reached one. */
  answer: string | null;
  correct: boolean;
  /** Every distinct answer with how many solutions (or answer nodes) gave it and its best score. */
  answers: Array<{ answer: string; count: number; score: number }>;
  /** Tokens generated for this problem. */
  tokens: number;
  wallMs: number;
  /** Why the problem could not be evaluated (it then counts as unanswered). */
  error?: string;
}

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
  wallMs: number;
}

type EvalOutcome = Omit<EvalRecord, 'correct' | 'gold' | 'level' | 'id' | 'method'>;

/** The search settings of each method, over the configured ones. */
export function methodSearchSettings(method: EvalMethod, search: SearchConfig): SearchConfig {
  const test = { ...search, mode: 'test' as const };
  switch (method) {
    case 'greedy':
      return { ...test, candidates: 1, rollouts: 1, temperature: 0, usePpm: false };
    case 'majority':
      return { ...test, candidates: 1, rollouts: 1, usePpm: false };
    default:
      return test;
  }
}

function levelOf(problem: Problem): string | null {
  const level = problem.meta.level;
  return typeof level === 'string' || typeof level === 'number' ? String(level) : null;
}

async function clusterAnswers(answers: Array<{ answer: string; score: number }>, grader: Grader): Promise<EvalRecord['answers']> {
  const clusters: EvalRecord['answers'] = [];
  for (const a of answers) {
    let c: EvalRecord['answers'][number] | undefined;
    for (const x of clusters) {
      if (x.answer === a.answer || (await grader.isEquivalent(x.answer, a.answer))) {
        c = x;
        break;
      }
    }
    if (c) {
      c.count += 1;
      c.score = Math.max(c.score, a.score);
    } else clusters.push({ answer: a.answer, count: 1, score: a.score });
  }
  return clusters;
}

/** One problem, one method: the chosen answer and the candidates it was chosen from. */
async function evaluateOne(problem: Problem, method: EvalMethod, n: number, config: Pick<RstarConfig, 'search' | 'prompts'>, deps: SearchDeps): Promise<EvalOutcome> {
  const started = Date.now();
  const search = methodSearchSettings(method, config.search);
  const blind = { id: problem.id, question: problem.question }; // the label never enters the search
  if (method === 'majority') {
    const answers: Array<{ answer: string; score: number }> = [];
    let tokens = 0;
    for (let i = 0; i < n; i++) {
      const tree: SearchTree = await new ProblemSearch(blind, { ...config, search: { ...search, seed: search.seed + i * 7919 } }, deps).run();
      tokens += tree.stats.generatedTokens;
      const choice = await chooseAnswer(tree.root, deps.grader, 'vote');
      if (choice.answer !== null) answers.push({ answer: choice.answer, score: 0 });
    }
    const clusters = await clusterAnswers(answers, deps.grader);
    let best: EvalRecord['answers'][number] | null = null;
    for (const c of clusters) if (!best || c.count > best.count) best = c;
    return { answer: best?.answer ?? null, answers: clusters, tokens, wallMs: Date.now() - started };
  }
  const tree = await new ProblemSearch(blind, { ...config, search }, deps).run();
  const choice = await chooseAnswer(tree.root, deps.grader, tree.annotation === 'ppm-augmented' ? 'score' : 'vote');
  return {
    answer: choice.answer,
    answers: choice.clusters.map((c) => ({ answer: c.answer, count: c.count, score: c.bestScore })),
    tokens: tree.stats.generatedTokens,
    wallMs: Date.now() - started,
  };
}

/** Accuracy and counts over records. */
export function summarizeRecords(method: EvalMethod, n: number, records: readonly EvalRecord[]): EvalMetrics {
  const byLevel: EvalMetrics['byLevel'] = {};
  let correct = 0;
  let tokens = 0;
  let wallMs = 0;
  let empty = 0;
  for (const r of records) {
    const key = r.level ?? 'none';
    const l = (byLevel[key] ??= { problems: 0, correct: 0, accuracy: 0 });
    l.problems += 1;
    if (r.correct) {
      l.correct += 1;
      correct += 1;
    }
    if (r.answer === null) empty += 1;
    tokens += r.tokens;
    wallMs += r.wallMs;
  }
  for (const l of Object.values(byLevel)) l.accuracy = l.correct / l.problems;
  return {
    method,
    n,
    problems: records.length,
    correct,
    accuracy: records.length === 0 ? 0 : correct / records.length,
    byLevel: Object.fromEntries(Object.entries(byLevel).sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))),
    empty,
    tokensPerProblem: records.length === 0 ? 0 : tokens / records.length,
    wallMs,
  };
}

/**
 * Evaluates `problems` with one method, resuming from `outDir/records.jsonl`. A problem whose
 * evaluation fails (the engine refused a request) counts as unanswered and wrong: it is recorded, so
 * the metrics always cover every problem.
 *
 * @example
 * const metrics = await evaluate({ problems, method: 'greedy', config, outDir: 'eval/greedy', concurrency: 8 }, session.deps);
 */
export async function evaluate(options: EvalOptions, deps: SearchDeps): Promise<EvalMetrics> {
  if (!['greedy', 'majority', 'mcts'].includes(options.method)) throw invalidArgument('greedy, majority or mcts', 'method', options.method);
  const n = options.method === 'majority' ? assertInteger(options.n ?? 8, 'n', 1, 10_000) : 1;
  const concurrency = assertInteger(options.concurrency, 'concurrency', 1, 100_000);
  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const recordsPath = join(outDir, 'records.jsonl');
  const journal = await openJournal(recordsPath);
  const done = new Set(journal.ids);
  const pending = options.problems.filter((p) => !done.has(p.id));
  let finished = options.problems.length - pending.length;
  let correct = 0;
  const writer = await JournalWriter.open(recordsPath);
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < pending.length && !options.signal?.aborted) {
        const problem = pending[next++];
        let result: EvalOutcome;
        try {
          result = await evaluateOne(problem, options.method, n, options.config, deps);
        } catch (err) {
          result = { answer: null, answers: [], tokens: 0, wallMs: 0, error: (err as Error).message };
        }
        const right = result.answer !== null && (await deps.grader.isEquivalent(problem.answer, result.answer));
        const record: EvalRecord = { id: problem.id, method: options.method, gold: problem.answer, level: levelOf(problem), ...result, correct: right };
        await writer.append(JSON.stringify(record));
        finished += 1;
        if (right) correct += 1;
        options.onProgress?.({ done: finished, total: options.problems.length, correct });
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, pending.length)) }, worker));
  } finally {
    await writer.close();
  }
  const ids = new Set(options.problems.map((p) => p.id));
  const records: EvalRecord[] = [];
  for await (const r of readJsonl<EvalRecord>(recordsPath)) if (ids.has(r.id)) records.push(r);
  const metrics = summarizeRecords(options.method, n, records);
  await writeJsonAtomic(join(outDir, 'metrics.json'), metrics);
  return metrics;
}
