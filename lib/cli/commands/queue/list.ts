/**
 * `rstar queue list --queue URL [--json]`: every run with jobs or unread results on the queue
 * (lib/queue/runs.ts): its id, task, jobs by state, unread results, whether it is closed, and where
 * its coordinator was (host and journal). With --json the last stdout line is {"runs": [...]}.
 */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { checkRedis, describeAddress, evictionWarning, parseQueueUrl } from '../../../queue/connection.js';
import { listRuns, type QueuedRun } from '../../../queue/runs.js';
import { printJsonLine } from '../../output.js';

export interface QueueListArgs {
  queue: string;
  json: boolean;
}

/** The runs as a table, one line each. */
export function describeRuns(runs: readonly QueuedRun[], where: string): string {
  if (runs.length === 0) return `no runs on ${where}`;
  const rows = [['run', 'task', 'waiting', 'active', 'delayed', 'failed', 'completed', 'results', 'state', 'coordinator']];
  for (const r of runs) {
    const j = r.jobs;
    rows.push([r.run, r.task ?? '-', String(j.waiting), String(j.active), String(j.delayed), String(j.failed), String(j.completed), String(r.results), r.closed ? 'closed' : 'open', r.origin ? `${r.origin.host}:${r.origin.key}` : '-']);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows.map((row) => row.map((cell, c) => (c >= 2 && c <= 7 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd()).join('\n');
}

/** The handler of `rstar queue list`, callable from scripts and tests. */
export async function runQueueList(args: QueueListArgs): Promise<QueuedRun[]> {
  const address = parseQueueUrl(args.queue);
  const where = describeAddress(address);
  const warning = evictionWarning(await checkRedis(address), where);
  if (warning) process.stderr.write(`${warning}\n`);
  const runs = await listRuns(address);
  process.stdout.write(`${describeRuns(runs, where)}\n`);
  if (args.json) printJsonLine({ runs });
  return runs;
}

export const listCommand: CommandModule<object, QueueListArgs> = {
  command: 'list',
  describe: 'the runs with jobs or unread results on the queue',
  builder: (y) =>
    y
      .option('queue', { type: 'string', demandOption: true, describe: 'Redis URL redis://[:PASSWORD@]HOST:PORT[/DB] (password also from RSTAR_REDIS_PASSWORD)' })
      .option('json', { type: 'boolean', default: false, describe: 'after the table, print {"runs": [...]} as one JSON object on the last line' })
      .example('$0 queue list --queue redis://10.0.0.5:6379/0', 'what is queued, by run') as never,
  handler: async (args: ArgumentsCamelCase<QueueListArgs>) => {
    await runQueueList(args);
  },
};
