import anyTest from 'ava';

// Serial: each test measures its own context (event-loop lag, KV bytes); concurrent tests in this
// process would disturb those measurements.
const test = anyTest.serial;
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Model, RstarError } from '../lib/index.js';
import { testDir, testModel } from './helpers/models.js';

const question = 'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?';
const prompt = `<|user|>:\n${question}\n<|assistant|>: Let's think step by step and solve the problem with code.<code>\n# Step 1: clips sold in April\napril = 48<end_of_step>`;

test('a child forked from a shared prefix continues exactly like the same text decoded from scratch', async (t) => {
  const model = await Model.load(await testModel('tiny-qwen2-f32'));
  try {
    const tokens = model.tokenize(prompt);
    // F32 KV cache: the comparison is about sharing cells, not about F16 rounding.
    const shared = await model.createContext({ contextSize: 1024, kvType: 'f32', threads: 1 });
    const root = await shared.createSequence(tokens);
    const children = await root.fork(4);
    // Siblings generating in the same steps must not disturb each other.
    const [a, b] = await Promise.all([children[1].generate({ temperature: 0, maxTokens: 24, ignoreEndOfGeneration: true }), children[2].generate({ temperature: 1, seed: 3, maxTokens: 24, ignoreEndOfGeneration: true })]);
    t.is(b.tokens.length, 24);
    const forkedLogits = await children[3].logits();

    const fresh = await model.createContext({ contextSize: 1024, kvType: 'f32', threads: 1 });
    const alone = await fresh.createSequence(tokens);
    const freshLogits = await alone.logits();
    const g = await alone.generate({ temperature: 0, maxTokens: 24, ignoreEndOfGeneration: true });
    t.deepEqual(a.tokens, g.tokens, 'greedy continuations differ');
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < freshLogits.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(freshLogits[i]));
      maxDiff = Math.max(maxDiff, Math.abs(freshLogits[i] - forkedLogits[i]));
    }
    t.true(maxAbs > 0);
    // Tolerance: 1e-4 of the largest logit (batch shape changes float summation order only).
    t.true(maxDiff <= 1e-4 * maxAbs, `max |Δlogit| ${maxDiff} vs max |logit| ${maxAbs}`);
  } finally {
    await model.dispose();
  }
});

test('sixteen siblings forked from one prefix occupy about one prefix of KV cells, not sixteen', async (t) => {
  const model = await Model.load(await testModel('tiny-qwen2-f32'));
  try {
    const ctx = await model.createContext({ contextSize: 512, kvType: 'f32', threads: 1 });
    const empty = await ctx.kvStateBytes();
    const tokens = model.tokenize(`${prompt}\n${question.repeat(8)}`).slice(0, 300);
    t.is(tokens.length, 300);
    const root = await ctx.createSequence(tokens);
    const one = (await ctx.kvStateBytes()) - empty;
    const children = await root.fork(16);
    const sixteen = (await ctx.kvStateBytes()) - empty;
    // Shared cells are stored once; each extra sequence id costs 4 bytes per cell of metadata.
    t.true(sixteen < one * 1.25, `16 forks grew the KV state from ${one} to ${sixteen} bytes`);
    // Capacity: 300 + 16 x 8 = 428 cells fit in 512; copying the prefix would need 16 x 308.
    const gens = await Promise.all(children.map((c, i) => c.generate({ temperature: 1, seed: i, maxTokens: 8, ignoreEndOfGeneration: true })));
    t.true(gens.every((g) => g.tokens.length === 8));
    // Two independent copies of the prefix do take twice the cells.
    await Promise.all([...children, root].map((c) => c.release()));
    const x = await ctx.createSequence(tokens.slice(0, 200));
    const single = (await ctx.kvStateBytes()) - empty;
    const y = await ctx.createSequence(tokens.slice(0, 200));
    const double = (await ctx.kvStateBytes()) - empty;
    t.true(double > single * 1.8, `an unshared copy grew the state only from ${single} to ${double}`);
    await x.release();
    await y.release();
    t.is(await ctx.kvStateBytes(), empty, 'released sequences left cells behind');
  } finally {
    await model.dispose();
  }
});

test('500 concurrent generate calls over 50 trees all finish, leak nothing, and keep timers firing', async (t) => {
  const model = await Model.load(await testModel('tiny-bytes-f32'));
  try {
    const ctx = await model.createContext({ contextSize: 8192, batchSize: 512, threads: 2 });
    const empty = await ctx.kvStateBytes();
    const lag = monitorEventLoopDelay({ resolution: 5 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    lag.enable();
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, tree) => ctx.expand(model.tokenize(`<|user|>:\nproblem ${tree}\n<|assistant|>: <code>\n`), 10, { temperature: 1, seed: tree * 100, maxTokens: 12, stopTokens: ['<end_of_step>'] })),
    );
    const elapsed = Date.now() - t0;
    lag.disable();
    clearInterval(timer);
    t.is(results.length, 50);
    t.true(results.every((r) => r.length === 10 && r.every((g) => g.tokens.length >= 1 && g.tokens.length <= 12)));
    const stats = ctx.stats();
    t.true(stats.decodeSteps < 500 * 12 / 4, `decodes were not batched: ${stats.decodeSteps} steps`);
    // Timers kept firing while decoding ran: the event loop was never blocked for long.
    t.true(ticks >= Math.floor(elapsed / 10 / 4), `only ${ticks} timer ticks in ${elapsed} ms`);
    t.true(lag.max / 1e6 < 250, `event loop blocked for ${lag.max / 1e6} ms`);
    // Everything returns to the pool: no sequence is live once the cache is dropped.
    await ctx.dropCache();
    t.is(ctx.stats().liveSequences, 0);
    t.is(await ctx.kvStateBytes(), empty);
  } finally {
    await model.dispose();
  }
});

test('running out of KV cells gives a typed error and the context keeps working', async (t) => {
  const model = await Model.load(await testModel('tiny-bytes-f32'));
  try {
    const ctx = await model.createContext({ contextSize: 256, threads: 1 });
    const a = await ctx.createSequence(model.tokenize('x'.repeat(200)));
    const b = await ctx.createSequence(model.tokenize('y'.repeat(40)));
    // A generation that runs out of cells ends early with what it has; a feed that cannot fit rejects.
    const cut = await b.generate({ temperature: 1, maxTokens: 100, ignoreEndOfGeneration: true });
    t.is(cut.stopReason, 'context_full');
    t.true(cut.tokens.length < 100);
    const err = await t.throwsAsync(ctx.createSequence(model.tokenize('w'.repeat(60))));
    t.true(err instanceof RstarError && err.code === 'KV_CACHE_FULL', String(err));
    await a.release();
    const g = await b.generate({ temperature: 1, maxTokens: 50, ignoreEndOfGeneration: true });
    t.is(g.tokens.length, 50);
  } finally {
    await model.dispose();
  }
});

test('bad input gives typed errors and the process lives on', async (t) => {
  mkdirSync(testDir, { recursive: true });
  const missing = await t.throwsAsync(Model.load(join(testDir, 'no-such-model.gguf')));
  t.is((missing as RstarError).code, 'MODEL_LOAD');

  const good = await testModel('tiny-bytes-f32');
  const bytes = readFileSync(good);
  const truncated = join(testDir, `truncated.${process.pid}.gguf`);
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const e1 = await t.throwsAsync(Model.load(truncated));
  t.is((e1 as RstarError).code, 'MODEL_LOAD');
  t.regex(e1!.message, /truncated/);

  const corrupt = join(testDir, `corrupt.${process.pid}.gguf`);
  const junk = Buffer.from(bytes);
  for (let i = 8; i < 4096; i++) junk[i] = (i * 131) & 0xff;
  writeFileSync(corrupt, junk);
  const e2 = await t.throwsAsync(Model.load(corrupt));
  t.is((e2 as RstarError).code, 'MODEL_LOAD');

  const notGguf = join(testDir, `text.${process.pid}.gguf`);
  writeFileSync(notGguf, 'hello');
  t.is(((await t.throwsAsync(Model.load(notGguf))) as RstarError).code, 'MODEL_LOAD');

  const model = await Model.load(good);
  const ctx = await model.createContext({ contextSize: 256, threads: 1 });
  const long = model.tokenize('z'.repeat(600));
  t.is(((await t.throwsAsync(ctx.createSequence(long))) as RstarError).code, 'CONTEXT_OVERFLOW');
  t.is(((await t.throwsAsync(ctx.expand(long, 2))) as RstarError).code, 'CONTEXT_OVERFLOW');
  const seq = await ctx.createSequence(model.tokenize('abc'));
  for (const bad of [{ temperature: -1 }, { topP: 0 }, { topK: -2 }, { maxTokens: 0 }, { seed: 1.5 }, { stopTokens: ['not one token'] }]) {
    const e = await t.throwsAsync(seq.generate(bad as never));
    t.is((e as RstarError).code, 'INVALID_ARGUMENT', JSON.stringify(bad));
  }
  t.is(((await t.throwsAsync(ctx.expand([model.info.nVocab + 5], 1))) as RstarError).code, 'INVALID_ARGUMENT');
  t.is(((await t.throwsAsync(ctx.score([[1, 2]]))) as RstarError).code, 'INVALID_ARGUMENT', 'a model without a value head cannot score');
  await seq.release();
  t.is(((await t.throwsAsync(seq.generate())) as RstarError).code, 'DISPOSED');
  await model.dispose();
  await model.dispose(); // idempotent
  t.is(((await t.throwsAsync(ctx.createSequence([1]))) as RstarError).code, 'DISPOSED');
  t.throws(() => model.tokenize('x'), { instanceOf: RstarError });
  t.is(((await t.throwsAsync(Model.load(good, { gpuLayers: 0 }).then(async (m) => { await m.dispose(); return m.createContext(); }))) as RstarError).code, 'DISPOSED');
});

test('disposing a context while it decodes rejects the pending work instead of hanging', async (t) => {
  const model = await Model.load(await testModel('tiny-bytes-f32'));
  const ctx = await model.createContext({ contextSize: 4096, threads: 1 });
  const pending = ctx.expand(model.tokenize('hello'), 8, { maxTokens: 400, ignoreEndOfGeneration: true });
  await new Promise((r) => setTimeout(r, 20));
  await ctx.dispose();
  const err = await t.throwsAsync(pending);
  t.true(err instanceof RstarError);
  await model.dispose();
});

test('stop strings match across token boundaries and markers stop on tokens', async (t) => {
  const model = await Model.load(await testModel('tiny-bytes-f32'));
  try {
    const ctx = await model.createContext({ contextSize: 2048, threads: 1 });
    // With a byte vocabulary every character is its own token, so any two-character stop string
    // spans a token boundary. Sample until some bigram occurs, then stop on it.
    const free = await ctx.expand(model.tokenize('abc'), 1, { temperature: 1, seed: 11, maxTokens: 200, ignoreEndOfGeneration: true });
    const pieces = model.tokenBytes(free[0].tokens);
    const ascii = (b: Buffer) => b.length === 1 && b[0] >= 32 && b[0] < 127;
    const at = pieces.findIndex((p, i) => i > 0 && i + 1 < pieces.length && ascii(p) && ascii(pieces[i + 1]));
    t.true(at > 0, 'no two printable characters in a row in 200 random tokens');
    const text = free[0].text;
    const stop = pieces[at].toString() + pieces[at + 1].toString();
    const again = await ctx.expand(model.tokenize('abc'), 1, { temperature: 1, seed: 11, maxTokens: 200, stopStrings: [stop], ignoreEndOfGeneration: true });
    t.is(again[0].stopReason, 'stop_string');
    t.true(again[0].text.endsWith(stop));
    t.is(again[0].text, text.slice(0, text.indexOf(stop) + stop.length));
    const marker = model.tokenId('<end_of_step>');
    t.not(marker, null);
    const stopTok = free[0].tokens[3];
    const byToken = await ctx.expand(model.tokenize('abc'), 1, { temperature: 1, seed: 11, maxTokens: 200, stopTokens: [stopTok], ignoreEndOfGeneration: true });
    t.is(byToken[0].stopReason, 'stop_token');
    t.is(byToken[0].tokens[byToken[0].tokens.length - 1], stopTok);
    t.true(byToken[0].tokens.length <= 4);
  } finally {
    await model.dispose();
  }
});

test('the Qwen2 tokenizer round-trips the benchmark files and keeps every marker one token', async (t) => {
  const model = await Model.load(await testModel('tiny-qwen2-f32'));
  try {
    const markers = ['<code>', '<end_of_step>', '<end_of_code>', '<output>', '<end_of_output>', '<answer>', '<end_of_answer>', '<|user|>', '<|assistant|>'];
    for (const m of markers) t.is(model.tokenize(m).length, 1, m);
    const ids = markers.map((m) => model.tokenId(m));
    t.is(new Set(ids).size, markers.length);
    const { benchmarkDataDir } = await import('../lib/paths.js');
    let texts = 0;
    for (const file of ['gsm8k_test.jsonl', 'math500_test.jsonl', 'aime24_test.jsonl', 'amc23_test.jsonl']) {
      for (const line of readFileSync(join(benchmarkDataDir, file), 'utf8').split('\n')) {
        if (!line.trim()) continue;
        const rec = JSON.parse(line) as Record<string, unknown>;
        for (const v of Object.values(rec)) {
          if (typeof v !== 'string' || v.length === 0) continue;
          const toks = model.tokenize(v);
          if (model.detokenize(toks) !== v) t.fail(`round trip changed a ${file} field: ${v.slice(0, 80)}`);
          texts++;
        }
      }
    }
    t.true(texts > 4000, `only ${texts} texts`);
    // Markers inside text stay single tokens.
    const step = model.tokenize('x = 1<end_of_step>\n<code>');
    t.true(step.includes(ids[1]!) && step.includes(ids[0]!));
  } finally {
    await model.dispose();
  }
});

test('PPM scores are batched, reuse cached prefixes and do not depend on the batch they ride in', async (t) => {
  const model = await Model.load(await testModel('tiny-bytes-ppm-f32'));
  try {
    t.true(model.info.hasValueHead);
    const ctx = await model.createContext({ contextSize: 4096, kvType: 'f32', threads: 1 });
    const stem = model.tokenize(`<|user|>:\n${question}\n<|assistant|>: <code>\n`);
    const steps = ['# add\nx = 48 + 24<end_of_step>', '# subtract\nx = 48 - 24<end_of_step>', '# print\nprint(72)<end_of_code>'].map((s) => [...stem, ...model.tokenize(s)]);
    const together = await ctx.score(steps);
    const decodedBefore = ctx.stats().tokensDecoded;
    const again = await ctx.score(steps);
    // Cached: each sequence only re-decodes its last token to read the head.
    t.is(ctx.stats().tokensDecoded - decodedBefore, steps.length);
    const other = await model.createContext({ contextSize: 4096, kvType: 'f32', threads: 1 });
    const alone = [];
    for (const s of steps) alone.push((await other.score([s]))[0]);
    for (let i = 0; i < steps.length; i++) {
      t.true(Math.abs(together[i] - alone[i]) < 1e-4, `${together[i]} vs ${alone[i]}`);
      t.true(Math.abs(together[i] - again[i]) < 1e-4);
    }
    t.not(together[0], together[1]);
    const seq = await other.createSequence(steps[2]);
    t.true(Math.abs((await seq.score()) - together[2]) < 1e-4);
  } finally {
    await model.dispose();
  }
});

test('sampling reports the model log-probability of each token, and top-k 1 is greedy', async (t) => {
  const model = await Model.load(await testModel('tiny-bytes-f32'));
  try {
    const ctx = await model.createContext({ contextSize: 1024, kvType: 'f32', threads: 1 });
    const seq = await ctx.createSequence(model.tokenize('<|user|>:\nWhat is 7 * 6?\n<|assistant|>: '));
    const logits = await seq.logits();
    let max = -Infinity;
    let argmax = 0;
    for (let i = 0; i < logits.length; i++) if (logits[i] > max) [max, argmax] = [logits[i], i];
    let sum = 0;
    for (const l of logits) sum += Math.exp(l - max);
    const lse = max + Math.log(sum);
    const seen = new Set<number>();
    for (const [i, opts] of [{ temperature: 1 }, { temperature: 0.7 }, { temperature: 1.3, topK: 20 }, { temperature: 1, topP: 0.9 }].entries()) {
      for (let seed = 0; seed < 5; seed++) {
        const [child] = await seq.fork(1);
        const g = await child.generate({ ...opts, seed: seed * 31 + i, maxTokens: 1 });
        seen.add(g.tokens[0]);
        t.true(Math.abs(g.logprob - (logits[g.tokens[0]] - lse)) < 1e-3, `logprob ${g.logprob} vs ${logits[g.tokens[0]] - lse}`);
        await child.release();
      }
    }
    t.true(seen.size > 3, 'different seeds should sample different tokens from a flat distribution');
    const [k1] = await seq.fork(1);
    t.is((await k1.generate({ temperature: 1, topK: 1, maxTokens: 1, seed: 99 })).tokens[0], argmax);
  } finally {
    await model.dispose();
  }
});

test('loading reports progress, and a process that exits with live objects exits cleanly', async (t) => {
  const seen: number[] = [];
  const model = await Model.load(await testModel('tiny-qwen2-f32'), { onProgress: (p) => seen.push(p) });
  await new Promise((r) => setImmediate(r));
  t.true(seen.length > 0 && seen[seen.length - 1] === 1, `progress ${seen.join(',')}`);
  await model.dispose();
  // A child process that leaves a model, a context and a running generation behind at exit.
  const { execFileSync } = await import('node:child_process');
  const script = `import('${new URL('../lib/index.js', import.meta.url).href}').then(async ({ Model }) => {
    const m = await Model.load(${JSON.stringify(await testModel('tiny-bytes-f32'))});
    const c = await m.createContext({ contextSize: 512 });
    c.expand(m.tokenize('hello'), 4, { maxTokens: 200 }).catch(() => {});
    setTimeout(() => process.exit(0), 30);
  });`;
  execFileSync(process.execPath, ['-e', script], { stdio: 'pipe' });
  t.pass();
});
