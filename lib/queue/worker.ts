/**
 * `rstar worker`: takes search jobs from the queue (./protocol.ts), runs each on this machine's
 * engine, and posts the result to the job's run. `concurrency` jobs run at once on one set of search
 * dependencies (lib/policy/deps.ts), so their decodes share the engine's batches exactly as a local
 * `rstar generate --concurrency N` does.
 *
 * Models: a job names them by content (./models.ts); the worker opens search dependencies for the
 * job's models and the search settings that shape them (the PPM's transform, the step time limit),
 * and keeps them open for the next job. A job that needs other models waits until the jobs running on
 * the open ones finish, then the worker switches (an evolve run moving to its next round).
 *
 * Failures: a job whose task throws is retried by BullMQ after a backoff, on any worker; once it has
 * been started `maxStarts` times (the coordinator's `--queue-attempts`) it is recorded as failed: the
 * worker posts the error to the run, which journals it in failures.jsonl. Starts whose worker died
 * (killed, crashed, lost its lock) count too: such a job goes back to the queue after the stall time
 * (`stallMs`: its lock expires and another worker's stall check re-queues it), and the worker that
 * starts it too often records it as failed instead of running it, so a problem that kills its worker
 * every time cannot loop forever and is never silently dropped.
 *
 * Closed runs (./protocol.ts: finished, or dropped with `rstar queue drop`): a job of one is completed
 * without being run, and a result for one is not posted, so an abandoned run costs no search and leaves
 * no results behind.
 *
 * Nothing in a job's path blocks the event loop for long (the search awaits the engine's asynchronous
 * decodes and the Python pool; model files are hashed as streams), so BullMQ's lock renewal keeps
 * running while jobs do.
 */
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { hostname } from 'node:os';
import type { RstarConfig } from '../config/index.js';
import { RstarError, assertInteger } from '../errors.js';
import { openSearchDeps, type SearchSession } from '../policy/deps.js';
import type { TaskSettings } from '../runner/index.js';
import { programPolicy, programPolicyNames, taskByName, taskNames } from '../runner/tasks.js';
import { checkRedis, describeAddress, evictionWarning, redisOptions, type QueueAddress } from './connection.js';
import { ModelFiles } from './models.js';
import { PROTOCOL_VERSION, QUEUE_PREFIX, SEARCH_QUEUE, closedRunKey, describeModel, type ModelRef, type ResultMessage, type SearchJob } from './protocol.js';

export interface QueueWorkerOptions {
  address: QueueAddress;
  /** This machine's configuration: its `engine` section is used; search settings come with each job. */
  config: RstarConfig;
  /** Jobs run at once (they share the engine's decode batches). */
  concurrency: number;
  /** Directories searched for the model files jobs name by hash (./models.ts). */
  modelsDirs?: readonly string[];
  /**
   * Lock time of a running job (ms): a job whose worker stops renewing its lock (killed, frozen) is
   * taken for stalled and queued again between `stallMs` and 1.5 × `stallMs` later. Default 30 s.
   */
  stallMs?: number;
  /** The worker's name in logs, results and the coordinator's status; default HOST:PID. */
  name?: string;
  /** Lines about jobs and models; null for silence. */
  log?: ((line: string) => void) | null;
  /** Once aborted, no new job is taken; running ones finish and are delivered. */
  signal?: AbortSignal;
}

export interface QueueWorkerSummary {
  name: string;
  /** Jobs whose result was delivered. */
  done: number;
  /** Failed starts (retried, or recorded as failed). */
  failedStarts: number;
  /** Jobs of closed runs: not run, or run and not posted. */
  skipped: number;
}

/** One open set of search dependencies and the jobs using it. */
interface OpenSession {
  key: string;
  session: Promise<SearchSession>;
  users: number;
  /** It failed to open: dropped once its users let go, and opened again by the next job. */
  failed: boolean;
}

/** Open search dependencies, one set at a time, switched when a job needs other models. */
class Sessions {
  private current: OpenSession | null = null;
  private readonly waiting: Array<{ key: string; open: () => Promise<SearchSession>; resolve: (s: OpenSession) => void }> = [];
  private switching = false;

  acquire(key: string, open: () => Promise<SearchSession>): Promise<OpenSession> {
    return new Promise((resolve) => {
      this.waiting.push({ key, open, resolve });
      this.pump();
    });
  }

  release(s: OpenSession): void {
    s.users -= 1;
    this.pump();
  }

  private pump(): void {
    while (this.waiting.length > 0 && !this.switching) {
      const head = this.waiting[0];
      if (this.current !== null && this.current.failed && this.current.users === 0) this.current = null;
      if (this.current !== null && this.current.key === head.key && !this.current.failed) {
        this.waiting.shift();
        this.current.users += 1;
        head.resolve(this.current);
        continue;
      }
      if (this.current !== null && this.current.users > 0) return; // the running jobs finish first
      this.switching = true;
      const previous = this.current;
      this.current = null;
      void (async () => {
        if (previous) await (await previous.session.catch(() => null))?.dispose();
        const entry: OpenSession = { key: head.key, session: head.open(), users: 0, failed: false };
        entry.session.catch(() => {
          entry.failed = true;
        });
        this.current = entry;
        this.switching = false;
        this.pump();
      })();
      return;
    }
  }

  async close(): Promise<void> {
    const s = this.current;
    this.current = null;
    if (s) await (await s.session.catch(() => null))?.dispose();
  }
}

/**
 * Runs a worker until `signal` aborts; returns what it did.
 *
 * @example
 * const controller = new AbortController();
 * process.on('SIGINT', () => controller.abort());
 * await runQueueWorker({ address: parseQueueUrl('redis://10.0.0.5:6379/0'), config, concurrency: 8, signal: controller.signal });
 */
export async function runQueueWorker(options: QueueWorkerOptions): Promise<QueueWorkerSummary> {
  const concurrency = assertInteger(options.concurrency, 'concurrency', 1, 100_000);
  const stallMs = assertInteger(options.stallMs ?? 30_000, 'stallMs', 200);
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const log = options.log === null ? () => undefined : (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)));
  const say = (line: string): void => log(`worker ${name}: ${line}`);
  const where = describeAddress(options.address);
  const info = await checkRedis(options.address);
  const warning = evictionWarning(info, where);
  if (warning) log(warning);

  const connection = redisOptions(options.address);
  const files = new ModelFiles(options.modelsDirs ?? [], name);
  const sessions = new Sessions();
  const replies = new Map<string, Queue>();
  const summary: QueueWorkerSummary = { name, done: 0, failedStarts: 0, skipped: 0 };
  const client = new Redis({ ...connection, maxRetriesPerRequest: 2 });
  client.on('error', () => undefined); // connection errors are the BullMQ worker's to report
  // Redis unreachable for a moment: taken for open (the job runs; posting its result waits for Redis anyway).
  const closed = async (run: string): Promise<boolean> => (await client.exists(closedRunKey(run)).catch(() => 0)) === 1;

  /** Posts `message` to its run, unless the run is closed; false when it was not posted. */
  const reply = async (queueName: string, message: ResultMessage): Promise<boolean> => {
    if (await closed(message.run)) return false;
    let q = replies.get(queueName);
    if (!q) {
      // A run's results queue, kept for its next results; the oldest is closed beyond a few runs.
      q = new Queue(queueName, { connection, prefix: QUEUE_PREFIX });
      q.on('error', () => undefined);
      replies.set(queueName, q);
      if (replies.size > 8) {
        const [oldest, queue] = replies.entries().next().value as [string, Queue];
        replies.delete(oldest);
        void queue.close().catch(() => undefined);
      }
    }
    await q.add('result', message, { removeOnComplete: true, removeOnFail: false });
    return true;
  };

  const openFor = (data: SearchJob, settings: TaskSettings): { key: string; open: () => Promise<SearchSession> } => {
    const identity = (ref: ModelRef | null): string | null => (ref === null ? null : ref.kind === 'file' ? `sha256:${ref.sha256}` : `program:${ref.name}`);
    const key = JSON.stringify({ policy: identity(data.models.policy), ppm: identity(data.models.ppm), ppmTransform: settings.search.ppmTransform, stepTimeoutMs: settings.search.stepTimeoutMs });
    const open = async (): Promise<SearchSession> => {
      const { policy, ppm } = data.models;
      let policyPath: string | undefined;
      let program;
      if (policy.kind === 'file') policyPath = await files.find(policy, 'policy');
      else {
        program = programPolicy(policy.name);
        if (!program) throw new RstarError('INVALID_ARGUMENT', `worker ${name} has no program policy "${policy.name}" (it knows: ${programPolicyNames().join(', ') || 'none'}); run the same rstar version on every machine`);
      }
      const ppmPath = ppm === null ? undefined : ppm.kind === 'file' ? await files.find(ppm, 'PPM') : undefined;
      if (ppm !== null && ppm.kind !== 'file') throw new RstarError('INVALID_ARGUMENT', `a PPM must be a model file, not ${describeModel(ppm)}`);
      const config: RstarConfig = { ...options.config, search: settings.search, prompts: settings.prompts };
      const session = await openSearchDeps({ ...(policyPath !== undefined ? { policyPath } : { policy: program! }), ppmPath, config, concurrency, log: options.log === null ? null : say });
      say(`loaded policy ${policyPath ?? describeModel(policy)}${ppmPath ? ` and PPM ${ppmPath}` : ''}`);
      return session;
    };
    return { key, open };
  };

  const handle = async (job: Job<SearchJob>): Promise<{ delivered: boolean }> => {
    const data = job.data;
    const starts = job.attemptsStarted;
    const problemId = data?.problem?.id ?? '?';
    if (data?.v !== PROTOCOL_VERSION) throw new UnrecoverableError(`job ${job.id} has protocol version ${String(data?.v)}, this worker ${PROTOCOL_VERSION}: run the same rstar version on every machine`);
    if (await closed(data.run)) {
      summary.skipped += 1;
      say(`problem ${problemId} skipped: run ${data.run.slice(0, 8)} is closed (finished or dropped)`);
      return { delivered: false };
    }
    const fail = async (code: string, error: string, startsCounted: number): Promise<never> => {
      await reply(data.reply, { v: PROTOCOL_VERSION, run: data.run, problemId, ok: false, code, error, worker: name, starts: startsCounted, jobTimestamp: job.timestamp });
      say(`problem ${problemId} recorded as failed after ${startsCounted} start${startsCounted === 1 ? '' : 's'}: ${error}`);
      throw new UnrecoverableError(error);
    };
    if (starts > data.maxStarts) {
      const last = job.failedReason ? `; last error: ${job.failedReason}` : '';
      return fail('INCOMPLETE', `started ${starts - 1} times without finishing (its workers were killed, crashed or lost their lock)${last}`, starts - 1);
    }
    say(`problem ${problemId} started (run ${data.run.slice(0, 8)}, start ${starts}/${data.maxStarts})`);
    const t0 = Date.now();
    let result: unknown;
    try {
      const task = taskByName(data.task);
      if (!task) throw new RstarError('INVALID_ARGUMENT', `worker ${name} does not know the task "${data.task}" (it knows: ${taskNames().join(', ')}); run the same rstar version on every machine`);
      const settings = data.settings as TaskSettings;
      const { key, open } = openFor(data, settings);
      const held = await sessions.acquire(key, open);
      try {
        result = await task.run(data.problem, settings, (await held.session).deps);
      } finally {
        sessions.release(held);
      }
    } catch (err) {
      summary.failedStarts += 1;
      const message = (err as Error)?.message ?? String(err);
      const code = err instanceof RstarError ? err.code : 'ERROR';
      if (starts >= data.maxStarts) return fail(code, message, starts);
      say(`problem ${problemId} failed (start ${starts}/${data.maxStarts}, retried later): ${message}`);
      throw err;
    }
    const ms = Date.now() - t0;
    if (!(await reply(data.reply, { v: PROTOCOL_VERSION, run: data.run, problemId, ok: true, result, worker: name, ms }))) {
      summary.skipped += 1;
      say(`problem ${problemId} done in ${(ms / 1000).toFixed(1)} s, not posted: run ${data.run.slice(0, 8)} was closed meanwhile`);
      return { delivered: false };
    }
    summary.done += 1;
    say(`problem ${problemId} done in ${(ms / 1000).toFixed(1)} s (${summary.done} done)`);
    return { delivered: true };
  };

  const worker = new Worker<SearchJob>(SEARCH_QUEUE, handle, {
    connection,
    prefix: QUEUE_PREFIX,
    name,
    concurrency,
    lockDuration: stallMs,
    stalledInterval: Math.max(100, Math.round(stallMs / 2)),
    // Stalls are counted as starts by the processor (above), which records the failure itself.
    maxStalledCount: 1_000_000,
    autorun: false,
  });
  let lastError = '';
  worker.on('error', (err) => {
    if (err.message !== lastError) say(`queue error: ${err.message} (retrying)`);
    lastError = err.message;
  });
  const stopped = new Promise<void>((ok) => {
    if (options.signal?.aborted) ok();
    options.signal?.addEventListener('abort', () => ok(), { once: true });
  });
  say(`taking jobs from ${where} (queue ${QUEUE_PREFIX}:${SEARCH_QUEUE}, Redis ${info.version}), ${concurrency} at once${options.modelsDirs?.length ? `, models also from ${options.modelsDirs.join(', ')}` : ''}`);
  const running = worker.run();
  try {
    await Promise.race([stopped, running]);
    say('stopping: finishing the jobs in flight');
  } finally {
    await worker.close();
    await running.catch(() => undefined);
    await sessions.close();
    await Promise.all([...replies.values()].map((q) => q.close().catch(() => undefined)));
    client.disconnect();
  }
  return summary;
}
