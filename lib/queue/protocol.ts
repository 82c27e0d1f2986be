/**
 * What travels over the queue, and the names in Redis. Two kinds of BullMQ queue, under the key
 * prefix `rstar`:
 *
 *   rstar:search           one job per problem of every queued run: `SearchJob` (the problem, the
 *                          task's name and settings, the models by SHA-256, where to reply). Workers
 *                          take jobs from here.
 *   rstar:results-<run>    one per run: `ResultMessage`s, each a problem's result (the tree record for
 *                          generate) or its final failure, posted by the worker that ran it. The run's
 *                          coordinator consumes them and journals each once.
 *
 * Job ids are derived from the run and the problem (`searchJobId`), so a coordinator that restarts
 * re-adds its pending problems without duplicating a job still in the queue, and a worker that runs a
 * job twice (its first run was taken for stalled) posts a result under the same problem id, which
 * the coordinator ignores. Results never travel in the search job's return value: BullMQ copies that
 * into its event stream, and trees can be megabytes.
 *
 * The run id is a hash of the coordinator's host, the journal's path, the task, its settings and the
 * models' hashes: the same run restarted finds its jobs, and jobs of a run whose settings changed are
 * never mistaken for this one's.
 *
 * One more key per run, `rstar:closed:<run>` (a week's TTL): set when the run's coordinator finished or
 * `rstar queue drop` dropped it (./runs.ts), deleted when a coordinator of the run starts. Workers skip
 * the jobs of a closed run and post nothing for it, so a finished or abandoned run leaves nothing that
 * grows: a duplicate still running somewhere ends without a result.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { FileDigest } from '../data/digest.js';
import type { TaskProblem } from '../runner/index.js';

/** BullMQ key prefix of every rstar queue. */
export const QUEUE_PREFIX = 'rstar';
/** The queue workers take search jobs from. */
export const SEARCH_QUEUE = 'search';
/** Version of the messages below; a worker refuses jobs of another version. */
export const PROTOCOL_VERSION = 1;

/** A model as a job names it: a file by content, or a built-in program policy by name. */
export type ModelRef = { kind: 'file'; sha256: string; bytes: number; path: string } | { kind: 'program'; name: string };

/** The data of one search job. */
export interface SearchJob {
  v: number;
  /** The run (see the file header). */
  run: string;
  /** The task's name on workers (lib/runner/tasks.ts). */
  task: string;
  /** The task's settings (search and prompt sections, plus the task's own keys). */
  settings: unknown;
  models: { policy: ModelRef; ppm: ModelRef | null };
  problem: TaskProblem;
  /** The results queue of the run. */
  reply: string;
  /** Starts after which the job is recorded as failed (a start whose worker died counts). */
  maxStarts: number;
  /** Where the run's coordinator is, for `rstar queue list`: its host and the run's key (the journal's path). */
  origin?: { host: string; key: string };
}

/** A message on a run's results queue. */
export type ResultMessage =
  | { v: number; run: string; problemId: string; ok: true; result: unknown; worker: string; ms: number }
  | { v: number; run: string; problemId: string; ok: false; code: string; error: string; worker: string; starts: number; jobTimestamp: number };

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The id of a run (see the file header). */
export function runId(parts: { key: string; task: string; settings: unknown; models: SearchJob['models'] }): string {
  const models = {
    policy: modelIdentity(parts.models.policy),
    ppm: parts.models.ppm === null ? null : modelIdentity(parts.models.ppm),
  };
  return sha256(JSON.stringify({ host: hostname(), key: parts.key, task: parts.task, settings: parts.settings, models })).slice(0, 20);
}

function modelIdentity(ref: ModelRef): string {
  return ref.kind === 'file' ? `sha256:${ref.sha256}` : `program:${ref.name}`;
}

/** The BullMQ job id of a problem of a run (never all digits, never a colon: BullMQ's rules). */
export function searchJobId(run: string, problemId: string): string {
  return `${run}-${sha256(problemId).slice(0, 24)}`;
}

/** The run of a search job id, or null for an id that is not one. */
export function runOfJobId(jobId: string): string | null {
  return /^([0-9a-f]{20})-[0-9a-f]{24}$/.exec(jobId)?.[1] ?? null;
}

/** The key that marks a run closed (see the file header). */
export function closedRunKey(run: string): string {
  return `${QUEUE_PREFIX}:closed:${run}`;
}

/** How long a closed mark is kept (seconds): longer than any job of the run can still be running. */
export const CLOSED_TTL_S = 7 * 24 * 3600;

/** The results queue of a run. */
export function resultsQueueName(run: string): string {
  return `results-${run}`;
}

/** A model file as a job names it. */
export function fileRef(digest: FileDigest): ModelRef {
  return { kind: 'file', sha256: digest.sha256, bytes: digest.bytes, path: digest.path };
}

/** A model in words for logs: "sha256 3f2a9c1e0b7d… (policy.gguf)" or "program NAME". */
export function describeModel(ref: ModelRef): string {
  return ref.kind === 'file' ? `sha256 ${ref.sha256.slice(0, 12)}… (${ref.path})` : `program "${ref.name}"`;
}
