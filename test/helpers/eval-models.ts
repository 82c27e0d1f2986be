/**
 * A trained policy and PPM for the evaluation tests: additions in the step format (the addition recipe
 * of lib/train/synthetic.ts: its tiny shape, operands 10..49, whole held-out prompts) with one change
 * that makes test-time compute matter. After the recipe's SFT (it reads the operands and copies the
 * interpreter's output into the box), a short second SFT teaches four ways of writing the first step,
 * drawn per row:
 *
 *   s = A + B       22 %   right
 *   s = A + B;      22 %   right
 *   s = A + B␠      22 %   right (a trailing space)
 *   s = A + B-1     34 %   wrong, off by one
 *
 * Right answers are two thirds of what the policy writes, so a vote over samples picks them. But greedy
 * decoding takes the likeliest token at each point: after `s = A + B` the `-` (34 % against 22 % for
 * each of the others), so the greedy solution of most problems is the wrong one. The PPM is trained to
 * rank every right form above the off-by-one one, at each step, so best-of-N and the search pick a right
 * sample whenever one was drawn.
 *
 * What did not work (measured through `rstar eval` on 40 held-out prompts): one SFT on the forms from
 * the start, 4,800 rows, with these forms or others (the policy reads the operands but boxes a guess
 * instead of the interpreter's output: greedy 10 %, maj@8 12.5 %); the recipe's stage cut to 3,200 rows
 * (the same failure); and forms that differ in two places (`+ 0`, `* 1`, `- 0` against `- 1`): the model
 * learnt the operator and the digit independently and wrote `+ 1`, a wrong form the PPM had never seen.
 *
 * Cost, one thread: on an idle 2-core machine 108 s for the recipe's SFT (4,800 rows; 3,200 do not
 * learn the copy), 37 s for the forms (1,600 rows), 35 s for the PPM (600 pairs, two epochs); on a
 * loaded one 200–240 s, 80–120 s and 55–107 s.
 */
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeModel } from '../../lib/engine/model-files.js';
import { additionPrompt, additionRecipe, additionSftRows, additionSplit, type AdditionProblem } from '../../lib/train/synthetic.js';
import { rng, type PairRow, type SftRow } from '../../lib/train/data.js';
import { trainModel, type TrainReport } from '../../lib/train/trainer.js';

/** The four first steps: the code line for a + b, and the sum it prints. */
const FORMS: Array<{ share: number; code: (a: number, b: number) => string; sum: (a: number, b: number) => number }> = [
  { share: 0.22, code: (a, b) => `s = ${a} + ${b}`, sum: (a, b) => a + b },
  { share: 0.22, code: (a, b) => `s = ${a} + ${b};`, sum: (a, b) => a + b },
  { share: 0.22, code: (a, b) => `s = ${a} + ${b} `, sum: (a, b) => a + b },
  { share: 0.34, code: (a, b) => `s = ${a} + ${b}-1`, sum: (a, b) => a + b - 1 },
];
const WRONG = 3;

/** The solution's node texts as the search builds them: step 1, step 2 with its output block, the answer step. */
function steps(a: number, b: number, form: number): [string, string, string] {
  const f = FORMS[form];
  const shown = f.sum(a, b);
  return [
    `<code>\n# Step 1: add the two numbers\n${f.code(a, b)}\n<end_of_step>`,
    `\n# Now print the final answer\nprint(s)\n<end_of_code>\n<output>${shown}<end_of_output>`,
    `\n<answer>The answer is \\boxed{${shown}}<end_of_answer>`,
  ];
}

function drawForm(next: () => number): number {
  let x = next();
  for (let i = 0; i < FORMS.length; i++) {
    x -= FORMS[i].share;
    if (x < 0) return i;
  }
  return FORMS.length - 1;
}

function sftRows(count: number, seed: number, problems: readonly AdditionProblem[]): SftRow[] {
  const next = rng(seed);
  return Array.from({ length: count }, () => {
    const { a, b } = problems[Math.floor(next() * problems.length)];
    return { prompt: additionPrompt(a, b), completion: steps(a, b, drawForm(next)).join('') };
  });
}

/** At each of the three depths: a right formulation (chosen) against the off-by-one one (rejected). */
function pairRows(count: number, seed: number, problems: readonly AdditionProblem[]): PairRow[] {
  const next = rng(seed);
  const rows: PairRow[] = [];
  for (let i = 0; i < count; i++) {
    const { a, b } = problems[Math.floor(next() * problems.length)];
    const right = steps(a, b, Math.floor(next() * WRONG));
    const wrong = steps(a, b, WRONG);
    const depth = 1 + (i % 3);
    rows.push({ prompt: additionPrompt(a, b), chosen: right.slice(0, depth).join(''), rejected: wrong.slice(0, depth).join(''), weight: 1 });
  }
  return rows;
}

export interface EvalModels {
  policy: string;
  ppm: string;
  /** A JSONL problem file of held-out additions (prompts never trained on). */
  heldOut: string;
  reports: { sft: TrainReport; ppm: TrainReport };
}

/** Trains the policy and the PPM into `dir` (see the file header) and writes `count` held-out problems. */
export async function trainEvalModels(dir: string, options: { threads: number; heldOut: number; sftRows?: number; ppmPairs?: number; ppmEpochs?: number; log?: (line: string) => void }): Promise<EvalModels> {
  const log = options.log ?? (() => undefined);
  const t0 = Date.now();
  mkdirSync(dir, { recursive: true });
  const p = additionRecipe.problems;
  const split = additionSplit(p.maxOperand, p.heldOut, p.splitSeed, p.minOperand);
  const heldOut = join(dir, 'held-out.jsonl');
  await writeFile(heldOut, split.heldOut.slice(0, options.heldOut).map(({ a, b }) => JSON.stringify({ id: `${a}+${b}`, question: `What is ${a} + ${b}?`, answer: String(a + b) })).join('\n') + '\n');

  // Two stages: the recipe as it is (it learns to read the operands and to copy the interpreter's output
  // into the box within one epoch), then a short pass over the four forms. Trained on the forms from
  // the start, one epoch learns the operands but never the copy.
  const base = join(dir, 'base.gguf');
  await makeModel({ ...additionRecipe.model, out: base, seed: 5 });
  const reader = join(dir, 'reader.gguf');
  const recipe = await trainModel({
    mode: 'sft', model: base, out: reader, threads: options.threads, checkpointDir: null, evalBefore: false,
    train: additionSftRows(additionRecipe.sftRows, 11, { problems: split.train }), eval: additionSftRows(40, 12, { problems: split.heldOut }), hyper: additionRecipe.sft,
  });
  log(`SFT 1 (the recipe): ${recipe.steps} steps, held-out loss ${recipe.evalLossAfter?.toFixed(3)}, ${recipe.trainTokensPerSecond.toFixed(0)} tok/s, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const policy = join(dir, 'policy.gguf');
  const sft = await trainModel({
    mode: 'sft', model: reader, out: policy, threads: options.threads, checkpointDir: null, evalBefore: false,
    train: sftRows(options.sftRows ?? 1600, 13, split.train), eval: sftRows(40, 14, split.heldOut), hyper: { ...additionRecipe.sft, lr: 1e-3 },
  });
  log(`SFT 2 (the forms): ${sft.steps} steps, held-out loss ${sft.evalLossAfter?.toFixed(3)}, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const t1 = Date.now();
  const ppm = join(dir, 'ppm.gguf');
  const ppmReport = await trainModel({
    mode: 'ppm', model: policy, out: ppm, threads: options.threads, checkpointDir: null, evalBefore: false,
    train: pairRows(options.ppmPairs ?? 600, 21, split.train), eval: pairRows(60, 22, split.heldOut), hyper: { ...additionRecipe.ppm, epochs: options.ppmEpochs ?? 2 },
  });
  log(`PPM: ${ppmReport.steps} steps, held-out pair accuracy ${ppmReport.evalPairAccuracyAfter}, ${((Date.now() - t1) / 1000).toFixed(0)} s`);
  return { policy, ppm, heldOut, reports: { sft, ppm: ppmReport } };
}
