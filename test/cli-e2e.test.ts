/**
 * The real `rstar` binary, as a user runs it: a tiny real GGUF made by `rstar model make`, real
 * GSM8K problems from the shipped benchmark files, the real engine, Python pool and grader.
 *
 * The model has random weights, so it never writes the step format: each expansion's candidates run
 * to the token limit without a step marker and end as invalid leaves. Generation is not
 * constrained to the format here; this test checks the plumbing and the files, and the search
 * arithmetic is checked by hand in test/mcts.test.ts.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { benchmarkPath } from '../lib/data/problems.js';
import { loadBinding } from '../lib/native/binding.js';
import { packageRoot } from '../lib/paths.js';
import { testDir, testModel } from './helpers/models.js';

const run = promisify(execFile);
const cli = join(packageRoot, 'dist', 'lib', 'cli', 'main.js');

async function rstar(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [cli, ...args], { maxBuffer: 64 << 20, env: { ...process.env, CI: '1' } });
}

test('rstar generate writes well-formed trees, SFT rows, pairs and a summary, and resumes without duplicates', async (t) => {
  const model = await testModel('tiny-qwen2-f32');
  const out = await mkdtemp(join(testDir, 'generate-'));
  const cfg = join(out, 'search.json');
  await writeFile(cfg, JSON.stringify({ search: { maxStepTokens: 48 } }));
  const problems = 'gsm8k'; // a shipped benchmark, by name
  const args = ['generate', '--policy', model, '--problems', problems, '--out', out, '--rollouts', '2', '--candidates', '4', '--concurrency', '2', '--config', cfg, '--json',
    '--gpu-layers', '2', '--threads', '1', '--ctx-size', '3072'];
  const first = await rstar([...args, '--limit', '2']);
  const summary1 = JSON.parse(first.stdout.trim().split('\n').pop()!);
  t.is(summary1.problems.done, 2);
  // The engine flags reached the model and its context (a CPU build offloads nothing).
  const offloaded = loadBinding().systemInfo().gpuOffload ? 2 : 0;
  t.like(summary1.engine.policy, { gpuLayers: 2, offloadedLayers: offloaded, threads: 1, contextSize: 3072 });
  const second = await rstar([...args, '--limit', '3']);
  const summary2 = JSON.parse(second.stdout.trim().split('\n').pop()!);
  t.is(summary2.problems.done, 3);
  t.is(summary2.problems.thisRun, 1, 'the resumed run searched only the new problem');
  const gsm = (await readFile(benchmarkPath('gsm8k'), 'utf8')).split('\n').slice(0, 3).map((l) => JSON.parse(l) as { question: string });
  const trees = (await readFile(join(out, 'trees.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  // The journal is in completion order (problems run concurrently): compare the sets.
  t.deepEqual(trees.map((tr) => tr.question).sort(), gsm.map((g) => g.question).sort());
  for (const tree of trees) {
    t.true(tree.stats.expansions >= 1);
    t.true(tree.stats.generatedTokens > 0);
  }
  // With random weights no trajectory is correct: the data files exist and are empty JSONL.
  t.is(await readFile(join(out, 'sft.jsonl'), 'utf8'), '');
  t.is(await readFile(join(out, 'pairs.jsonl'), 'utf8'), '');
  const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
  t.is(config.config.search.maxStepTokens, 48);
});

test('rstar solve runs a test-time search and reports its statistics', async (t) => {
  const model = await testModel('tiny-qwen2-f32');
  const { stdout } = await rstar(['solve', 'What is 2 + 3?', '--policy', model, '--rollouts', '2', '--candidates', '3', '--json', '--gpu-layers', '-1', '--threads', '1']);
  const result = JSON.parse(stdout.trim().split('\n').pop()!);
  t.like(result.engine.policy, { gpuLayers: -1, offloadedLayers: loadBinding().systemInfo().gpuOffload ? 3 : 0, threads: 1 });
  t.true(result.stats.expansions >= 1);
  t.true(result.stats.generatedTokens > 0);
});

test('rstar reports bad input as one line and a non-zero exit, never a crash', async (t) => {
  const err = await t.throwsAsync(rstar(['model', 'info', join(testDir, 'missing.gguf')]));
  t.regex((err as unknown as { stderr: string }).stderr, /^error: .*missing\.gguf/m);
  t.notRegex((err as unknown as { stderr: string }).stderr, /at .*\.js:\d+/, 'a stack trace leaked');
  const bad = await t.throwsAsync(rstar(['model', 'make', '--preset', 'tiny', '--out', join(testDir, 'x.gguf'), '--heads', '5']));
  t.is((bad as unknown as { code: number }).code, 2);
});
