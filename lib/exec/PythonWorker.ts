/**
 * One pool slot: a long-lived Python process (lib/exec/zygote.py) with numpy and sympy imported,
 * which runs one program at a time, each in a sandboxed child it forked in advance.
 *
 * This class owns the process and the line protocol; it never decides policy (queueing, caching,
 * restarts belong to PythonPool). Every wait has a deadline: start-up (`startTimeoutMs`) and each run
 * (its time limit plus `ANSWER_GRACE_MS`, after which the whole worker is killed and the run reported
 * as timed out). The process and its pipes are unref'd, so an idle pool never keeps Node alive; a run
 * in flight does, through its deadline timer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import { RstarError } from '../errors.js';
import type { ExecResult } from './types.js';

/** How long past a run's own time limit the worker has to answer before it is killed and replaced. */
export const ANSWER_GRACE_MS = 5_000;

/** What the zygote says once it is warm and its sandbox passed the self-test. */
export interface ReadyMessage {
  ready: true;
  pid: number;
  isolation: Record<string, unknown>;
  versions: { python: string; numpy: string; sympy: string };
}

export interface WorkerSpec {
  executable: string;
  script: string;
  env: NodeJS.ProcessEnv;
  /** Passed to the zygote as its JSON argument. */
  config: Record<string, unknown>;
  startTimeoutMs: number;
}

export interface Job {
  code: string;
  timeoutMs: number;
  memoryBytes: number;
  maxOutputBytes: number;
}

/** A finished run; `cacheable` is false when the outcome says something about the worker, not the program. */
export interface JobOutcome {
  result: ExecResult;
  cacheable: boolean;
}

interface Pending {
  id: number;
  started: number;
  resolve: (o: JobOutcome) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

/** A failure of the worker itself, reported as the run's result (never thrown: the program may be fine). */
export function workerFailure(error: string, ms: number, timedOut = false): ExecResult {
  return {
    ok: false, stdout: '', stderr: '', error, timedOut, memoryExceeded: false, outputTruncated: false,
    exitCode: null, signal: null, ms, cached: false, inProcess: false,
  };
}

export class PythonWorker {
  private child: ChildProcess | null = null;
  private lineBuffer = '';
  private stderrTail = '';
  private pending: Pending | null = null;
  private nextId = 1;
  private startWaiter: { resolve: (m: ReadyMessage) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout } | null = null;
  private exitWaiters: Array<() => void> = [];
  private killedOnPurpose = false;
  /** Set when this class killed the process because it misbehaved; the death is then reported. */
  private deathReason: string | null = null;
  /** The standby child is forked, pre-warmed and waiting, so the next run starts at once. */
  standby = false;
  ready: ReadyMessage | null = null;

  constructor(
    readonly slot: number,
    private readonly spec: WorkerSpec,
    /** Called once when the process dies after start-up without `kill()` having been called. */
    private readonly onDeath: (worker: PythonWorker, reason: string) => void,
  ) {}

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get busy(): boolean {
    return this.pending !== null;
  }

  get alive(): boolean {
    return this.child !== null;
  }

  /** Spawns the zygote and waits for its ready line (numpy, sympy imported, sandbox self-tested). */
  start(): Promise<ReadyMessage> {
    if (this.child) throw new RstarError('EXEC', 'worker already started');
    const child = spawn(this.spec.executable, [this.spec.script, JSON.stringify(this.spec.config)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: this.spec.env,
      cwd: '/',
      // Its own process group, so a kill reaches anything it left behind in rlimits mode.
      detached: true,
    });
    this.child = child;
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => this.onStdout(chunk));
    child.stderr!.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
    });
    child.stdin!.on('error', () => undefined); // EPIPE when it died; the exit handler reports it
    child.on('error', (err) => this.onExit(`could not start ${this.spec.executable}: ${err.message}`));
    child.on('exit', (code, signal) => this.onExit(`exited with ${signal ?? `status ${code}`}`));
    for (const s of [child.stdin, child.stdout, child.stderr] as unknown as Socket[]) s?.unref?.();
    child.unref();
    return new Promise<ReadyMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.startWaiter = null;
        this.kill();
        reject(new RstarError('EXEC', `The Python worker did not become ready within ${this.spec.startTimeoutMs} ms. ${this.stderrTail.slice(-1000)}`.trim()));
      }, this.spec.startTimeoutMs);
      this.startWaiter = { resolve, reject, timer };
    });
  }

  /** Runs one program. Resolves with a result whatever the program does; rejects only on `abort`. */
  run(job: Job): Promise<JobOutcome> {
    const child = this.child;
    if (!child || !this.ready) return Promise.reject(new RstarError('EXEC', 'the Python worker is not running'));
    if (this.pending) return Promise.reject(new RstarError('EXEC', 'the Python worker is busy'));
    const id = this.nextId++;
    this.standby = false;
    return new Promise<JobOutcome>((resolve, reject) => {
      const limit = job.timeoutMs + ANSWER_GRACE_MS;
      const timer = setTimeout(() => {
        const p = this.pending;
        if (!p || p.id !== id) return;
        this.pending = null;
        const ms = performance.now() - p.started;
        p.resolve({
          result: workerFailure(`TimeoutError: the program ran longer than ${job.timeoutMs} ms and its worker did not answer within ${limit} ms; the worker was replaced`, ms, true),
          cacheable: false,
        });
        this.killAndReport('did not answer in time');
      }, limit);
      this.pending = { id, started: performance.now(), resolve, reject, timer };
      const line = JSON.stringify({ id, code: job.code, timeout_ms: job.timeoutMs, memory_bytes: job.memoryBytes, max_output_bytes: job.maxOutputBytes });
      child.stdin!.write(`${line}\n`);
    });
  }

  /** Ends a pending run with `err` (used by dispose) and kills the process. */
  abort(err: unknown): void {
    const p = this.pending;
    this.pending = null;
    if (p) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.kill();
  }

  /** Kills the process group without reporting a death to the pool. */
  kill(): void {
    this.killedOnPurpose = true;
    this.ready = null; // no run may be handed to it while it dies
    this.signalGroup();
  }

  /** Resolves once the process has exited (immediately if it is not running). */
  exited(): Promise<void> {
    if (!this.child) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  private killAndReport(reason: string): void {
    this.deathReason = reason;
    this.ready = null;
    this.signalGroup();
  }

  private signalGroup(): void {
    const pid = this.child?.pid;
    if (!pid) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  private onStdout(chunk: string): void {
    this.lineBuffer += chunk;
    let nl: number;
    while ((nl = this.lineBuffer.indexOf('\n')) >= 0) {
      const line = this.lineBuffer.slice(0, nl);
      this.lineBuffer = this.lineBuffer.slice(nl + 1);
      if (line.trim()) this.onLine(line);
    }
  }

  private onLine(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.killAndReport(`wrote a line that is not JSON: ${line.slice(0, 200)}`);
      return;
    }
    if (msg.ready) {
      this.ready = msg as unknown as ReadyMessage;
      const w = this.startWaiter;
      this.startWaiter = null;
      if (w) {
        clearTimeout(w.timer);
        w.resolve(this.ready);
      }
      return;
    }
    if (typeof msg.fatal === 'string') {
      const w = this.startWaiter;
      this.startWaiter = null;
      const err = new RstarError('EXEC', `The Python worker could not start: ${msg.fatal}`);
      (err as RstarError & { fatal?: boolean }).fatal = true;
      this.kill();
      if (w) {
        clearTimeout(w.timer);
        w.reject(err);
      }
      return;
    }
    if (msg.standby) {
      // Sent after the previous result; one that crossed a job already sent is stale.
      if (!this.pending) this.standby = true;
      return;
    }
    const p = this.pending;
    if (!p || msg.id !== p.id) return; // an answer to a run already given up on
    this.pending = null;
    clearTimeout(p.timer);
    const ms = performance.now() - p.started;
    if (typeof msg.internal_error === 'string') {
      p.resolve({ result: workerFailure(`WorkerError: ${msg.internal_error}`, ms), cacheable: false });
      return; // the zygote exits after this; the exit handler restarts it
    }
    const result: ExecResult = {
      ok: msg.ok === true,
      stdout: String(msg.stdout ?? ''),
      stderr: String(msg.stderr ?? ''),
      error: typeof msg.error === 'string' ? msg.error : msg.ok === true ? null : 'Error: the program failed',
      timedOut: msg.timed_out === true,
      memoryExceeded: msg.memory_exceeded === true,
      outputTruncated: msg.output_truncated === true,
      exitCode: typeof msg.exit_code === 'number' ? msg.exit_code : null,
      signal: typeof msg.signal === 'string' ? msg.signal : null,
      ms,
      cached: false,
      inProcess: msg.in_process === true,
    };
    p.resolve({ result, cacheable: msg.internal !== true });
  }

  private onExit(reason: string): void {
    if (!this.child) return;
    this.child = null;
    this.ready = null;
    this.standby = false;
    const why = this.deathReason ?? reason;
    const detail = this.stderrTail.trim().split('\n').slice(-5).join(' | ');
    const start = this.startWaiter;
    this.startWaiter = null;
    if (start) {
      // A death during start-up is the start's failure; whoever started it decides what next.
      clearTimeout(start.timer);
      start.reject(new RstarError('EXEC', `The Python worker ${why} while starting. ${detail}`.trim()));
      for (const w of this.exitWaiters.splice(0)) w();
      return;
    }
    const p = this.pending;
    this.pending = null;
    if (p) {
      clearTimeout(p.timer);
      p.resolve({
        result: workerFailure(`WorkerError: the Python worker ${why} while running the program; it was replaced`, performance.now() - p.started),
        cacheable: false,
      });
    }
    for (const w of this.exitWaiters.splice(0)) w();
    if (!this.killedOnPurpose || this.deathReason) this.onDeath(this, `${why}${detail ? ` (${detail})` : ''}`);
  }
}
