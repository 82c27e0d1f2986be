/** `rstar ppm`: use a process preference model. */
import type { CommandModule } from 'yargs';
import { ppmScoreCommand } from './ppm/score.js';

export const ppmCommand: CommandModule = {
  command: 'ppm <command>',
  describe: 'score steps and pairs with a PPM (a GGUF with an rStar value head)',
  builder: (y) => y.command(ppmScoreCommand).demandCommand(1, 'Name a ppm subcommand.'),
  handler: () => undefined,
};
