/**
 * `rstar model add-tokens` on real GGUFs: a Qwen2-vocabulary model without the step markers (like a
 * downloaded base model) and a byte-vocabulary one with no padding rows. The markers must become
 * single tokens, other text must tokenize exactly as before, and the model must still load and
 * generate. Random weights: mechanics only.
 */
import test from 'ava';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { addTokens, inspectModel, makeModel } from '../lib/engine/model-files.js';
import { Model } from '../lib/engine/model.js';
import { benchmarkPath } from '../lib/data/problems.js';
import { loadProblems } from '../lib/data/problems.js';
import { ALL_MARKERS } from '../lib/steps/markers.js';
import { testDir } from './helpers/models.js';

const work = join(testDir, 'add-tokens');
mkdirSync(work, { recursive: true });
test.after.always(() => {
  for (const f of readdirSync(work)) if (f.includes(`.${process.pid}.`)) rmSync(join(work, f), { force: true });
});
const file = (name: string): string => join(work, `${name}.${process.pid}.gguf`);

async function sampleTexts(): Promise<string[]> {
  const gsm = await loadProblems(benchmarkPath('gsm8k'), { limit: 40 });
  const math = await loadProblems(benchmarkPath('math500'), { limit: 40 });
  return [...gsm.map((p) => p.question), ...math.map((p) => p.question), ...math.map((p) => p.answer), 'x = 1 + 2\nprint(x)', '<div> a < b > c </div>'];
}

for (const vocab of ['qwen2', 'bytes'] as const) {
  test(`${vocab} vocabulary: the markers become single tokens, other text tokenizes as before, the model still generates`, async (t) => {
    const plain = file(`${vocab}-plain`);
    const out = file(`${vocab}-markers`);
    await makeModel({ preset: 'tiny', vocab, type: 'f32', seed: 5, out: plain, markers: false });
    const before = await Model.load(plain);
    const texts = await sampleTexts();
    const tokensBefore = texts.map((x) => before.tokenize(x));
    for (const m of ALL_MARKERS) t.true(before.tokenize(m).length > 1, `${m} is several tokens before`);
    const nVocabBefore = before.info.nVocab;
    await before.dispose();

    const result = await addTokens(plain, out);
    t.is(result.added + result.reused, ALL_MARKERS.length);
    t.is(result.present, 0);
    if (vocab === 'qwen2') t.is(result.reused, ALL_MARKERS.length, 'Qwen2 has unused padding rows: the vocabulary keeps its size');
    else t.is(result.added, ALL_MARKERS.length, 'no padding rows: new rows are appended');

    const after = await Model.load(out);
    try {
      t.is(after.info.nVocab, vocab === 'qwen2' ? nVocabBefore : nVocabBefore + ALL_MARKERS.length);
      for (const m of ALL_MARKERS) t.is(after.tokenize(m).length, 1, `${m} is one token after`);
      t.deepEqual(texts.map((x) => after.tokenize(x)), tokensBefore, 'every other text tokenizes exactly as before');
      const ctx = await after.createContext({ contextSize: 512, threads: 1 });
      const [gen] = await ctx.expand(after.tokenize('<|user|>:\nWhat is 2 + 3?\n<|assistant|>: <code>'), 1, { temperature: 0, maxTokens: 8, ignoreEndOfGeneration: true });
      t.is(gen.tokens.length, 8, 'the model with the new rows generates');
    } finally {
      await after.dispose();
    }
    const info = await inspectModel(out);
    t.is(info.vocabSize, vocab === 'qwen2' ? nVocabBefore : nVocabBefore + ALL_MARKERS.length);

    // Running it again adds nothing: every marker is already there.
    const again = await addTokens(out, file(`${vocab}-again`));
    t.deepEqual([again.added, again.reused, again.present], [0, 0, ALL_MARKERS.length]);
  });
}

test('add-tokens refuses bad arguments with typed errors', async (t) => {
  await t.throwsAsync(addTokens(join(work, 'missing.gguf'), file('x')), { code: 'INVALID_ARGUMENT' });
  const plain = file('bytes-refuse');
  await makeModel({ preset: 'tiny', vocab: 'bytes', type: 'f32', seed: 5, out: plain, markers: false });
  await t.throwsAsync(addTokens(plain, plain), { code: 'INVALID_ARGUMENT', message: /other than the input/ });
  await t.throwsAsync(addTokens(plain, file('y'), ['']), { code: 'INVALID_ARGUMENT' });
});
