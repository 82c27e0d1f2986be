/**
 * `rstar eval` (lib/eval): the plumbing on every shipped benchmark with tiny random-weight models (the
 * real engine, Python pool and grader; random weights never reach an answer, so these check the files
 * and their fields, not accuracy), what each method chooses with a scripted policy and PPM whose
 * answers can be checked by hand, resume after a kill and after a failed problem, the settings check,
 * and the CLI's `--json` contract and bad-input errors. Accuracy with a trained model is in
 * test/eval-trained.test.ts.
 */
import anyTest from 'ava';
import { execFile } from 'node:child_process';
import { appendFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resolveConfig, testTimeSearchOverrides, type RstarConfig } from '../lib/config/index.js';
import { benchmarkPath, BENCHMARKS, loadProblems, type Problem } from '../lib/data/problems.js';
import { evaluate } from '../lib/eval/evaluate.js';
import type { EvalRecord, MetricsFile } from '../lib/eval/metrics.js';
import { runEval } from '../lib/eval/run.js';
import { PythonPool } from '../lib/exec/index.js';
import { ScriptedPolicy, ScriptedScorer } from '../lib/mcts/scripted-policy.js';
import { packageRoot } from '../lib/paths.js';
import { defaultGrader } from '../lib/policy/deps.js';
import { COT_PROMPT } from '../lib/steps/prompts.js';
import { testDir, testModel } from './helpers/models.js';
import { seededAdditionPolicy } from './helpers/policies.js';

// Serial: the engine and the Python pool share the CPU cores.
const test = anyTest.serial;
const run = promisify(execFile);
const cli = join(packageRoot, 'dist', 'lib', 'cli', 'main.js');

/** A search small enough for random models: two candidates, two rollouts, two steps of 12 tokens. */
const tiny: RstarConfig = resolveConfig({
  engine: { threads: 1, contextSize: 4096 },
  search: { ...testTimeSearchOverrides, candidates: 2, rollouts: 2, maxDepth: 2, maxStepTokens: 12, stepTimeoutMs: 10_000 },
});

async function readResults(dir: string): Promise<EvalRecord[]> {
  return (await readFile(join(dir, 'results.jsonl'), 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as EvalRecord);
}

const SELECTIONS = {
  greedy: ['greedy'],
  majority: ['maj@1', 'maj@2', 'pass@2'],
  'best-of-n': ['last', 'min', 'product', 'weighted_vote', 'maj@1', 'maj@2', 'pass@2'],
  mcts: ['top_k_majority', 'top1', 'weighted_vote', 'maj@1', 'maj@2', 'pass@2'],
};

test('every method on each shipped benchmark with a tiny model: results, metrics and config files', async (t) => {
  const policy = await testModel('tiny-bytes-f32');
  const ppm = await testModel('tiny-bytes-ppm-f32');
  for (const name of BENCHMARKS) {
    const out = await mkdtemp(join(testDir, `eval-${name}-`));
    const r = await runEval({ policies: [policy], ppm, dataset: name, methods: ['greedy', 'majority', 'best-of-n', 'mcts'], n: 2, runs: 2, topK: 2, limit: 2, outDir: out, config: tiny, concurrency: 2, log: null });
    const problems = await loadProblems(benchmarkPath(name), { limit: 2 });
    t.is(r.dataset, name);
    t.true(r.complete);
    t.deepEqual(r.results.map((e) => [e.method, e.metrics.problems]), [['greedy', 2], ['majority', 2], ['best-of-n', 2], ['mcts', 2]]);

    const lines = await readResults(out);
    t.is(lines.length, 8, name);
    for (const method of ['greedy', 'majority', 'best-of-n', 'mcts'] as const) {
      const mine = lines.filter((l) => l.method === method);
      t.deepEqual(mine.map((l) => l.id).sort(), problems.map((p) => p.id).sort(), `${name} ${method}: each problem once`);
      for (const l of mine) {
        const problem = problems.find((p) => p.id === l.id)!;
        t.like(l, { policy, prompt: 'step', dataset: name, gold: problem.answer, correct: false });
        t.is(l.candidates.length, method === 'greedy' ? 1 : 2);
        t.deepEqual(Object.keys(l.selections), SELECTIONS[method], `${name} ${method}`);
        for (const c of l.candidates) {
          t.true(typeof c.text === 'string' && c.text.length > 0 && c.tokens > 0, `${name} ${method}: a candidate with text and tokens`);
          t.true(c.answer === null || typeof c.answer === 'string');
          t.is(typeof c.timed_out, 'boolean');
        }
        t.is(l.tokens, l.candidates.reduce((a, c) => a + c.tokens, 0));
        t.true(l.wall_ms >= 0);
        if (name === 'math500') t.true(/^Level \d$/.test(l.level!) && typeof l.subject === 'string');
      }
    }
    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as MetricsFile;
    t.deepEqual(metrics.results.map((e) => e.method), ['greedy', 'majority', 'best-of-n', 'mcts']);
    for (const e of metrics.results) {
      t.like(e, { policy, dataset: name, num_samples: 2, acc: 0, correct: 0, error_samples: 0 });
      t.is(e.ppm, e.method === 'best-of-n' || e.method === 'mcts' ? ppm : null);
      t.true(e.tokens_per_problem > 0 && e.time_s > 0 && e.tokens_per_s > 0 && e.peak_rss_mb > 10, JSON.stringify(e));
      t.deepEqual(Object.keys(e.selections), SELECTIONS[e.method]);
      if (name === 'math500') t.is(Object.values(e.by_level).reduce((a, c) => a + c.num_samples, 0), 2);
      else t.deepEqual(e.by_level, {});
    }
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    t.is(config.dataset.name, name);
    t.deepEqual(Object.keys(config.policies), [policy]);
    t.is(config.methods.mcts.search.candidates, 2);
    t.is(config.methods.greedy.search.temperature, 0);
  }
});

test('--prompt cot on a benchmark: one free-text generation per sample, the PPM reading it by paragraph', async (t) => {
  const policy = await testModel('tiny-bytes-f32');
  const ppm = await testModel('tiny-bytes-ppm-f32');
  const out = await mkdtemp(join(testDir, 'eval-cot-'));
  const config = resolveConfig(tiny, { search: { maxStepTokens: 40 } });
  const r = await runEval({ policies: [policy], ppm, dataset: 'gsm8k', methods: ['greedy', 'majority', 'best-of-n'], n: 3, limit: 2, prompt: 'cot', outDir: out, config, concurrency: 2, log: null });
  t.deepEqual(r.results.map((e) => e.metrics.entry.prompt), ['cot', 'cot', 'cot']);
  const lines = await readResults(out);
  t.is(lines.length, 6);
  for (const l of lines) {
    t.is(l.prompt, 'cot');
    for (const c of l.candidates) t.true(c.tokens > 0 && c.tokens <= 40);
  }
  // Best-of-N scored every sample: a score per paragraph, the last one the sample's score.
  for (const l of lines.filter((x) => x.method === 'best-of-n')) {
    for (const c of l.candidates) {
      if (c.text.trim() === '') continue;
      t.true(Array.isArray(c.step_scores) && c.step_scores.length >= 1);
      t.is(c.score, c.step_scores![c.step_scores!.length - 1]);
    }
  }
});

/** "What is A + B?" problems with their answers. */
function additions(count: number): Problem[] {
  return Array.from({ length: count }, (_, i) => ({ id: `add-${i}`, question: `What is ${20 + i} + ${3 + i}?`, answer: String(23 + 2 * i), source: 'additions', meta: { level: 1 + (i % 2) } }));
}

test('what each method chooses, with a scripted policy and a PPM that prefers the wrong answer', async (t) => {
  const pool = new PythonPool({ log: null });
  t.teardown(() => pool.dispose());
  // The PPM likes a difference: +0.5 for a path with " - ", -0.5 otherwise.
  const scorer = new ScriptedScorer((r) => (r.path.some((p) => p.text.includes(' - ')) ? 0.5 : -0.5));
  const deps = { policy: seededAdditionPolicy(), executor: pool, grader: defaultGrader, scorer };
  const problems = additions(3);
  const config = resolveConfig({ search: { stepTimeoutMs: 10_000 } });
  const out = await mkdtemp(join(testDir, 'eval-scripted-'));
  const common = { problems, config, outDir: out, concurrency: 3 };

  const greedy = await evaluate({ ...common, method: 'greedy' }, { ...deps, scorer: null });
  t.is(greedy.accuracy, 1, 'seed 0 writes the sum');
  t.deepEqual(greedy.byLevel, { 1: { problems: 2, correct: 2, accuracy: 1 }, 2: { problems: 1, correct: 1, accuracy: 1 } });

  // Four samples: sum, difference, broken, sum.
  const majority = await evaluate({ ...common, method: 'majority', n: 4 }, { ...deps, scorer: null });
  t.is(majority.accuracy, 1);
  // maj@1: 2 of 4 right. maj@2 over the 6 pairs: {s,d} ½, {s,x} 1, {s,s} 1, {d,x} 0, {d,s} ½, {x,s} 1 → 4/6.
  t.deepEqual(majority.selections, { 'maj@1': 0.5, 'maj@2': 4 / 6, 'maj@4': 1, 'pass@4': 1 });
  const lines = await readResults(out);
  const m0 = lines.find((l) => l.method === 'majority' && l.id === 'add-0')!;
  t.deepEqual(m0.candidates.map((c) => [c.answer, c.correct]), [['23', true], ['17', false], [null, false], ['23', true]]);
  t.is(m0.answer, '23');

  // Best-of-N follows the PPM, which prefers the difference: every PPM rule is wrong, the vote is right.
  const bon = await evaluate({ ...common, method: 'best-of-n', n: 4 }, deps);
  t.is(bon.accuracy, 0);
  t.like(bon.selections, { last: 0, min: 0, product: 0, weighted_vote: 0, 'maj@4': 1, 'pass@4': 1 });
  const b0 = (await readResults(out)).find((l) => l.method === 'best-of-n' && l.id === 'add-0')!;
  t.is(b0.answer, '17');
  t.deepEqual(b0.candidates.map((c) => c.score), [-0.5, 0.5, null, -0.5], 'the broken sample has no answer to score');
  t.deepEqual(b0.candidates[1].step_scores, [0.5, 0.5, 0.5], 'every step scored: first step, print step, answer');

  // Two searches, each answering with its best-scored answer (the difference, by this PPM).
  const mcts = await evaluate({ ...common, method: 'mcts', runs: 2, config: resolveConfig(config, { search: { candidates: 3, rollouts: 4 } }) }, deps);
  t.is(mcts.accuracy, 0);
  const s0 = (await readResults(out)).find((l) => l.method === 'mcts' && l.id === 'add-0')!;
  t.deepEqual(s0.candidates.map((c) => [c.answer, c.score]), [['17', 0.5], ['17', 0.5]]);
  const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as MetricsFile;
  t.deepEqual(metrics.results.map((e) => [e.method, e.policy, e.acc]), [['greedy', 'policy', 1], ['majority', 'policy', 1], ['best-of-n', 'policy', 0], ['mcts', 'policy', 0]]);
});

test('--prompt cot reads the final answer of free text; best-of-N scores it paragraph by paragraph', async (t) => {
  const pool = new PythonPool({ log: null, size: 1 });
  t.teardown(() => pool.dispose());
  const prompts: string[] = [];
  // Candidates 0 and 1 reason to the sum, candidate 2 to the difference; none uses a box.
  const policy = new ScriptedPolicy((request) => {
    prompts.push(request.prompt);
    const [a, b] = (/(\d+) \+ (\d+)/.exec(request.problem.question) ?? []).slice(1).map(Number);
    return Array.from({ length: request.n }, (_, i) =>
      i % 3 === 2 ? ` We subtract.\n\n${a} - ${b} = ${a - b}\n\nSo the answer is $${a - b}$.` : ` We add.\n\n${a} + ${b} = ${a + b}\n\nThe final answer is ${a + b}.`,
    );
  });
  const scorer = new ScriptedScorer((r) => (r.path.length === 3 && r.path[2].text.includes('final answer') ? 0.8 : 0.1));
  const deps = { policy, executor: pool, grader: defaultGrader, scorer };
  const out = await mkdtemp(join(testDir, 'eval-cot-scripted-'));
  const common = { problems: additions(2), config: resolveConfig({}), outDir: out, concurrency: 2, prompt: 'cot' as const };
  t.is((await evaluate({ ...common, method: 'greedy' }, { ...deps, scorer: null })).accuracy, 1);
  t.true(prompts.includes(COT_PROMPT.replace('{question}', 'What is 20 + 3?')), 'the chain-of-thought prompt, not the step prompt');
  const majority = await evaluate({ ...common, method: 'majority', n: 3 }, { ...deps, scorer: null });
  t.deepEqual(majority.selections, { 'maj@1': 2 / 3, 'maj@2': 2 / 3, 'maj@3': 1, 'pass@3': 1 });
  const bon = await evaluate({ ...common, method: 'best-of-n', n: 3 }, deps);
  t.is(bon.accuracy, 1);
  const line = (await readResults(out)).find((l) => l.method === 'best-of-n' && l.id === 'add-1')!;
  t.deepEqual(line.candidates.map((c) => [c.answer, c.step_scores]), [['25', [0.1, 0.1, 0.8]], ['25', [0.1, 0.1, 0.8]], ['17', [0.1, 0.1, 0.1]]]);
  await t.throwsAsync(evaluate({ ...common, method: 'mcts' }, deps), { code: 'INVALID_ARGUMENT', message: /--prompt step with --method mcts/ });
  await t.throwsAsync(evaluate({ ...common, prompt: 'step', method: 'best-of-n' }, { ...deps, scorer: null }), { code: 'INVALID_ARGUMENT', message: /--ppm/ });
});

test('a rerun resumes: finished problems are skipped, a half-written line is cut off, a failed problem is retried', async (t) => {
  const policy = await testModel('tiny-bytes-f32');
  const out = await mkdtemp(join(testDir, 'eval-resume-'));
  const options = { policies: [policy], dataset: 'gsm8k', methods: ['greedy' as const, 'majority' as const], n: 2, outDir: out, config: tiny, concurrency: 2, log: null };
  const evaluated = async (limit: number): Promise<Record<string, number>> => {
    const thisRun: Record<string, number> = {};
    await runEval({ ...options, limit, onProgress: (p) => (thisRun[p.method] = p.thisRun) });
    return thisRun;
  };
  t.deepEqual(await evaluated(2), { greedy: 2, majority: 2 });
  t.deepEqual(await evaluated(2), {}, 'nothing left to do');

  // Killed while writing a line: the partial line is dropped and that problem evaluated.
  await appendFile(join(out, 'results.jsonl'), '{"id":"gsm8k-3","policy":"x","meth');
  t.deepEqual(await evaluated(3), { greedy: 1, majority: 1 });
  let lines = await readResults(out);
  t.is(lines.length, 6);
  t.is(new Set(lines.map((l) => `${l.method} ${l.id}`)).size, 6, 'no problem twice');

  // A problem recorded with an error (the engine refused it, say) counts as wrong and is retried.
  const failed = { ...lines.find((l) => l.method === 'greedy' && l.id === 'gsm8k-1')!, candidates: [], answer: null, error: 'KV cache full' };
  await appendFile(join(out, 'results.jsonl'), `${JSON.stringify(failed)}\n`);
  t.deepEqual(await evaluated(3), { greedy: 1 });
  lines = await readResults(out);
  const latest = lines.filter((l) => l.method === 'greedy' && l.id === 'gsm8k-1').pop()!;
  t.is(latest.error, undefined);
  const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as MetricsFile;
  t.deepEqual(metrics.results.map((e) => [e.method, e.num_samples, e.error_samples]), [['greedy', 3, 0], ['majority', 3, 0]]);

  // Other settings would mix incomparable results into the same files: refused, naming the difference.
  await t.throwsAsync(runEval({ ...options, n: 3 }), { code: 'INVALID_ARGUMENT', message: /majority: n \(2 then, 3 now\)/ });
  await t.throwsAsync(runEval({ ...options, config: resolveConfig(tiny, { search: { maxStepTokens: 13 } }) }), { message: /search\.maxStepTokens \(12 then, 13 now\)/ });
  await t.throwsAsync(runEval({ ...options, dataset: 'amc23' }), { message: /--dataset/ });
});

async function rstar(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { maxBuffer: 64 << 20, env: { ...process.env, CI: '1', RSTAR_PROGRESS_MS: '0' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('rstar eval --json: two policies side by side, the table, progress on stderr and the contract on the last line', async (t) => {
  const a = await testModel('tiny-bytes-f32');
  const b = await testModel('tiny-llama-bytes-f32');
  const out = await mkdtemp(join(testDir, 'eval-cli-'));
  const r = await rstar(['eval', '--policy', a, '--policy', b, '--dataset', 'amc23', '--method', 'greedy', '--method', 'majority', '--n', '2', '--limit', '2', '--max-tokens', '12', '--out', out, '--threads', '1', '--json']);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const json = JSON.parse(lines.pop()!);
  t.deepEqual(Object.keys(json), ['results']);
  t.deepEqual(json.results.map((e: Record<string, unknown>) => [e.policy, e.method, e.n, e.problems]), [[a, 'greedy', 1, 2], [a, 'majority', 2, 2], [b, 'greedy', 1, 2], [b, 'majority', 2, 2]]);
  for (const e of json.results) {
    t.deepEqual(Object.keys(e), ['policy', 'method', 'dataset', 'n', 'problems', 'accuracy', 'tokens_per_problem', 'wall_s']);
    t.like(e, { dataset: 'amc23', accuracy: 0 });
    t.true(e.tokens_per_problem > 0 && e.wall_s > 0);
  }
  const table = lines.join('\n');
  t.regex(table, /accuracy.*tokens\/s.*peak RSS/);
  t.true(table.includes(a) && table.includes(b));
  t.regex(r.stderr, /eval: policy 2\/2 .*majority: \d\/2 problems/);
});

test('rstar eval: bad input is one line on stderr and exit code 2', async (t) => {
  const policy = await testModel('tiny-bytes-f32');
  const dir = await mkdtemp(join(testDir, 'eval-bad-'));
  const broken = join(dir, 'broken.jsonl');
  await writeFile(broken, '{"question": "What is 1 + 1?", "answer": "2"}\n{"question": "no answer"}\n');
  const base = ['eval', '--policy', policy, '--out', join(dir, 'out')];
  const cases: Array<[string[], RegExp]> = [
    [[...base, '--dataset', join(dir, 'missing.jsonl'), '--method', 'greedy'], /Expected a problem file or one of the benchmark names .* for --dataset/],
    [[...base, '--dataset', broken, '--method', 'greedy'], /broken\.jsonl:2: expected an "answer"/],
    [[...base, '--dataset', 'gsm8k', '--method', 'best-of-n'], /Expected a PPM \(--ppm FILE\)/],
    [[...base, '--dataset', 'gsm8k', '--method', 'mcts', '--prompt', 'cot'], /--prompt step with --method mcts/],
    [[...base, '--dataset', 'gsm8k', '--method', 'majority', '--n', '0'], /for --n but received 0/],
    [['eval', '--policy', join(dir, 'missing.gguf'), '--dataset', 'gsm8k', '--method', 'greedy'], /Expected an existing GGUF file for --policy/],
    [[...base, '--dataset', 'gsm8k', '--method', 'beam'], /Invalid values:/],
  ];
  const results = await Promise.all(cases.map(([args]) => rstar(args)));
  results.forEach((r, i) => {
    t.is(r.code, 2, `${cases[i][0].join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, cases[i][1]);
    t.notRegex(r.stderr, /at .*\.js:\d+/, 'a stack trace leaked');
  });
});
