/**
 * `rstar queue drop --queue URL RUN [RUN ...] [--json]`: abandons runs whose coordinator is gone
 * (lib/queue/runs.ts): their jobs that no worker holds are removed, their unread results deleted, and
 * the jobs running now end without a result. RUN is an id as `rstar queue list` and the coordinator's
 * log print it, or its first characters when they name one listed run. Starting the run's command
 * again reopens it. With --json the last stdout line is {"dropped": [{run, removed, running, results}]}.
 */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { invalidArgument } from '../../../errors.js';
import { checkRedis, describeAddress, evictionWarning, parseQueueUrl } from '../../../queue/connection.js';
import { dropRun, listRuns, type DropResult } from '../../../queue/runs.js';
import { printJsonLine } from '../../output.js';

export interface QueueDropArgs {
  queue: string;
  run: string[];
  json: boolean;
}

/** The handler of `rstar queue drop`, callable from scripts and tests. */
export async function runQueueDrop(args: QueueDropArgs): Promise<DropResult[]> {
  const address = parseQueueUrl(args.queue);
  const where = describeAddress(address);
  for (const r of args.run) if (!/^[0-9a-f]{6,20}$/.test(String(r))) throw invalidArgument('a run id (20 hex digits, or its first 6 or more)', 'RUN', r);
  const warning = evictionWarning(await checkRedis(address), where);
  if (warning) process.stderr.write(`${warning}\n`);
  const listed = (await listRuns(address)).map((r) => r.run);
  const runs = args.run.map((prefix) => {
    const matches = listed.filter((id) => id.startsWith(prefix));
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) throw invalidArgument(`a run id prefix naming one run (${matches.join(', ')} start with it)`, 'RUN', prefix);
    if (prefix.length === 20) return prefix; // nothing left of it: dropping still closes it
    throw invalidArgument(`a run on ${where} (see rstar queue list)`, 'RUN', prefix);
  });
  const dropped: DropResult[] = [];
  for (const run of [...new Set(runs)]) {
    const d = await dropRun(address, run);
    dropped.push(d);
    const running = d.running > 0 ? `; ${d.running} running on workers end without a result` : '';
    process.stdout.write(`dropped run ${run}: ${d.removed} jobs removed, ${d.results} unread results deleted${running}\n`);
  }
  if (args.json) printJsonLine({ dropped });
  return dropped;
}

export const dropCommand: CommandModule<object, QueueDropArgs> = {
  command: 'drop <run..>',
  describe: 'remove the jobs and unread results of runs whose coordinator is gone',
  builder: (y) =>
    y
      .positional('run', { type: 'string', array: true, describe: 'run id (as `rstar queue list` prints it), or its first 6+ characters' })
      .option('queue', { type: 'string', demandOption: true, describe: 'Redis URL redis://[:PASSWORD@]HOST:PORT[/DB] (password also from RSTAR_REDIS_PASSWORD)' })
      .option('json', { type: 'boolean', default: false, describe: 'print {"dropped": [...]} as one JSON object on the last line' })
      .example('$0 queue drop --queue redis://10.0.0.5:6379/0 3f2a9c1e', 'abandon run 3f2a9c1e…: its waiting jobs and unread results go') as never,
  handler: async (args: ArgumentsCamelCase<QueueDropArgs>) => {
    await runQueueDrop(args);
  },
};
