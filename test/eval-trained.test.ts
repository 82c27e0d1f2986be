/**
 * Does test-time compute buy accuracy, the way `rstar eval` measures it? A policy and a PPM are trained
 * here from random weights (test/helpers/eval-models.ts: additions in the step format, where greedy
 * decoding follows a likely but wrong first step and two thirds of the samples are right), then every
 * method answers 40 held-out problems (prompts never trained on) through the real engine, Python pool
 * and grader:
 *
 * - greedy takes the off-by-one path on most problems;
 * - majority vote over 8 samples recovers the right answer, and maj@k grows with k;
 * - best-of-8 by the PPM and test-time MCTS with the PPM (2 searches of 4 candidates × 4 rollouts) pick
 *   a right sample whenever one was drawn.
 *
 * Measured (four runs, each with its own training): greedy 15–17.5 %, maj@1 27–28 %, maj@4 64 %, maj@8
 * 90–92.5 %, pass@8 97.5 %, best-of-8 97.5 %, mcts 100 %.
 *
 * A policy that ignored the question, a vote that did not cluster equivalent answers, samples that shared
 * one seed, or a PPM whose scores were not used would each fail a bound below. Training uses one
 * thread: on a loaded machine two threads of one process mostly wait on each other (the same evaluation
 * ran 30× slower with two). The whole test takes 3 min 53 s on an idle 2-core machine (training 180 s,
 * evaluation 53 s; the helper's header has the parts), 7–10 min on a loaded one.
 */
import anyTest from 'ava';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig, testTimeSearchOverrides } from '../lib/config/index.js';
import { runEval } from '../lib/eval/run.js';
import { trainEvalModels } from './helpers/eval-models.js';
import { testDir } from './helpers/models.js';

const test = anyTest.serial;
const work = join(testDir, 'eval-trained');
rmSync(work, { recursive: true, force: true });

test('trained in the test: greedy is misled, the vote and the PPM-guided methods recover the answer', async (t) => {
  t.timeout(60 * 60_000);
  const started = Date.now();
  const models = await trainEvalModels(join(work, 'models'), { threads: 1, heldOut: 40, log: (line) => t.log(line) });
  t.log(`trained in ${((Date.now() - started) / 1000).toFixed(0)} s`);

  const config = resolveConfig({
    engine: { threads: 1, contextSize: 16_384 },
    search: { ...testTimeSearchOverrides, candidates: 4, rollouts: 4, maxDepth: 4, maxStepTokens: 64 },
  });
  const t1 = Date.now();
  const r = await runEval({
    policies: [models.policy],
    ppm: models.ppm,
    dataset: models.heldOut,
    methods: ['greedy', 'majority', 'best-of-n', 'mcts'],
    n: 8,
    runs: 2,
    topK: 2,
    outDir: join(work, 'eval'),
    config,
    concurrency: 8,
    log: null,
  });
  t.log(`evaluated in ${((Date.now() - t1) / 1000).toFixed(0)} s`);
  const acc = Object.fromEntries(r.results.map((e) => [e.method, e.metrics.entry]));
  for (const e of r.results) t.log(`${e.method}: ${e.metrics.accuracy.toFixed(3)} ${JSON.stringify(e.metrics.selections)}, ${e.metrics.tokensPerProblem.toFixed(0)} tokens/problem`);

  const greedy = acc.greedy.acc;
  const maj = acc.majority.selections;
  t.true(greedy <= 0.5, `greedy ${greedy}: the model should mostly follow the likelier wrong path`);
  t.true(maj['pass@8'] >= 0.85, `pass@8 ${maj['pass@8']}: most problems have a right sample`);
  t.true(acc.majority.acc >= greedy + 0.3, `maj@8 ${acc.majority.acc} vs greedy ${greedy}`);
  t.true(maj['maj@1'] < maj['maj@2'] && maj['maj@2'] < maj['maj@4'] && maj['maj@4'] < acc.majority.acc, `maj@k grows with k: ${JSON.stringify(maj)}`);
  t.true(acc['best-of-n'].acc >= 0.8 && acc['best-of-n'].acc >= greedy + 0.4, `best-of-8 by the PPM ${acc['best-of-n'].acc}`);
  t.true(acc.mcts.acc >= 0.8 && acc.mcts.acc >= greedy + 0.4, `mcts ${acc.mcts.acc}`);
});
