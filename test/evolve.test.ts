/**
 * The self-evolution loop (lib/evolve) on a seconds-long configuration: a scripted bootstrap program
 * that writes real Python, tiny real models trained by the real trainer, the real engine, Python pool
 * and grader. Checks the order of stages, what each round trains from, per-round settings, that state
 * says what is done, and that a resume redoes nothing. Accuracy is not the point here (tiny models).
 */
import anyTest from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveConfig, type ConfigOverrides } from '../lib/config/index.js';
import { inspectModel } from '../lib/engine/model-files.js';
import { runEvolve, type EvolveProgress } from '../lib/evolve/run.js';
import { additionPolicy } from './helpers/policies.js';
import { testDir, testModel } from './helpers/models.js';

// Serial: every test here trains and runs models on the shared CPU cores.
const test = anyTest.serial;


async function problems(dir: string, name: string, from: number, count: number): Promise<string> {
  const path = join(dir, name);
  const lines = Array.from({ length: count }, (_, i) => JSON.stringify({ id: `${name}-${i}`, question: `What is ${from + i} + ${i + 3}?`, answer: String(from + 2 * i + 3), level: 1 + (i % 2) }));
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

const tiny: ConfigOverrides = {
  engine: { threads: 1, contextSize: 4096 },
  search: { candidates: 3, maxStepTokens: 24, stepTimeoutMs: 10_000 },
  train: {
    sft: { epochs: 1, lr: 1e-3, batch: 4, ctx: 512, evalFraction: 0.25 },
    ppm: { epochs: 1, lr: 1e-3, batch: 4, ctx: 512, evalFraction: 0.25 },
    threads: 1,
  },
  evolve: {
    // Round 2 also uses the program (the tiny round-1 policy solves nothing), now with PPM-1: what
    // matters here is what each stage is given.
    rounds: [{ rollouts: 4 }, { policy: 'bootstrap', usePpm: true, rollouts: 3, temperature: 1, promptStyle: 'policy', errorsThreshold: 1, extraStopMarkers: [] }],
    eval: { majorityN: 2, mctsCandidates: 2, mctsRollouts: 2, mctsRuns: 3, mctsTopK: 2, baseGreedy: true, temperature: 0 },
  },
};

test('two rounds: search, data, SFT from the base, PPM from the round policy, evaluation; state and resume', async (t) => {
  const dir = await mkdtemp(join(testDir, 'evolve-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const base = await testModel('tiny-bytes-f32');
  const train = await problems(dir, 'train.jsonl', 10, 6);
  const held = await problems(dir, 'held.jsonl', 40, 3);
  const config = resolveConfig(tiny);
  const out = join(dir, 'run');
  const events: EvolveProgress[] = [];
  const options = { outDir: out, base, bootstrap: { kind: 'program' as const, name: 'additions', create: additionPolicy }, problems: train, evalProblems: held, config, concurrency: 2 };
  const result = await runEvolve({ ...options, onProgress: (p) => events.push(p) });

  t.true(result.complete);
  t.deepEqual(result.rounds.map((r) => r.round), [1, 2]);
  // Stage order, round by round.
  const order = events.map((e) => `${e.round}:${e.stage}`).filter((s, i, all) => s !== all[i - 1]);
  t.deepEqual(order, ['0:base', '1:search', '1:data', '1:sft', '1:ppm', '1:eval', '2:search', '2:data', '2:sft', '2:ppm', '2:eval']);
  // The program solves every problem on its right path: full coverage, by level.
  t.is(result.rounds[0].coverage, 1);
  t.deepEqual(Object.keys(result.rounds[0].coverageByLevel), ['1', '2']);
  t.deepEqual(result.rounds.map((r) => [r.sftRows, r.pairs > 0]), [[6, true], [6, true]], JSON.stringify(result.rounds.map((r) => [r.sftRows, r.pairs])));

  // Per-round settings reached the search, and round 2 searched with PPM-1.
  const s1 = JSON.parse(await readFile(join(out, 'round-1', 'search', 'config.json'), 'utf8'));
  const s2 = JSON.parse(await readFile(join(out, 'round-2', 'search', 'config.json'), 'utf8'));
  t.deepEqual([s1.config.search.rollouts, s1.config.search.temperature, s1.config.search.promptStyle, s1.config.search.errorsThreshold], [4, 0.7, 'bootstrap', 2]);
  t.true(s1.config.search.stopMarkers.includes('<output>'));
  t.deepEqual([s2.config.search.rollouts, s2.config.search.usePpm], [3, true]);
  t.is(s2.inputs.ppm.path, join(out, 'round-1', 'ppm.gguf'));
  const trees2 = (await readFile(join(out, 'round-2', 'search', 'trees.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.true(trees2.every((tr) => tr.annotation === 'ppm-augmented'));

  // SFT starts from the base model every round; the PPM from that round's policy.
  for (const k of [1, 2]) {
    const policy = await inspectModel(join(out, `round-${k}`, 'policy.gguf'));
    const ppm = await inspectModel(join(out, `round-${k}`, 'ppm.gguf'));
    const sftMeta = JSON.parse(String(policy.metadata['rstar.train.config']));
    const ppmMeta = JSON.parse(String(ppm.metadata['rstar.train.config']));
    t.is(sftMeta.data, join(out, `round-${k}`, 'data', 'sft.jsonl'));
    t.is(ppmMeta.data, join(out, `round-${k}`, 'data', 'pairs.jsonl'));
    t.true('rstar.value_head.weight' in ppm.metadata, 'the PPM has a value head');
    t.false('rstar.value_head.weight' in policy.metadata);
  }
  const state = JSON.parse(await readFile(join(out, 'state.json'), 'utf8'));
  t.true(state.inputs.base.path === base && /^[0-9a-f]{64}$/.test(state.inputs.base.sha256));
  t.deepEqual(Object.keys(state.rounds['2']), ['search', 'data', 'sft', 'ppm', 'eval']);
  t.is(result.rounds[1].eval.greedy!.problems, 3, 'every held-out problem evaluated');
  // The evaluation samples at evolve.eval.temperature: at 0 the majority vote's samples are one text.
  const votes = (await readFile(join(out, 'round-1', 'eval', 'majority', 'results.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { candidates: { text: string }[] });
  t.true(votes.length === 3 && votes.every((v) => v.candidates.length === 2 && v.candidates[0].text === v.candidates[1].text), JSON.stringify(votes.map((v) => v.candidates.map((c) => c.text.slice(0, 40)))));
  // The test-time search ran evolve.eval.mctsRuns independent searches per problem, each one answer.
  const searches = (await readFile(join(out, 'round-1', 'eval', 'mcts', 'results.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { candidates: unknown[] });
  t.deepEqual(searches.map((s) => s.candidates.length), [3, 3, 3]);
  const mctsMetrics = JSON.parse(await readFile(join(out, 'round-1', 'eval', 'mcts', 'metrics.json'), 'utf8')) as { results: { n: number; top_k: number }[] };
  t.like(mctsMetrics.results[0], { n: 3, top_k: 2 });

  // A resume redoes nothing: no stage runs, the same result comes back.
  const again: EvolveProgress[] = [];
  const resumed = await runEvolve({ ...options, onProgress: (p) => again.push(p) });
  t.deepEqual(again, []);
  t.deepEqual(resumed.rounds.map((r) => [r.coverage, r.greedyAccuracy, r.sftRows]), result.rounds.map((r) => [r.coverage, r.greedyAccuracy, r.sftRows]));

  // Other inputs are refused, naming what differs.
  const other = await problems(dir, 'other.jsonl', 70, 6);
  await t.throwsAsync(runEvolve({ ...options, problems: other }), { code: 'INVALID_ARGUMENT', message: /--problems \(sha256/ });
  await t.throwsAsync(runEvolve({ ...options, config: resolveConfig(tiny, { evolve: { eval: { majorityN: 3 } } }) }), { message: /evolve\.eval/ });
});

test("evolve.trainingData 'all-rounds': a round trains on the solutions of every round so far", async (t) => {
  const dir = await mkdtemp(join(testDir, 'evolve-all-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const base = await testModel('tiny-bytes-f32');
  const train = await problems(dir, 'train.jsonl', 10, 6);
  const held = await problems(dir, 'held.jsonl', 40, 2);
  // Round 2 searches with the tiny policy-1, which solves none of them: its own trees hold no correct
  // trajectory, so with 'round' it would have nothing to fine-tune on.
  const config = resolveConfig(tiny, {
    evolve: {
      trainingData: 'all-rounds',
      rounds: [{ rollouts: 4 }, { policy: 'previous', usePpm: false, rollouts: 2, temperature: 1, promptStyle: 'policy', errorsThreshold: 1, extraStopMarkers: [] }],
      eval: { baseGreedy: false },
    },
  });
  const out = join(dir, 'run');
  const result = await runEvolve({ outDir: out, base, bootstrap: { kind: 'program', name: 'additions', create: additionPolicy }, problems: train, evalProblems: held, config, concurrency: 2 });
  t.true(result.complete);
  const [r1, r2] = result.rounds;
  t.is(r2.coverage, 0, 'the premise: policy-1 solved nothing in round 2');
  t.is(r1.sftRows, 6);
  t.is(r2.sftRows, r1.sftRows, "round 2's rows are round 1's solutions");
  t.true(r2.pairs >= r1.pairs, JSON.stringify([r1.pairs, r2.pairs]));
  const rows = async (k: number): Promise<string[]> => (await readFile(join(out, `round-${k}`, 'data', 'sft.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).completion as string).sort();
  t.deepEqual(await rows(2), await rows(1));
  t.is(JSON.parse(await readFile(join(out, 'round-2', 'settings.json'), 'utf8')).trainingData, 'all-rounds', 'the round records where its data came from');
});

test('the held-out set must not overlap the training problems', async (t) => {
  const dir = await mkdtemp(join(testDir, 'evolve-leak-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const train = await problems(dir, 'train.jsonl', 10, 4);
  const base = await testModel('tiny-bytes-f32');
  await t.throwsAsync(
    runEvolve({ outDir: join(dir, 'run'), base, bootstrap: { kind: 'program', name: 'x', create: additionPolicy }, problems: train, evalProblems: train, config: resolveConfig(tiny), concurrency: 1 }),
    { code: 'DATA', message: /held-out set/ },
  );
});
