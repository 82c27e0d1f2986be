/**
 * The synthetic curriculum and the bootstrap policy (lib/synth): every reference program run in the real
 * sandbox and graded by the real grader; train/test disjointness and determinism; the files read by
 * `loadProblems`; the bootstrap policy through the real search (real Python, real grading) with its
 * solve rate per level; its blindness to the answer field; and the `rstar data synth` command.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resolveConfig } from '../lib/config/index.js';
import { loadProblems } from '../lib/data/problems.js';
import { PythonPool } from '../lib/exec/index.js';
import { extractBoxed, isEquivalent } from '../lib/grade/index.js';
import { searchProblems } from '../lib/mcts/driver.js';
import { textTokens } from '../lib/mcts/scripted-policy.js';
import type { SearchTree } from '../lib/mcts/search.js';
import type { CandidateStep, StepPolicy, StepRequest } from '../lib/mcts/types.js';
import { packageRoot } from '../lib/paths.js';
import { parseStep } from '../lib/steps/parse.js';
import { STEP_STOP_MARKERS } from '../lib/steps/markers.js';
import { createBootstrapPolicy, type BootstrapPolicy } from '../lib/synth/bootstrap.js';
import { generateCurriculum, instanceKey, parseCurriculumQuestion, writeCurriculum, type SynthProblem } from '../lib/synth/curriculum.js';
import { LEVELS, TEMPLATES } from '../lib/synth/templates.js';

const run = promisify(execFile);
const cli = join(packageRoot, 'dist', 'lib', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'rstar-synth-'));
const pool = new PythonPool({ size: 2, log: null });
test.after.always(async () => {
  rmSync(tmp, { recursive: true, force: true });
  // Hold the event loop while the pool's workers exit (its own grace timer is unref'd).
  const hold = setTimeout(() => undefined, 10_000);
  await pool.dispose();
  clearTimeout(hold);
});

const grader = { extractBoxed, isEquivalent };
const keyOf = (p: SynthProblem): string => {
  const parsed = parseCurriculumQuestion(p.question)!;
  return instanceKey(parsed.template.id, parsed.values);
};

test('every answer is what its reference program prints, run in the real sandbox and graded by the real grader', async (t) => {
  const { train, test: testSet } = generateCurriculum({ train: 200, test: 100, seed: 11 });
  const all = [...train, ...testSet];
  t.deepEqual(new Set(all.map((p) => p.level)), new Set(LEVELS));
  const results = await Promise.all(all.map((p) => pool.run(p.program, { timeoutMs: 20_000 })));
  const bad: string[] = [];
  all.forEach((p, i) => {
    const r = results[i];
    const printed = r.stdout.trim();
    if (!r.ok || !isEquivalent(p.answer, printed) || printed !== p.answer) bad.push(`${p.id} ${p.template}: answer ${p.answer}, program printed ${JSON.stringify(printed)} ${r.error ?? ''}`);
  });
  t.deepEqual(bad, []);
  t.true(all.some((p) => p.program.includes('sympy')), 'level 5 programs use sympy');
  t.true(all.some((p) => /^\d+\/\d+$/.test(p.answer)), 'some answers are reduced fractions');
  t.true(all.every((p) => /^-?\d+(\/\d+)?$/.test(p.answer)));
});

test('questions are short, parse back into their template and numbers, and every template is used', (t) => {
  const { train, test: testSet } = generateCurriculum({ train: 2000, test: 500, seed: 5 });
  const all = [...train, ...testSet];
  t.true(all.every((p) => p.question.length < 220), `longest: ${Math.max(...all.map((p) => p.question.length))}`);
  for (const p of all) {
    const parsed = parseCurriculumQuestion(p.question);
    if (!parsed || parsed.template.id !== p.template) t.fail(`${p.question} parsed as ${parsed?.template.id}`);
    else if (parsed.template.level !== p.level || parsed.template.skill !== p.skill) t.fail(`${p.id}: level or skill differ`);
  }
  t.deepEqual([...new Set(all.map((p) => p.template))].sort(), TEMPLATES.map((x) => x.id).sort());
  t.is(parseCurriculumQuestion('Natalia sold clips to 48 of her friends in April. How many clips did she sell?'), null);
});

test('train and test share no instance and no question; seeds are deterministic; levels are balanced', (t) => {
  const a = generateCurriculum({ seed: 1 });
  t.is(a.train.length, 400);
  t.is(a.test.length, 100);
  const trainKeys = new Set(a.train.map(keyOf));
  const testKeys = new Set(a.test.map(keyOf));
  t.is(trainKeys.size, 400, 'no instance twice within train');
  t.is(testKeys.size, 100, 'no instance twice within test');
  t.false([...testKeys].some((k) => trainKeys.has(k)), 'no (template, numbers) instance in both splits');
  const trainQuestions = new Set(a.train.map((p) => p.question));
  t.false(a.test.some((p) => trainQuestions.has(p.question)), 'no question text in both splits');
  t.is(new Set([...a.train, ...a.test].map((p) => p.id)).size, 500);

  for (const split of [a.train, a.test]) {
    split.forEach((p, i) => t.is(p.level, LEVELS[i % 5]));
  }

  t.deepEqual(generateCurriculum({ seed: 1 }), a, 'same seed, same problems');
  const b = generateCurriculum({ seed: 2 });
  const aQuestions = new Set([...a.train, ...a.test].map((p) => p.question));
  t.true([...b.train, ...b.test].filter((p) => aQuestions.has(p.question)).length < 5, 'another seed, other problems');
  // The test split depends only on the seed and its own size, and is prefix-stable.
  t.deepEqual(generateCurriculum({ seed: 1, train: 7, test: 100 }).test, a.test);
  t.deepEqual(generateCurriculum({ seed: 1, train: 7, test: 30 }).test, a.test.slice(0, 30));
  t.throws(() => generateCurriculum({ train: 0 }), { code: 'INVALID_ARGUMENT' });
});

test('writeCurriculum writes JSONL that loadProblems reads, with level, skill and program in meta', async (t) => {
  const dir = join(tmp, 'written');
  const written = await writeCurriculum(dir, { train: 25, test: 10, seed: 4 });
  t.deepEqual(written.train.levels, { 1: 5, 2: 5, 3: 5, 4: 5, 5: 5 });
  t.deepEqual(written.test.levels, { 1: 2, 2: 2, 3: 2, 4: 2, 5: 2 });
  const train = await loadProblems(join(dir, 'train.jsonl'));
  const expected = generateCurriculum({ train: 25, test: 10, seed: 4 }).train;
  t.deepEqual(train.map((p) => [p.id, p.question, p.answer]), expected.map((p) => [p.id, p.question, p.answer]));
  t.is(train[4].meta.level, 5);
  t.is(typeof train[0].meta.program, 'string');
  t.is(train[0].source, 'train');
  t.is((await loadProblems(join(dir, 'test.jsonl'))).length, 10);
  const meta = JSON.parse(readFileSync(join(dir, 'curriculum.json'), 'utf8'));
  t.is(meta.seed, 4);
  // Rewriting gives byte-identical files.
  const before = readFileSync(join(dir, 'train.jsonl'), 'utf8');
  await writeCurriculum(dir, { train: 25, test: 10, seed: 4 });
  t.is(readFileSync(join(dir, 'train.jsonl'), 'utf8'), before);
});

// ---- the bootstrap policy --------------------------------------------------------------------------

const sampling = { temperature: 1, maxTokens: 2048, stopMarkers: [...STEP_STOP_MARKERS] };
const request = (problem: { id: string; question: string; answer?: string }, path: { text: string }[], n: number, seed: number, over: Partial<StepRequest['sampling']> = {}): StepRequest => ({
  problem,
  prompt: '',
  path: path.map((p) => ({ text: p.text, tokens: textTokens(p.text) })),
  n,
  seed,
  sampling: { ...sampling, ...over },
});

test('bootstrap steps follow the step format; n candidates equal n one-candidate calls with seed + i', async (t) => {
  const [problem] = generateCurriculum({ train: 1, test: 3, seed: 9 }).test.slice(2);
  const policy = createBootstrapPolicy();
  const four = await policy.generateSteps(request(problem, [], 4, 100));
  const ones = (await Promise.all([0, 1, 2, 3].map((i) => policy.generateSteps(request(problem, [], 1, 100 + i))))).flat();
  t.deepEqual(four, ones);
  for (const c of four) {
    t.true(c.text.startsWith('<code>\n# Step 1: '));
    t.is(c.stop, '<end_of_step>');
    t.deepEqual(c.tokens, textTokens(c.text));
    t.is(parseStep(c.text, c.stop).kind, 'code');
  }
  const cut = await policy.generateSteps(request(problem, [], 1, 100, { maxTokens: 10 }));
  t.is(cut[0].text, four[0].text.slice(0, 10));
  t.is(cut[0].stop, null);
});

/** Walks one trajectory by hand: first candidate each time, the program run for real. */
async function walk(policy: StepPolicy, problem: SynthProblem, seed: number, temperature: number): Promise<{ texts: string[]; candidates: CandidateStep[][] }> {
  const path: { text: string }[] = [];
  const all: CandidateStep[][] = [];
  for (let depth = 0; depth < 10; depth++) {
    const candidates = await policy.generateSteps(request(problem, path, 4, seed + depth * 4, { temperature }));
    all.push(candidates);
    const c = candidates[0];
    let text = c.text;
    if (c.stop === '<end_of_code>') {
      const code = [...path.map((p) => p.text), text].join('').replace(/<code>|<end_of_step>|<end_of_code>/g, '\n');
      const r = await pool.run(code, { timeoutMs: 20_000 });
      text += `\n<output>${r.ok ? r.stdout.trim() : r.error}<end_of_output>`;
    }
    path.push({ text });
    if (c.stop === '<end_of_answer>') break;
  }
  return { texts: path.map((p) => p.text), candidates: all };
}

test('at temperature 0 the policy is greedy: no mistakes, identical candidates, the right answer up to level 4', async (t) => {
  const problems = generateCurriculum({ train: 1, test: 10, seed: 21 }).test;
  for (const problem of problems) {
    const policy = createBootstrapPolicy();
    const { texts, candidates } = await walk(policy, problem, 0, 0);
    for (const c of candidates) t.true(c.every((x) => x.text === c[0].text));
    const last = texts[texts.length - 1];
    t.regex(last, /^\n<answer>.*\\boxed\{.*\}.*<end_of_answer>$/);
    const boxed = extractBoxed(last);
    if (problem.level < 5) t.true(boxed !== null && isEquivalent(problem.answer, boxed), `${problem.question}\n${texts.join('')}`);
    else t.false(boxed !== null && isEquivalent(problem.answer, boxed), 'greedy level 5 takes the naive shortcut');
    t.is(Object.values(policy.stats.mistakes).reduce((s, n) => s + n, 0), problem.level === 5 ? 4 : 0, 'level 5: the naive plan, once per candidate of the first step');
  }
});

/** A policy that hands the bootstrap policy a problem whose `answer` cannot be read, and logs its requests. */
class AnswerGuard implements StepPolicy {
  readonly log: { request: StepRequest; out: CandidateStep[] }[] = [];
  constructor(readonly inner: BootstrapPolicy) {}
  async generateSteps(request: StepRequest): Promise<CandidateStep[]> {
    const problem = new Proxy(request.problem, {
      get(target, key, receiver) {
        if (key === 'answer') throw new Error('the bootstrap policy read the answer');
        return Reflect.get(target, key, receiver);
      },
      ownKeys: () => ['id', 'question'],
    });
    const out = await this.inner.generateSteps({ ...request, problem });
    this.log.push({ request, out });
    return out;
  }
  tokenize(text: string): number[] {
    return this.inner.tokenize(text);
  }
}

test('through the real search (real Python, real grading) the solve rate falls with the level, mistakes happen, the answer is never read', async (t) => {
  const problems = generateCurriculum({ train: 1, test: 50, seed: 2024 }).test;
  const guard = new AnswerGuard(createBootstrapPolicy());
  const config = resolveConfig({ search: { rollouts: 4, candidates: 4, seed: 7 } });
  const trees: SearchTree[] = [];
  const result = await searchProblems(problems, config, { policy: guard, executor: pool, grader }, {
    concurrency: 4,
    onTree: (tree) => void trees.push(tree),
    onError: (err) => t.fail(String(err)),
  });
  t.is(result.completed, 50);

  const levelOf = new Map(problems.map((p) => [p.id, p.level]));
  const solved = Object.fromEntries(LEVELS.map((l) => [l, 0]));
  const answers = Object.fromEntries(LEVELS.map((l) => [l, { right: 0, all: 0 }]));
  for (const tree of trees) {
    const level = levelOf.get(tree.problem.id)!;
    if (tree.stats.correct > 0) solved[level] += 1;
    answers[level].right += tree.stats.correct;
    answers[level].all += tree.stats.answers;
  }
  const rate = LEVELS.map((l) => solved[l] / 10);
  t.log(`solved per level (10 problems each, 4 rollouts x 4 candidates): ${LEVELS.map((l, i) => `L${l} ${rate[i]}`).join(', ')}`);
  t.log(`correct answer nodes per level: ${LEVELS.map((l) => `L${l} ${answers[l].right}/${answers[l].all}`).join(', ')}`);
  t.log(`mistakes: ${JSON.stringify(guard.inner.stats.mistakes)}`);
  // Ten problems per level: levels 1-3 all sit near 1, so one problem's luck (0.1) is allowed between
  // neighbours; the drop from level 3 to 5 is what the rates are for.
  for (let i = 1; i < rate.length; i++) t.true(rate[i] <= rate[i - 1] + 0.1 + 1e-9, `level ${i + 1} is not solved more often than level ${i} by more than one problem`);
  t.true(rate[4] < rate[2] && rate[3] < rate[2], 'levels 4 and 5 are solved less often than level 3');
  t.true(rate[0] >= 0.9 && rate[1] >= 0.9, 'levels 1-2 mostly solved');
  t.true(rate[3] < rate[0], 'level 4 only sometimes');
  t.true(rate[4] <= 0.3, 'level 5 rarely');
  const wrong = trees.reduce((s, tr) => s + tr.stats.answers - tr.stats.correct, 0);
  t.true(wrong > 10, `some trajectories end in a wrong answer (${wrong})`);
  t.true(trees.reduce((s, tr) => s + tr.stats.execFailures, 0) > 0, 'some steps die of their error');
  for (const kind of ['wrong_operator', 'off_by_one', 'forgotten_step', 'unit_not_converted', 'name_error', 'naive_plan'] as const) {
    t.true(guard.inner.stats.mistakes[kind] > 0, `mistake ${kind} happens`);
  }

  // The same requests with another answer field give the same steps.
  const fresh = createBootstrapPolicy();
  for (const { request: r, out } of guard.log) {
    const again = await fresh.generateSteps({ ...r, problem: { ...r.problem, answer: 'not the answer' } });
    if (JSON.stringify(again) !== JSON.stringify(out)) t.fail(`different steps for ${r.problem.id}`);
  }
});

test('a question the policy does not understand gets plausible but wrong steps', async (t) => {
  const policy = createBootstrapPolicy();
  const problem = { id: 'gsm', question: 'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?', answer: '72' };
  const config = resolveConfig({ search: { rollouts: 4, candidates: 4 } });
  let tree: SearchTree | null = null;
  await searchProblems([problem], config, { policy, executor: pool, grader }, { concurrency: 1, onTree: (x) => void (tree = x) });
  t.truthy(tree);
  t.is(tree!.stats.correct, 0);
  t.true(tree!.stats.answers > 0, 'it still answers');
  t.is(policy.stats.understood, 0);
  t.true(policy.stats.guessed > 0);
});

// ---- the command -----------------------------------------------------------------------------------

test('rstar data synth writes the files and prints counts per level; bad flags exit 2 with one error line', async (t) => {
  const out = join(tmp, 'cli');
  const { stdout } = await run(process.execPath, [cli, 'data', 'synth', '--out', out, '--train', '50', '--test', '20', '--seed', '3', '--json']);
  const last = JSON.parse(stdout.trim().split('\n').pop()!);
  t.deepEqual(last.train.levels, { 1: 10, 2: 10, 3: 10, 4: 10, 5: 10 });
  t.deepEqual(last.test.levels, { 1: 4, 2: 4, 3: 4, 4: 4, 5: 4 });
  t.deepEqual([last.train.count, last.test.count, last.seed], [50, 20, 3]);
  t.is((await loadProblems(join(out, 'train.jsonl'))).length, 50);
  t.is((await loadProblems(join(out, 'test.jsonl'))).length, 20);

  for (const bad of [['--train', 'abc'], ['--test', '0'], ['--train', '2.5'], ['--seed', '-1'], ['--bogus', '1'], []]) {
    const args = [cli, 'data', 'synth', ...(bad.length === 0 ? [] : ['--out', join(tmp, 'bad')]), ...bad];
    const err = await t.throwsAsync(run(process.execPath, args)) as Error & { code: number; stderr: string };
    t.is(err.code, 2, bad.join(' '));
    t.regex(err.stderr.split('\n')[0], /^error: /);
  }
});
