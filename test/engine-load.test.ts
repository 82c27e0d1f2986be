/**
 * The engine under search load (issue #9): more sequences in flight than llama.cpp has sequence ids,
 * and every child's first token drawn from its parent's one decoded row. Real engine, tiny random
 * model; counts and shapes are asserted, never times.
 */
import anyTest from 'ava';
import { Model } from '../lib/index.js';
import { testModel } from './helpers/models.js';

const test = anyTest.serial;

/** A prompt of `n` ordinary byte tokens, different per `seed`. */
function prompt(n: number, seed: number): number[] {
  let s = (seed * 2654435761) >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return 32 + ((s >>> 0) % 90);
  });
}

test('an expansion decodes its prefix once: each child starts from a token sampled from the parent\'s logits', async (t) => {
  const model = await Model.load(await testModel('tiny-bytes-f32'));
  try {
    const ctx = await model.createContext({ contextSize: 2048, kvType: 'f32', threads: 1 });
    const p = prompt(40, 1);
    const n = 8;
    const tokens = 6;
    const before = ctx.stats();
    const greedy = await ctx.expand(p, n, { temperature: 0, maxTokens: tokens, ignoreEndOfGeneration: true });
    const after = ctx.stats();
    // 40 prefix tokens once, then each child decodes its own tokens 1..T-1 (its first came from the
    // prefix's row, its last is never decoded): not 40 + n * T.
    t.is(after.tokensDecoded - before.tokensDecoded, p.length + n * (tokens - 1));
    t.is(after.firstTokensFromParent - before.firstTokensFromParent, n);
    t.is(after.tokensSampled - before.tokensSampled, n * tokens);
    // Greedy: every child's first token is the argmax of the prefix's logits, computed elsewhere.
    const other = await model.createContext({ contextSize: 512, kvType: 'f32', threads: 1 });
    const seq = await other.createSequence(p);
    const logits = await seq.logits();
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    for (const g of greedy) t.is(g.tokens[0], best);
    // Sampled children differ by seed and agree with themselves run again.
    const a = await ctx.expand(p, n, { temperature: 1, seed: 11, maxTokens: tokens, ignoreEndOfGeneration: true });
    const b = await ctx.expand(p, n, { temperature: 1, seed: 11, maxTokens: tokens, ignoreEndOfGeneration: true });
    t.deepEqual(a.map((g) => g.tokens), b.map((g) => g.tokens));
    t.true(new Set(a.map((g) => g.tokens.join(','))).size > 1, 'siblings sampled the same continuation');
  } finally {
    await model.dispose();
  }
});

test('50 problems x 32 candidates in flight (1,600 sequences for 256 ids): all finish, batches stay full, nothing deadlocks', async (t) => {
  t.timeout(10 * 60_000);
  const model = await Model.load(await testModel('tiny-bytes-f32'));
  try {
    const ctx = await model.createContext({ contextSize: 8192, threads: 2 });
    const problems = 50;
    const n = 32;
    const tokens = 8;
    const p = 48;
    const before = ctx.stats();
    // Two expansions per problem, one after the other (a rollout goes one level deeper), 50 at once.
    const results = await Promise.all(
      Array.from({ length: problems }, async (_, i) => {
        const first = await ctx.expand(prompt(p, i + 1), n, { temperature: 1, seed: i, maxTokens: tokens, ignoreEndOfGeneration: true });
        const deeper = [...prompt(p, i + 1), ...first[0].tokens];
        const second = await ctx.expand(deeper, n, { temperature: 1, seed: 1000 + i, maxTokens: tokens, ignoreEndOfGeneration: true });
        return [first, second];
      }),
    );
    const after = ctx.stats();
    for (const pair of results) {
      for (const gens of pair) {
        t.is(gens.length, n);
        for (const g of gens) t.is(g.tokens.length, tokens);
      }
    }
    const expansions = problems * 2;
    const sampled = after.tokensSampled - before.tokensSampled;
    t.is(sampled, expansions * n * tokens);
    t.is(after.firstTokensFromParent - before.firstTokensFromParent, expansions * n);
    t.is(after.generationsEndedEarly, 0, 'a generation gave way');
    // The second expansion of a problem reuses the first's cached prefix (its first child) when it
    // is still cached: prefix tokens decoded are at most one full prefix per expansion.
    const prefixDecoded = after.tokensDecoded - before.tokensDecoded - expansions * n * (tokens - 1);
    t.true(prefixDecoded <= problems * p + problems * (p + tokens), `${prefixDecoded} prefix tokens decoded`);
    // Full batches: with 256 ids, seven expansions of 32 generate together (224 rows).
    const rowWeighted = (after.sampledRowsSquared - before.sampledRowsSquared) / sampled;
    t.log(`${after.decodeSteps - before.decodeSteps} steps, row-weighted mean ${rowWeighted.toFixed(1)} rows, most ${after.maxSampledRows}; prefix tokens decoded ${prefixDecoded}`);
    t.true(after.maxSampledRows >= 192, `at most ${after.maxSampledRows} rows in a step`);
    t.true(rowWeighted >= 128, `a sampled token rode in ${rowWeighted.toFixed(1)} rows on average`);
    t.is(ctx.stats().liveSequences, ctx.stats().cachedSequences, 'a sequence other than a cache entry is left');
  } finally {
    await model.dispose();
  }
});
