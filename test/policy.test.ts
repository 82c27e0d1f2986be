/**
 * lib/policy on the real engine: one tokenization rule for training, generation and scoring (BOS as
 * the model's GGUF asks), the PPM file's transform owning every score (search, `rstar ppm score`),
 * and engine settings reaching the models. Random weights: these check mechanics, not accuracy.
 */
import test from 'ava';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../lib/config/index.js';
import { makeModel } from '../lib/engine/model-files.js';
import { Model } from '../lib/engine/model.js';
import { loadBinding } from '../lib/native/binding.js';
import { runPpmScore, type PairScore } from '../lib/cli/commands/ppm/score.js';
import { createEnginePolicy, EnginePpm, promptTokens } from '../lib/policy/engine.js';
import { renderPolicyPrompt, defaultPromptTemplates } from '../lib/steps/prompts.js';
import { testDir } from './helpers/models.js';

const work = join(testDir, 'policy');
mkdirSync(work, { recursive: true });
const engine = { ...resolveConfig().engine, threads: 1, kvType: 'f32' as const };

const made = async (name: string, options: { addBos?: boolean; valueHead?: boolean; valueTransform?: 'tanh_div5' | 'tanh' | 'raw'; initStd?: number; seed?: number }): Promise<string> => {
  const out = join(work, `${name}.${process.pid}.gguf`);
  await makeModel({ preset: 'tiny', vocab: 'bytes', type: 'f32', seed: 3, out, ...options });
  return out;
};
test.after.always(() => {
  for (const f of readdirSync(work)) if (f.includes(`.${process.pid}.`)) rmSync(join(work, f), { force: true });
});

const prompt = renderPolicyPrompt(defaultPromptTemplates, 'What is 2 + 3?');

test('one tokenization rule: prompts start with BOS exactly when the GGUF asks, as the trainer packs them', async (t) => {
  // Weights drawn wide enough (std 0.3) that one extra token changes what the model writes (seed 1:
  // its first greedy token already differs with and without BOS).
  const withBos = await made('bos', { addBos: true, initStd: 0.3, seed: 1 });
  const without = await made('nobos', { initStd: 0.3, seed: 1 });
  const trainer = loadBinding();
  for (const [path, wantsBos] of [[withBos, true], [without, false]] as const) {
    const model = await Model.load(path);
    try {
      const engineTokens = promptTokens(model, prompt);
      t.is(engineTokens[0] === model.info.bos, wantsBos, `${path}: BOS first iff add_bos_token`);
      t.deepEqual(engineTokens.slice(wantsBos ? 1 : 0), model.tokenize(prompt), 'the rest is the plain tokenization');
      // native/train/packing.cpp tokenizes every prompt with add_special = true.
      const [packed] = await trainer.trainTokenize(path, [prompt], true);
      t.deepEqual(Array.from(packed), engineTokens, 'the trainer sees the tokens the engine generates from');
    } finally {
      await model.dispose();
    }
  }

  // The search's policy continues exactly the BOS-prefixed prompt: its greedy step equals an expansion
  // of promptTokens(), not of the BOS-less tokens.
  const config = resolveConfig();
  const policy = await createEnginePolicy({ policyPath: withBos, engine, concurrency: 1 });
  const model = await Model.load(withBos);
  const ctx = await model.createContext({ contextSize: 1024, threads: 1, kvType: 'f32' });
  try {
    const sampling = { temperature: 0, maxTokens: 12, stopMarkers: config.search.stopMarkers };
    const [step] = await policy.policy.generateSteps({ problem: { id: 'p', question: 'What is 2 + 3?' }, prompt, path: [], n: 1, seed: 1, sampling });
    const stopTokens = config.search.stopMarkers;
    const [expected] = await ctx.expand(promptTokens(model, prompt), 1, { temperature: 0, maxTokens: 12, stopTokens });
    const [bosLess] = await ctx.expand(model.tokenize(prompt), 1, { temperature: 0, maxTokens: 12, stopTokens });
    t.notDeepEqual(expected.tokens, bosLess.tokens, 'the BOS token changes what this model writes (so the check can fail)');
    t.deepEqual(step.tokens, expected.tokens);
  } finally {
    await policy.dispose();
    await model.dispose();
  }
});

test("the PPM file's transform owns its scores: search, ppm score and the scorer agree; the config overrides explicitly", async (t) => {
  const path = await made('ppm-tanh', { valueHead: true, valueTransform: 'tanh' });
  const texts = [`${prompt}<code>\nx = 2 + 3\n<end_of_step>`, `${prompt}<code>\nx = 2 - 3\n<end_of_step>`];

  const ppm = await EnginePpm.open(path, engine, { contextSize: 1024 });
  let raw: number[];
  try {
    t.is(ppm.transform, 'tanh', 'read from rstar.value_head.transform');
    raw = await ppm.rawScores(texts);
    t.deepEqual(await ppm.scores(texts), raw.map((r) => Math.tanh(r)));
  } finally {
    await ppm.dispose();
  }

  // The search's scorer, built from the default configuration (search.ppmTransform = 'model').
  const search = await createEnginePolicy({ policyPath: path, ppmPath: path, engine, concurrency: 1 });
  const requests = [{ problem: { id: 'p', question: 'q' }, prompt, path: [{ text: '<code>\nx = 2 + 3\n<end_of_step>', tokens: [] }] }];
  try {
    const [score] = await search.scorer!.score(requests);
    t.true(Math.abs(score - Math.tanh(raw[0])) < 1e-6, `search score ${score} is tanh(raw ${raw[0]})`);
  } finally {
    await search.dispose();
  }
  const overridden = await createEnginePolicy({ policyPath: path, ppmPath: path, engine, ppmTransform: 'raw', concurrency: 1 });
  try {
    t.true(Math.abs((await overridden.scorer!.score(requests))[0] - raw[0]) < 1e-6, 'search.ppmTransform "raw" overrides the file');
  } finally {
    await overridden.dispose();
  }

  // `rstar ppm score` reports the same values.
  const pairs = join(work, `pairs.${process.pid}.jsonl`);
  writeFileSync(pairs, `${JSON.stringify({ prompt, chosen: '<code>\nx = 2 + 3\n<end_of_step>', rejected: '<code>\nx = 2 - 3\n<end_of_step>' })}\n`);
  const lines: PairScore[] = [];
  const result = await runPpmScore({ model: path, pairs, json: true, batch: 8, threads: 1, ctxSize: 1024 }, (s) => void lines.push(s));
  t.is(result.transform, 'tanh');
  t.true(Math.abs(lines[0].chosen_score - raw[0]) < 1e-5);
  t.true(Math.abs(lines[0].chosen_value - Math.tanh(lines[0].chosen_score)) < 1e-9);
});

test('engine settings reach the models: GPU layers requested and offloaded, context, threads, batch', async (t) => {
  const path = await made('engine-flags', {});
  const policy = await createEnginePolicy({ policyPath: path, engine: { ...engine, gpuLayers: 3, contextSize: 2048, batchSize: 64, threads: 1 }, concurrency: 4 });
  try {
    const gpu = loadBinding().systemInfo().gpuOffload;
    t.like(policy.models.policy, { gpuLayers: 3, contextSize: 2048, batchSize: 64, threads: 1 });
    t.is(policy.models.policy.offloadedLayers, gpu ? 3 : 0, gpu ? 'a GPU build offloads what was asked' : 'a CPU build offloads nothing');
  } finally {
    await policy.dispose();
  }
});
