/** `rstar bench search`: `rstar generate` over N problems, against llama-batched-bench on the same model in the same run. */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { assertInteger, invalidArgument } from '../../../errors.js';
import { benchSearch, type SearchBenchResult } from '../../../bench/search.js';
import { printJsonLine } from '../../output.js';

interface BenchSearchArgs {
  model?: string;
  ppm?: string;
  problems: number;
  concurrency?: number;
  rollouts: number;
  candidates: number;
  maxStepTokens: number;
  threads: number;
  ctxSize?: number;
  idleCacheCells?: number;
  cacheDir?: string;
  anchor: boolean;
  json: boolean;
}

export async function runBenchSearch(args: BenchSearchArgs): Promise<SearchBenchResult> {
  const problems = assertInteger(args.problems, '--problems', 1, 100_000);
  const concurrency = assertInteger(args.concurrency ?? problems, '--concurrency', 1, 100_000);
  assertInteger(args.rollouts, '--rollouts', 1, 10_000);
  assertInteger(args.candidates, '--candidates', 1, 128);
  assertInteger(args.maxStepTokens, '--max-step-tokens', 2, 1 << 16);
  assertInteger(args.threads, '--threads', 1, 1024);
  if (args.model !== undefined && !existsSync(args.model)) throw invalidArgument('an existing GGUF file', '--model', args.model);
  if (args.ppm !== undefined && !existsSync(args.ppm)) throw invalidArgument('an existing GGUF file', '--ppm', args.ppm);
  const r = await benchSearch({
    model: args.model,
    ppm: args.ppm,
    problems,
    concurrency,
    rollouts: args.rollouts,
    candidates: args.candidates,
    maxStepTokens: args.maxStepTokens,
    threads: args.threads,
    ctxSize: args.ctxSize,
    idleCacheCells: args.idleCacheCells,
    cacheDir: args.cacheDir,
    noAnchor: !args.anchor,
    onProgress: (l) => process.stderr.write(`bench search: ${l}\n`),
  });
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const b = r.breakdown;
  const s = r.breakdown_share;
  const lines = [
    `model ${r.model}${r.model_trained_here ? ` (trained here in ${r.model_prep_s} s)` : ''}`,
    `${r.trees} problems (${r.solved} solved), ${r.concurrency} in flight, ${r.rollouts} rollouts x ${r.candidates} candidates, ${r.threads} threads, ${r.context_size} KV cells: ${r.search_s} s`,
    `problems/hour                 ${r.problems_per_hour}`,
    `search tokens/s               ${r.search_tps}`,
    `llama-batched-bench S_TG      ${r.peak_tps ?? 'not run'} t/s at batch ${r.anchor?.npl[0] ?? '-'} (the search's row-weighted mean); ${r.peak_tps_at_max_batch ?? '-'} at ${r.anchor?.npl[r.anchor.npl.length - 1] ?? '-'} (its largest)`,
    `utilisation                   ${r.utilisation ?? '-'} (at the largest batch: ${r.utilisation_at_max_batch ?? '-'})`,
    `wall time: decode ${b.decode} s (${pct(s.decode)}), sampling ${b.sampling} s (${pct(s.sampling)}), verification ${b.verification} s (${pct(s.verification)}), grading ${b.grading} s (${pct(s.grading)}), PPM ${b.ppm_scoring} s (${pct(s.ppm_scoring)}), JavaScript ${b.js} s (${pct(s.js)})`,
    `batches: ${r.batch.decode_steps} decode steps, ${r.batch.mean_rows} sampled rows per step (row-weighted ${r.batch.row_weighted_mean_rows}, most ${r.batch.max_rows}); ${r.batch.first_tokens_from_parent} first tokens from the parent's logits`,
    `verification: ${r.exec.runs} programs run, ${r.exec.cache_hits} from the cache, ${r.exec.mean_run_ms} ms per call on ${r.exec.pool_size} workers`,
    `load average ${r.load_avg_1m.before} -> ${r.load_avg_1m.after} on ${r.cores} cores`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.json) printJsonLine(r);
  return r;
}

export const benchSearchCommand: CommandModule<object, BenchSearchArgs> = {
  command: 'search',
  describe: 'rstar generate over N problems: problems/hour, tokens/s against llama-batched-bench, and where the wall time goes',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'policy GGUF (default: a tiny policy the benchmark trains once and caches; it writes the step format)' })
      .option('ppm', { type: 'string', describe: 'PPM GGUF (PPM-augmented search)' })
      .option('problems', { type: 'number', default: 50, describe: 'problems searched' })
      .option('concurrency', { type: 'number', describe: 'problems in flight (default: all of them)' })
      .option('rollouts', { type: 'number', default: 4, describe: 'rollouts per problem' })
      .option('candidates', { type: 'number', default: 8, describe: 'candidate steps per expansion' })
      .option('max-step-tokens', { type: 'number', default: 256, describe: 'most tokens per step (a random-weight model runs every step to this)' })
      .option('threads', { type: 'number', default: availableParallelism(), describe: 'CPU threads for decoding (the anchor uses the same)' })
      .option('ctx-size', { type: 'number', describe: 'KV cells of the policy context (default: the configuration\'s, 2048 per problem in flight)' })
      .option('idle-cache-cells', { type: 'number', describe: 'engine.idleCacheCells: KV cells idle prefix-cache entries may keep (default: a quarter of the context; 0 suits tiny models)' })
      .option('cache-dir', { type: 'string', describe: 'where the default model is kept (default: <tmpdir>/rstar-bench)' })
      .option('anchor', { type: 'boolean', default: true, describe: 'run llama-batched-bench at the batch sizes reached (--no-anchor skips it)' })
      .option('json', { type: 'boolean', default: false, describe: 'last stdout line: one JSON object (problems_per_hour, search_tps, peak_tps, utilisation, breakdown, ...)' })
      .example('$0 bench search --json', 'the default tiny policy, 50 problems in flight')
      .example('$0 bench search --model q05.gguf --problems 50 --max-step-tokens 32 --rollouts 1 --json', 'a random 0.5B-shape model: the engine under search load') as unknown as Argv<BenchSearchArgs>,
  handler: async (args: ArgumentsCamelCase<BenchSearchArgs>) => {
    await runBenchSearch(args);
  },
};
