/** `rstar train sft`: supervised fine-tuning of the policy on {prompt, completion} rows (loss on the completion only). */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { runTrainCommand, trainOptions, type TrainArgs, type TrainCommandResult } from './run.js';

export function runTrainSft(args: TrainArgs): Promise<TrainCommandResult> {
  return runTrainCommand('sft', args);
}

export const trainSftCommand: CommandModule<object, TrainArgs> = {
  command: 'sft',
  describe: 'fine-tune the policy on {prompt, completion} JSONL (causal-LM loss on completion tokens only)',
  builder: (y) =>
    trainOptions(y, 'sft')
      .example('$0 train sft --model base.gguf --data round2/sft.jsonl --out slm-r2.gguf', 'round 2 policy with the reference hyper-parameters')
      .example('$0 train sft --model tiny.gguf --data sft.jsonl --out tiny-sft.gguf --epochs 3 --lr 1e-3 --batch 16 --ctx 512 --json', 'a tiny model from random weights') as never,
  handler: async (args: ArgumentsCamelCase<TrainArgs>) => {
    await runTrainSft(args);
  },
};
