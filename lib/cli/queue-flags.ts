/**
 * The flags of a command that can send its searches to queue workers (`--queue URL` and its retry
 * settings), and the one way they become a runner factory: the URL is checked once (a clear error
 * when Redis is unreachable or refuses the password), then each stage gets a `QueueRunner` for its
 * models.
 *
 * Engine flags on a coordinator: every command with `--queue` (generate, eval, evolve) sends all of its
 * model work to the workers (evolve's training does not use the engine section: `train.threads`), so a
 * coordinator loads no model and its `--gpu-layers`, `--threads`, `--ctx-size` and `--batch-size` would
 * change nothing. Rather than forward them (a worker's engine fits its own machine: its GPU, its cores),
 * they are ignored with one warning that says where they belong: on `rstar worker`.
 */
import type { Argv } from 'yargs';
import { checkRedis, describeAddress, evictionWarning, parseQueueUrl } from '../queue/connection.js';
import { QueueRunner, type QueueModels, type QueueStatus } from '../queue/coordinator.js';
import type { EngineArgs } from './config-flags.js';

export interface QueueArgs {
  queue?: string;
  queueAttempts?: number;
  queueBackoffMs?: number;
}

/** `--queue`, `--queue-attempts`, `--queue-backoff-ms`. */
export function queueOptions<T>(y: Argv<T>, what: string): Argv<T & QueueArgs> {
  return y
    .option('queue', { type: 'string', describe: `Redis URL redis://[:PASSWORD@]HOST:PORT[/DB]: ${what} run on \`rstar worker\` processes instead of here (password also from RSTAR_REDIS_PASSWORD)` })
    .option('queue-attempts', { type: 'number', describe: 'with --queue: starts of a problem (a killed worker\'s start counts) before it is recorded as failed (default 3)' })
    .option('queue-backoff-ms', { type: 'number', describe: 'with --queue: delay before a failed problem is retried, doubled each time (default 10000)' }) as Argv<T & QueueArgs>;
}

/** The queue status in words: "2 workers, 3 active, 40 waiting". */
export function describeQueueStatus(s: QueueStatus): string {
  const delayed = s.delayed > 0 ? `, ${s.delayed} waiting to retry` : '';
  return s.workers.length === 0 ? `no worker connected (start \`rstar worker --queue …\`), ${s.waiting} waiting` : `${s.workers.length} worker${s.workers.length === 1 ? '' : 's'}, ${s.active} active, ${s.waiting} waiting${delayed}`;
}

/** The engine flags given, as typed ("--threads"), in a fixed order. */
function engineFlagsGiven(args: EngineArgs): string[] {
  const flags: Array<[keyof EngineArgs, string]> = [['gpuLayers', '--gpu-layers'], ['threads', '--threads'], ['ctxSize', '--ctx-size'], ['batchSize', '--batch-size']];
  return flags.filter(([key]) => args[key] !== undefined).map(([, flag]) => flag);
}

/**
 * The warning for engine flags given to a coordinator (see the file header), or null when none was.
 *
 * @example ignoredEngineFlagsWarning({ queue: 'redis://h', threads: 4 }); // 'warning: --threads is ignored with --queue: …'
 */
export function ignoredEngineFlagsWarning(args: QueueArgs & EngineArgs): string | null {
  if (args.queue === undefined) return null;
  const given = engineFlagsGiven(args);
  if (given.length === 0) return null;
  const verb = given.length === 1 ? 'is' : 'are';
  return `warning: ${given.join(', ')} ${verb} ignored with --queue: this process loads no model; each worker runs the models on its own engine with its own flags (give them to \`rstar worker\` on each machine)`;
}

/** Where a queue command's lines go. */
export interface QueueReporting {
  /** Warnings (a server that may evict keys, ignored engine flags): never silenced. */
  warn: (line: string) => void;
  /** A line per queued run (its id, and how to drop its jobs); default: nowhere. */
  log?: (line: string) => void;
  /** The queue's status, every few seconds while a stage waits for its workers. */
  onStatus?: (s: QueueStatus) => void;
}

/**
 * Checks `--queue` and returns a factory of runners for a stage's models, or null without `--queue`.
 * Warns once about engine flags given to this coordinator (see the file header).
 *
 * @example
 * const queue = await queueRunnerFactory(args, { warn: (l) => progress.warn(l) });
 * const runner = queue?.runner({ policy: 'slm.gguf', ppm: null });
 */
export async function queueRunnerFactory(
  args: QueueArgs & EngineArgs,
  reporting: QueueReporting,
): Promise<{ where: string; runner: (models: QueueModels) => QueueRunner } | null> {
  if (args.queue === undefined) return null;
  const address = parseQueueUrl(args.queue);
  const where = describeAddress(address);
  const warning = evictionWarning(await checkRedis(address), where);
  if (warning) reporting.warn(warning);
  const ignored = ignoredEngineFlagsWarning(args);
  if (ignored) reporting.warn(ignored);
  return {
    where,
    runner: (models) => new QueueRunner({ address, models, attempts: args.queueAttempts, backoffMs: args.queueBackoffMs, onStatus: reporting.onStatus, log: reporting.log }),
  };
}
