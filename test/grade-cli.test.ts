/**
 * `rstar grade`: the exported JSONL handler on temporary files, and the real CLI in a child process.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gradeJsonl, gradePair } from '../lib/cli/commands/grade.js';
import { DataError } from '../lib/errors.js';
import { packageRoot } from '../lib/paths.js';

const run = promisify(execFile);
const cli = join(packageRoot, 'dist', 'lib', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'rstar-grade-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

const pairs = [
  { gold: '\\frac{1}{2}', pred: '0.5' },
  { gold: '025', pred: 25 },
  { gold: 27, pred: '27.0' },
  { gold: 'She sold 3 + 4 = <<3+4=7>>7.\n#### 1,600', pred: '\\$1,600' },
  { gold: '(3,4]', pred: '(3,4)' },
  { gold: '\\text{(E)}', pred: 'C' },
];
const expected = [true, true, true, true, false, false];

async function collect(input: string, boxed = false): Promise<{ lines: unknown[]; summary: { pairs: number; equal: number } }> {
  let out = '';
  const summary = await gradeJsonl({ input, boxed, write: (chunk) => void (out += chunk) });
  return { lines: out.trimEnd().split('\n').filter(Boolean).map((l) => JSON.parse(l)), summary };
}

test('gradeJsonl prints one {gold, pred, equal} per input line, in order, skipping blank lines', async (t) => {
  const file = join(tmp, 'pairs.jsonl');
  writeFileSync(file, `${pairs.map((p) => JSON.stringify(p)).join('\n\n')}\n`);
  const { lines, summary } = await collect(file);
  t.deepEqual(lines, pairs.map((p, i) => ({ ...p, equal: expected[i] })));
  t.deepEqual(summary, { pairs: 6, equal: 4 });
});

test('gradeJsonl --boxed grades the last box of generated text', async (t) => {
  const file = join(tmp, 'boxed.jsonl');
  writeFileSync(file, [
    JSON.stringify({ gold: '18', pred: 'So she makes \\boxed{18} dollars.' }),
    JSON.stringify({ gold: '18', pred: 'first \\boxed{18}, then \\boxed{19}' }),
    JSON.stringify({ gold: '18', pred: 'no box: 18' }),
  ].join('\n'));
  const { lines } = await collect(file, true);
  t.deepEqual(lines.map((l) => (l as { equal: boolean; extracted: string | null }).extracted), ['18', '19', null]);
  t.deepEqual(lines.map((l) => (l as { equal: boolean }).equal), [true, false, false]);
  t.deepEqual(gradePair('18', 'x \\boxed{18}', true), { gold: '18', pred: 'x \\boxed{18}', equal: true, extracted: '18' });
});

test('gradeJsonl --extract grades the final answer of free text', async (t) => {
  const file = join(tmp, 'extract.jsonl');
  writeFileSync(file, [
    JSON.stringify({ gold: '18', pred: 'So she makes 18 dollars.' }),
    JSON.stringify({ gold: '\\{1,2\\}', pred: 'The roots are $\\boxed{1}$ and $\\boxed{2}$.' }),
    JSON.stringify({ gold: '(2,\\infty)', pred: 'The final answer is $x > 2$.' }),
    JSON.stringify({ gold: '(2,\\infty)', pred: 'The final answer is $x \\ge 2$.' }),
    JSON.stringify({ gold: '18', pred: 'no answer here' }),
  ].join('\n'));
  let out = '';
  const summary = await gradeJsonl({ input: file, extract: true, write: (c) => void (out += c) });
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { equal: boolean; extracted: string | null });
  t.deepEqual(lines.map((l) => l.extracted), ['18', '1, 2', 'x > 2', 'x \\ge 2', null]);
  t.deepEqual(lines.map((l) => l.equal), [true, true, true, false, false]);
  t.deepEqual(summary, { pairs: 5, equal: 3 });
  const cli = await run(process.execPath, [join(packageRoot, 'dist', 'lib', 'cli', 'main.js'), 'grade', '--extract', '--gold', '0.5', '--pred', 'Thus \\[x = \\frac{1}{2}\\]']);
  t.deepEqual(JSON.parse(cli.stdout.trim()), { gold: '0.5', pred: 'Thus \\[x = \\frac{1}{2}\\]', equal: true, extracted: 'x = \\frac{1}{2}' });
});

test('a line without an answer (pred null, missing or not text) is graded unequal and the rest go on', async (t) => {
  const file = join(tmp, 'no-answer.jsonl');
  writeFileSync(file, [pairs[0], { gold: '1', pred: null }, { gold: '1' }, { gold: '1', pred: ['1'] }, pairs[0]].map((p) => JSON.stringify(p)).join('\n') + '\n');
  let out = '';
  const result = await gradeJsonl({ input: file, write: (c) => void (out += c) });
  t.deepEqual(result, { pairs: 5, equal: 2 });
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { pred: unknown; equal: boolean });
  t.deepEqual(lines.map((l) => [l.pred, l.equal]), [[pairs[0].pred, true], [null, false], [null, false], [null, false], [pairs[0].pred, true]]);
  let boxedOut = '';
  await gradeJsonl({ input: file, boxed: true, write: (c) => void (boxedOut += c) });
  t.deepEqual(JSON.parse(boxedOut.split('\n')[1]), { gold: '1', pred: null, equal: false, extracted: null });
});

test('gradeJsonl names file:line for bad lines, after printing the good ones', async (t) => {
  const file = join(tmp, 'bad.jsonl');
  writeFileSync(file, `${JSON.stringify(pairs[0])}\n{"pred": "1"}\n`);
  let out = '';
  const error = await t.throwsAsync(gradeJsonl({ input: file, write: (c) => void (out += c) }), { instanceOf: DataError });
  t.regex(error?.message ?? '', /bad\.jsonl:2: expected "gold" to be a string or number but found nothing/);
  t.is(out, `${JSON.stringify({ ...pairs[0], equal: true })}\n`);
  writeFileSync(file, 'not json\n');
  await t.throwsAsync(gradeJsonl({ input: file, write: () => undefined }), { message: /bad\.jsonl:1 is not valid JSON/ });
  writeFileSync(file, '{"gold": [1], "pred": "1"}\n');
  await t.throwsAsync(gradeJsonl({ input: file, write: () => undefined }), { message: /bad\.jsonl:1: expected "gold" to be a string or number but found \[1\]/ });
});

test('the rstar grade CLI: one pair from flags, a file, stdin, and exit code 2 on bad input', async (t) => {
  const one = await run(process.execPath, [cli, 'grade', '--gold', '\\frac{1}{2}', '--pred', '0.5']);
  t.deepEqual(JSON.parse(one.stdout.trim()), { gold: '\\frac{1}{2}', pred: '0.5', equal: true });
  const two = await run(process.execPath, [cli, 'grade', '--gold', '025', '--pred=-25']);
  t.deepEqual(JSON.parse(two.stdout.trim()), { gold: '025', pred: '-25', equal: false }, 'values stay strings ("025")');

  const file = join(tmp, 'cli.jsonl');
  writeFileSync(file, `${pairs.map((p) => JSON.stringify(p)).join('\n')}\n`);
  const many = await run(process.execPath, [cli, 'grade', '--jsonl', file]);
  t.deepEqual(many.stdout.trim().split('\n').map((l) => JSON.parse(l).equal), expected);

  const child = execFile(process.execPath, [cli, 'grade', '--jsonl=-']);
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stdin?.end(`${JSON.stringify(pairs[1])}\n`);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(code, 0);
  t.deepEqual(JSON.parse(stdout.trim()), { ...pairs[1], equal: true });

  const bad = await run(process.execPath, [cli, 'grade', '--gold', '1']).catch((err: { code: number; stderr: string }) => err);
  t.is((bad as { code: number }).code, 2);
  t.regex((bad as { stderr: string }).stderr, /Expected --gold G --pred P, or --jsonl FILE for rstar grade but received "only --gold"/);
});
