/**
 * Does training produce a policy that reads the question, and a PPM that checks the answer against it?
 * The recipe (lib/train/synthetic.ts `additionRecipe`) is trained from random weights and judged on
 * prompts it never saw, the way the search uses the models:
 *
 * - SFT: each held-out prompt is solved greedily step by step by the engine (stop markers
 *   `<end_of_step>`, `<end_of_code>`, `<end_of_answer>`), the final code step's program runs in the
 *   Python pool, the search's `<output>` block is appended, the answer step is generated and its
 *   `\boxed{}` graded. A model that ignores its input writes the same `s = A + B` for every prompt,
 *   so it can be right on at most the prompts that share that sum (under 10 % of these 200), and
 *   fails the ≥ 0.9 bound.
 * - PPM: held-out pairs (whole prompts never trained on) whose rejected side is the same code step
 *   with one operand misread by 1 to 3 (so its sum is off by 1 to 3), as the search's mistakes are,
 *   scored by the engine. Both steps are well-formed with plausible operands, so a PPM that ignores
 *   the question ranks each pair by the digits' look alone, about half right, and fails ≥ 0.9.
 *
 * Training time: about a minute for each model on 2 idle cores, several times that on a loaded
 * machine (hence the long per-test timeouts).
 */
import anyTest from 'ava';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../lib/engine/model.js';
import { makeModel } from '../lib/engine/model-files.js';
import { PythonPool } from '../lib/exec/index.js';
import { additionGreedyAccuracy, additionRecipe, additionRecipeData } from '../lib/train/synthetic.js';
import { trainModel } from '../lib/train/trainer.js';
import { testDir } from './helpers/models.js';

// Serial: both tests train on the shared CPU cores, and the PPM starts from the SFT model.
const test = anyTest.serial;
const THREADS = 2;
const work = join(testDir, 'train-reads');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const data = additionRecipeData();
const policyPath = join(work, 'policy.gguf');

test('SFT with the addition recipe writes a policy that solves ≥ 90 % of held-out prompts greedily, as the search runs it', async (t) => {
  t.timeout(40 * 60_000);
  const heldOut = new Set(data.split.heldOut.map((p) => `${p.a}+${p.b}`));
  t.false(data.sft.train.some((r) => heldOut.has(/What is (\d+) \+ (\d+)\?/.exec(r.prompt)!.slice(1).join('+'))), 'a held-out prompt is in the training rows');
  const base = join(work, 'base.gguf');
  await makeModel({ ...additionRecipe.model, out: base, seed: 5 });
  const started = Date.now();
  const report = await trainModel({ mode: 'sft', model: base, out: policyPath, train: data.sft.train, eval: data.sft.eval, hyper: additionRecipe.sft, threads: THREADS, checkpointDir: null });
  t.log(`SFT: held-out loss ${report.evalLossBefore?.toFixed(3)} -> ${report.evalLossAfter?.toFixed(3)}, ${report.steps} steps, ${((Date.now() - started) / 1000).toFixed(0)} s, ${report.trainTokensPerSecond.toFixed(0)} tok/s`);

  const pool = new PythonPool({ size: 1, log: null });
  try {
    const problems = data.split.heldOut.slice(0, 100);
    const search = await additionGreedyAccuracy(policyPath, problems, { mode: 'search', runner: pool, threads: THREADS });
    const whole = await additionGreedyAccuracy(policyPath, problems, { mode: 'whole', threads: THREADS });
    t.log(`greedy accuracy on ${problems.length} held-out prompts: ${search.accuracy} as the search runs it, ${whole.accuracy} generating the output block too`);
    for (const w of search.wrong) t.log(`wrong on ${w.problem.a} + ${w.problem.b}: ${JSON.stringify(w.text)}`);
    t.true(search.accuracy >= 0.9, `held-out greedy accuracy ${search.accuracy}`);
  } finally {
    await pool.dispose();
  }
});

test('a PPM trained from that policy ranks ≥ 90 % of held-out near-miss pairs right when the engine scores them', async (t) => {
  t.timeout(40 * 60_000);
  const out = join(work, 'ppm.gguf');
  const started = Date.now();
  const report = await trainModel({ mode: 'ppm', model: policyPath, out, train: data.ppm.train, eval: data.ppm.eval, hyper: additionRecipe.ppm, threads: THREADS, checkpointDir: null });
  t.log(`PPM: held-out loss ${report.evalLossBefore?.toFixed(3)} -> ${report.evalLossAfter?.toFixed(3)}, pair accuracy ${report.evalPairAccuracyBefore} -> ${report.evalPairAccuracyAfter}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const trainPrompts = new Set(data.ppm.train.map((r) => r.prompt));
  t.false(data.ppm.eval.some((r) => trainPrompts.has(r.prompt)), 'a held-out prompt is in the training pairs');

  const model = await Model.load(out);
  try {
    const ctx = await model.createContext({ contextSize: 4096, threads: THREADS });
    const scores = await ctx.score(data.ppm.eval.flatMap((p) => [model.tokenize(p.prompt + p.chosen), model.tokenize(p.prompt + p.rejected)]));
    let right = 0;
    for (let i = 0; i < data.ppm.eval.length; i++) if (scores[2 * i] > scores[2 * i + 1]) right++;
    const accuracy = right / data.ppm.eval.length;
    t.log(`engine: ${right}/${data.ppm.eval.length} held-out near-miss pairs ranked right`);
    t.true(accuracy >= 0.9, `held-out near-miss pair accuracy ${accuracy}`);
  } finally {
    await model.dispose();
  }
});
