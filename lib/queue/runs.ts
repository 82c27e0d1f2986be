/**
 * The runs a queue holds, and cleaning up after one (`rstar queue list`, `rstar queue drop`).
 *
 * A run cleans up after itself when its coordinator finishes, Ctrl-C included (./coordinator.ts): its
 * jobs are removed, its results queue deleted and the run marked closed. What can be left is the work
 * of a coordinator that was killed and is never started again: its waiting jobs (which workers would
 * go on running), its results that nobody reads, and failed jobs kept for a week. `dropRun` removes
 * them: every job of the run that no worker holds, the results queue, and a closed mark (./protocol.ts)
 * so that the jobs running now end without a result and nothing comes back. A coordinator that is
 * still running the dropped run sees the mark and stops with an error; starting the same command again
 * reopens the run (and re-queues what its journal lacks).
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { redisOptions, type QueueAddress } from './connection.js';
import { CLOSED_TTL_S, QUEUE_PREFIX, SEARCH_QUEUE, closedRunKey, resultsQueueName, runOfJobId, type SearchJob } from './protocol.js';

/** One run as the queue holds it. */
export interface QueuedRun {
  run: string;
  /** The task's name ("generate.tree", "eval.candidates"), or null when no job of the run is left. */
  task: string | null;
  /** The coordinator's host and the run's key (its journal), when a job says. */
  origin: { host: string; key: string } | null;
  /** The run's jobs on the search queue, by state. */
  jobs: { waiting: number; active: number; delayed: number; failed: number; completed: number };
  /** Results workers posted that the coordinator has not read. */
  results: number;
  /** Marked closed: finished, or dropped. */
  closed: boolean;
}

/** What dropping a run did. */
export interface DropResult {
  run: string;
  /** Jobs removed from the search queue. */
  removed: number;
  /** Jobs held by a worker now: they end without a result (BullMQ trims their completed records once an hour old). */
  running: number;
  /** Unread results deleted. */
  results: number;
}

const STATES = { waiting: ['wait', 'prioritized', 'paused'], active: ['active'], delayed: ['delayed'], failed: ['failed'], completed: ['completed'] } as const;

/** Every key of a SCAN over `pattern`. */
async function scanKeys(client: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    out.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return out;
}

/** Ids of the search jobs of `run` (in any state). */
async function jobIdsOfRun(client: Redis, run: string): Promise<string[]> {
  const head = `${QUEUE_PREFIX}:${SEARCH_QUEUE}:`;
  return (await scanKeys(client, `${head}${run}-*`)).map((k) => k.slice(head.length)).filter((id) => runOfJobId(id) === run);
}

async function unreadResults(address: QueueAddress, run: string): Promise<number> {
  const q = new Queue(resultsQueueName(run), { connection: redisOptions(address), prefix: QUEUE_PREFIX });
  q.on('error', () => undefined);
  try {
    const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return Object.values(c).reduce((a, n) => a + n, 0);
  } finally {
    await q.close();
  }
}

/**
 * Removes every job of `run` that no worker holds, and returns how many it removed and how many are
 * held (running). The coordinator calls it when its run finishes (jobs an earlier life of the run
 * queued for problems this one no longer has), `dropRun` to abandon a run.
 */
export async function removeRunJobs(search: Queue, client: Redis, run: string): Promise<{ removed: number; running: number }> {
  let removed = 0;
  let running = 0;
  for (const id of await jobIdsOfRun(client, run)) {
    if ((await search.remove(id).catch(() => 0)) === 1) removed += 1;
    else if ((await search.getJobState(id)) === 'active') running += 1;
  }
  return { removed, running };
}

/**
 * The runs with jobs or unread results on the queue.
 *
 * @example for (const r of await listRuns(parseQueueUrl('redis://10.0.0.5:6379/0'))) console.log(r.run, r.jobs.waiting);
 */
export async function listRuns(address: QueueAddress): Promise<QueuedRun[]> {
  const connection = redisOptions(address);
  const client = new Redis({ ...connection, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  const search = new Queue(SEARCH_QUEUE, { connection, prefix: QUEUE_PREFIX });
  search.on('error', () => undefined);
  try {
    const runs = new Map<string, QueuedRun>();
    const entry = (run: string): QueuedRun => {
      let r = runs.get(run);
      if (!r) {
        r = { run, task: null, origin: null, jobs: { waiting: 0, active: 0, delayed: 0, failed: 0, completed: 0 }, results: 0, closed: false };
        runs.set(run, r);
      }
      return r;
    };
    const sample = new Map<string, string>();
    for (const [state, types] of Object.entries(STATES) as Array<[keyof QueuedRun['jobs'], readonly string[]]>) {
      const ids = await search.getRanges(types as never, 0, -1);
      for (const id of ids) {
        const run = runOfJobId(id);
        if (run === null) continue;
        entry(run).jobs[state] += 1;
        if (!sample.has(run)) sample.set(run, id);
      }
    }
    const resultsHead = `${QUEUE_PREFIX}:results-`;
    for (const key of await scanKeys(client, `${resultsHead}*`)) {
      const run = /^([0-9a-f]{20}):/.exec(key.slice(resultsHead.length))?.[1];
      if (run !== undefined) entry(run);
    }
    for (const r of runs.values()) {
      const id = sample.get(r.run);
      if (id !== undefined) {
        const data = (await search.getJob(id))?.data as SearchJob | undefined;
        r.task = data?.task ?? null;
        r.origin = data?.origin ?? null;
      }
      r.results = await unreadResults(address, r.run);
      r.closed = (await client.exists(closedRunKey(r.run))) === 1;
    }
    return [...runs.values()].filter((r) => r.results > 0 || Object.values(r.jobs).some((n) => n > 0));
  } finally {
    await search.close();
    client.disconnect();
  }
}

/**
 * Drops a run (see the file header): marks it closed, removes its jobs that no worker holds and its
 * unread results.
 *
 * @example const { removed, running } = await dropRun(parseQueueUrl('redis://10.0.0.5:6379/0'), '3f2a9c1e0b7d4a5c6e8f');
 */
export async function dropRun(address: QueueAddress, run: string): Promise<DropResult> {
  const connection = redisOptions(address);
  const client = new Redis({ ...connection, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  const search = new Queue(SEARCH_QUEUE, { connection, prefix: QUEUE_PREFIX });
  const results = new Queue(resultsQueueName(run), { connection, prefix: QUEUE_PREFIX });
  search.on('error', () => undefined);
  results.on('error', () => undefined);
  try {
    // Closed first: a worker finishing one of the run's jobs from now on posts nothing.
    await client.set(closedRunKey(run), 'dropped', 'EX', CLOSED_TTL_S);
    const { removed, running } = await removeRunJobs(search, client, run);
    const unread = await unreadResults(address, run);
    await results.obliterate({ force: true });
    return { run, removed, running, results: unread };
  } finally {
    await Promise.all([search.close(), results.close()]);
    client.disconnect();
  }
}
