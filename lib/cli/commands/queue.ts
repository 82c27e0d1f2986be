/** `rstar queue`: the runs a queue holds, and dropping the jobs of one whose coordinator is gone. */
import type { CommandModule } from 'yargs';
import { dropCommand } from './queue/drop.js';
import { listCommand } from './queue/list.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const subcommands: CommandModule<any, any>[] = [listCommand, dropCommand];

export const queueCommand: CommandModule = {
  command: 'queue <command>',
  describe: 'inspect the runs on a --queue Redis, and drop the jobs of an abandoned one',
  builder: (y) => {
    for (const c of subcommands) y.command(c);
    return y.demandCommand(1, 'Name a queue subcommand.');
  },
  handler: () => undefined,
};
