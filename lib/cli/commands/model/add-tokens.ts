/**
 * `rstar model add-tokens IN OUT [--tokens T ...]`: give a base model's vocabulary the step markers
 * (and prompt roles) as single special tokens before its first SFT, as the reference does. New tokens
 * reuse unused padding rows when the vocabulary has them, else get new mean-initialised rows.
 */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { addTokens, type AddTokensResult } from '../../../engine/model-files.js';
import { ALL_MARKERS } from '../../../steps/markers.js';
import { printJsonLine } from '../../output.js';

interface AddTokensArgs {
  in: string;
  out: string;
  tokens?: string[];
  json: boolean;
}

export async function runAddTokens(args: AddTokensArgs): Promise<AddTokensResult> {
  const result = await addTokens(args.in, args.out, args.tokens ?? ALL_MARKERS);
  if (args.json) printJsonLine({ out: args.out, ...result });
  else {
    process.stdout.write(
      `${args.out}: ${result.added} tokens on new rows, ${result.reused} on unused padding rows, ${result.present} already present; vocabulary ${result.nVocab}\n`,
    );
  }
  return result;
}

export const addTokensCommand: CommandModule<object, AddTokensArgs> = {
  command: 'add-tokens <in> <out>',
  describe: 'add the step markers (or --tokens) to a model vocabulary as special tokens, for SFT of a base model',
  builder: (y) =>
    y
      .positional('in', { type: 'string', demandOption: true, describe: 'input GGUF (F32/F16/BF16 or a quantized type llama.cpp can re-quantize)' })
      .positional('out', { type: 'string', demandOption: true, describe: 'output GGUF' })
      .option('tokens', { type: 'string', array: true, describe: `tokens to add (default: ${ALL_MARKERS.join(' ')})` })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as one JSON object' })
      .example('$0 model add-tokens qwen2.5-math-1.5b-f16.gguf base.gguf', 'the base model of `rstar evolve --base base.gguf`') as never,
  handler: async (args: ArgumentsCamelCase<AddTokensArgs>) => {
    await runAddTokens(args);
  },
};
