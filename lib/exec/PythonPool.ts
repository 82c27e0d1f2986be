/**
 * A pool of warm, sandboxed Python workers that verify step programs (issue #3; spec §2).
 *
 * Each slot is a long-lived Python process with numpy and sympy imported (lib/exec/zygote.py). A
 * program runs in a child that slot forked before the program arrived, in a fresh globals dict, under
 * the isolation described below; the child and everything it started die when it ends. So checking
 * a step costs a few milliseconds instead of a Python start-up, and nothing one program does reaches
 * the next.
 *
 * Threat model (details and measurements in lib/exec/README.md). The programs are written by a
 * language model: buggy or adversarial by accident (infinite loops, huge allocations, fork loops,
 * floods of output, deleting files), not crafted by an attacker who has a kernel exploit. Covered,
 * under the 'namespaces' layer (Linux, root or unprivileged user namespaces; the default wherever the
 * machine allows it):
 *   - time: a wall-clock limit per run (SIGKILL to the program's PID namespace, which kills every
 *     process it started), RLIMIT_CPU as a backstop, and a deadline on the worker itself here;
 *   - memory: RLIMIT_AS per process; processes and threads: RLIMIT_NPROC under a uid of the slot's own;
 *   - network: a network namespace with only a loopback device that is down (nothing is reachable,
 *     not even the host's 127.0.0.1);
 *   - files: the whole file system read-only, a private size-limited tmpfs holding a throwaway working
 *     directory per run (removed afterwards), /root and /home hidden (only the interpreter's own
 *     directories are bound back), RLIMIT_FSIZE;
 *   - processes: a PID namespace per pool slot with its own /proc, emptied before every run (lib/exec/
 *     zygote.py, "nest"): the program sees only its own processes and the namespace's init (another
 *     uid, immune to signals from inside), and can signal nothing else;
 *   - the pool itself: workers are invisible to programs; one that dies anyway is replaced (its
 *     programs die with it) and the run retried; every wait has a deadline;
 *   - privileges: an unprivileged uid with no capabilities (as root) or a user namespace without
 *     capabilities (otherwise), no_new_privs;
 *   - secrets: the workers start with an environment built from nothing (only PYTHONPATH is passed on),
 *     and Node's /proc/<pid>/environ is out of sight;
 *   - output: stdout plus stderr capped; a program that writes more is killed.
 * Not covered: kernel vulnerabilities (no seccomp filter), a total-memory cap over all of a program's
 * processes (the bound is processLimit x memoryLimit), CPU shares between concurrent programs, and
 * side channels. Under the 'rlimits' fallback (namespaces unavailable; logged at start) programs can
 * also reach the network, see other processes, and read and write what the user can.
 *
 * @example
 * await using pool = new PythonPool();
 * const r = await pool.run('import sympy\nprint(sympy.sqrt(8))', { timeoutMs: 5000 });
 * // r.ok === true, r.stdout === '2*sqrt(2)\n'
 */
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DisposedError, RstarError, assertInteger, invalidArgument } from '../errors.js';
import { packageRoot } from '../paths.js';
import { checkPython, pythonCommand } from './interpreter.js';
import { LruCache } from './LruCache.js';
import { PythonWorker, type JobOutcome, type ReadyMessage, type WorkerSpec } from './PythonWorker.js';
import type { ExecResult, IsolationInfo, IsolationRequest, PoolInfo, PythonPoolOptions, RunOptions } from './types.js';

/** The zygote script; it lives next to the TypeScript sources and is read by the interpreter, not compiled. */
export const ZYGOTE_SCRIPT = join(packageRoot, 'lib', 'exec', 'zygote.py');

const MiB = 1 << 20;
const DEFAULTS = {
  timeoutMs: 10_000,
  memoryLimitBytes: 1024 * MiB,
  processLimit: 64,
  maxOutputBytes: MiB,
  diskLimitBytes: 64 * MiB,
  cacheEntries: 20_000,
  cacheBytes: 64 * MiB,
  sandboxUidBase: 4_000_000_000,
  startTimeoutMs: 60_000,
};

/**
 * Workers by default: the cores plus two. A worker is busy for a whole cycle per program (the run,
 * then the clean-up of its namespace and the next standby fork), part of which waits on another
 * process; two extra workers keep the cores busy through those waits (measured on 2 cores with many
 * programs in flight: 4 workers ran 1.3 to 1.5 times the programs per second of 2).
 */
export function defaultPoolSize(): number {
  return availableParallelism() + 2;
}

/** Slots handed out in this process, so that two pools never share a sandbox uid. */
let slotSerial = 0;

interface Queued {
  code: string;
  timeoutMs: number;
  memoryBytes: number;
  resolve: (o: JobOutcome) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  index: number;
  uid: number;
  worker: PythonWorker | null;
  /** Consecutive deaths without a completed run in between: the restart back-off. */
  failures: number;
  restartTimer: NodeJS.Timeout | null;
}

function isolationRequest(value: string | undefined): IsolationRequest {
  const v = value ?? process.env.RSTAR_EXEC_ISOLATION ?? 'auto';
  if (v !== 'auto' && v !== 'namespaces' && v !== 'rlimits') throw invalidArgument('"auto", "namespaces" or "rlimits"', 'isolation (RSTAR_EXEC_ISOLATION)', v);
  return v;
}

function toIsolationInfo(raw: Record<string, unknown>): IsolationInfo {
  const info: IsolationInfo = {
    layer: raw.layer === 'namespaces' ? 'namespaces' : 'rlimits',
    pidNamespace: raw.pid_namespace === true,
    networkNamespace: raw.network_namespace === true,
    mountNamespace: raw.mount_namespace === true,
    readOnlyRoot: raw.read_only_root === true,
    privileges: String(raw.privileges ?? ''),
  };
  if (typeof raw.reason === 'string') info.reason = raw.reason;
  if (Array.isArray(raw.hidden)) info.hidden = raw.hidden.map(String);
  if (Array.isArray(raw.bound_back)) info.boundBack = raw.bound_back.map(String);
  return info;
}

/** The one line a pool logs when it starts: which interpreter, and which isolation layer is active. */
export function describePool(info: PoolInfo): string {
  const { python: py, isolation: iso } = info;
  const head = `rstar exec: ${info.size} Python worker${info.size === 1 ? '' : 's'} (Python ${py.version}, numpy ${py.numpy}, sympy ${py.sympy})`;
  if (iso.layer === 'namespaces') {
    const hidden = iso.hidden?.length ? `, ${iso.hidden.join(' and ')} hidden` : '';
    return `${head}; isolation: Linux namespaces (own PID, mount, network and IPC namespaces; read-only file system with a private /tmp${hidden}; ${iso.privileges}) plus rlimits`;
  }
  return `${head}; isolation: rlimits only, Linux namespaces unavailable (${iso.reason ?? 'unknown reason'}): programs can reach the network, see other processes and read what this user can read (${iso.privileges})`;
}

export class PythonPool implements AsyncDisposable {
  readonly size: number;
  /** Counters since construction. */
  readonly stats = { runs: 0, cacheHits: 0, workerRestarts: 0 };
  private readonly opts: Required<Omit<PythonPoolOptions, 'python' | 'log' | 'isolation' | 'size'>>;
  private readonly python: string;
  private readonly isolation: IsolationRequest;
  private readonly log: ((line: string) => void) | null;
  private readonly slots: Slot[] = [];
  private readonly queue: Queued[] = [];
  private readonly cache: LruCache<ExecResult>;
  private readonly inflight = new Map<string, Promise<ExecResult>>();
  private starting: Promise<PoolInfo> | null = null;
  private spec: WorkerSpec | null = null;
  private poolInfo: PoolInfo | null = null;
  private failure: RstarError | null = null;
  private isDisposed = false;
  private active = 0;
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(options: PythonPoolOptions = {}) {
    this.size = assertInteger(options.size ?? defaultPoolSize(), 'size', 1, 1024);
    const o = { ...DEFAULTS, prewarm: true, inProcessArithmetic: true, ...stripUndefined(options) };
    this.opts = {
      timeoutMs: assertInteger(o.timeoutMs, 'timeoutMs', 1, 86_400_000),
      memoryLimitBytes: assertInteger(o.memoryLimitBytes, 'memoryLimitBytes', 16 * MiB),
      processLimit: assertInteger(o.processLimit, 'processLimit', 1, 65_536),
      maxOutputBytes: assertInteger(o.maxOutputBytes, 'maxOutputBytes', 1024, 1 << 30),
      diskLimitBytes: assertInteger(o.diskLimitBytes, 'diskLimitBytes', MiB),
      cacheEntries: assertInteger(o.cacheEntries, 'cacheEntries', 0),
      cacheBytes: assertInteger(o.cacheBytes, 'cacheBytes', 0),
      prewarm: Boolean(o.prewarm),
      inProcessArithmetic: Boolean(o.inProcessArithmetic),
      sandboxUidBase: assertInteger(o.sandboxUidBase, 'sandboxUidBase', 1, 4_294_967_294 - 256_000_256),
      startTimeoutMs: assertInteger(o.startTimeoutMs, 'startTimeoutMs', 1),
    };
    this.python = pythonCommand(options.python);
    this.isolation = isolationRequest(options.isolation);
    this.log = options.log === undefined ? (line) => process.stderr.write(`${line}\n`) : options.log;
    this.cache = new LruCache<ExecResult>(this.opts.cacheEntries, this.opts.cacheBytes, (k, v) => 2 * (k.length + v.stdout.length + v.stderr.length) + 200);
    for (let i = 0; i < this.size; i++) {
      // A uid per slot, unique to this process and slot, so RLIMIT_NPROC counts one program only.
      const uid = this.opts.sandboxUidBase + (process.pid % 1_000_000) * 256 + (slotSerial++ % 256);
      this.slots.push({ index: i, uid, worker: null, failures: 0, restartTimer: null });
    }
  }

  /** Interpreter and isolation, once started. */
  get info(): PoolInfo | null {
    return this.poolInfo;
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  /** Process ids of the live workers (diagnostics and tests). */
  workerPids(): number[] {
    return this.slots.map((s) => s.worker?.pid).filter((p): p is number => typeof p === 'number');
  }

  /**
   * Checks the interpreter and starts every worker; resolves when all are warm. Idempotent; `run`
   * calls it. Throws RstarError('EXEC') with what to install when numpy or sympy is missing.
   */
  start(): Promise<PoolInfo> {
    if (this.isDisposed) return Promise.reject(new DisposedError('PythonPool'));
    if (!this.starting) {
      this.starting = this.startWorkers();
      this.starting.catch(() => {
        this.starting = null;
      });
    }
    return this.starting;
  }

  /**
   * Runs one program as a step is verified: in a fresh namespace of a warm worker, under the pool's
   * limits. Whatever the program does, the promise resolves with a result (see ExecResult); it
   * rejects only for bad arguments, a pool that cannot start, or `dispose()`.
   * Results are cached by program text and limits, and identical programs in flight share one run.
   */
  async run(program: string, options: RunOptions = {}): Promise<ExecResult> {
    if (this.isDisposed) throw new DisposedError('PythonPool');
    if (typeof program !== 'string') throw invalidArgument('a string', 'program', program);
    const timeoutMs = assertInteger(options.timeoutMs ?? this.opts.timeoutMs, 'timeoutMs', 1, 86_400_000);
    const memoryBytes = assertInteger(options.memoryLimitBytes ?? this.opts.memoryLimitBytes, 'memoryLimitBytes', 16 * MiB);
    const key = `${timeoutMs}:${memoryBytes}:${program}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.stats.cacheHits++;
      return { ...hit, cached: true };
    }
    const running = this.inflight.get(key);
    if (running) {
      this.stats.cacheHits++;
      return { ...(await running), cached: true };
    }
    const p = this.execute(key, program, timeoutMs, memoryBytes);
    this.inflight.set(key, p);
    try {
      return await p;
    } finally {
      this.inflight.delete(key);
    }
  }

  /** Kills every worker; pending and queued runs reject with DisposedError. Idempotent. */
  async dispose(): Promise<void> {
    if (this.isDisposed) return;
    this.isDisposed = true;
    const err = new DisposedError('PythonPool');
    for (const q of this.queue.splice(0)) q.reject(err);
    const exits: Promise<void>[] = [];
    for (const slot of this.slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      const w = slot.worker;
      slot.worker = null;
      if (w) {
        exits.push(w.exited());
        w.abort(err);
      }
    }
    // A ref'd timer: the workers' own handles are unref'd, and awaiting only them would let Node
    // leave this promise unsettled.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(exits), new Promise((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    this.cache.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  private async execute(key: string, code: string, timeoutMs: number, memoryBytes: number): Promise<ExecResult> {
    // The workers' handles are unref'd (an idle pool must not keep Node alive); a run waiting for
    // a worker, or for a dead one's replacement, must.
    if (this.active++ === 0) this.keepAlive = setInterval(() => undefined, 1 << 30);
    try {
      await this.start();
      let outcome = await this.enqueue(code, timeoutMs, memoryBytes);
      // A worker that died under a run was killed from outside or hit a bug of ours; programs cannot
      // reach it. So the run is tried again (twice: a second worker may be dying too, its exit not
      // yet seen) before the failure is reported.
      for (let retry = 0; retry < 2 && !outcome.cacheable && outcome.result.error?.startsWith('WorkerError') && !this.isDisposed; retry++) {
        outcome = await this.enqueue(code, timeoutMs, memoryBytes);
      }
      this.stats.runs++;
      if (outcome.cacheable) this.cache.set(key, { ...outcome.result }); // callers may mutate theirs
      return outcome.result;
    } finally {
      if (--this.active === 0) clearInterval(this.keepAlive);
    }
  }

  private enqueue(code: string, timeoutMs: number, memoryBytes: number): Promise<JobOutcome> {
    return new Promise<JobOutcome>((resolve, reject) => {
      if (this.failure) {
        reject(this.failure);
        return;
      }
      this.queue.push({ code, timeoutMs, memoryBytes, resolve, reject });
      this.pump();
    });
  }

  private async startWorkers(): Promise<PoolInfo> {
    const python = await checkPython(this.python);
    if (this.isDisposed) throw new DisposedError('PythonPool');
    if (!existsSync(ZYGOTE_SCRIPT)) throw new RstarError('EXEC', `The worker script is missing: ${ZYGOTE_SCRIPT}`);
    const env: NodeJS.ProcessEnv = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      PYTHONDONTWRITEBYTECODE: '1',
      // One hash seed for every worker: set iteration order, hence outputs, repeat across runs.
      PYTHONHASHSEED: '0',
      OPENBLAS_NUM_THREADS: '1',
      OMP_NUM_THREADS: '1',
      MKL_NUM_THREADS: '1',
      // One malloc arena: otherwise every thread reserves 64 MiB of address space, and a program
      // with a few threads would hit RLIMIT_AS without using any memory.
      MALLOC_ARENA_MAX: '1',
    };
    // A module search path is configuration, not a secret, and some installations need it.
    if (process.env.PYTHONPATH) env.PYTHONPATH = process.env.PYTHONPATH;
    this.spec = {
      executable: python.executable,
      script: ZYGOTE_SCRIPT,
      env,
      config: {},
      startTimeoutMs: this.opts.startTimeoutMs,
    };
    let readies: ReadyMessage[];
    try {
      readies = await Promise.all(this.slots.map((slot) => this.spawn(slot)));
    } catch (err) {
      for (const slot of this.slots) {
        slot.worker?.kill();
        slot.worker = null;
      }
      throw this.isDisposed ? new DisposedError('PythonPool') : err;
    }
    if (this.isDisposed) throw new DisposedError('PythonPool');
    this.poolInfo = { size: this.size, python, isolation: toIsolationInfo(readies[0].isolation) };
    this.log?.(describePool(this.poolInfo));
    return this.poolInfo;
  }

  private spawn(slot: Slot): Promise<ReadyMessage> {
    const spec: WorkerSpec = {
      ...this.spec!,
      config: {
        uid: slot.uid,
        process_limit: this.opts.processLimit,
        disk_bytes: this.opts.diskLimitBytes,
        isolation: this.isolation,
        prewarm: this.opts.prewarm,
        in_process: this.opts.inProcessArithmetic,
        parent_pid: process.pid,
      },
    };
    const worker = new PythonWorker(slot.index, spec, (w, reason) => this.onWorkerDeath(slot, w, reason));
    slot.worker = worker;
    return worker.start().then((ready) => {
      this.pump();
      return ready;
    });
  }

  private onWorkerDeath(slot: Slot, worker: PythonWorker, reason: string): void {
    if (this.isDisposed || slot.worker !== worker) return;
    slot.worker = null;
    slot.failures++;
    this.stats.workerRestarts++;
    this.log?.(`rstar exec: worker ${slot.index} ${reason}; restarting it`);
    // Immediately the first time; then back off, so a worker that dies at once does not spin.
    const delay = slot.failures <= 1 ? 0 : Math.min(5000, 100 * 2 ** (slot.failures - 2));
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (this.isDisposed) return;
      this.spawn(slot).catch((err: unknown) => {
        if (this.isDisposed) return;
        if ((err as { fatal?: boolean }).fatal || slot.failures >= 5) this.fail(err as RstarError);
        else this.onWorkerDeath(slot, slot.worker ?? worker, `failed to restart: ${(err as Error).message}`);
      });
    }, delay); // ref'd, as is the start that follows: a queued run must keep Node alive until served
  }

  /** A worker cannot be brought back: every queued run and every later one gets this error. */
  private fail(err: RstarError): void {
    this.failure = err;
    for (const q of this.queue.splice(0)) q.reject(err);
  }

  /** Hands queued runs to idle workers, those with a standby child ready first. */
  private pump(): void {
    while (this.queue.length > 0) {
      let pick: PythonWorker | null = null;
      for (const slot of this.slots) {
        const w = slot.worker;
        if (!w || !w.ready || w.busy) continue;
        if (w.standby) {
          pick = w;
          break;
        }
        pick ??= w;
      }
      if (!pick) return;
      const job = this.queue.shift()!;
      const slot = this.slots[pick.slot];
      pick.run({ code: job.code, timeoutMs: job.timeoutMs, memoryBytes: job.memoryBytes, maxOutputBytes: this.opts.maxOutputBytes }).then(
        (outcome) => {
          if (!outcome.result.error?.startsWith('WorkerError')) slot.failures = 0;
          job.resolve(outcome);
          this.pump();
        },
        (err: unknown) => {
          job.reject(err);
          this.pump();
        },
      );
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
