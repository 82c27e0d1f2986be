/**
 * The flags of a command that can send its searches to queue workers (`--queue URL` and its retry
 * settings), and the one way they become a runner factory: the URL is checked once (a clear error
 * when Redis is unreachable or refuses the password), then each stage gets a `QueueRunner` for its
 * models.
 */
import type { Argv } from 'yargs';
import { checkRedis, describeAddress, evictionWarning, parseQueueUrl } from '../queue/connection.js';
import { QueueRunner, type QueueModels, type QueueStatus } from '../queue/coordinator.js';

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

/**
 * Checks `--queue` and returns a factory of runners for a stage's models, or null without `--queue`.
 * `onStatus` receives the queue's status every few seconds while a stage waits for its workers.
 */
export async function queueRunnerFactory(
  args: QueueArgs,
  log: (line: string) => void,
  onStatus?: (s: QueueStatus) => void,
): Promise<{ where: string; runner: (models: QueueModels) => QueueRunner } | null> {
  if (args.queue === undefined) return null;
  const address = parseQueueUrl(args.queue);
  const where = describeAddress(address);
  const warning = evictionWarning(await checkRedis(address), where);
  if (warning) log(warning);
  return {
    where,
    runner: (models) => new QueueRunner({ address, models, attempts: args.queueAttempts, backoffMs: args.queueBackoffMs, onStatus }),
  };
}
