/**
 * `rstar train`: the built-in trainer (native/train) for the policy (sft) and the process preference
 * model (ppm), or an external trainer configured under train.external (lib/train/external.ts).
 */
import type { CommandModule } from 'yargs';
import { trainPpmCommand } from './train/ppm.js';
import { trainSftCommand } from './train/sft.js';

export const trainCommand: CommandModule = {
  command: 'train <command>',
  describe: 'train the policy (sft) or the process preference model (ppm); resumable, with a held-out split',
  builder: (y) => y.command(trainSftCommand).command(trainPpmCommand).demandCommand(1, 'Name what to train: sft or ppm.'),
  handler: () => undefined,
};
