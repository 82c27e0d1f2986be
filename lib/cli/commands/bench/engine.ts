/** `rstar bench engine`: MCTS expansion throughput, ours against llama-batched-bench and the naive path. */
import { availableParallelism } from 'node:os';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { assertInteger } from '../../../errors.js';
import { benchEngine, type EngineBenchOptions, type EngineBenchResult } from '../../../bench/engine.js';
import { printJsonLine } from '../../output.js';

interface BenchEngineArgs extends Omit<EngineBenchOptions, 'onProgress'> {
  json: boolean;
}

export async function runBenchEngine(args: BenchEngineArgs): Promise<EngineBenchResult> {
  assertInteger(args.prefix, '--prefix', 2, 100000);
  assertInteger(args.children, '--children', 1, 128);
  assertInteger(args.tokens, '--tokens', 2, 100000);
  assertInteger(args.threads, '--threads', 1, 1024);
  assertInteger(args.repeat, '--repeat', 1, 100);
  const r = await benchEngine({ ...args, onProgress: (l) => process.stderr.write(`bench engine: ${l}\n`) });
  const lines = [
    `workload: prefix ${r.prefix} tokens, ${r.children} children x ${r.tokens} tokens = ${r.tree_tokens} tree tokens, ${r.threads} threads`,
    `ours (shared prefix, real sampling)   ${r.ours_tps.toFixed(1)} t/s   prefix tokens decoded: ${r.prefix_tokens_decoded}`,
    `llama-batched-bench -pps -kvu         ${r.llama_batched_bench_tps.toFixed(1)} t/s`,
    `naive (each child decodes the prefix) ${r.naive_tps.toFixed(1)} t/s   prefix tokens decoded: ${r.naive_prefix_tokens_decoded}`,
    `ratio ours / llama-batched-bench      ${r.ratio.toFixed(3)}`,
    `ratio ours / naive                    ${r.naive_ratio.toFixed(3)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.json) printJsonLine(r);
  return r;
}

export const benchEngineCommand: CommandModule<object, BenchEngineArgs> = {
  command: 'engine',
  describe: 'expansion workload (P-token prefix, K children x T tokens): ours vs llama-batched-bench vs naive',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'GGUF model (e.g. from `rstar model make --preset qwen2.5-0.5b --type q8_0`)' })
      .option('threads', { type: 'number', default: availableParallelism(), describe: 'CPU threads for every path' })
      .option('prefix', { type: 'number', default: 256, describe: 'P: prefix tokens' })
      .option('children', { type: 'number', default: 16, describe: 'K: children forked from the prefix' })
      .option('tokens', { type: 'number', default: 64, describe: 'T: tokens generated per child' })
      .option('repeat', { type: 'number', default: 2, describe: 'rounds (ours, llama-batched-bench, naive in turn); the best run of each is reported' })
      .option('json', { type: 'boolean', default: false, describe: 'last stdout line: one JSON object (ours_tps, llama_batched_bench_tps, ratio, naive_tps, prefix_tokens_decoded, ...)' })
      .example('$0 bench engine --model q05.gguf --threads 2 --json', ''),
  handler: async (args: ArgumentsCamelCase<BenchEngineArgs>) => {
    await runBenchEngine(args);
  },
};
