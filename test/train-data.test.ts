import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../lib/config/index.js';
import { DataError, InvalidArgumentError } from '../lib/errors.js';
import { loadPairRows, loadSftRows, pairWeights, splitHeldOut } from '../lib/train/data.js';
import { renderCommand, shellQuote } from '../lib/train/external.js';
import { additionPairRows, additionPrompt, additionRecipe, additionRecipeData, additionSftRows } from '../lib/train/synthetic.js';

const dir = mkdtempSync(join(tmpdir(), 'rstar-train-data-'));
const write = (name: string, rows: unknown[]): string => {
  const p = join(dir, name);
  writeFileSync(p, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return p;
};

test('pair weights follow the reference: 1/(pos*neg) per prefix group, from the row counts or from the data', (t) => {
  const w = pairWeights([
    { prompt: 'p', chosen: 'a', rejected: 'x' },
    { prompt: 'p', chosen: 'a', rejected: 'y' },
    { prompt: 'p', chosen: 'b', rejected: 'x' },
    { prompt: 'p', chosen: 'b', rejected: 'y' },
    { prompt: 'q', chosen: 'c', rejected: 'z' },
    { prompt: 'r', chosen: 'c', rejected: 'z', posCount: 1, negCount: 4 },
  ]);
  t.deepEqual(w, [0.25, 0.25, 0.25, 0.25, 1, 0.25]);
  // A group of 2x2 pairs weighs as much in total as a single pair.
  t.is(w.slice(0, 4).reduce((a, b) => a + b, 0), w[4]);
});

test('counted from the data, every prefix group sums to one, also when identical pair rows repeat', (t) => {
  const rows = [
    { prompt: 'p', chosen: 'a', rejected: 'x' },
    { prompt: 'p', chosen: 'a', rejected: 'x' },
    { prompt: 'p', chosen: 'a', rejected: 'x' },
    { prompt: 'p', chosen: 'b', rejected: 'y' },
    { prompt: 'q', chosen: 'c', rejected: 'z' },
    { prompt: 'q', chosen: 'c', rejected: 'z' },
  ];
  const w = pairWeights(rows);
  // 1/(pos·neg) over distinct texts would give p's rows 1/4 each (total 1) only by luck, and q's 1 each (total 2).
  t.deepEqual(w, [0.25, 0.25, 0.25, 0.25, 0.5, 0.5]);
  for (const prompt of ['p', 'q']) {
    const total = w.filter((_, i) => rows[i].prompt === prompt).reduce((a, b) => a + b, 0);
    t.true(Math.abs(total - 1) < 1e-12, `${prompt}: ${total}`);
  }
  // The synthetic pairs repeat problems, hence identical rows: their groups sum to one as well.
  const synthetic = additionPairRows(300, 3, { maxOperand: 3 });
  const sums = new Map<string, number>();
  pairWeights(synthetic).forEach((x, i) => sums.set(synthetic[i].prompt, (sums.get(synthetic[i].prompt) ?? 0) + x));
  for (const total of sums.values()) t.true(Math.abs(total - 1) < 1e-9);
});

test('PPM rows take their weight from posCount/negCount or pos_count/neg_count, or an explicit weight', async (t) => {
  const path = write('pairs.jsonl', [
    { prompt: 'p', chosen: 'a', rejected: 'x', posCount: 2, negCount: 2 },
    { prompt: 'p', chosen: 'b', rejected: 'x', pos_count: 1, neg_count: 4 },
    { prompt: 'q', chosen: 'a', rejected: 'x', weight: 3 },
  ]);
  const rows = await loadPairRows(path);
  t.deepEqual(rows.map((r) => r.weight), [0.25, 0.25, 3]);
});

test('malformed rows fail with a DataError naming the file and record', async (t) => {
  const sft = write('bad-sft.jsonl', [{ prompt: 'p', completion: 'c' }, { prompt: 'p' }]);
  const e1 = await t.throwsAsync(loadSftRows(sft), { instanceOf: DataError });
  t.regex(e1!.message, /bad-sft\.jsonl record 2: "completion" must be a string/);
  const pairs = write('bad-pairs.jsonl', [{ prompt: 'p', chosen: 'same', rejected: 'same' }]);
  await t.throwsAsync(loadPairRows(pairs), { instanceOf: DataError, message: /same text/ });
  await t.throwsAsync(loadSftRows(join(dir, 'missing.jsonl')), { instanceOf: InvalidArgumentError });
});

test('the held-out split keeps every prompt on one side and is reproducible from the seed', (t) => {
  const rows = additionPairRows(400, 5);
  const a = splitHeldOut(rows, 0.1, 42);
  const b = splitHeldOut(rows, 0.1, 42);
  t.deepEqual(a, b);
  t.is(a.train.length + a.eval.length, rows.length);
  const trainPrompts = new Set(a.train.map((r) => r.prompt));
  t.true(a.eval.length > 0);
  t.false(a.eval.some((r) => trainPrompts.has(r.prompt)));
  t.notDeepEqual(splitHeldOut(rows, 0.1, 43).eval, a.eval);
  t.deepEqual(splitHeldOut(rows, 0, 42).eval, []);
});

test('the synthetic corpus is deterministic and in the step format; its rejected sums are near misses', (t) => {
  const rows = additionSftRows(3, 9);
  t.deepEqual(rows, additionSftRows(3, 9));
  for (const r of rows) {
    const [, a, b] = /What is (\d) \+ (\d)\?/.exec(r.prompt)!;
    t.true(r.completion.startsWith('<code>\n# Step 1:'));
    t.true(r.completion.includes(`\\boxed{${Number(a) + Number(b)}}<end_of_answer>`));
  }
  for (const p of additionPairRows(200, 9, { minOperand: 10, maxOperand: 49 })) {
    const [, a, b] = /What is (\d+) \+ (\d+)\?/.exec(p.prompt)!;
    const sum = Number(a) + Number(b);
    const shown = (text: string): number[] => [/^(\d+)<end_of_output>/, /boxed\{(\d+)\}/].map((re) => Number(re.exec(text)![1]));
    t.deepEqual(shown(p.chosen), [sum, sum]);
    const [out, boxed] = shown(p.rejected);
    t.is(out, boxed);
    t.true(Math.abs(out - sum) >= 1 && Math.abs(out - sum) <= 3, `${a} + ${b}: rejected ${out}`);
  }
});

test('the recipe holds out whole prompts: no held-out problem is in its SFT rows or PPM pairs', (t) => {
  const d = additionRecipeData();
  t.is(d.split.heldOut.length, additionRecipe.problems.heldOut);
  const held = new Set(d.split.heldOut.map((p) => additionPrompt(p.a, p.b)));
  t.false(d.sft.train.some((r) => held.has(r.prompt)));
  t.false(d.ppm.train.some((r) => [...held].some((h) => r.prompt.startsWith(h))));
  t.true(d.sft.eval.every((r) => held.has(r.prompt)));
  t.true(d.ppm.eval.every((r) => [...held].some((h) => r.prompt.startsWith(h))));
});

test('the train config section validates its values and rejects unknown keys', (t) => {
  const c = resolveConfig({ train: { sft: { lr: 1e-3 }, external: { ppm: 'x' } } });
  t.is(c.train.sft.lr, 1e-3);
  t.is(c.train.ppm.lr, 7e-6);
  t.is(c.train.external.ppm, 'x');
  t.throws(() => resolveConfig({ train: { sft: { lr: -1 } } }), { instanceOf: InvalidArgumentError, message: /train\.sft\.lr/ });
  t.throws(() => resolveConfig({ train: { ppm: { valueTransform: 'sigmoid' as never } } }), { instanceOf: InvalidArgumentError });
  t.throws(() => resolveConfig({ train: { sft: { lR: 1 } as never } }), { instanceOf: InvalidArgumentError });
});

test('external command templates quote every value and reject unknown placeholders', (t) => {
  t.is(shellQuote("it's"), `'it'\\''s'`);
  t.is(renderCommand('train --in {model} --out {out}', { model: 'a b.gguf', out: "o'k" }), `train --in 'a b.gguf' --out 'o'\\''k'`);
  t.throws(() => renderCommand('x {modle}', { model: 'm' }), { instanceOf: InvalidArgumentError, message: /\{modle\}/ });
});

test('the held-out split is by problem: every step-pair prefix of a problem lands on the same side', async (t) => {
  // Step pairs as `rstar generate` writes them: the prompt is the problem plus a solution prefix, so
  // one problem has many distinct prompts. Half the rows carry their problem id, half do not.
  const rows: Array<Record<string, unknown>> = [];
  for (let p = 0; p < 40; p++) {
    const question = additionPrompt(p % 10, Math.floor(p / 10));
    for (let depth = 0; depth < 3; depth++) {
      const prefix = '<code>\n# step\n'.repeat(depth);
      rows.push({ prompt: question + prefix, chosen: `good ${depth}`, rejected: `bad ${depth}`, ...(p % 2 === 0 ? { id: `problem-${p}` } : {}) });
    }
  }
  const loaded = await loadPairRows(write('prefix-pairs.jsonl', rows));
  const questionOf = (prompt: string): string => prompt.slice(0, prompt.indexOf('<|assistant|>'));
  for (const seed of [1, 2, 3]) {
    const split = splitHeldOut(loaded, 0.25, seed);
    t.true(split.eval.length > 0);
    const trainProblems = new Set(split.train.map((r) => questionOf(r.prompt)));
    t.false(split.eval.some((r) => trainProblems.has(questionOf(r.prompt))), `seed ${seed}: a problem on both sides`);
    t.is(split.eval.length % 3, 0, 'whole problems (3 prefixes each) are held out');
  }
});
