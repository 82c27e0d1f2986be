import anyTest from 'ava';

// Serial: every test here trains or runs a model on the shared CPU cores.
const test = anyTest.serial;
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Model, RstarError } from '../lib/index.js';
import { makeModel } from '../lib/engine/model-files.js';
import { loadBinding } from '../lib/native/binding.js';
import { packageRoot } from '../lib/paths.js';
import { runTrainPpm } from '../lib/cli/commands/train/ppm.js';
import { runTrainSft } from '../lib/cli/commands/train/sft.js';
import type { TrainArgs } from '../lib/cli/commands/train/run.js';
import { defaultTrainConfig } from '../lib/train/config.js';
import type { PairRow, SftRow } from '../lib/train/data.js';
import { additionPrompt, additionSftRows } from '../lib/train/synthetic.js';
import { trainModel } from '../lib/train/trainer.js';
import { testDir, testModel } from './helpers/models.js';

const work = join(testDir, 'train');
mkdirSync(work, { recursive: true });
const THREADS = 2;

function writeJsonl(name: string, rows: unknown[]): string {
  const p = join(work, name);
  writeFileSync(p, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return p;
}

const sftHyper = (over: Partial<typeof defaultTrainConfig.sft> = {}) => ({ ...defaultTrainConfig.sft, warmupRatio: 0.05, weightDecay: 0, ...over });
const ppmHyper = (over: Partial<typeof defaultTrainConfig.ppm> = {}) => ({ ...defaultTrainConfig.ppm, warmupRatio: 0.05, ...over });

/** "+" against "-" in the code step: a preference a tiny model learns in seconds. */
function signPairs(count: number, seed: number): PairRow[] {
  const rows: PairRow[] = [];
  let x = seed;
  const next = (): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
  for (let i = 0; i < count; i++) {
    const a = Math.floor(next() * 10);
    const b = Math.floor(next() * 10);
    const prompt = `${additionPrompt(a, b)}<code>\n# Step 1: add the two numbers\n`;
    rows.push({ prompt, chosen: `s = ${a} + ${b}\n<end_of_step>`, rejected: `s = ${a} - ${b}\n<end_of_step>`, weight: 1 });
  }
  return rows;
}

for (const name of ['tiny-bytes-f32', 'tiny-llama-bytes-f32'] as const) {
  test(`our forward pass gives llama.cpp's logits on ${name === 'tiny-bytes-f32' ? 'a qwen2 model (Q/K/V biases, GQA 4/2, NEOX RoPE)' : 'a llama model (no biases, GQA 4/2, NORM RoPE)'}`, async (t) => {
    const path = await testModel(name);
    const model = await Model.load(path);
    try {
      const tokens = model.tokenize(`${additionPrompt(3, 4)}<code>\n# Step 1: add the two numbers\ns = 3 + 4\n<end_of_step>`);
      t.true(tokens.length > 60);
      const ours = await loadBinding().trainForwardLogits(path, Int32Array.from(tokens), THREADS);
      const nVocab = ours.length / tokens.length;
      t.is(nVocab, model.info.nVocab);
      const ctx = await model.createContext({ contextSize: 512, kvType: 'f32', flashAttention: 'off', threads: THREADS });
      let maxAbs = 0;
      let maxDiff = 0;
      for (const p of [1, 17, tokens.length >> 1, tokens.length]) {
        const seq = await ctx.createSequence(tokens.slice(0, p));
        const ref = await seq.logits();
        for (let v = 0; v < nVocab; v++) {
          maxAbs = Math.max(maxAbs, Math.abs(ref[v]));
          maxDiff = Math.max(maxDiff, Math.abs(ref[v] - ours[(p - 1) * nVocab + v]));
        }
        await seq.release();
      }
      t.true(maxAbs > 0.05, `logits too flat to compare: ${maxAbs}`);
      // Stated tolerance: 1e-4 of the largest logit (F32 weights and KV; summation order differs).
      t.true(maxDiff <= 1e-4 * maxAbs, `max |Δlogit| ${maxDiff} vs max |logit| ${maxAbs}`);
    } finally {
      await model.dispose();
    }
  });
}

test('analytic gradients match finite differences; prompt positions carry no loss; packing changes no logit', async (t) => {
  const examples = additionSftRows(3, 21).map((r) => ({ prompt: r.prompt, completion: r.completion.slice(0, 40) }));
  for (const name of ['tiny-bytes-f32', 'tiny-llama-bytes-f32'] as const) {
    const g = await loadBinding().trainGradientCheck({ modelPath: await testModel(name), mode: 'sft', examples, probesPerTensor: 3, eps: 1e-2, seed: 3, threads: THREADS });
    t.true(g.probes >= 50, `${name}: ${g.probes} probes`);
    t.true(g.maxRelError < 0.02, `${name}: max relative gradient error ${g.maxRelError}`);
    // The training graph's loss is the completion-only loss computed on the host, not the all-positions one.
    t.true(Math.abs(g.graphLoss - g.referenceLoss) < 1e-4 * g.referenceLoss, `${name}: ${g.graphLoss} vs ${g.referenceLoss}`);
    t.true(g.promptRows > 100 && g.targetRows > 50);
    t.true(Math.abs(g.allPositionsLoss - g.referenceLoss) > 1e-3, `${name}: masking changes nothing? ${g.allPositionsLoss}`);
    t.true(g.packingMaxAbsDiff < 1e-5, `${name}: packed vs alone ${g.packingMaxAbsDiff}`);
  }
  const ppm = await loadBinding().trainGradientCheck({
    modelPath: await testModel('tiny-bytes-f32'),
    mode: 'ppm',
    examples: signPairs(4, 1).map((p, i) => ({ ...p, weight: i < 2 ? 0.5 : 1 })),
    probesPerTensor: 3,
    eps: 1e-2,
    threads: THREADS,
  });
  t.true(ppm.probes >= 50);
  t.true(ppm.maxRelError < 0.02, `PPM: max relative gradient error ${ppm.maxRelError}`);
  t.true(Math.abs(ppm.graphLoss - ppm.referenceLoss) < 1e-5);
});

// Whether SFT and PPM training learn what the search needs (held-out prompts, greedy answers,
// near-miss pairs) is tested in train-reads.test.ts; the tests here check the trainer's mechanics.

test('PPM training learns an easy preference (+ against -) and the engine scores the saved PPM as the trainer does', async (t) => {
  const train = signPairs(160, 7);
  const evalRows = signPairs(40, 8);
  const out = join(work, 'ppm-sign.gguf');
  const report = await trainModel({
    mode: 'ppm',
    model: await testModel('tiny-bytes-f32'),
    out,
    train,
    eval: evalRows,
    hyper: ppmHyper({ epochs: 3, lr: 1e-3, batch: 8, ctx: 512 }),
    threads: THREADS,
    checkpointDir: null,
  });
  t.true(report.evalPairAccuracyAfter! >= 0.85, `held-out pair accuracy ${report.evalPairAccuracyBefore} -> ${report.evalPairAccuracyAfter}`);
  t.true(report.evalLossAfter! < report.evalLossBefore!);

  const model = await Model.load(out);
  try {
    t.true(model.info.hasValueHead);
    const ctx = await model.createContext({ contextSize: 1024, kvType: 'f32', flashAttention: 'off', threads: THREADS });
    const seqs = evalRows.flatMap((r) => [model.tokenize(r.prompt + r.chosen), model.tokenize(r.prompt + r.rejected)]);
    const engine: number[] = [];
    for (let i = 0; i < seqs.length; i += 8) engine.push(...(await ctx.score(seqs.slice(i, i + 8))));
    const trainer = await loadBinding().trainScoreTokens(out, seqs.map((s) => Int32Array.from(s)), THREADS);
    let maxAbs = 0;
    let maxDiff = 0;
    let correct = 0;
    for (let i = 0; i < seqs.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(engine[i]));
      maxDiff = Math.max(maxDiff, Math.abs(engine[i] - trainer[i]));
    }
    for (let i = 0; i < evalRows.length; i++) if (engine[2 * i] > engine[2 * i + 1]) correct++;
    t.true(maxDiff <= 1e-4 * Math.max(1, maxAbs), `engine vs trainer scores: max |Δ| ${maxDiff}, max |score| ${maxAbs}`);
    t.is(correct / evalRows.length, report.evalPairAccuracyAfter!);
  } finally {
    await model.dispose();
  }
});

test('an interrupted run resumes from its checkpoint and ends exactly where an uninterrupted run ends', async (t) => {
  const model = await testModel('tiny-bytes-f32');
  const train = additionSftRows(48, 41);
  const evalRows = additionSftRows(8, 42);
  const hyper = sftHyper({ epochs: 1, lr: 2e-3, batch: 4, ctx: 256, checkpointEvery: 2 });
  const base = { mode: 'sft' as const, model, train, eval: evalRows, hyper, threads: 1 };

  const straightOut = join(work, 'straight.gguf');
  const straight = await trainModel({ ...base, out: straightOut, checkpointDir: null });
  t.is(straight.steps, 12);

  const out = join(work, 'resumed.gguf');
  const ckpt = join(work, 'resumed.ckpt');
  rmSync(ckpt, { recursive: true, force: true });
  rmSync(out, { force: true });
  const controller = new AbortController();
  const first = await trainModel({
    ...base,
    out,
    checkpointDir: ckpt,
    signal: controller.signal,
    onProgress: (p) => {
      if (p.phase === 'train' && p.step >= 5) controller.abort();
    },
  });
  t.true(first.cancelled);
  t.false(existsSync(out));
  t.true(existsSync(ckpt));
  t.true(first.steps >= 5 && first.steps < 12, `stopped at step ${first.steps}`);

  const second = await trainModel({ ...base, out, checkpointDir: ckpt });
  t.false(second.cancelled);
  t.is(second.resumedFromStep, first.steps);
  t.is(second.steps, 12);
  t.false(existsSync(ckpt), 'a finished run removes its checkpoint');
  t.is(second.evalLossBefore, straight.evalLossBefore);
  t.is(second.evalLossAfter, straight.evalLossAfter);
  t.true(readFileSync(out).equals(readFileSync(straightOut)), 'the resumed model differs from the uninterrupted one');

  // A checkpoint of another run is refused rather than silently mixed in.
  await trainModel({ ...base, out, checkpointDir: ckpt, maxSteps: 3, keepCheckpoint: true });
  await t.throwsAsync(trainModel({ ...base, hyper: { ...hyper, lr: 1e-3 }, out, checkpointDir: ckpt }), { instanceOf: RstarError, message: /other data or settings/ });
  rmSync(ckpt, { recursive: true, force: true });
});

test('bad models and data fail with typed errors instead of crashing the process', async (t) => {
  const q8 = join(work, 'tiny-q8.gguf');
  if (!existsSync(q8)) await makeModel({ preset: 'tiny', vocab: 'bytes', type: 'q8_0', out: q8, seed: 3 });
  const rows: SftRow[] = additionSftRows(4, 1);
  const e = await t.throwsAsync(trainModel({ mode: 'sft', model: q8, out: join(work, 'x.gguf'), train: rows, eval: [], hyper: sftHyper(), checkpointDir: null }), { instanceOf: RstarError });
  t.is(e!.code, 'MODEL_LOAD');
  t.regex(e!.message, /quantized/);
  const notGguf = writeJsonl('not-a-model.gguf', [{}]);
  await t.throwsAsync(trainModel({ mode: 'sft', model: notGguf, out: join(work, 'x.gguf'), train: rows, eval: [], hyper: sftHyper(), checkpointDir: null }), { instanceOf: RstarError });
  // Nothing fits in the context: a data error, not a crash.
  await t.throwsAsync(
    trainModel({ mode: 'ppm', model: await testModel('tiny-bytes-f32'), out: join(work, 'x.gguf'), train: signPairs(2, 1), eval: [], hyper: ppmHyper({ ctx: 8 }), checkpointDir: null }),
    { instanceOf: RstarError, message: /fits/ },
  );
});

const cliArgs = (over: Partial<TrainArgs>): TrainArgs =>
  ({ resume: true, json: false, quiet: true, threads: THREADS, ...over }) as TrainArgs;

test('rstar train sft|ppm --json print the contract on the last line of stdout', async (t) => {
  const model = await testModel('tiny-bytes-f32');
  const sft = writeJsonl('cli-sft.jsonl', additionSftRows(40, 51));
  const pairs = writeJsonl('cli-pairs.jsonl', signPairs(40, 52));
  const main = join(packageRoot, 'dist', 'lib', 'cli', 'main.js');
  const run = promisify(execFile);
  const common = ['--lr', '1e-3', '--batch', '8', '--ctx', '256', '--threads', String(THREADS), '--json', '--eval-fraction', '0.2'];
  const a = await run(process.execPath, [main, 'train', 'sft', '--model', model, '--data', sft, '--out', join(work, 'cli-sft.gguf'), '--epochs', '1', ...common]);
  const sftJson = JSON.parse(a.stdout.trim().split('\n').at(-1)!);
  for (const k of ['eval_loss_before', 'eval_loss_after', 'train_tokens_per_s']) t.is(typeof sftJson[k], 'number', k);
  t.true(sftJson.eval_loss_after < sftJson.eval_loss_before);
  const b = await run(process.execPath, [main, 'train', 'ppm', '--model', join(work, 'cli-sft.gguf'), '--data', pairs, '--out', join(work, 'cli-ppm.gguf'), '--epochs', '1', ...common]);
  const ppmJson = JSON.parse(b.stdout.trim().split('\n').at(-1)!);
  t.is(typeof ppmJson.eval_pair_accuracy, 'number');
  t.true(ppmJson.eval_pair_accuracy >= 0 && ppmJson.eval_pair_accuracy <= 1);
  // --steps: exactly that many optimizer steps, whatever the data's size (about 32 training rows, batch 8).
  const c = await run(process.execPath, [main, 'train', 'sft', '--model', model, '--data', sft, '--out', join(work, 'cli-steps.gguf'), '--steps', '11', ...common]);
  const stepsJson = JSON.parse(c.stdout.trim().split('\n').at(-1)!);
  t.is(stepsJson.steps, 11);
  t.is(stepsJson.total_steps, 11);
});

test('the external-trainer hook writes the splits, runs the configured command and checks its GGUF', async (t) => {
  const model = await testModel('tiny-bytes-f32');
  const data = writeJsonl('ext-sft.jsonl', additionSftRows(20, 61));
  const out = join(work, 'ext-sft.gguf');
  rmSync(out, { force: true });
  const config = join(work, 'ext-config.json');
  writeFileSync(config, JSON.stringify({ train: { external: { sft: 'cp {model} {out} && echo "{\\"eval_loss_after\\": 1.5}" > {workdir}/metrics.json' } } }));
  const r = await runTrainSft(cliArgs({ model, data, out, config, evalFraction: 0.25 }));
  t.is(r.trainer, 'external');
  t.true(readFileSync(out).equals(readFileSync(model)));
  t.is(r.json.eval_loss_after, 1.5);
  const lines = (name: string): unknown[] => readFileSync(join(`${out}.external`, name), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
  t.is(lines('train.jsonl').length + lines('eval.jsonl').length, 20);
  t.true(lines('eval.jsonl').length > 0);

  // A PPM must come back with its value head; a failing command is an error.
  const pairs = writeJsonl('ext-pairs.jsonl', signPairs(10, 62));
  await t.throwsAsync(runTrainPpm(cliArgs({ model, data: pairs, out: join(work, 'ext-ppm.gguf'), external: 'cp {model} {out}' })), { instanceOf: RstarError, message: /value_head/ });
  const ppmModel = await testModel('tiny-bytes-ppm-f32');
  const ok = await runTrainPpm(cliArgs({ model: ppmModel, data: pairs, out: join(work, 'ext-ppm.gguf'), external: 'cp {model} {out}' }));
  t.is(ok.trainer, 'external');
  await t.throwsAsync(runTrainSft(cliArgs({ model, data, out, external: 'exit 3' })), { instanceOf: RstarError, message: /status 3/ });
});

