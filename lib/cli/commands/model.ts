/** `rstar model`: make, quantize and inspect GGUF model files. */
import type { CommandModule } from 'yargs';
import { infoCommand } from './model/info.js';
import { addTokensCommand } from './model/add-tokens.js';
import { makeCommand } from './model/make.js';
import { quantizeCommand } from './model/quantize.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const subcommands: CommandModule<any, any>[] = [makeCommand, quantizeCommand, addTokensCommand, infoCommand];

export const modelCommand: CommandModule = {
  command: 'model <command>',
  describe: 'make random-weight test models, quantize, inspect GGUF files',
  builder: (y) => {
    for (const c of subcommands) y.command(c);
    return y.demandCommand(1, 'Name a model subcommand.');
  },
  handler: () => undefined,
};
