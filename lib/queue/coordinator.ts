/**
 * The coordinator's side of a queue run: a `ProblemRunner` (lib/runner) whose problems are searched by
 * `rstar worker` processes (./worker.ts) on any number of machines. The stage that calls it (generate's
 * journal) stays the only writer of its files; this runner only delivers each problem's result once.
 *
 * A run, in order (names in ./protocol.ts):
 * 1. the models are identified by SHA-256 and the run's id derived from them, the journal's path, the
 *    task and its settings;
 * 2. a consumer of the run's results queue starts and delivers what is already there (results that
 *    arrived while the coordinator was down);
 * 3. one job per problem still pending is added to the search queue under an id derived from the run
 *    and the problem: a job that is still queued from before a crash is not added twice;
 * 4. jobs that a previous life of this run left failed are re-added (a resumed run retries failures,
 *    as a local one does);
 * 5. each result message is delivered to `onResult` / `onError` if its problem is still outstanding,
 *    then its search job is removed; a second message for the same problem is dropped. The run ends
 *    when every problem has been delivered;
 * 6. when it ends with every problem delivered (Ctrl-C included), what is left of the run is removed:
 *    jobs an earlier life queued for problems this one no longer has, the results queue; and the run is
 *    marked closed (./protocol.ts), so a duplicate still running on a worker ends without a result.
 *    A run whose coordinator never comes back is removed with `rstar queue drop` (./runs.ts); a
 *    coordinator whose run is dropped while it runs stops with an error.
 *
 * Crash safety: a result is removed from Redis only after `onResult` returned (the journal line is
 * written); a coordinator killed in between gets the same message again after restart (BullMQ
 * re-delivers a consumer's unfinished job once its lock expires), and the stage ignores the problem
 * because its line is already in the journal. Ctrl-C (the signal) removes this run's jobs that no
 * worker has started, waits for those in flight and returns `aborted`.
 *
 * While it waits, `onStatus` reports the queue every few seconds: connected workers, jobs waiting and
 * active. When nothing has arrived for a while, the outstanding jobs are checked one by one, so a job
 * lost to an operator's `DEL` or `FLUSHDB` is added again instead of being waited for forever.
 */
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { fileDigest } from '../data/digest.js';
import { RstarError, assertInteger, type RstarErrorCode } from '../errors.js';
import type { DriveResult } from '../mcts/driver.js';
import type { ProblemRunner, ProblemTask, ResultOrigin, RunTaskOptions, TaskProblem, TaskSettings } from '../runner/index.js';
import { describeAddress, redisOptions, type QueueAddress } from './connection.js';
import { removeRunJobs } from './runs.js';
import {
  CLOSED_TTL_S,
  PROTOCOL_VERSION,
  QUEUE_PREFIX,
  SEARCH_QUEUE,
  closedRunKey,
  fileRef,
  resultsQueueName,
  runId,
  searchJobId,
  type ModelRef,
  type ResultMessage,
  type SearchJob,
} from './protocol.js';

/** The models of a queued run: GGUF paths (sent by content hash) or a built-in program policy's name. */
export interface QueueModels {
  policy: string | { program: string };
  ppm: string | null;
}

/** The queue as the coordinator sees it, every few seconds. */
export interface QueueStatus {
  /** Names of the workers connected to the search queue. */
  workers: string[];
  /** Jobs of every run on the search queue. */
  waiting: number;
  active: number;
  /** Jobs waiting out a retry delay. */
  delayed: number;
  /** This run's problems not yet delivered. */
  outstanding: number;
}

export interface QueueRunnerOptions {
  address: QueueAddress;
  models: QueueModels;
  /** Starts of a job (a start whose worker died counts) before its problem is recorded as failed (default 3). */
  attempts?: number;
  /** Delay before the first retry of a failed job, doubled for each next one (default 10 s). */
  backoffMs?: number;
  /** Called every `statusEveryMs` while the run waits. */
  onStatus?: (status: QueueStatus) => void;
  /** Default 2 s. */
  statusEveryMs?: number;
  /** Silence after which the outstanding jobs are checked (default 60 s). */
  reconcileAfterMs?: number;
  /** A line per run once its jobs are queued: its id, and how to drop it. */
  log?: (line: string) => void;
}

/** Jobs added per round trip. */
const ADD_CHUNK = 500;
/** Job states fetched at once while checking. */
const STATE_CHUNK = 200;

/**
 * Problems searched by queue workers.
 *
 * @example
 * const runner = new QueueRunner({ address: parseQueueUrl('redis://10.0.0.5:6379/0'), models: { policy: 'slm.gguf', ppm: null } });
 * await runGenerate({ problems: 'train.jsonl', outDir: 'rounds/002', config, concurrency: 1, models: { policy: 'slm.gguf' } }, runner);
 */
export class QueueRunner implements ProblemRunner {
  readonly description: string;
  private readonly attempts: number;
  private readonly backoffMs: number;

  constructor(private readonly options: QueueRunnerOptions) {
    this.attempts = assertInteger(options.attempts ?? 3, 'attempts', 1, 1000);
    this.backoffMs = assertInteger(options.backoffMs ?? 10_000, 'backoffMs', 0);
    this.description = `queue ${describeAddress(options.address)}`;
  }

  private async modelRef(model: string | { program: string }): Promise<ModelRef> {
    return typeof model === 'string' ? fileRef(await fileDigest(model)) : { kind: 'program', name: model.program };
  }

  async runTask<S extends TaskSettings, R, P extends TaskProblem>(task: ProblemTask<S, R>, settings: S, problems: readonly P[], options: RunTaskOptions<P, R>): Promise<DriveResult> {
    const maxConsecutive = assertInteger(options.maxConsecutiveFailures ?? 8, 'maxConsecutiveFailures', 1);
    const models: SearchJob['models'] = {
      policy: await this.modelRef(this.options.models.policy),
      ppm: this.options.models.ppm === null ? null : await this.modelRef(this.options.models.ppm),
    };
    const key = resolve(options.key);
    const run = runId({ key, task: task.name, settings, models });
    const reply = resultsQueueName(run);
    const connection = redisOptions(this.options.address);
    const search = new Queue(SEARCH_QUEUE, { connection, prefix: QUEUE_PREFIX });
    const results = new Queue(reply, { connection, prefix: QUEUE_PREFIX });
    const client = new Redis({ ...connection, maxRetriesPerRequest: 2 });
    search.on('error', () => undefined); // connection errors: ioredis reconnects; calls that fail are reported where awaited
    results.on('error', () => undefined);
    client.on('error', () => undefined);
    // This run is live again (a finished or dropped run restarted with the same command). The jobs a
    // closed run left (BullMQ's records of jobs that ended without a result) would stand in for the new
    // ones under the same ids: removed first.
    if ((await client.del(closedRunKey(run))) === 1) await removeRunJobs(search, client, run);

    const outstanding = new Map<string, P>();
    for (const p of problems) outstanding.set(p.id, p);
    const out: DriveResult = { completed: 0, failed: 0, aborted: false };
    let consecutiveFailures = 0;
    let fatal: { error: unknown } | null = null;
    let lastMessageAt = Date.now();
    let wake: () => void = () => undefined;
    const settled = new Promise<void>((ok) => (wake = ok));
    const check = (): void => {
      if (outstanding.size === 0 || fatal !== null) wake();
    };
    const origin = { host: hostname(), key };
    const jobOf = (problem: P): { name: string; data: SearchJob; opts: Record<string, unknown> } => ({
      name: task.name,
      data: { v: PROTOCOL_VERSION, run, task: task.name, settings, models, problem: { id: problem.id, question: problem.question, ...(problem.answer !== undefined ? { answer: problem.answer } : {}), ...(problem.source !== undefined ? { source: problem.source } : {}) }, reply, maxStarts: this.attempts, origin },
      opts: {
        jobId: searchJobId(run, problem.id),
        // BullMQ's own retry budget is larger than ours: the worker records the failure itself once the
        // job has started `attempts` times (./worker.ts), which also counts starts whose worker died.
        attempts: this.attempts + 2,
        backoff: { type: 'exponential', delay: this.backoffMs },
        // Removed by the coordinator once its result is journaled; a restarted coordinator that re-adds
        // a completed job whose result it has not read yet adds nothing. BullMQ drops leftovers after an hour.
        removeOnComplete: { age: 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    });
    const addJobs = async (list: readonly P[]): Promise<void> => {
      for (let i = 0; i < list.length; i += ADD_CHUNK) await search.addBulk(list.slice(i, i + ADD_CHUNK).map(jobOf));
    };
    // Delivered jobs still active (their worker completes them just after posting the result): removed
    // on a later tick.
    const lingering = new Set<string>();
    const removeJob = async (problemId: string): Promise<void> => {
      const jobId = searchJobId(run, problemId);
      if ((await search.remove(jobId).catch(() => 0)) !== 1) lingering.add(jobId);
    };
    const removeLingering = async (): Promise<void> => {
      for (const jobId of [...lingering]) {
        if ((await search.remove(jobId).catch(() => 0)) === 1 || (await search.getJobState(jobId)) === 'unknown') lingering.delete(jobId);
      }
    };
    const states = async (ids: readonly string[]): Promise<Map<string, string>> => {
      const byId = new Map<string, string>();
      for (let i = 0; i < ids.length; i += STATE_CHUNK) {
        const chunk = ids.slice(i, i + STATE_CHUNK);
        const got = await Promise.all(chunk.map((id) => search.getJobState(searchJobId(run, id))));
        chunk.forEach((id, k) => byId.set(id, got[k]));
      }
      return byId;
    };

    const deliver = async (message: ResultMessage): Promise<void> => {
      lastMessageAt = Date.now();
      if (message.v !== PROTOCOL_VERSION || message.run !== run) return;
      const problem = outstanding.get(message.problemId);
      if (problem === undefined) {
        await removeJob(message.problemId); // a second result for a delivered problem: dropped
        return;
      }
      if (!message.ok) {
        // Stale if the job was added again since (a restart retries failed problems): that retry decides.
        const job = await search.getJob(searchJobId(run, message.problemId));
        if (job && job.timestamp !== message.jobTimestamp) return;
      }
      outstanding.delete(message.problemId);
      const origin: ResultOrigin = { worker: message.worker };
      let failure: unknown = null;
      try {
        if (message.ok) {
          try {
            await options.onResult(message.result as R, problem, origin);
          } catch (error) {
            failure = error;
          }
        } else {
          failure = new RstarError(message.code as RstarErrorCode, `on worker ${message.worker}, after ${message.starts} start${message.starts === 1 ? '' : 's'}: ${message.error}`);
        }
        if (failure === null) {
          out.completed += 1;
          consecutiveFailures = 0;
        } else {
          out.failed += 1;
          consecutiveFailures += 1;
          await options.onError(failure, problem, origin);
          if (consecutiveFailures >= maxConsecutive) fatal ??= { error: failure };
        }
      } catch (reportError) {
        fatal ??= { error: reportError };
      }
      await removeJob(message.problemId);
      check();
    };

    // 2. Results first, so nothing is missed. Short locks: a coordinator killed mid-delivery gets the
    // message back a few seconds after it restarts.
    const consumer = new Worker(reply, async (job: Job<ResultMessage>) => deliver(job.data), {
      connection,
      prefix: QUEUE_PREFIX,
      concurrency: 1,
      lockDuration: 6_000,
      stalledInterval: 3_000,
      maxStalledCount: 1_000_000,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 1000 },
      autorun: false,
    });
    consumer.on('error', () => undefined);
    const consuming = consumer.run();

    const status = async (): Promise<QueueStatus> => {
      const [clients, counts] = await Promise.all([search.getWorkers(), search.getJobCounts('waiting', 'active', 'delayed', 'prioritized')]);
      const names = new Set(clients.map((c) => String((c as Record<string, unknown>).rawname ?? '').replace(/^.*?:w:/, '')).filter((n) => n !== ''));
      return { workers: [...names].sort(), waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0), active: counts.active ?? 0, delayed: counts.delayed ?? 0, outstanding: outstanding.size };
    };

    /** Re-adds what is missing or failed (not since a failure message came in) and what completed without a result. */
    const reconcile = async (): Promise<void> => {
      const ids = [...outstanding.keys()];
      const byId = await states(ids);
      const resultsWaiting = await results.getJobCounts('waiting', 'active');
      const noResultsQueued = (resultsWaiting.waiting ?? 0) + (resultsWaiting.active ?? 0) === 0;
      const again: P[] = [];
      for (const id of ids) {
        const state = byId.get(id);
        const lost = state === 'unknown' || state === 'failed' || (state === 'completed' && noResultsQueued);
        if (!lost || !outstanding.has(id)) continue;
        if (state !== 'unknown') await search.remove(searchJobId(run, id)).catch(() => undefined);
        again.push(outstanding.get(id)!);
      }
      if (again.length > 0) await addJobs(again);
    };

    const stopUnstarted = async (): Promise<void> => {
      const ids = [...outstanding.keys()];
      const byId = await states(ids);
      for (const id of ids) {
        const state = byId.get(id);
        if (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'unknown' || state === 'failed') {
          const removed = state === 'unknown' ? 1 : await search.remove(searchJobId(run, id)).catch(() => 0);
          if (removed === 1 && outstanding.delete(id)) out.aborted = true;
        }
      }
      check();
    };

    let timer: NodeJS.Timeout | null = null;
    let ticking = false;
    try {
      // 2. What arrived while no coordinator was listening is delivered before anything is added.
      while ((await results.getWaitingCount()) > 0 && fatal === null) await new Promise((ok) => setTimeout(ok, 100));
      // 3-4. Add what is pending; fix what a previous life of this run left failed.
      await addJobs([...outstanding.values()]);
      const failedBefore = [...(await states([...outstanding.keys()])).entries()].filter(([, s]) => s === 'failed').map(([id]) => id);
      for (const id of failedBefore) await search.remove(searchJobId(run, id)).catch(() => undefined);
      if (failedBefore.length > 0) await addJobs(failedBefore.map((id) => outstanding.get(id)!));
      if (outstanding.size > 0) this.options.log?.(`queue run ${run} (${task.name}): ${outstanding.size} problems queued; if this coordinator is killed and not restarted, \`rstar queue drop --queue ${describeAddress(this.options.address)} ${run}\` removes them`);

      const onAbort = (): void =>
        void stopUnstarted().catch((error: unknown) => {
          fatal ??= { error };
          check();
        });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.signal?.aborted) onAbort();
      const every = this.options.statusEveryMs ?? 2_000;
      const reconcileAfter = this.options.reconcileAfterMs ?? 60_000;
      timer = setInterval(() => {
        if (ticking) return;
        ticking = true;
        void (async () => {
          try {
            await removeLingering();
            if ((await client.exists(closedRunKey(run))) === 1) {
              fatal ??= { error: new RstarError('INCOMPLETE', `queue run ${run} was dropped (rstar queue drop) while this coordinator ran it; run the same command again to queue what is left`) };
              check();
              return;
            }
            if (options.signal?.aborted) await stopUnstarted();
            else if (Date.now() - lastMessageAt > reconcileAfter) {
              lastMessageAt = Date.now();
              await reconcile();
            }
            if (this.options.onStatus) this.options.onStatus(await status());
          } catch {
            // Redis unreachable for now: ioredis reconnects, the next tick tries again
          } finally {
            ticking = false;
          }
        })();
      }, every);
      check();
      await settled;
      options.signal?.removeEventListener('abort', onAbort);
    } finally {
      if (timer) clearInterval(timer);
      await consumer.close();
      await consuming.catch(() => undefined);
      for (let i = 0; i < 20 && lingering.size > 0; i++) {
        await removeLingering().catch(() => undefined);
        if (lingering.size > 0) await new Promise((ok) => setTimeout(ok, 100));
      }
      if (fatal === null && outstanding.size === 0) {
        // 6. Closed before the sweep: a duplicate still running ends without posting a result.
        await client.set(closedRunKey(run), 'finished', 'EX', CLOSED_TTL_S).catch(() => undefined);
        await removeRunJobs(search, client, run).catch(() => undefined);
        await results.obliterate({ force: true }).catch(() => undefined);
      }
      await Promise.all([search.close(), results.close()]);
      client.disconnect();
    }
    if (fatal !== null) {
      await this.removeQueued(run, [...outstanding.keys()]).catch(() => undefined);
      throw (fatal as { error: unknown }).error;
    }
    return out;
  }

  /** Removes a stopped run's jobs that no worker has started. */
  private async removeQueued(run: string, problemIds: readonly string[]): Promise<void> {
    const search = new Queue(SEARCH_QUEUE, { connection: redisOptions(this.options.address), prefix: QUEUE_PREFIX });
    search.on('error', () => undefined);
    try {
      for (const id of problemIds) {
        const jobId = searchJobId(run, id);
        const state = await search.getJobState(jobId);
        if (state === 'waiting' || state === 'delayed' || state === 'prioritized') await search.remove(jobId).catch(() => undefined);
      }
    } finally {
      await search.close();
    }
  }
}
