/**
 * The evaluation's files: `results.jsonl` (one line per problem, policy and method; the resume journal)
 * and `metrics.json` (one entry per policy and method, in the spirit of the Qwen2.5-Math evaluation
 * harness: `num_samples`, `acc`, `empty_samples`, `timeout_samples`, …). Both use snake_case keys, as
 * every `--json` contract of the CLI does; `rstar report` reads them, so the names here are a contract.
 */
import { readFile } from 'node:fs/promises';
import { writeJsonAtomic } from '../data/jsonl.js';

export type EvalMethod = 'greedy' | 'majority' | 'best-of-n' | 'mcts';
export const EVAL_METHODS: readonly EvalMethod[] = ['greedy', 'majority', 'best-of-n', 'mcts'];

/** 'step': our step format (models trained by this project); 'cot': free-text chain of thought (base models). */
export type EvalPrompt = 'step' | 'cot';
export const EVAL_PROMPTS: readonly EvalPrompt[] = ['step', 'cot'];

/** One candidate solution in a results line. */
export interface EvalCandidateRecord {
  text: string;
  answer: string | null;
  /** The PPM's score of the whole candidate (its last step), null without a PPM. */
  score: number | null;
  /** Every step's PPM score in order; present when the PPM scored steps (best-of-n, mcts). */
  step_scores?: number[];
  correct: boolean;
  /** Tokens the policy generated for it (for an mcts candidate: its whole search). */
  tokens: number;
  timed_out: boolean;
}

/**
 * What one selection rule chose and whether it is right: `correct` is 1 or 0, or for maj@k with k < n
 * the expected accuracy of a vote over k random samples (then there is no single `answer`).
 */
export interface EvalSelection {
  answer?: string | null;
  correct: number;
}

/** One line of results.jsonl: one problem evaluated with one policy and one method. */
export interface EvalRecord {
  id: string;
  policy: string;
  method: EvalMethod;
  prompt: EvalPrompt;
  dataset: string;
  gold: string;
  /** The problem's `level` (MATH: "Level 3"; the synthetic curriculum: 1..5), or null. */
  level: string | null;
  /** The problem's `subject` or `type` (MATH), or null. */
  subject: string | null;
  /** The method's chosen answer (null: none of the candidates has one). */
  answer: string | null;
  correct: boolean;
  /** Every rule the method reports (see lib/eval/select.ts), the chosen one included. */
  selections: Record<string, EvalSelection>;
  candidates: EvalCandidateRecord[];
  /** Tokens generated for this problem, all candidates together. */
  tokens: number;
  wall_ms: number;
  /** Why the problem could not be evaluated (it then counts as unanswered; a rerun retries it). */
  error?: string;
}

export interface AccuracyCell {
  num_samples: number;
  correct: number;
  acc: number;
}

/** One policy and method in metrics.json. */
export interface EvalMetricsEntry {
  policy: string;
  ppm: string | null;
  method: EvalMethod;
  prompt: EvalPrompt;
  dataset: string;
  /** Candidates per problem: 1 (greedy), N samples (majority, best-of-n), K searches (mcts). */
  n: number;
  /** mcts: the K of the top-K majority. */
  top_k?: number;
  /** The rule whose answer is the method's (`acc`). */
  selection: string;
  /** Problems evaluated. */
  num_samples: number;
  correct: number;
  acc: number;
  /** Accuracy of every selection rule the method reports (maj@k, pass@n, last/min/product, …). */
  selections: Record<string, number>;
  /** By the problems' `level` field; problems without one are left out. */
  by_level: Record<string, AccuracyCell>;
  /** By the problems' `subject` (or `type`) field; problems without one are left out. */
  by_subject: Record<string, AccuracyCell>;
  /** Problems with no answer chosen. */
  empty_samples: number;
  /** Problems in which a step's program hit the time limit. */
  timeout_samples: number;
  /** Problems whose evaluation failed (they count as wrong; a rerun retries them). */
  error_samples: number;
  tokens: number;
  tokens_per_problem: number;
  /** Wall-clock seconds spent evaluating, over every run that contributed (a resumed run adds its own). */
  time_s: number;
  tokens_per_s: number;
  /** Highest resident set size of the process seen while evaluating (sampled), in MiB. */
  peak_rss_mb: number;
}

export interface MetricsFile {
  version: 1;
  results: EvalMetricsEntry[];
}

function sortedCells(cells: Map<string, AccuracyCell>): Record<string, AccuracyCell> {
  const keys = [...cells.keys()].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return Object.fromEntries(keys.map((k) => [k, cells.get(k)!]));
}

/** Sums over results lines, turned into a metrics entry. */
export class MetricsAccumulator {
  private problems = 0;
  private correct = 0;
  private empty = 0;
  private timeouts = 0;
  private errors = 0;
  private tokens = 0;
  private readonly selectionSums = new Map<string, number>();
  private readonly levels = new Map<string, AccuracyCell>();
  private readonly subjects = new Map<string, AccuracyCell>();

  add(r: EvalRecord): void {
    this.problems += 1;
    if (r.correct) this.correct += 1;
    if (r.answer === null) this.empty += 1;
    if (r.candidates.some((c) => c.timed_out)) this.timeouts += 1;
    if (r.error !== undefined) this.errors += 1;
    this.tokens += r.tokens;
    for (const [name, s] of Object.entries(r.selections)) this.selectionSums.set(name, (this.selectionSums.get(name) ?? 0) + s.correct);
    const bump = (cells: Map<string, AccuracyCell>, key: string | null): void => {
      const cell = cells.get(key ?? 'none') ?? { num_samples: 0, correct: 0, acc: 0 };
      cell.num_samples += 1;
      if (r.correct) cell.correct += 1;
      cell.acc = cell.correct / cell.num_samples;
      cells.set(key ?? 'none', cell);
    };
    bump(this.levels, r.level);
    bump(this.subjects, r.subject);
  }

  /** Accuracy by level with problems without a level under "none" (the evolve stage's view). */
  levelsWithNone(): Record<string, AccuracyCell> {
    return sortedCells(this.levels);
  }

  entry(meta: Pick<EvalMetricsEntry, 'policy' | 'ppm' | 'method' | 'prompt' | 'dataset' | 'n' | 'top_k' | 'selection' | 'time_s' | 'peak_rss_mb'>): EvalMetricsEntry {
    const withoutNone = (cells: Map<string, AccuracyCell>): Record<string, AccuracyCell> => {
      const copy = new Map(cells);
      copy.delete('none');
      return sortedCells(copy);
    };
    const selections: Record<string, number> = {};
    for (const [name, sum] of this.selectionSums) selections[name] = this.problems === 0 ? 0 : sum / this.problems;
    const { top_k, time_s, peak_rss_mb, ...identity } = meta;
    return {
      ...identity,
      ...(top_k === undefined ? {} : { top_k }),
      num_samples: this.problems,
      correct: this.correct,
      acc: this.problems === 0 ? 0 : this.correct / this.problems,
      selections,
      by_level: withoutNone(this.levels),
      by_subject: withoutNone(this.subjects),
      empty_samples: this.empty,
      timeout_samples: this.timeouts,
      error_samples: this.errors,
      tokens: this.tokens,
      tokens_per_problem: this.problems === 0 ? 0 : this.tokens / this.problems,
      time_s,
      tokens_per_s: time_s > 0 ? this.tokens / time_s : 0,
      peak_rss_mb,
    };
  }
}

/** metrics.json as written, or an empty file when there is none (or it cannot be read: it is rebuilt). */
export async function readMetricsFile(path: string): Promise<MetricsFile> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as MetricsFile;
    if (parsed && parsed.version === 1 && Array.isArray(parsed.results)) return parsed;
  } catch {
    // Absent or unreadable: the counts are rebuilt from results.jsonl; only the time and peak memory
    // of earlier runs are lost.
  }
  return { version: 1, results: [] };
}

/** Replaces (or adds) the entry of `entry.policy` and `entry.method`, keeping the others in their order. */
export async function writeMetricsEntry(path: string, entry: EvalMetricsEntry): Promise<void> {
  const file = await readMetricsFile(path);
  const at = file.results.findIndex((e) => e.policy === entry.policy && e.method === entry.method);
  if (at >= 0) file.results[at] = entry;
  else file.results.push(entry);
  await writeJsonAtomic(path, file);
}
