/**
 * Training data for the trainers: the JSONL files `rstar generate` writes, validated row by row, the
 * per-prefix-group weights of PPM pairs, and the held-out split.
 *
 * SFT rows: {"prompt": string, "completion": string, ...}; the loss covers the completion only.
 * PPM rows: {"prompt": string, "chosen": string, "rejected": string, ...} plus, optionally, the pair's
 * group sizes `posCount`/`negCount` (as lib/data/extract.ts writes them; `pos_count`/`neg_count` as
 * the reference writes them) or an explicit `weight`. Other fields are ignored.
 */
import { existsSync } from 'node:fs';
import { DataError, invalidArgument } from '../errors.js';
import { readJsonl } from '../data/jsonl.js';

export interface SftRow {
  prompt: string;
  completion: string;
  /** The problem the row comes from (see `problemKey`); rows of one problem stay on one side of a split. */
  problem?: string;
}

export interface PairRow {
  prompt: string;
  chosen: string;
  rejected: string;
  /** Loss weight of the pair within its prefix group (see pairWeights). */
  weight: number;
  /** The problem the pair comes from (see `problemKey`). */
  problem?: string;
}

/** The role marker that ends the question part of every prompt template (lib/steps/prompts.ts). */
const ASSISTANT_MARKER = '<|assistant|>';

/**
 * The problem a training row belongs to: its `id` (what `rstar generate` writes; `problem_id` or
 * `question_id` from other tools), else the prompt up to the assistant marker, which is the problem
 * statement itself: step-pair prompts continue it with a solution prefix, so every prefix of one
 * problem maps to the same key.
 */
export function problemKey(row: Record<string, unknown>, prompt: string): string {
  for (const k of ['id', 'problem_id', 'question_id']) {
    const v = row[k];
    if ((typeof v === 'string' && v !== '') || typeof v === 'number') return `id:${v}`;
  }
  const end = prompt.indexOf(ASSISTANT_MARKER);
  return `prompt:${end < 0 ? prompt : prompt.slice(0, end)}`;
}

function field(row: Record<string, unknown>, key: string, where: string, allowEmpty: boolean): string {
  const v = row[key];
  if (typeof v !== 'string') throw new DataError(`${where}: "${key}" must be a string`);
  if (!allowEmpty && v.length === 0) throw new DataError(`${where}: "${key}" is empty`);
  return v;
}

function optionalCount(row: Record<string, unknown>, ...keys: string[]): number | undefined {
  for (const k of keys) {
    const v = row[k];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  }
  return undefined;
}

async function readRows(path: string, flag: string): Promise<Array<{ row: Record<string, unknown>; where: string }>> {
  if (!existsSync(path)) throw invalidArgument('an existing JSONL file', flag, path);
  const out: Array<{ row: Record<string, unknown>; where: string }> = [];
  let i = 0;
  for await (const row of readJsonl<unknown>(path)) {
    i += 1;
    const where = `${path} record ${i}`;
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new DataError(`${where} is not a JSON object`);
    out.push({ row: row as Record<string, unknown>, where });
  }
  if (out.length === 0) throw new DataError(`${path} holds no records`);
  return out;
}

/** Reads SFT rows ({prompt, completion}); a malformed row throws DataError naming file and record. */
export async function loadSftRows(path: string, flag = '--data'): Promise<SftRow[]> {
  return (await readRows(path, flag)).map(({ row, where }) => {
    const prompt = field(row, 'prompt', where, true);
    return { prompt, completion: field(row, 'completion', where, false), problem: problemKey(row, prompt) };
  });
}

/**
 * Reads PPM pairs ({prompt, chosen, rejected}) and gives each its weight: an explicit `weight`, else
 * the reference's factor from the group sizes (spec §5.2), else 1/(rows sharing its prompt) (see pairWeights).
 */
export async function loadPairRows(path: string, flag = '--data'): Promise<PairRow[]> {
  const rows = await readRows(path, flag);
  const pairs = rows.map(({ row, where }) => {
    const pair = { prompt: field(row, 'prompt', where, true), chosen: field(row, 'chosen', where, false), rejected: field(row, 'rejected', where, false) };
    if (pair.chosen === pair.rejected) throw new DataError(`${where}: "chosen" and "rejected" are the same text`);
    const weight = row.weight;
    if (weight !== undefined && (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0)) {
      throw new DataError(`${where}: "weight" must be a positive number`);
    }
    return {
      ...pair,
      problem: problemKey(row, pair.prompt),
      weight: weight as number | undefined,
      posCount: optionalCount(row, 'posCount', 'pos_count'),
      negCount: optionalCount(row, 'negCount', 'neg_count'),
    };
  });
  const counted = pairWeights(pairs);
  return pairs.map((p, i) => ({ prompt: p.prompt, chosen: p.chosen, rejected: p.rejected, weight: p.weight ?? counted[i], problem: p.problem }));
}

/**
 * Per-pair loss weights, so that every prefix group (the pairs sharing a prompt) weighs as much in
 * total as one pair. With the group sizes on the row (`posCount`/`negCount`, as the reference's
 * RMTrainer reads them) the weight is the reference's 1/(pos·neg) (1/(pos+neg) when one side is 0).
 * Without them, each row of a group gets 1/(number of rows in the group): the reference's 1/(pos·neg)
 * when the group holds the pos×neg cross product once, and still a total of one when it does not,
 * e.g. when an identical pair row repeats (the same step pair extracted from two trajectories), which
 * 1/(pos·neg) over distinct texts would count twice.
 */
export function pairWeights(pairs: ReadonlyArray<{ prompt: string; chosen: string; rejected: string; posCount?: number; negCount?: number }>): number[] {
  const rowsPerGroup = new Map<string, number>();
  for (const p of pairs) rowsPerGroup.set(p.prompt, (rowsPerGroup.get(p.prompt) ?? 0) + 1);
  return pairs.map((p) => {
    if (p.posCount !== undefined && p.negCount !== undefined) {
      if (p.posCount > 0 && p.negCount > 0) return 1 / (p.posCount * p.negCount);
      return 1 / Math.max(1, p.posCount + p.negCount);
    }
    return 1 / rowsPerGroup.get(p.prompt)!;
  });
}

/** mulberry32: a small seeded PRNG, so a split (or a synthetic corpus) is reproducible from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Splits rows into train and held-out sets by problem: all rows of one problem (every prefix of its
 * step pairs, its final pairs, its SFT trajectories) stay on one side, so the held-out set measures
 * problems the trainer never saw. A row's problem is its `problem` key (set by the loaders, see
 * `problemKey`), else derived from its prompt. At least one problem is held out when `fraction` > 0
 * and there are two problems or more.
 */
export function splitHeldOut<T extends { prompt: string; problem?: string }>(rows: readonly T[], fraction: number, seed: number): { train: T[]; eval: T[] } {
  const keyOf = (r: T): string => r.problem ?? problemKey({}, r.prompt);
  const problems = [...new Set(rows.map(keyOf))];
  if (fraction <= 0 || problems.length < 2) return { train: [...rows], eval: [] };
  const next = rng(seed);
  for (let i = problems.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [problems[i], problems[j]] = [problems[j], problems[i]];
  }
  const nEval = Math.min(problems.length - 1, Math.max(1, Math.round(problems.length * fraction)));
  const held = new Set(problems.slice(0, nEval));
  return { train: rows.filter((r) => !held.has(keyOf(r))), eval: rows.filter((r) => held.has(keyOf(r))) };
}
