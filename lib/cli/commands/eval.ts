/**
 * `rstar eval --policy FILE [--policy FILE ...] [--ppm FILE] --dataset NAME|FILE --method M [...]`:
 * benchmark accuracy (lib/eval/run.ts) of one or more policies with greedy decoding, majority vote,
 * best-of-N by the PPM or test-time MCTS; a table on stdout, several policies side by side. Re-running
 * the same command resumes. The first Ctrl-C stops starting new problems and lets the ones in flight
 * finish; a second one quits. With `--queue URL` the candidates are made by `rstar worker` processes
 * (lib/queue), which get each problem without its answer; this process loads no model, and grades.
 */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { testTimeSearchOverrides, type ConfigOverrides, type RstarConfig } from '../../config/index.js';
import { EVAL_METHODS, EVAL_PROMPTS, type EvalMethod, type EvalPrompt } from '../../eval/metrics.js';
import { runEval, type RunEvalResult } from '../../eval/run.js';
import { configFromArgs, engineOptions, searchOptions, type ConfigArgs } from '../config-flags.js';
import { formatDuration, printJsonLine, Progress } from '../output.js';
import { describeQueueStatus, queueOptions, queueRunnerFactory, type QueueArgs } from '../queue-flags.js';

export interface EvalArgs extends ConfigArgs, QueueArgs {
  policy: string[];
  ppm?: string;
  dataset: string;
  method: EvalMethod[];
  n: number;
  runs: number;
  topK: number;
  prompt: EvalPrompt;
  limit?: number;
  out?: string;
  concurrency: number;
  temperature?: number;
  maxTokens?: number;
  seed?: number;
  json: boolean;
  quiet: boolean;
}

/**
 * The configuration of an evaluation: the test-time search settings (spec §8.2: 32 candidates, 12
 * rollouts, test mode), then --config FILE, then the flags.
 */
export function evalConfig(args: EvalArgs): Promise<RstarConfig> {
  const search: Record<string, number> = {};
  if (args.temperature !== undefined) search.temperature = args.temperature;
  if (args.maxTokens !== undefined) search.maxStepTokens = args.maxTokens;
  if (args.seed !== undefined) search.seed = args.seed;
  return configFromArgs(args, { search: testTimeSearchOverrides }, { search } as ConfigOverrides);
}

const pct = (x: number | undefined): string => (x === undefined ? '' : `${(x * 100).toFixed(1)}%`);

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd());
}

/** One table per method, policies side by side: accuracy, every selection rule, tokens, speed, memory. */
export function describeEval(r: RunEvalResult): string {
  const lines = [`dataset ${r.dataset} (${r.problems} problems, ${r.datasetFile})`];
  const methods = [...new Set(r.results.map((e) => e.method))];
  for (const method of methods) {
    const entries = r.results.filter((e) => e.method === method);
    const first = entries[0].metrics.entry;
    const rules = Object.keys(first.selections).filter((k) => k !== first.selection);
    lines.push('', `${method}${method === 'greedy' ? '' : method === 'mcts' ? ` (${first.n} searches, top-${first.top_k} majority)` : ` (n ${first.n}, ${first.selection})`}${first.prompt === 'cot' ? ', chain-of-thought prompt' : ''}`);
    const rows = [['policy', 'accuracy', ...rules, 'empty', 'tokens/problem', 'tokens/s', 'peak RSS', 'time']];
    for (const e of entries) {
      const m = e.metrics.entry;
      rows.push([
        e.policy,
        `${pct(m.acc)} (${m.correct}/${m.num_samples})`,
        ...rules.map((k) => pct(m.selections[k])),
        String(m.empty_samples),
        m.tokens_per_problem.toFixed(0),
        m.tokens_per_s.toFixed(1),
        `${m.peak_rss_mb.toFixed(0)} MiB`,
        formatDuration(m.time_s),
      ]);
    }
    lines.push(...table(rows).map((l) => `  ${l}`));
    const levels = Object.keys(first.by_level);
    if (levels.length > 1) {
      const byLevel = [['accuracy by level', ...levels]];
      for (const e of entries) byLevel.push([e.policy, ...levels.map((l) => pct(e.metrics.entry.by_level[l]?.acc))]);
      lines.push('', ...table(byLevel).map((l) => `  ${l}`));
    }
  }
  lines.push('', `${r.complete ? 'done' : 'stopped (rerun the same command to resume)'}; results.jsonl, metrics.json and config.json in ${r.outDir}`);
  return lines.join('\n');
}

/** The `--json` object: exactly the contract's keys, one entry per policy and method. */
export function evalJson(r: RunEvalResult): { results: Array<Record<string, unknown>> } {
  return {
    results: r.results.map((e) => ({
      policy: e.policy,
      method: e.method,
      dataset: r.dataset,
      n: e.metrics.n,
      problems: e.metrics.problems,
      accuracy: e.metrics.accuracy,
      tokens_per_problem: e.metrics.tokensPerProblem,
      wall_s: e.metrics.wallMs / 1000,
    })),
  };
}

/** The handler of `rstar eval`, callable from scripts and tests. */
export async function runEvalCommand(args: EvalArgs): Promise<RunEvalResult> {
  const config = await evalConfig(args);
  const progress = new Progress('eval', args.quiet);
  let counts = '';
  let queueStatus = '';
  const queue = await queueRunnerFactory(args, {
    warn: (line) => progress.warn(line),
    log: (line) => progress.done(line),
    onStatus: (s) => {
      queueStatus = ` | queue: ${describeQueueStatus(s)}`;
      if (counts !== '') progress.update(`${counts}${queueStatus}`);
    },
  });
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    progress.done('stopping: finishing the problems in flight (Ctrl-C again to quit; rerun the command to resume)');
  };
  process.on('SIGINT', onSigint);
  try {
    let last = '';
    const result = await runEval({
      policies: args.policy,
      ppm: args.ppm,
      dataset: args.dataset,
      methods: args.method,
      n: args.n,
      runs: args.runs,
      topK: args.topK,
      prompt: args.prompt,
      limit: args.limit,
      outDir: args.out ?? `rstar-eval/${args.dataset.replace(/[^A-Za-z0-9_.-]+/g, '_')}`,
      config,
      concurrency: args.concurrency,
      ...(queue ? { runner: queue.runner } : {}),
      signal: controller.signal,
      log: args.quiet ? null : undefined,
      onProgress: (p) => {
        const key = `${p.policy}\u0000${p.method}`;
        const rate = p.elapsedMs > 0 ? `, ${((p.tokensThisRun / p.elapsedMs) * 1000).toFixed(0)} tok/s` : '';
        const eta = p.thisRun > 0 ? `, ETA ${formatDuration(((p.elapsedMs / p.thisRun) * (p.total - p.done)) / 1000)}` : '';
        const who = p.policies > 1 ? `policy ${p.policyIndex}/${p.policies} ${p.policy}, ` : '';
        counts = `${who}${p.method}: ${p.done}/${p.total} problems, ${p.correct} right${rate}${eta}`;
        progress.update(`${counts}${queueStatus}`, key !== last);
        last = key;
      },
    });
    progress.done(result.complete ? 'done' : 'stopped');
    process.stdout.write(`${describeEval(result)}\n`);
    if (args.json) printJsonLine(evalJson(result));
    if (!result.complete) process.exitCode = 130;
    return result;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'benchmark accuracy of one or more policies: greedy, majority vote, best-of-N by the PPM, test-time MCTS (resumable)',
  builder: (y) =>
    engineOptions(
      searchOptions(
        queueOptions(y, 'the candidates (samples and searches; the answers stay here)')
          .option('policy', { type: 'string', array: true, demandOption: true, describe: 'policy model (GGUF); repeat to compare several (one model as f16, q8_0, q4_k_m…) on the same problems' })
          .option('ppm', { type: 'string', describe: 'process preference model (GGUF with a value head): needed by best-of-n, used by mcts' })
          .option('dataset', { type: 'string', demandOption: true, describe: 'gsm8k, math500, aime24, amc23, or a JSONL/JSON file of {question, answer} records' })
          .option('method', { type: 'string', array: true, demandOption: true, choices: EVAL_METHODS as EvalMethod[], describe: 'greedy (pass@1), majority (maj@N), best-of-n (PPM), mcts (test-time search); repeat for several' })
          .option('n', { type: 'number', default: 8, describe: 'samples per problem for majority and best-of-n (paper: 8; 16 for AIME/AMC)' })
          .option('runs', { type: 'number', default: 1, describe: 'independent searches per problem for mcts (paper: 8, 16 for AIME/AMC; 64 for rStar-Math^64)' })
          .option('top-k', { type: 'number', default: 4, describe: 'mcts: majority vote over the K best-scored searches (reference eval_maj.py)' })
          .option('prompt', { type: 'string', default: 'step', choices: EVAL_PROMPTS as EvalPrompt[], describe: 'step: our step format (models trained here); cot: free-text chain of thought for base models, final answer read from the text' })
          .option('limit', { type: 'number', describe: 'use only the first N problems' })
          .option('out', { type: 'string', describe: 'output directory (results.jsonl, metrics.json, config.json); reused to resume (default rstar-eval/<dataset>)' })
          .option('concurrency', { type: 'number', default: 8, describe: 'problems evaluated at once (their samples or searches run together); with --queue each worker has its own' })
          .option('temperature', { type: 'number', describe: 'sampling temperature of majority, best-of-n and mcts (default 1.0)' })
          .option('max-tokens', { type: 'number', describe: 'most tokens of one step, or of a whole chain of thought (default 2048)' })
          .option('seed', { type: 'number', describe: 'base sampling seed (default 0)' }),
        { rollouts: 12, candidates: 32 },
      ),
    )
      .option('config', { type: 'string', describe: 'JSON file overriding any configuration key (flags win)' })
      .option('json', { type: 'boolean', default: false, describe: 'after the table, print {"results": [...]} as one JSON object on the last line' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress on stderr' })
      .example('$0 eval --policy slm.gguf --dataset math500 --method greedy', 'pass@1 on MATH500')
      .example('$0 eval --policy slm.gguf --ppm ppm.gguf --dataset aime24 --method mcts --runs 16', 'the paper\'s protocol: 16 searches per problem, top-4 majority')
      .example('$0 eval --policy m-f16.gguf --policy m-q8_0.gguf --policy m-q4_k_m.gguf --dataset gsm8k --method majority --n 8 --limit 200', 'three quantizations side by side')
      .example('$0 eval --policy qwen2.5-math-1.5b.gguf --dataset math500 --method greedy --prompt cot', 'a base model with a plain chain-of-thought prompt')
      .example('$0 eval --policy slm.gguf --dataset math500 --method majority --queue redis://10.0.0.5:6379/0', 'the samples made by `rstar worker` processes of several machines') as never,
  handler: async (args: ArgumentsCamelCase<EvalArgs>) => {
    await runEvalCommand(args);
  },
};
