/** The top-level commands of `rstar`, in the order `--help` lists them. Groups own their subcommands. */
import type { CommandModule } from 'yargs';
import { benchCommand } from './commands/bench.js';
import { dataCommand } from './commands/data.js';
import { execCommand } from './commands/exec.js';
import { generateCommand } from './commands/generate.js';
import { gradeCommand } from './commands/grade.js';
import { modelCommand } from './commands/model.js';
import { ppmCommand } from './commands/ppm.js';
import { solveCommand } from './commands/solve.js';
import { trainCommand } from './commands/train.js';
import { evolveCommand } from './commands/evolve.js';
import { evalCommand } from './commands/eval.js';
import { reportCommand } from './commands/report.js';
import { queueCommand } from './commands/queue.js';
import { workerCommand } from './commands/worker.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [evolveCommand, generateCommand, workerCommand, queueCommand, solveCommand, evalCommand, trainCommand, modelCommand, ppmCommand, gradeCommand, execCommand, benchCommand, dataCommand, reportCommand];
