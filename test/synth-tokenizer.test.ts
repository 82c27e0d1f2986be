/**
 * The curriculum's BPE vocabulary (lib/synth/tokenizer.ts, `makeModel({ merges })`,
 * `rstar model make --bpe-from`): learned merges written into a real GGUF and used by llama.cpp's own
 * tokenizer: every integer 0..999 one token and the same token in a question, in code and in a box;
 * exact round trips of training and held-out text; markers still single tokens; bad input refused.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadProblems } from '../lib/data/problems.js';
import { Model } from '../lib/engine/index.js';
import { inspectModel, makeModel } from '../lib/engine/model-files.js';
import { EMBEDDED_DEFAULT, prepareEmbeddedDefault } from '../lib/evolve/default.js';
import { packageRoot } from '../lib/paths.js';
import { ALL_MARKERS } from '../lib/steps/markers.js';
import { writeCurriculum } from '../lib/synth/curriculum.js';
import { curriculumCorpus, numberMerges, trainMerges } from '../lib/synth/tokenizer.js';

const run = promisify(execFile);
const cli = join(packageRoot, 'dist', 'lib', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'rstar-tok-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

const shape = { layers: 1, embd: 16, heads: 2, kvHeads: 1, ff: 32 };

test('merges learned from a curriculum make numbers and words single tokens; text round-trips exactly', async (t) => {
  const written = await writeCurriculum(join(tmp, 'cur'), { train: 300, test: 100, seed: 3 });
  const train = await loadProblems(written.train.path);
  const heldOut = await loadProblems(written.test.path);
  const corpus = curriculumCorpus(train.map((p) => ({ question: p.question, program: p.meta.program as string })));
  const merges = trainMerges(corpus, { wordMerges: 400 });
  t.deepEqual(trainMerges(corpus, { wordMerges: 400 }), merges, 'deterministic');
  t.is(merges.length, numberMerges().length + 400);
  t.false(merges.slice(numberMerges().length).some(([l, r]) => /\d/.test(l + r)), 'word merges never touch digits');

  const out = join(tmp, 'bpe.gguf');
  const made = await makeModel({ preset: 'tiny', vocab: 'bytes', type: 'f32', merges, overrides: shape, out });
  const bytes = await makeModel({ preset: 'tiny', vocab: 'bytes', type: 'f32', overrides: shape, out: join(tmp, 'bytes.gguf') });
  t.true(made.nVocab > bytes.nVocab + 1100, `${made.nVocab} tokens`);
  const model = await Model.load(out);
  const byteModel = await Model.load(join(tmp, 'bytes.gguf'));
  try {
    for (let n = 0; n < 1000; n++) t.is(model.tokenize(String(n)).length, 1, `${n} is one token`);
    // The same number is the same token in a sentence, in code and in a box (the space is its own token).
    const id = model.tokenize('749')[0];
    for (const text of ['Tom has 749 apples.', 'start = 749\n', '\\boxed{749}']) t.true(model.tokenize(text).includes(id), text);
    t.is(model.tokenize('1234').length, 2, 'a 4-digit number is two tokens');
    for (const marker of ALL_MARKERS) t.is(model.tokenize(marker).length, 1, marker);

    let bpeTokens = 0;
    let byteTokens = 0;
    for (const p of [...train, ...heldOut]) {
      for (const text of [p.question, p.meta.program as string]) {
        const ids = model.tokenize(text);
        t.is(model.detokenize(ids), text);
        bpeTokens += ids.length;
        byteTokens += byteModel.tokenize(text).length;
      }
    }
    t.true(bpeTokens < 0.45 * byteTokens, `${bpeTokens} BPE tokens vs ${byteTokens} byte tokens`);
    // Text the corpus never saw still round-trips (bytes are always there).
    const odd = 'Zoë pays €3,50 — «quoi?» 12345678 \u{1F600}';
    t.is(model.detokenize(model.tokenize(odd)), odd);
  } finally {
    await model.dispose();
    await byteModel.dispose();
  }
});

test('bad merges are refused with a clear error', async (t) => {
  const out = join(tmp, 'bad.gguf');
  await t.throwsAsync(makeModel({ preset: 'tiny', vocab: 'qwen2', type: 'f32', merges: [['a', 'b']], overrides: shape, out }), { message: /only with the byte vocabulary/ });
  await t.throwsAsync(makeModel({ preset: 'tiny', vocab: 'bytes', type: 'f32', merges: [['ab', 'c']], overrides: shape, out }), { message: /sides must be tokens already/ });
});

test('rstar model make --bpe-from learns the merges from a problem file', async (t) => {
  const written = await writeCurriculum(join(tmp, 'cli'), { train: 50, test: 10, seed: 4 });
  const out = join(tmp, 'cli.gguf');
  const { stdout } = await run(process.execPath, [cli, 'model', 'make', '--preset', 'tiny', '--vocab', 'bytes', '--bpe-from', written.train.path, '--bpe-merges', '100', '--type', 'f32', '--layers', '1', '--embd', '16', '--heads', '2', '--kv-heads', '1', '--ff', '32', '--out', out, '--json']);
  const made = JSON.parse(stdout.trim().split('\n').pop()!) as { nVocab: number };
  t.is(made.nVocab, 256 + 1 + 1100 + 100 + 3 + ALL_MARKERS.length);
  const err = await t.throwsAsync(run(process.execPath, [cli, 'model', 'make', '--preset', 'tiny', '--bpe-from', written.train.path, '--out', join(tmp, 'x.gguf')]));
  t.regex(String((err as { stderr?: string }).stderr), /--vocab bytes/);
});

test('the embedded evolve default makes its base model with the curriculum vocabulary', async (t) => {
  const dir = join(tmp, 'default');
  const prepared = await prepareEmbeddedDefault(dir);
  t.is((await loadProblems(prepared.problems)).length, EMBEDDED_DEFAULT.curriculum.train);
  t.is((await loadProblems(prepared.evalProblems)).length, EMBEDDED_DEFAULT.curriculum.test);
  const model = await Model.load(prepared.base);
  try {
    t.is((await inspectModel(prepared.base)).vocabSize, 256 + 1 + 1100 + EMBEDDED_DEFAULT.model.wordMerges + 3 + ALL_MARKERS.length, "bytes, the double space, 00..999, the words, control tokens, markers");
    const q = (await loadProblems(prepared.evalProblems))[0].question;
    for (const n of q.match(/\d+/g) ?? []) if (Number(n) < 1000) t.true(model.tokenize(q).includes(model.tokenize(n)[0]), `${n} of "${q}" is one token`);
  } finally {
    await model.dispose();
  }
});
