/** `rstar model quantize IN OUT --type q8_0|q4_k_m`, through llama.cpp's quantizer. */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { inspectModel, quantizeModel } from '../../../engine/model-files.js';

interface QuantizeArgs {
  in: string;
  out: string;
  type: 'q8_0' | 'q4_k_m';
  threads?: number;
}

export async function runQuantize(args: QuantizeArgs): Promise<void> {
  await quantizeModel(args.in, args.out, args.type, args.threads);
  const info = await inspectModel(args.out);
  const mix = Object.entries(info.tensorTypes).map(([t, n]) => `${n} ${t}`).join(', ');
  process.stdout.write(`${args.out}: ${(info.fileBytes / 1048576).toFixed(1)} MiB, tensors ${mix}\n`);
}

export const quantizeCommand: CommandModule<object, QuantizeArgs> = {
  command: 'quantize <in> <out>',
  describe: 'quantize a GGUF (rows whose size is not a multiple of the block size fall back to another type, as in llama.cpp)',
  builder: (y) =>
    y
      .positional('in', { type: 'string', demandOption: true, describe: 'input GGUF (f32/f16)' })
      .positional('out', { type: 'string', demandOption: true, describe: 'output GGUF' })
      .option('type', { choices: ['q8_0', 'q4_k_m'] as const, demandOption: true, describe: 'target type' })
      .option('threads', { type: 'number', describe: 'quantization threads (default: all cores)' }),
  handler: async (args: ArgumentsCamelCase<QuantizeArgs>) => {
    await runQuantize(args);
  },
};
