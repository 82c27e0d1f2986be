/**
 * A synthetic corpus in the rStar step format that a tiny model can learn in minutes: additions
 * solved as code steps, and the greedy evaluation that says whether a policy trained on it reads the
 * question. The trainer's tests, the `rstar bench train` benchmark and the acceptance runs use it; it
 * never stands in for real data.
 */
import { Model } from '../engine/model.js';
import { buildStepProgram, observationOf } from '../exec/program.js';
import type { ExecResult } from '../exec/types.js';
import { extractBoxed, isEquivalent } from '../grade/index.js';
import { MARKERS, STEP_STOP_MARKERS } from '../steps/markers.js';
import { outputBlock } from '../steps/output.js';
import { parseStep } from '../steps/parse.js';
import { renderPolicyPrompt, defaultPromptTemplates } from '../steps/prompts.js';
import { defaultTrainConfig, type PpmTrainConfig, type SftTrainConfig } from './config.js';
import { rng, type PairRow, type SftRow } from './data.js';

/** One problem: what is a + b? */
export interface AdditionProblem {
  a: number;
  b: number;
}

export function additionPrompt(a: number, b: number): string {
  return renderPolicyPrompt(defaultPromptTemplates, `What is ${a} + ${b}?`);
}

/** The solution up to (not including) the interpreter output, then the output and answer. */
export function additionSolution(a: number, b: number, shown = a + b): { code: string; result: string } {
  return {
    code: `<code>\n# Step 1: add the two numbers\ns = ${a} + ${b}\n<end_of_step>\n# Now print the final answer\nprint(s)\n<end_of_code>\n<output>`,
    result: `${shown}<end_of_output>\n<answer>The answer is \\boxed{${shown}}<end_of_answer>`,
  };
}

/**
 * Every problem with operands in [0, maxOperand], shuffled by `seed`, cut into a held-out part (the
 * first `heldOut` problems) and a training part: a held-out prompt is never trained on.
 */
export function additionSplit(maxOperand: number, heldOut: number, seed: number, minOperand = 0): { train: AdditionProblem[]; heldOut: AdditionProblem[] } {
  const all: AdditionProblem[] = [];
  for (let a = minOperand; a <= maxOperand; a++) for (let b = minOperand; b <= maxOperand; b++) all.push({ a, b });
  const next = rng(seed);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return { heldOut: all.slice(0, heldOut), train: all.slice(heldOut) };
}

/**
 * The smallest model (the tiny shape) and the first schedule we found whose policy reads the question
 * (README, "Training"):
 * greedy accuracy ≥ 90 % on addition prompts never trained on, and a PPM trained from it that ranks a
 * correct solution above the same solution with the sum off by 1 to 3. The self-evolution default
 * builds on it.
 *
 * - Shape: the `tiny` preset (2 layers, 64 wide, 4 heads, 2 KV heads, FFN 192; byte vocabulary), with
 *   weights drawn at std 0.08 instead of 0.02. At 0.02 the attention logits of a 64-wide model start
 *   near 0.03 and their gradients scale with the weights themselves, so attention stays uniform for
 *   the whole run: the model learns the template and writes the same operands for every question.
 * - Curriculum: two-digit operands 10..49 (1,600 prompts, 200 held out as whole prompts), so every
 *   digit, the sum's included, sits at a fixed position. Single digits give 100 prompts, few enough
 *   to memorise a sum per prompt instead of copying the interpreter's output into the box; with
 *   operands 0..99 the model copies the operands but the output has 1 to 3 digits, the box sits at a
 *   varying distance from it, and the model boxes a guessed sum instead (2 % right).
 * - SFT: 4,800 rows, one epoch, lr 3e-3 (1e-2 never leaves the template), batch 16, linear decay.
 * - PPM: negatives as the search makes them (`misreadOperandPairs`: the code step misreads an operand
 *   by 1 to 3, so its sum is off by 1 to 3), 10 epochs at lr 1e-3 with the head at the same rate.
 *   What did not work: a sum off by 1–3 after right code (correctness is then arithmetic the tiny
 *   model cannot do: ~0.5 held out), and any run at lr ≥ 3e-3 or with the head's lr ×10 (the loss
 *   stays near ln 2, held out 0.22–0.57).
 */
export const additionRecipe = {
  model: { preset: 'tiny' as const, vocab: 'bytes' as const, type: 'f32' as const, initStd: 0.08 },
  problems: { minOperand: 10, maxOperand: 49, heldOut: 200, splitSeed: 1 },
  sftRows: 4800,
  ppmPairs: 1600,
  sft: { ...defaultTrainConfig.sft, epochs: 1, lr: 3e-3, batch: 16, ctx: 512, warmupRatio: 0.05, weightDecay: 0 } satisfies SftTrainConfig,
  ppm: { ...defaultTrainConfig.ppm, epochs: 10, lr: 1e-3, headLrMult: 1, batch: 16, ctx: 512, warmupRatio: 0.05 } satisfies PpmTrainConfig,
};

/** The recipe's held-out split and its SFT rows and PPM pairs (train and held-out, split by prompt). */
export function additionRecipeData(recipe = additionRecipe): { split: ReturnType<typeof additionSplit>; sft: { train: SftRow[]; eval: SftRow[] }; ppm: { train: PairRow[]; eval: PairRow[] } } {
  const p = recipe.problems;
  const split = additionSplit(p.maxOperand, p.heldOut, p.splitSeed, p.minOperand);
  return {
    split,
    sft: { train: additionSftRows(recipe.sftRows, 11, { problems: split.train }), eval: additionSftRows(60, 12, { problems: split.heldOut }) },
    ppm: { train: misreadOperandPairs(recipe.ppmPairs, 21, split.train), eval: misreadOperandPairs(100, 22, split.heldOut) },
  };
}

/**
 * Where a corpus draws its problems: operands uniform in [minOperand, maxOperand] (default 0..9, the
 * original single-digit corpus), or uniformly from a list (e.g. one side of `additionSplit`).
 */
export type AdditionSource = { minOperand?: number; maxOperand?: number } | { problems: readonly AdditionProblem[] };

function drawer(source: AdditionSource, next: () => number): () => AdditionProblem {
  if ('problems' in source) {
    const list = source.problems;
    return () => list[Math.floor(next() * list.length)];
  }
  const lo = source.minOperand ?? 0;
  const n = (source.maxOperand ?? 9) - lo + 1;
  return () => ({ a: lo + Math.floor(next() * n), b: lo + Math.floor(next() * n) });
}

/** `count` SFT rows {prompt, completion}: a random addition each (see AdditionSource), solved correctly. */
export function additionSftRows(count: number, seed: number, source: AdditionSource = {}): SftRow[] {
  const draw = drawer(source, rng(seed));
  const rows: SftRow[] = [];
  for (let i = 0; i < count; i++) {
    const { a, b } = draw();
    const s = additionSolution(a, b);
    rows.push({ prompt: additionPrompt(a, b), completion: s.code + s.result });
  }
  return rows;
}

/**
 * `count` PPM pairs on the final step: the prompt is the problem plus the solution's code, the
 * chosen continuation shows the right sum and the rejected one a near miss, the sum off by 1 to 3
 * (never negative) in both the output and the boxed answer, as a real slip looks. A near miss differs
 * from the right sum only in how it relates to the operands, so a PPM must read the question to
 * separate them; uniformly drawn wrong sums are separable by their look alone (width, size). With
 * `uniformShare` > 0 that share of the rejected sums is drawn uniformly instead, from the range of
 * possible sums: a curriculum that gives the value head a first-order signal to start from. Each pair
 * is its own prefix group, weight 1.
 */
export function additionPairRows(count: number, seed: number, source: AdditionSource & { uniformShare?: number } = {}): PairRow[] {
  const next = rng(seed);
  const draw = drawer(source, next);
  const lo = 'problems' in source ? Math.min(...source.problems.map((p) => Math.min(p.a, p.b))) : (source.minOperand ?? 0);
  const hi = 'problems' in source ? Math.max(...source.problems.map((p) => Math.max(p.a, p.b))) : (source.maxOperand ?? 9);
  const rows: PairRow[] = [];
  for (let i = 0; i < count; i++) {
    const { a, b } = draw();
    let wrong = -1;
    if (next() < (source.uniformShare ?? 0)) {
      while (wrong < 0 || wrong === a + b) wrong = 2 * lo + Math.floor(next() * (2 * (hi - lo) + 1));
    } else {
      while (wrong < 0) wrong = a + b + (next() < 0.5 ? -1 : 1) * (1 + Math.floor(next() * 3));
    }
    const right = additionSolution(a, b);
    rows.push({
      prompt: additionPrompt(a, b) + right.code,
      chosen: right.result,
      rejected: additionSolution(a, b, wrong).result,
      weight: 1,
    });
  }
  return rows;
}

/**
 * Step pairs with near misses as the search makes them: the program always runs, so a wrong sum never
 * follows right code; it comes from code that misread the question. The prompt is the question; the
 * chosen step writes `s = a + b`, the rejected one the same step with one operand off by 1 to 3 (its
 * program would print a sum off by 1 to 3). Both are well-formed steps, so only a PPM that compares
 * the code with the question ranks them. Each pair is its own prefix group, weight 1.
 */
export function misreadOperandPairs(count: number, seed: number, problems: readonly AdditionProblem[]): PairRow[] {
  const next = rng(seed);
  const step = (x: number, y: number): string => additionSolution(x, y).code.slice(0, additionSolution(x, y).code.indexOf('<end_of_step>') + '<end_of_step>'.length);
  const rows: PairRow[] = [];
  for (let i = 0; i < count; i++) {
    const { a, b } = problems[Math.floor(next() * problems.length)];
    const delta = (next() < 0.5 ? -1 : 1) * (1 + Math.floor(next() * 3));
    const [wa, wb] = next() < 0.5 ? [a + delta, b] : [a, b + delta];
    rows.push({ prompt: additionPrompt(a, b), chosen: step(a, b), rejected: step(wa, wb), weight: 1 });
  }
  return rows;
}

/** Runs a step's program: a PythonPool, or anything with its `run`. */
export interface ProgramRunner {
  run(program: string): Promise<Pick<ExecResult, 'ok' | 'stdout' | 'error'>>;
}

export interface AdditionEvalOptions {
  /**
   * 'search': as the search consumes the policy. Each step is generated greedily up to a step marker,
   * the program of the final code step is run by `runner`, the search's `<output>` block is appended,
   * and the answer step follows. 'whole': the whole completion is generated greedily, the output block
   * included (the model must then also do the sum).
   */
  mode: 'search' | 'whole';
  /** Required for 'search'. */
  runner?: ProgramRunner;
  threads?: number;
  /** Problems generated at once (default 16). */
  concurrency?: number;
}

export interface AdditionEvalResult {
  accuracy: number;
  correct: number;
  total: number;
  /** The first few wrong solutions, for diagnosis. */
  wrong: Array<{ problem: AdditionProblem; text: string }>;
}

/**
 * Greedy accuracy of a policy on additions, graded by their `\boxed{}` answer.
 * @example const r = await additionGreedyAccuracy('slm.gguf', split.heldOut, { mode: 'search', runner: pool });
 */
export async function additionGreedyAccuracy(modelPath: string, problems: readonly AdditionProblem[], options: AdditionEvalOptions): Promise<AdditionEvalResult> {
  const concurrency = options.concurrency ?? 16;
  const model = await Model.load(modelPath);
  const result: AdditionEvalResult = { accuracy: 0, correct: 0, total: problems.length, wrong: [] };
  try {
    const ctx = await model.createContext({ contextSize: concurrency * 512, threads: options.threads });
    const solve = async (p: AdditionProblem): Promise<{ text: string; answer: string | null }> => {
      const prefix = model.tokenize(additionPrompt(p.a, p.b));
      if (options.mode === 'whole') {
        const [g] = await ctx.expand(prefix, 1, { temperature: 0, maxTokens: 256, stopTokens: [MARKERS.endOfAnswer] });
        return { text: g.text, answer: extractBoxed(g.text) };
      }
      const steps: string[] = [];
      let text = '';
      for (let depth = 0; depth < 6; depth++) {
        const [g] = await ctx.expand(prefix, 1, { temperature: 0, maxTokens: 128, stopTokens: [...STEP_STOP_MARKERS] });
        const parsed = parseStep(g.text, g.stopReason === 'stop_token' ? g.stop : null);
        text += g.text;
        if (parsed.kind === 'answer') return { text, answer: extractBoxed(parsed.answerText ?? g.text) };
        if (parsed.kind === 'unfinished') break;
        prefix.push(...g.tokens);
        let stepText = g.text;
        if (parsed.kind === 'final_code') {
          const exec = await options.runner!.run(buildStepProgram(steps, g.text));
          const block = outputBlock(observationOf(exec), parsed.end === MARKERS.output);
          prefix.push(...model.tokenize(block));
          stepText += block;
          text += block;
        }
        steps.push(stepText);
      }
      return { text, answer: null };
    };
    for (let i = 0; i < problems.length; i += concurrency) {
      const batch = problems.slice(i, i + concurrency);
      const outs = await Promise.all(batch.map(solve));
      outs.forEach((o, j) => {
        const p = batch[j];
        if (o.answer !== null && isEquivalent(String(p.a + p.b), o.answer)) result.correct++;
        else if (result.wrong.length < 5) result.wrong.push({ problem: p, text: o.text });
      });
    }
    result.accuracy = result.correct / Math.max(1, problems.length);
    return result;
  } finally {
    await model.dispose();
  }
}
