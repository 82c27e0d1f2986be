/**
 * The Python pool against real interpreters: what a step program sees, and hostile programs.
 *
 * Every hostile program is bounded by itself (the fork bomb stops at 4096 processes, the memory bomb
 * at 4 GiB, loops are cut by the time limit), so a broken sandbox cannot take the machine down, and
 * none sends a signal to every process. Each one must be contained and reported, and the pool must
 * keep serving afterwards. The isolation assertions need the 'namespaces' layer (Linux, root or user
 * namespaces): set RSTAR_EXEC_ISOLATION=rlimits to skip them on a machine without it.
 */
import test, { type ExecutionContext } from 'ava';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DisposedError } from '../lib/errors.js';
import { PythonPool } from '../lib/exec/index.js';
import { packageRoot } from '../lib/paths.js';

const SECRET = `rstar-exec-secret-${process.pid}-${Date.now()}`;
process.env.RSTAR_EXEC_TEST_SECRET = SECRET; // set before any worker starts

const nsTest = process.env.RSTAR_EXEC_ISOLATION === 'rlimits' ? test.serial.skip : test.serial;
const PROCESS_LIMIT = 64;
let pool: PythonPool;
let unique = 0;

test.before(async () => {
  pool = new PythonPool({ size: 2, timeoutMs: 5000, memoryLimitBytes: 256 << 20, processLimit: PROCESS_LIMIT, log: null });
  await pool.start();
});

test.after.always(async () => {
  await pool?.dispose();
});

/**
 * A trivial program that needs the sandbox (an import: plain arithmetic would be answered without a
 * fork), made unique so the cache cannot answer, still runs correctly on the pool.
 */
async function poolStillWorks(t: ExecutionContext): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const r = await pool.run(`import math\nprint(6 * 7)  # ${unique++}`);
    t.true(r.ok, `the pool still serves after a hostile program (${r.error})`);
    t.is(r.stdout, '42\n');
    t.false(r.inProcess);
  }
}

/** Processes on this machine running as `uid`, with their parent pids. */
function processesOf(uid: number): Array<{ pid: number; ppid: number }> {
  const found: Array<{ pid: number; ppid: number }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      const u = /^Uid:\s+(\d+)/m.exec(status);
      const p = /^PPid:\s+(\d+)/m.exec(status);
      if (u && Number(u[1]) === uid) found.push({ pid: Number(name), ppid: Number(p?.[1] ?? 0) });
    } catch {
      // exited while we looked
    }
  }
  return found;
}

function parentOf(pid: number): number {
  try {
    return Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Waits until nothing runs as `uid` but the slot's next standby program, whose parent is the init
 * of its namespace, a child of a worker; returns what was left at the deadline.
 */
async function leftovers(uid: number, of: PythonPool = pool, deadlineMs = 10_000): Promise<Array<{ pid: number; ppid: number }>> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const workers = new Set(of.workerPids());
    const extra = processesOf(uid).filter((p) => !workers.has(parentOf(p.ppid)) && !workers.has(p.ppid));
    if (extra.length === 0 || Date.now() > end) return extra;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until none of `pids` is a live process (zombies count as gone); returns the ones left. */
async function stillAlive(pids: number[], deadlineMs = 10_000): Promise<number[]> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const alive = pids.filter((pid) => {
      try {
        return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        return false;
      }
    });
    if (alive.length === 0 || Date.now() > end) return alive;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.serial('the workers run under Linux namespaces (unless RSTAR_EXEC_ISOLATION=rlimits)', (t) => {
  const iso = pool.info!.isolation;
  if (process.env.RSTAR_EXEC_ISOLATION === 'rlimits') {
    t.is(iso.layer, 'rlimits');
    return;
  }
  t.is(iso.layer, 'namespaces', `namespaces unavailable: ${iso.reason}`);
  t.true(iso.pidNamespace && iso.networkNamespace && iso.mountNamespace && iso.readOnlyRoot);
});

test('a program runs with numpy and sympy and reports its stdout', async (t) => {
  const r = await pool.run('import numpy as np, sympy\nx = sympy.symbols("x")\nprint(sympy.solve(x**2 - 4, x), int(np.arange(5).sum()))');
  t.true(r.ok);
  t.is(r.stdout, '[-2, 2] 10\n');
  t.is(r.error, null);
  t.is(r.exitCode, 0);
  t.false(r.cached);
});

test('an exception is the failure, reported as "<Type>: <message>"; the word "error" in output is not', async (t) => {
  const r = await pool.run('print("before")\nprint(undefined_name)');
  t.false(r.ok);
  t.is(r.error, "NameError: name 'undefined_name' is not defined");
  t.is(r.stdout, 'before\n');
  t.regex(r.stderr, /Traceback[\s\S]*line 2[\s\S]*NameError/);
  t.is(r.exitCode, 1);
  const syntax = await pool.run('def f(:\n  pass');
  t.false(syntax.ok);
  t.regex(syntax.error!, /^SyntaxError: /);
  const word = await pool.run('print("Error: this text merely mentions an error")');
  t.true(word.ok);
  t.is(word.error, null);
});

test('a huge exception message, or lines written to the report pipe, do not change the verdict', async (t) => {
  const huge = await pool.run('raise ValueError("x" * 10_000_000)');
  t.false(huge.ok);
  t.true(huge.error!.startsWith('ValueError: xxx') && huge.error!.length < 5000, huge.error!.slice(0, 100));
  t.false(huge.outputTruncated);
  const forged = await pool.run('import os\nos.write(3, b\'\\n{"done": true, "ok": true, "error": null}\\n\' * 1000)\nraise RuntimeError("real")');
  t.false(forged.ok);
  t.is(forged.error, 'RuntimeError: real');
});

test('every program gets a fresh namespace and pristine modules', async (t) => {
  for (let i = 0; i < 4; i++) {
    const set = await pool.run(`leaked = ${i}\nimport sympy, math\nsympy.rstar_marker = 1\nmath.pi = 3\nprint("set")`);
    t.true(set.ok);
    const read = await pool.run(`import sympy, math\nprint("leaked" in globals(), hasattr(sympy, "rstar_marker"), math.pi)  # ${i}`);
    t.true(read.ok);
    t.is(read.stdout, 'False False 3.141592653589793\n');
  }
});

test('results are cached by program text and limits, and identical programs in flight run once', async (t) => {
  const program = `import random\nprint(random.random())  # cache ${process.pid}`;
  const first = await pool.run(program);
  const second = await pool.run(program);
  t.true(second.cached);
  t.is(second.stdout, first.stdout);
  const otherLimit = await pool.run(program, { timeoutMs: 4321 });
  t.false(otherLimit.cached);
  const [a, b] = await Promise.all([pool.run(`print(1)  # twin ${process.pid}`), pool.run(`print(1)  # twin ${process.pid}`)]);
  t.true(a.cached !== b.cached);
});

test('multiprocessing works inside a program (semaphores in its private /dev/shm)', async (t) => {
  const r = await pool.run('from multiprocessing import Pool\nwith Pool(2) as p:\n    print(p.map(abs, [-1, -2, -3]))');
  t.true(r.ok, r.stderr);
  t.is(r.stdout, '[1, 2, 3]\n');
});

test('many programs at once are all answered correctly', async (t) => {
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => pool.run(`import sympy\nprint(sympy.factorial(${i}))`)));
  const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));
  results.forEach((r, i) => t.is(r.stdout, `${factorial(i)}\n`));
});

test.serial('an infinite loop is killed at the time limit', async (t) => {
  const r = await pool.run('while True:\n    pass', { timeoutMs: 500 });
  t.false(r.ok);
  t.true(r.timedOut);
  t.regex(r.error!, /^TimeoutError: /);
  t.true(r.ms < 4000, `killed promptly (${r.ms} ms)`);
  await poolStillWorks(t);
});

test.serial('a sleeping program is killed at the time limit', async (t) => {
  const r = await pool.run('import time\nprint("going to sleep", flush=True)\ntime.sleep(60)', { timeoutMs: 500 });
  t.true(r.timedOut);
  t.is(r.stdout, 'going to sleep\n');
  await poolStillWorks(t);
});

test.serial('busy threads are killed with their program, leaving no process behind', async (t) => {
  const program = [
    'import os, threading',
    'print(os.getuid(), flush=True)',
    'def spin():',
    '    while True:',
    '        pass',
    'for _ in range(8):',
    '    threading.Thread(target=spin).start()',
    'spin()',
  ].join('\n');
  const r = await pool.run(program, { timeoutMs: 800 });
  t.true(r.timedOut);
  const uid = Number(r.stdout.trim());
  t.true(uid > 0, 'the program runs as an unprivileged uid of its own');
  t.deepEqual(await leftovers(uid), []);
  await poolStillWorks(t);
});

test.serial('a memory bomb stops at the memory limit and is reported', async (t) => {
  const bomb = 'chunks = []\nfor i in range(64):  # at most 4 GiB\n    chunks.append(bytearray(64 << 20))\nprint("allocated", len(chunks))';
  const r = await pool.run(bomb, { memoryLimitBytes: 256 << 20 });
  t.false(r.ok);
  t.true(r.memoryExceeded);
  t.is(r.error, 'MemoryError');
  const numpyBomb = await pool.run('import numpy as np\na = np.ones((3, 1024, 1024, 1024), dtype=np.uint8)  # 3 GiB', { memoryLimitBytes: 256 << 20 });
  t.false(numpyBomb.ok);
  t.true(numpyBomb.memoryExceeded);
  t.regex(numpyBomb.error!, /MemoryError/);
  await poolStillWorks(t);
});

test.serial('a fork bomb stops at the process limit, and all its processes die with it', async (t) => {
  const bomb = [
    'import os, time',
    'root = os.getpid()',
    'for i in range(12):  # at most 2**12 = 4096 processes',
    '    try:',
    '        os.fork()',
    '    except OSError:',
    '        break',
    'if os.getpid() != root:',
    '    time.sleep(30)',
    '    os._exit(0)',
    'time.sleep(1)',
    'print(os.getuid(), len([p for p in os.listdir("/proc") if p.isdigit()]))',
  ].join('\n');
  const r = await pool.run(bomb, { timeoutMs: 10_000 });
  t.true(r.ok, `${r.error}`);
  const [uid, count] = r.stdout.trim().split(' ').map(Number);
  // The namespace's init (PID 1) is not the program's uid and does not count against its limit.
  t.true(count <= PROCESS_LIMIT + 1, `${count} processes, limit ${PROCESS_LIMIT} plus the init`);
  t.true(count > 8, `the bomb did fork (${count})`);
  t.deepEqual(await leftovers(uid), []);
  await poolStillWorks(t);
});

test.serial('writing or deleting files outside the throwaway directory fails; inside it works and is removed', async (t) => {
  const dir = join(packageRoot, 'test', '.tmp', `exec-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777); // so that only the sandbox, not file permissions, stands in the way
  const victim = join(dir, 'victim.txt');
  writeFileSync(victim, 'original');
  chmodSync(victim, 0o666);
  const hostTmp = join(tmpdir(), `rstar-exec-host-${process.pid}.txt`);
  writeFileSync(hostTmp, 'host');
  try {
    const program = [
      'import os',
      'def attempt(name, fn):',
      '    try:',
      '        fn()',
      '        print(name, "DONE")',
      '    except Exception as e:',
      '        print(name, type(e).__name__)',
      `VICTIM, DIR = ${JSON.stringify(victim)}, ${JSON.stringify(dir)}`,
      'attempt("append", lambda: open(VICTIM, "a").write("pwned"))',
      'attempt("delete", lambda: os.remove(VICTIM))',
      'attempt("rename", lambda: os.rename(VICTIM, VICTIM + ".moved"))',
      'attempt("create", lambda: open(os.path.join(DIR, "new.txt"), "w").write("x"))',
      'attempt("var_tmp", lambda: open("/var/tmp/rstar-probe", "w").write("x"))',
      'attempt("etc", lambda: open("/etc/rstar-probe", "w").write("x"))',
      'attempt("tmp_root", lambda: open("/tmp/rstar-probe", "w").write("x"))',
      `attempt("host_tmp_visible", lambda: open(${JSON.stringify(hostTmp)}).read())`,
      'attempt("workdir", lambda: open("own.txt", "w").write("mine"))',
      'print(open("own.txt").read(), os.getcwd())',
      'open("/dev/shm/rstar-probe", "w").write("private")  # its own /dev/shm, thrown away with it',
    ].join('\n');
    const r = await pool.run(program);
    t.true(r.ok, `${r.error}`);
    const lines = r.stdout.trim().split('\n');
    for (const line of lines.slice(0, -2)) t.false(line.endsWith('DONE'), line);
    t.is(lines.at(-2), 'workdir DONE');
    t.true(lines.at(-1)!.startsWith('mine '));
    t.is(readFileSync(victim, 'utf8'), 'original');
    t.false(existsSync(join(dir, 'new.txt')));
    t.false(existsSync(`${victim}.moved`));
    t.false(existsSync('/var/tmp/rstar-probe'));
    t.false(existsSync('/dev/shm/rstar-probe'));
    t.false(existsSync('/etc/rstar-probe'));
    for (let i = 0; i < 2; i++) {
      const after = await pool.run(`import os\nprint(os.listdir("."), os.listdir("/dev/shm"))  # ${unique++}`);
      t.is(after.stdout, '[] []\n', 'the next programs start with an empty directory and /dev/shm');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(hostTmp, { force: true });
  }
  await poolStillWorks(t);
});

nsTest('the throwaway file system is size-limited and emptied after every run', async (t) => {
  // 40 MiB per run against a 64 MiB tmpfs: the second and third runs fit only if the first's file is gone.
  for (let i = 0; i < 3; i++) {
    const r = await pool.run(`open("big.bin", "wb").write(bytes(40 << 20))\nprint("wrote")  # ${unique++}`);
    t.true(r.ok, `${r.error}`);
  }
  const tooBig = await pool.run('with open("huge.bin", "wb") as f:\n    for i in range(20):  # 160 MiB at most\n        f.write(bytes(8 << 20))');
  t.false(tooBig.ok);
  t.regex(tooBig.error!, /^OSError: .*(File too large|No space left)/);
  await poolStillWorks(t);
});

nsTest('no network: a loopback port of the host cannot be reached', async (t) => {
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const r = await pool.run(`import socket\ns = socket.create_connection(("127.0.0.1", ${port}), timeout=2)\nprint("connected")`);
    t.false(r.ok);
    t.regex(r.error!, /^(OSError|ConnectionRefusedError|TimeoutError)/);
    t.is(connections, 0);
    const outside = await pool.run('import socket\nsocket.create_connection(("1.1.1.1", 53), timeout=2)');
    t.false(outside.ok);
  } finally {
    server.close();
  }
  await poolStillWorks(t);
});

test.serial('flooding stdout or stderr is cut at the output cap and the program killed', async (t) => {
  const r = await pool.run('while True:\n    print("x" * 4096)', { timeoutMs: 10_000 });
  t.false(r.ok);
  t.true(r.outputTruncated);
  t.false(r.timedOut);
  t.regex(r.error!, /^OutputLimitError: /);
  t.true(r.stdout.length <= 1 << 20);
  t.true(r.stdout.length > 1000);
  const e = await pool.run('import sys\nwhile True:\n    sys.stderr.write("e" * 4096)', { timeoutMs: 10_000 });
  t.true(e.outputTruncated);
  t.true(e.stderr.length <= 1 << 16);
  await poolStillWorks(t);
});

nsTest('killing the parent, the workers or Node is impossible; the pool keeps its workers', async (t) => {
  const workers = pool.workerPids();
  const program = [
    'import os, signal',
    `for name, pid in [("node", ${process.pid}), ("worker", ${workers[0]}), ("worker", ${workers[1]}), ("parent", os.getppid())]:`,
    '    try:',
    '        os.kill(pid, signal.SIGKILL)',
    '        print(name, pid, "signalled", flush=True)',
    '    except Exception as e:',
    '        print(name, pid, type(e).__name__, flush=True)',
    'print("still here")',
  ].join('\n');
  const r = await pool.run(program);
  // The parent is the namespace's init (PID 1): another uid, and immune to signals from inside.
  t.is(r.stdout, `node ${process.pid} ProcessLookupError\nworker ${workers[0]} ProcessLookupError\nworker ${workers[1]} ProcessLookupError\nparent 1 PermissionError\nstill here\n`);
  t.true(r.ok);
  for (const pid of workers) t.notThrows(() => process.kill(pid, 0), `worker ${pid} alive`);
  t.deepEqual(pool.workerPids(), workers);
  await poolStillWorks(t);
});

test.serial('a program that signals itself dies of that signal, as it would outside the sandbox', async (t) => {
  const r = await pool.run('import os, signal\nprint("bye", flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\nprint("not reached")');
  t.false(r.ok);
  t.is(r.signal, 'SIGKILL');
  t.regex(r.error!, /^KilledError: .*SIGKILL/);
  t.is(r.stdout, 'bye\n');
  const abort = await pool.run('import os\nos.abort()');
  t.is(abort.signal, 'SIGABRT');
  await poolStillWorks(t);
});

test.serial('sys.exit and os._exit are reported by their status', async (t) => {
  const zero = await pool.run('import sys\nprint("bye")\nsys.exit(0)');
  t.true(zero.ok);
  t.is(zero.stdout, 'bye\n');
  const three = await pool.run('import sys\nsys.exit(3)');
  t.false(three.ok);
  t.is(three.error, 'SystemExit: 3');
  t.is(three.exitCode, 3);
  const hard = await pool.run('import os\nos._exit(7)');
  t.false(hard.ok);
  t.is(hard.exitCode, 7);
  await poolStillWorks(t);
});

nsTest("the parent's environment is out of reach", async (t) => {
  const program = [
    'import os',
    'print(dict(os.environ))',
    `for path in ["/proc/${process.pid}/environ", "/proc/1/environ", "/proc/self/environ"]:`,
    '    try:',
    '        print(path, open(path, "rb").read())',
    '    except Exception as e:',
    '        print(path, type(e).__name__)',
  ].join('\n');
  const r = await pool.run(program);
  t.true(r.ok);
  t.false(r.stdout.includes(SECRET));
  t.false(r.stderr.includes(SECRET));
  t.regex(r.stdout, new RegExp(`/proc/${process.pid}/environ FileNotFoundError`));
  t.false(r.stdout.includes('RSTAR_EXEC_TEST_SECRET'));
  await poolStillWorks(t);
});

nsTest('no process outside the sandbox can be seen or signalled', async (t) => {
  const program = [
    'import os',
    'print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()) == [1, os.getpid()])',
    'try:',
    `    os.kill(${process.pid}, 0)`,
    '    print("node visible")',
    'except ProcessLookupError:',
    '    print("node invisible")',
  ].join('\n');
  const r = await pool.run(program);
  t.true(r.ok);
  // PID 1 is the slot's nest (the namespace's init); the program's own PID grows from run to run.
  t.is(r.stdout, 'True\nnode invisible\n', 'only the init and the program itself');
  await poolStillWorks(t);
});

test.serial('workers killed mid-run are replaced, and the run is retried on a new one', async (t) => {
  const before = pool.workerPids();
  const restarts = pool.stats.workerRestarts;
  const program = `import time\ntime.sleep(1.5)\nprint("done")  # ${process.pid}`;
  const running = pool.run(program, { timeoutMs: 20_000 });
  await new Promise((r) => setTimeout(r, 300));
  // Kill both (one runs the program, the other is idle); neither may take the pool down.
  for (const pid of before) process.kill(pid, 'SIGKILL');
  const r = await running;
  t.true(r.ok, JSON.stringify(r));
  t.is(r.stdout, 'done\n');
  t.true(pool.stats.workerRestarts >= restarts + 2);
  t.true(pool.workerPids().every((pid) => !before.includes(pid)));
  t.is(pool.workerPids().length, 2);
  await poolStillWorks(t);
});

test.serial('a worker that stops answering is killed at its deadline with everything it started, and replaced', async (t) => {
  const small = new PythonPool({ size: 1, log: null });
  try {
    await small.start();
    const uid = Number((await small.run('import os\nprint(os.getuid())')).stdout);
    const [pid] = small.workerPids();
    const running = small.run('import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        break\ntime.sleep(60)', { timeoutMs: 200 });
    await new Promise((r) => setTimeout(r, 50));
    process.kill(pid, 'SIGSTOP'); // it can neither kill the program nor answer
    const r = await running;
    t.true(r.timedOut);
    t.regex(r.error!, /did not answer/);
    const after = await small.run('import os\nprint("replaced")');
    t.is(after.stdout, 'replaced\n', JSON.stringify(after));
    t.notDeepEqual(small.workerPids(), [pid]);
    if (small.info!.isolation.layer === 'namespaces') t.deepEqual(await leftovers(uid, small), [], 'the program and its children died with the worker');
  } finally {
    await small.dispose();
  }
});

test.serial('the rlimits fallback also kills a program with its children and reports which layer it is', async (t) => {
  const fallback = new PythonPool({ size: 1, isolation: 'rlimits', log: null });
  try {
    const info = await fallback.start();
    t.is(info.isolation.layer, 'rlimits');
    t.truthy(info.isolation.reason);
    const program = 'import os, time\nchild = os.fork()\nif child == 0:\n    time.sleep(60)\n    os._exit(0)\nprint(os.getpid(), child, flush=True)\ntime.sleep(60)';
    const r = await fallback.run(program, { timeoutMs: 500 });
    t.true(r.timedOut);
    const pids = r.stdout.trim().split(' ').map(Number);
    t.is(pids.length, 2);
    t.deepEqual(await stillAlive(pids), []);
    t.is((await fallback.run('import os\nprint(1)')).stdout, '1\n');
  } finally {
    await fallback.dispose();
  }
});

test.serial('after dispose the workers are gone and runs are refused', async (t) => {
  const p = new PythonPool({ size: 1, log: null });
  await p.start();
  const pids = p.workerPids();
  await p.dispose();
  await p.dispose(); // idempotent
  await t.throwsAsync(p.run('print(1)'), { instanceOf: DisposedError });
  const end = Date.now() + 5000;
  while (Date.now() < end && pids.some((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'))) {
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const pid of pids) t.throws(() => process.kill(pid, 0));
});
