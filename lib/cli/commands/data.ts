/** `rstar data`: problem sets made here (the synthetic curriculum). */
import type { CommandModule } from 'yargs';
import { synthCommand } from './data/synth.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const subcommands: CommandModule<any, any>[] = [synthCommand];

export const dataCommand: CommandModule = {
  command: 'data <command>',
  describe: 'make problem sets (a synthetic curriculum with exact answers)',
  builder: (y) => {
    for (const c of subcommands) y.command(c);
    return y.demandCommand(1, 'Name a data subcommand.');
  },
  handler: () => undefined,
};
