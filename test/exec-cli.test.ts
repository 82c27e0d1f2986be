/**
 * `rstar exec` end to end: the compiled CLI, a real worker, programs on stdin. The exit code is 0
 * whenever the program was run, whatever it did; with --json the last stdout line is the result.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../lib/paths.js';

const cli = join(packageRoot, 'dist', 'lib', 'cli', 'main.js');

function rstarExec(program: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, 'exec', '--quiet', ...args], { input: program, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lastJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

test('a program that succeeds: its stdout, exit code 0; --json has ok, stdout, error, timed_out, ms', (t) => {
  const plain = rstarExec('import sympy\nprint(sympy.sqrt(8))');
  t.is(plain.status, 0);
  t.is(plain.stdout, '2*sqrt(2)\n');
  const json = rstarExec('print(2 ** 10)', '--json');
  t.is(json.status, 0);
  const r = lastJson(json.stdout);
  t.like(r, { ok: true, stdout: '1024\n', error: null, timed_out: false });
  t.is(typeof r.ms, 'number');
});

test('a program that raises or times out was still run: exit code 0, the failure in the result', (t) => {
  const raised = rstarExec('raise KeyError("k")');
  t.is(raised.status, 0);
  t.regex(raised.stderr, /KeyError: 'k'/);
  const json = lastJson(rstarExec('x = 1\nraise ValueError("bad value")', '--json').stdout);
  t.like(json, { ok: false, error: 'ValueError: bad value', timed_out: false });
  const slow = rstarExec('while True:\n    pass', '--json', '--timeout-ms', '300');
  t.is(slow.status, 0);
  t.like(lastJson(slow.stdout), { ok: false, timed_out: true });
});

test('bad arguments are exit code 2, not a result', (t) => {
  const r = rstarExec('print(1)', '--timeout-ms', '0');
  t.is(r.status, 2);
  t.regex(r.stderr, /Expected an integer between 1 and 86400000 for --timeout-ms but received 0/);
});
