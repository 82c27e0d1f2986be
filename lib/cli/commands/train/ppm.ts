/** `rstar train ppm`: the process preference model (policy backbone + scalar value head, Bradley-Terry loss). */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { runTrainCommand, trainOptions, type TrainArgs, type TrainCommandResult } from './run.js';

export function runTrainPpm(args: TrainArgs): Promise<TrainCommandResult> {
  return runTrainCommand('ppm', args);
}

export const trainPpmCommand: CommandModule<object, TrainArgs> = {
  command: 'ppm',
  describe: 'train a PPM on {prompt, chosen, rejected} JSONL from a policy GGUF; reports held-out pairwise accuracy',
  builder: (y) =>
    trainOptions(y, 'ppm')
      .example('$0 train ppm --model slm-r2.gguf --data round2/pairs.jsonl --out ppm-r2.gguf', 'the round-2 PPM, initialised from the round-2 policy')
      .example('$0 train ppm --model tiny-sft.gguf --data pairs.jsonl --out tiny-ppm.gguf --epochs 4 --lr 1e-3 --batch 16 --ctx 512 --json', 'a tiny PPM') as never,
  handler: async (args: ArgumentsCamelCase<TrainArgs>) => {
    await runTrainPpm(args);
  },
};
