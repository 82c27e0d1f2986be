/**
 * `rstar generate` end to end: a scripted policy that writes real Python, the real Python executor
 * (lib/exec), the real grader (lib/grade) and the real problem loader (lib/data/problems.ts); then
 * resume after an interruption and a torn last line.
 */
import test from 'ava';
import { mkdtemp, readFile, rm, appendFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../lib/config/index.js';
import { generateConfig, runGenerateCommand } from '../lib/cli/commands/generate.js';
import { solveConfig } from '../lib/cli/commands/solve.js';
import type { PairRow, SftRow } from '../lib/data/extract.js';
import { PythonPool } from '../lib/exec/index.js';
import { openJournal, scanJournal } from '../lib/generate/journal.js';
import { runGenerate } from '../lib/generate/run.js';
import type { SearchDeps } from '../lib/mcts/types.js';
import { RstarError } from '../lib/errors.js';
import { extractBoxed, isEquivalent } from '../lib/grade/index.js';
import { additionPolicy } from './helpers/policies.js';
import type { TreeRecord } from '../lib/mcts/tree-record.js';

const pool = new PythonPool({ size: 2, log: null });
test.after.always(async () => {
  // Hold the event loop while the pool waits for its workers to exit: its own grace timer is unref'd,
  // and with nothing else pending the process would otherwise end before dispose() resolves.
  const hold = setTimeout(() => undefined, 10_000);
  await pool.dispose();
  clearTimeout(hold);
});


async function problemFile(dir: string, count: number): Promise<string> {
  const path = join(dir, 'problems.jsonl');
  const lines = Array.from({ length: count }, (_, i) => JSON.stringify({ question: `What is ${10 + i} + ${i + 3}?`, answer: String(13 + 2 * i) }));
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

async function lines<T>(path: string): Promise<T[]> {
  return (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}

const deps = (): SearchDeps => ({ policy: additionPolicy(), executor: pool, grader: { extractBoxed, isEquivalent } });
const config = resolveConfig({ search: { rollouts: 4, candidates: 3 } });

test('generate writes trees, SFT rows, pairs, config and summary from real code runs and real grading', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rstar-generate-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const problems = await problemFile(dir, 3);
  const out = join(dir, 'out');
  const progress: number[] = [];
  const summary = await runGenerate({ problems, outDir: out, config, concurrency: 2, onProgress: (p) => progress.push(p.done) }, deps());

  const trees = await lines<TreeRecord>(join(out, 'trees.jsonl'));
  t.is(trees.length, 3);
  t.deepEqual(new Set(trees.map((tr) => tr.question)).size, 3);
  const tree = trees.find((tr) => tr.question === 'What is 10 + 3?')!;
  // Rollout 1: right step -> print -> "13" -> correct. 2: the right step is found exhausted.
  // 3: wrong step -> print -> "7" -> wrong. 4: the wrong step is found exhausted.
  t.deepEqual(tree.nodes.map((n) => [n.tag, n.reason]), [
    ['0', null], ['0.1', 'exhausted'], ['0.1.1', 'exhausted'], ['0.1.1.1', 'answer'],
    ['0.2', 'exhausted'], ['0.2.1', 'exhausted'], ['0.2.1.1', 'answer'], ['0.3', 'code_error'],
  ]);
  t.is(tree.nodes[2].appended, '\n<output>13<end_of_output>', 'the output block is what Python printed');
  t.is(tree.nodes[6].answer, '7');
  t.is(tree.nodes[6].correct, false);
  t.true(tree.nodes[7].observation?.startsWith("NameError: name 'plus' is not defined"));
  t.deepEqual([tree.nodes[0].visits, tree.nodes[0].valueSum], [2, 0]);
  t.is(tree.stats.execRuns, 5);

  const sft = await lines<SftRow>(join(out, 'sft.jsonl'));
  t.is(sft.length, 3, 'one correct trajectory per problem');
  const row = sft.find((r) => r.prompt.includes('What is 10 + 3?'))!;
  t.is(row.completion, tree.nodes.slice(1, 4).map((n) => n.text).join(''));
  t.true(row.completion.endsWith('The result is \\boxed{13}.<end_of_answer>'));

  const pairs = await lines<PairRow>(join(out, 'pairs.jsonl'));
  // Per problem: one step pair at the root (right vs wrong first step; the broken step is not a
  // step-level negative) and two final pairs (the right trajectory vs the wrong one and the broken one).
  t.is(pairs.length, 9);
  const mine = pairs.filter((p) => p.id === tree.id);
  t.deepEqual(mine.map((p) => p.kind), ['step', 'final', 'final']);
  t.is(mine[0].chosen, tree.nodes[1].text);
  t.is(mine[0].rejected, tree.nodes[4].text);
  t.is(mine[0].margin, 2);
  t.true(mine[2].rejected.includes('NameError'));

  const saved = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
  t.deepEqual(saved.config, config);
  t.is(saved.run.concurrency, 2);
  const onDisk = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
  t.deepEqual(onDisk, JSON.parse(JSON.stringify(summary)));
  t.deepEqual(summary.problems, { total: 3, done: 3, thisRun: 3, doneBefore: 0, failed: 0 });
  t.true(summary.complete);
  t.false(summary.interrupted);
  t.deepEqual([summary.trees.solved, summary.trees.difficulty.medium, summary.sft], [3, 3, 3]);
  t.deepEqual(summary.pairs, { step: 3, final: 6 });
  t.deepEqual(progress, [0, 1, 2, 3]);
});

test('generate resumes after an interruption and a torn write without losing or duplicating problems', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rstar-resume-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const problems = await problemFile(dir, 5);
  const out = join(dir, 'out');

  // Interrupt after the first finished problem: no new problem starts, the in-flight one is written.
  const controller = new AbortController();
  const first = await runGenerate(
    { problems, outDir: out, config, concurrency: 1, signal: controller.signal, onProgress: (p) => p.thisRun >= 1 && controller.abort() },
    deps(),
  );
  t.true(first.interrupted);
  t.false(first.complete);
  t.is(first.problems.done, 1);
  // A crash in the middle of the next write leaves a partial last line.
  await appendFile(join(out, 'trees.jsonl'), '{"id":"problems-2","question":"What is 11 + 4?","nodes":[{"tag":"0"');

  const second = await runGenerate({ problems, outDir: out, config, concurrency: 3 }, deps());
  t.true(second.complete);
  t.true(second.recoveredBytes > 0);
  t.deepEqual(second.problems, { total: 5, done: 5, thisRun: 4, doneBefore: 1, failed: 0 });
  const trees = await lines<TreeRecord>(join(out, 'trees.jsonl'));
  t.is(trees.length, 5);
  t.is(new Set(trees.map((tr) => tr.id)).size, 5);
  t.is((await lines<SftRow>(join(out, 'sft.jsonl'))).length, 5, 'derived files are rebuilt, never appended twice');

  // Nothing left to do: a third run writes nothing new.
  const third = await runGenerate({ problems, outDir: out, config, concurrency: 2 }, deps());
  t.deepEqual(third.problems, { total: 5, done: 5, thisRun: 0, doneBefore: 5, failed: 0 });
  t.is((await lines<TreeRecord>(join(out, 'trees.jsonl'))).length, 5);

  // Resuming with different search settings would mix trees of two configurations: refused.
  await t.throwsAsync(
    runGenerate({ problems, outDir: out, config: resolveConfig({ search: { rollouts: 8, candidates: 3 } }), concurrency: 1 }, deps()),
    { code: 'INVALID_ARGUMENT', message: /search\.rollouts/ },
  );
});

test('command configuration: defaults, then --config FILE, then flags; solve starts from the test-time settings', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rstar-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'round.json');
  await writeFile(file, JSON.stringify({ search: { rollouts: 3, candidates: 5, promptStyle: 'bootstrap' }, extract: { minStepMargin: 0.25 } }));
  const c = await generateConfig({ config: file, rollouts: 2, maxDepth: 10 });
  t.deepEqual([c.search.rollouts, c.search.candidates, c.search.maxDepth, c.search.promptStyle, c.extract.minStepMargin], [2, 5, 10, 'bootstrap', 0.25]);
  t.is(c.search.mode, 'generate');
  const s = await solveConfig({ candidates: 4 });
  t.deepEqual([s.search.mode, s.search.rollouts, s.search.candidates], ['test', 12, 4]);
  await writeFile(file, JSON.stringify({ search: { rolloutz: 3 } }));
  await t.throwsAsync(generateConfig({ config: file }), { code: 'INVALID_ARGUMENT', message: /rolloutz/ });
  await writeFile(file, '{ not json');
  await t.throwsAsync(generateConfig({ config: file }), { code: 'DATA' });
  await t.throwsAsync(
    runGenerateCommand({ policy: file, problems: join(dir, 'missing.jsonl'), out: dir, concurrency: 1, json: false, quiet: true }),
    { code: 'INVALID_ARGUMENT', message: /--problems/ },
  );
});

test('journal scan: ids of complete lines across 1 MiB read chunks; a torn last line is cut off', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rstar-journal-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'trees.jsonl');
  t.deepEqual(await scanJournal(path), { ids: [], validBytes: 0, truncatedBytes: 0 }, 'no file yet: nothing done');
  const big = { id: 'big "one"', nodes: [{ tokens: Array.from({ length: 1_000_000 }, (_, i) => i % 1000) }] };
  const complete = [JSON.stringify({ id: 'a', nodes: [] }), JSON.stringify(big), JSON.stringify({ id: 'c', nodes: [] })].join('\n') + '\n';
  await writeFile(path, `${complete}{"id":"d","nodes":[1,2`);
  t.true(complete.length > 2 * 1024 * 1024, 'the big line spans several read chunks');
  const scan = await openJournal(path);
  t.deepEqual(scan.ids, ['a', 'big "one"', 'c']);
  t.is(scan.validBytes, Buffer.byteLength(complete));
  t.is(scan.truncatedBytes, '{"id":"d","nodes":[1,2'.length);
  t.is(await readFile(path, 'utf8'), complete);
  await writeFile(path, 'not json\n');
  await t.throwsAsync(scanJournal(path), { code: 'DATA' });
});

test('resume compares the model files by content: another policy file is refused, the same bytes elsewhere are not', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rstar-inputs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const problems = await problemFile(dir, 2);
  const out = join(dir, 'out');
  // Stand-ins for GGUF files: only their bytes matter to the check (the search here is scripted).
  const policyA = join(dir, 'a.gguf');
  const policyB = join(dir, 'b.gguf');
  const copyOfA = join(dir, 'a-copy.gguf');
  await writeFile(policyA, 'weights of policy A');
  await writeFile(policyB, 'weights of policy B');
  await writeFile(copyOfA, 'weights of policy A');
  await runGenerate({ problems, outDir: out, config, concurrency: 1, limit: 1, models: { policy: policyA } }, deps());
  const saved = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
  t.is(saved.inputs.policy.bytes, 'weights of policy A'.length);
  t.regex(saved.inputs.policy.sha256, /^[0-9a-f]{64}$/);

  await t.throwsAsync(runGenerate({ problems, outDir: out, config, concurrency: 1, models: { policy: policyB } }, deps()), {
    code: 'INVALID_ARGUMENT',
    message: /--policy \(sha256 [0-9a-f]{12}… of .*a\.gguf then, [0-9a-f]{12}… of .*b\.gguf now\)/,
  });
  await t.throwsAsync(runGenerate({ problems, outDir: out, config, concurrency: 1, models: { policy: policyA, ppm: policyB } }, deps()), {
    message: /--ppm \(none then, .*b\.gguf now\)/,
  });
  const resumed = await runGenerate({ problems, outDir: out, config, concurrency: 1, models: { policy: copyOfA } }, deps());
  t.deepEqual(resumed.problems, { total: 2, done: 2, thisRun: 1, doneBefore: 1, failed: 0 });
});

test('a problem whose search fails is recorded and skipped; the run goes on, and a resumed run retries it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rstar-fail-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const problems = await problemFile(dir, 4);
  const out = join(dir, 'out');
  const healthy = additionPolicy();
  let broken = true;
  const flaky: SearchDeps['policy'] = {
    tokenize: (text) => healthy.tokenize(text),
    generateSteps: async (request) => {
      if (broken && request.problem.question === 'What is 11 + 4?') throw new RstarError('KV_CACHE_FULL', 'no free KV cells for a batch of 126 tokens');
      return healthy.generateSteps(request);
    },
  };
  const first = await runGenerate({ problems, outDir: out, config, concurrency: 2 }, { ...deps(), policy: flaky });
  t.deepEqual(first.problems, { total: 4, done: 3, thisRun: 3, doneBefore: 0, failed: 1 });
  t.false(first.complete);
  const failures = await lines<{ id: string; code: string; error: string }>(join(out, 'failures.jsonl'));
  t.deepEqual(failures.map((f) => [f.id, f.code]), [['problems-2', 'KV_CACHE_FULL']]);
  broken = false;
  const second = await runGenerate({ problems, outDir: out, config, concurrency: 2 }, { ...deps(), policy: flaky });
  t.deepEqual(second.problems, { total: 4, done: 4, thisRun: 1, doneBefore: 3, failed: 0 });
  t.true(second.complete);
  t.is((await lines<TreeRecord>(join(out, 'trees.jsonl'))).length, 4);
});
