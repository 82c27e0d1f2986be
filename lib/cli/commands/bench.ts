/**
 * `rstar bench`: speed benchmarks. Each prints a ratio against an anchor measured in the same run
 * on the same machine, never a bare number (these machines are noisy).
 */
import type { CommandModule } from 'yargs';
import { benchEngineCommand } from './bench/engine.js';
import { benchExecCommand } from './bench/exec.js';
import { benchGradeCommand } from './bench/grade.js';
import { benchSearchCommand } from './bench/search.js';
import { benchTrainCommand } from './bench/train.js';

// Each benchmark is one file under ./bench; add yours to this list.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const benchSubcommands: CommandModule<any, any>[] = [benchEngineCommand, benchExecCommand, benchGradeCommand, benchSearchCommand, benchTrainCommand];

export const benchCommand: CommandModule = {
  command: 'bench <command>',
  describe: 'benchmarks, each against an anchor measured in the same run',
  builder: (y) => {
    for (const c of benchSubcommands) y.command(c);
    return y.demandCommand(1, 'Name a benchmark.');
  },
  handler: () => undefined,
};
