/**
 * `rstar generate --policy FILE --problems FILE|NAME --out DIR [...]`: the generate stage
 * (lib/generate/run.ts) on the engine. Re-running the same command resumes: finished problems are
 * skipped, none is written twice. The first Ctrl-C stops starting new problems and lets the ones in
 * flight finish; a second one quits. With `--queue URL` the searches run on `rstar worker` processes
 * (lib/queue) and this process only journals their results; no model is loaded here.
 */
import { existsSync } from 'node:fs';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { defaultSearchConfig, type RstarConfig } from '../../config/index.js';
import { resolveProblemFile } from '../../data/problems.js';
import { invalidArgument } from '../../errors.js';
import { runGenerate, type GenerateSummary } from '../../generate/run.js';
import { openSearchDeps, type SearchSession } from '../../policy/deps.js';
import type { QueueStatus } from '../../queue/coordinator.js';
import { configFromArgs, engineOptions, searchOptions, type ConfigArgs } from '../config-flags.js';
import { formatDuration, printJsonLine, Progress } from '../output.js';
import { describeQueueStatus, queueOptions, queueRunnerFactory, type QueueArgs } from '../queue-flags.js';

export interface GenerateArgs extends ConfigArgs, QueueArgs {
  policy: string;
  problems: string;
  out: string;
  ppm?: string;
  concurrency: number;
  limit?: number;
  json: boolean;
  quiet: boolean;
}

/** The configuration of a generate run: defaults, then --config FILE, then the flags. */
export function generateConfig(args: ConfigArgs): Promise<RstarConfig> {
  return configFromArgs(args);
}

function describeSummary(s: GenerateSummary): string {
  const t = s.trees;
  return [
    `${s.complete ? 'done' : s.interrupted ? 'interrupted' : 'incomplete'}: ${s.problems.done}/${s.problems.total} problems (${s.problems.thisRun} this run) in ${formatDuration(s.elapsedMs / 1000)}`,
    ...(s.problems.failed > 0 ? [`failed        ${s.problems.failed} problems this run (failures.jsonl; rerun the command to retry them)`] : []),
    `solved        ${t.solved}/${t.trees} trees (easy ${t.difficulty.easy}, medium ${t.difficulty.medium}, hard ${t.difficulty.hard})`,
    `training data ${s.sft} SFT rows, ${s.pairs.step} step pairs, ${s.pairs.final} final-step pairs`,
    `search        ${t.search.nodes} nodes, ${t.search.generatedTokens} generated tokens, ${t.search.execRuns} code runs (${t.search.execFailures} failed)`,
    ...(Object.keys(s.workers).length > 0 ? [`workers       ${Object.entries(s.workers).map(([w, n]) => `${w} ${n}`).join(', ')} (problems this run)`] : []),
    `output        ${s.outDir}`,
  ].join('\n');
}

/** The handler of `rstar generate`, callable from scripts and tests. */
export async function runGenerateCommand(args: GenerateArgs): Promise<GenerateSummary> {
  const problems = resolveProblemFile(args.problems);
  if (!existsSync(args.policy)) throw invalidArgument('an existing GGUF file', '--policy', args.policy);
  if (args.ppm !== undefined && !existsSync(args.ppm)) throw invalidArgument('an existing GGUF file', '--ppm', args.ppm);
  const config = await generateConfig(args);
  const progress = new Progress('generate', args.quiet);
  let counts = '';
  let queueStatus = '';
  const show = (): void => progress.update([counts, queueStatus].filter((x) => x !== '').join(' | '));
  const queue = await queueRunnerFactory(args, {
    warn: (line) => progress.warn(line),
    log: (line) => progress.done(line),
    onStatus: (s: QueueStatus) => {
      queueStatus = `queue: ${describeQueueStatus(s)}`;
      show();
    },
  });
  const session: SearchSession | null = queue ? null : await openSearchDeps({ policyPath: args.policy, ppmPath: args.ppm, config, concurrency: args.concurrency, log: args.quiet ? null : undefined });
  const engine = session ? session.engine!.models : null;
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    progress.done('stopping: finishing the problems in flight (Ctrl-C again to quit; rerun the command to resume)');
  };
  process.on('SIGINT', onSigint);
  try {
    const summary = await runGenerate(
      {
        problems,
        outDir: args.out,
        config,
        concurrency: args.concurrency,
        limit: args.limit,
        signal: controller.signal,
        models: { policy: args.policy, ppm: args.ppm ?? null },
        runInfo: queue ? { queue: queue.where } : { engine },
        onProgress: (p) => {
          const eta = p.etaMs === null ? '' : `, ETA ${formatDuration(p.etaMs / 1000)}`;
          const failed = p.failedThisRun > 0 ? `, ${p.failedThisRun} failed` : '';
          counts = `${p.done}/${p.total} problems, ${p.solvedThisRun}/${p.thisRun} solved this run${failed}${eta}`;
          show();
        },
      },
      queue ? queue.runner({ policy: args.policy, ppm: args.ppm ?? null }) : session!.deps,
    );
    progress.done(`${summary.problems.done}/${summary.problems.total} problems`);
    if (args.json) printJsonLine({ ...summary, engine, ...(queue ? { queue: queue.where } : {}) });
    else process.stdout.write(`${describeSummary(summary)}\n`);
    return summary;
  } finally {
    process.off('SIGINT', onSigint);
    await session?.dispose();
  }
}

export const generateCommand: CommandModule<object, GenerateArgs> = {
  command: 'generate',
  describe: 'run MCTS over a problem set and write trees, SFT data and PPM pairs (resumable)',
  builder: (y) =>
    engineOptions(
      searchOptions(
        queueOptions(y, 'the searches')
          .option('policy', { type: 'string', demandOption: true, describe: 'policy model (GGUF)' })
          .option('problems', { type: 'string', demandOption: true, describe: 'problems: gsm8k, math500, aime24, amc23, or a JSONL/JSON file of {question, answer} records' })
          .option('out', { type: 'string', demandOption: true, describe: 'output directory (trees.jsonl, sft.jsonl, pairs.jsonl, summary.json, config.json); reused to resume' })
          .option('ppm', { type: 'string', describe: 'process preference model (GGUF with a value head): PPM-augmented Q initialisation' })
          .option('concurrency', { type: 'number', default: 16, describe: 'problems searched at once (keeps decode batches full); with --queue each worker has its own' })
          .option('limit', { type: 'number', describe: 'use only the first N problems' }),
        defaultSearchConfig,
      ),
    )
      .option('config', { type: 'string', describe: 'JSON file overriding any configuration key (flags win)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the summary as one JSON object' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress on stderr' })
      .example('$0 generate --policy slm-r1.gguf --problems train.jsonl --out rounds/002 --rollouts 16', 'round 2: terminal-guided MCTS with the round-1 policy')
      .example('$0 generate --policy slm-r2.gguf --ppm ppm-r2.gguf --problems train.jsonl --out rounds/003 --gpu-layers -1', 'round 3: PPM-augmented MCTS, every layer on the GPU')
      .example('$0 generate --policy slm-r1.gguf --problems train.jsonl --out rounds/002 --queue redis://10.0.0.5:6379/0', 'the same searches on `rstar worker` processes of several machines') as never,
  handler: async (args: ArgumentsCamelCase<GenerateArgs>) => {
    await runGenerateCommand(args);
  },
};
