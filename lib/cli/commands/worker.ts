/**
 * `rstar worker --queue URL [--concurrency N] [--models-dir DIR] [engine flags]`: searches problems
 * for coordinators on other machines (`rstar generate --queue`, `rstar eval --queue`, `rstar evolve
 * --queue`), on this machine's engine (lib/queue/worker.ts). Runs until Ctrl-C or SIGTERM: the first
 * lets the jobs in flight finish and deliver, a second quits at once (those jobs are retried elsewhere
 * after the stall time).
 */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { parseQueueUrl } from '../../queue/connection.js';
import { runQueueWorker, type QueueWorkerSummary } from '../../queue/worker.js';
import { invalidArgument } from '../../errors.js';
import { configFromArgs, engineOptions, type EngineArgs } from '../config-flags.js';
import { printJsonLine } from '../output.js';

export interface WorkerArgs extends EngineArgs {
  queue: string;
  concurrency: number;
  modelsDir?: string[];
  stallMs?: number;
  name?: string;
  config?: string;
  json: boolean;
  quiet: boolean;
}

/** The handler of `rstar worker`, callable from scripts and tests. */
export async function runWorkerCommand(args: WorkerArgs): Promise<QueueWorkerSummary> {
  const address = parseQueueUrl(args.queue);
  if (args.name !== undefined && !/^[\w.@-]+(:[\w.@-]+)*$/.test(args.name)) throw invalidArgument('letters, digits and ._@-: only', '--name', args.name);
  const config = await configFromArgs(args);
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const summary = await runQueueWorker({
      address,
      config,
      concurrency: args.concurrency,
      modelsDirs: args.modelsDir,
      stallMs: args.stallMs,
      name: args.name,
      log: args.quiet ? null : undefined,
      signal: controller.signal,
    });
    if (args.json) printJsonLine(summary);
    else process.stdout.write(`worker ${summary.name}: stopped; ${summary.done} problems delivered, ${summary.failedStarts} failed starts${summary.skipped > 0 ? `, ${summary.skipped} jobs of closed runs skipped` : ''}\n`);
    return summary;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export const workerCommand: CommandModule<object, WorkerArgs> = {
  command: 'worker',
  describe: 'search problems for `generate --queue` / `eval --queue` / `evolve --queue` coordinators on any machine (BullMQ on Redis)',
  builder: (y) =>
    engineOptions(
      y
        .option('queue', { type: 'string', demandOption: true, describe: 'Redis URL redis://[:PASSWORD@]HOST:PORT[/DB] (password also from RSTAR_REDIS_PASSWORD)' })
        .option('concurrency', { type: 'number', default: 16, describe: 'problems searched at once on this machine (keeps decode batches full; an eval problem runs all its samples or searches at once)' })
        .option('models-dir', { type: 'string', array: true, describe: 'directory holding model files the jobs name by SHA-256 (searched 4 levels deep), besides the coordinator\'s own paths' })
        .option('stall-ms', { type: 'number', describe: 'lock time of a running job: a job whose worker dies is retried elsewhere 1-1.5× this later (default 30000)' })
        .option('name', { type: 'string', describe: 'the name in logs and results (default HOST:PID)' }),
    )
      .option('config', { type: 'string', describe: 'JSON file overriding configuration keys; only its engine section matters here (search settings come with each job)' })
      .option('json', { type: 'boolean', default: false, describe: 'when stopped, print what it did as one JSON object' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no line per job on stderr' })
      .example('$0 worker --queue redis://10.0.0.5:6379/0 --gpu-layers -1 --concurrency 32', 'a GPU machine taking jobs')
      .example('$0 worker --queue redis://:s3cret@10.0.0.5:6379/0 --models-dir /mnt/models', 'models copied to (or shared at) another path') as never,
  handler: async (args: ArgumentsCamelCase<WorkerArgs>) => {
    await runWorkerCommand(args);
  },
};
