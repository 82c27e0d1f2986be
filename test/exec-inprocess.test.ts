/**
 * Plain-arithmetic programs answered in the worker without a fork (lib/exec/zygote.py, "plain
 * arithmetic"): for every program, the result must be exactly what the sandbox gives, and only
 * programs that qualify and succeed may skip the sandbox. The reference is a second pool with
 * `inProcessArithmetic: false`, where every program forks; both are real Python workers.
 */
import test from 'ava';
import { PythonPool, buildStepProgram } from '../lib/exec/index.js';
import type { ExecResult } from '../lib/exec/index.js';
import { generateCurriculum } from '../lib/synth/curriculum.js';

let fast: PythonPool;
let sandbox: PythonPool;

test.before(async () => {
  // The cache off: every program must reach a worker in both pools.
  fast = new PythonPool({ size: 2, timeoutMs: 5000, cacheEntries: 0, log: null });
  sandbox = new PythonPool({ size: 2, timeoutMs: 5000, cacheEntries: 0, inProcessArithmetic: false, log: null });
  await Promise.all([fast.start(), sandbox.start()]);
});

test.after.always(async () => {
  await Promise.all([fast?.dispose(), sandbox?.dispose()]);
});

const visible = (r: ExecResult) => ({ ok: r.ok, stdout: r.stdout, error: r.error, exitCode: r.exitCode, timedOut: r.timedOut, signal: r.signal });

async function compare(programs: readonly string[]): Promise<Array<{ program: string; fast: ExecResult; sandbox: ExecResult }>> {
  const out: Array<{ program: string; fast: ExecResult; sandbox: ExecResult }> = [];
  for (let i = 0; i < programs.length; i += 32) {
    const chunk = programs.slice(i, i + 32);
    const [a, b] = await Promise.all([Promise.all(chunk.map((p) => fast.run(p))), Promise.all(chunk.map((p) => sandbox.run(p)))]);
    chunk.forEach((program, j) => out.push({ program, fast: a[j]!, sandbox: b[j]! }));
  }
  return out;
}

test('the curriculum programs and every step prefix give what the sandbox gives; levels 1-4 without a fork, sympy in the sandbox', async (t) => {
  const { train } = generateCurriculum({ train: 150, test: 1, seed: 5 });
  const programs: string[] = [];
  for (const p of train) {
    // The programs the search checks: the steps so far, as buildStepProgram joins them.
    const steps = p.program.split(/\n(?=# Step \d+:|# Now print)/);
    for (let k = 1; k <= steps.length; k++) programs.push(buildStepProgram(steps.slice(0, k - 1), steps[k - 1]!));
  }
  const results = await compare(programs);
  for (const r of results) t.deepEqual(visible(r.fast), visible(r.sandbox), r.program);
  t.true(results.every((r) => r.fast.ok), 'every reference program runs');
  t.true(results.every((r) => !r.sandbox.inProcess), 'the reference pool never skips the sandbox');
  const usesSympy = (r: { program: string }) => r.program.includes('sympy');
  t.true(results.filter((r) => !usesSympy(r)).every((r) => r.fast.inProcess), 'arithmetic and Fraction programs skip the fork');
  t.true(results.filter(usesSympy).every((r) => !r.fast.inProcess), 'sympy programs run in the sandbox');
  t.true(results.filter(usesSympy).length > 20 && results.filter((r) => !usesSympy(r)).length > 200);
});

// Programs that qualify: outputs must be Python's own, to the character.
const PLAIN = [
  'a = 7\nb = 2\nprint(a / b, a // b, a % b, -a // b, -a % b)',
  'x = 0.1 + 0.2\nprint(x)\nprint(1e16 + 1.0, 2.5e-7, -0.0, 10 / 4)',
  'n = 2 ** 100\nprint(n, -3 ** 2, (-3) ** 2, 2 ** -2, 4 ** 0.5)',
  'from fractions import Fraction\nq = Fraction(3, 4) + Fraction(1, 6)\nprint(q, q * 12, Fraction(6, 3), Fraction(0.5))',
  'total = 10\ntotal += 5\ntotal *= 3\ntotal //= 4\nprint(total)',
  'a = b = 3\nprint(a * b, abs(-4), round(2.5), round(3.14159, 2), min(3, 1, 2), max(2.5, 1))',
  '"""a docstring"""\npass\nprint("the answer is", 42, "dollars")\nprint()',
  '# Step 1: comments only change nothing\nprice = 12  # dollars\nprint(price)',
];

// Programs that do not qualify or fail: the sandbox must run them, and its answer stands.
const NOT_PLAIN = [
  'a = 1\nprint(a / 0)', // ZeroDivisionError
  'print(undefined_name)', // NameError
  'x = 5\nprint(x)\nprint(y)', // output, then an error
  'print = 3\nprint(4)', // a shadowed builtin
  'import math\nprint(math.sqrt(16))',
  'x = [1, 2, 3]\nprint(x[0])',
  'print(1, 2, sep="-")',
  'x = 3\nprint(f"{x}")',
  'print(3 > 2)',
  'n = 2 ** 5000\nprint(n % 7)', // past the bound on numbers
  'n = 10 ** 1000\nprint(n / 3)', // OverflowError in Python itself
  'x = abs\nprint(x(-1))',
  'Fraction = 3\nprint(Fraction)',
  'print(Fraction(1, 2))', // not imported
  'x = 1\nwhile x < 3:\n    x += 1\nprint(x)',
  'def f():\n    return 1\nprint(f())',
  'a, b = 1, 2\nprint(a + b)',
  'x = (1 +\n', // SyntaxError
  'print("x" * 3)',
];

test('hand-picked programs: the same result either way; only plain, successful programs skip the fork', async (t) => {
  const results = await compare([...PLAIN, ...NOT_PLAIN]);
  for (const r of results) t.deepEqual(visible(r.fast), visible(r.sandbox), r.program);
  for (const r of results.slice(0, PLAIN.length)) {
    t.true(r.fast.inProcess, `answered in the worker: ${r.program}`);
    t.true(r.fast.ok, r.program);
  }
  for (const r of results.slice(PLAIN.length)) t.false(r.fast.inProcess, `ran in the sandbox: ${r.program}`);
  // The failures keep the sandbox's traceback on stderr.
  t.regex(results[PLAIN.length]!.fast.stderr, /ZeroDivisionError: division by zero/);
  t.regex(results[PLAIN.length + 2]!.fast.stdout, /^5\n$/);
});

test('output over the cap is the sandbox\'s to cut, even for plain arithmetic', async (t) => {
  const small = new PythonPool({ size: 1, maxOutputBytes: 1024, cacheEntries: 0, log: null });
  try {
    const program = `x = 7 ** 200\n${'print(x)\n'.repeat(8)}`;
    const r = await small.run(program);
    t.false(r.inProcess);
    t.true(r.outputTruncated);
    t.false(r.ok);
    const fits = await small.run('x = 7 ** 200\nprint(x)');
    t.true(fits.inProcess && fits.ok);
  } finally {
    await small.dispose();
  }
});
