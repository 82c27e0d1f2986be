/**
 * `rstar generate --policy FILE --problems FILE --out DIR [...]`: MCTS over a problem set, writing
 * trees, SFT rows, PPM pairs, the resolved config and a summary into DIR (lib/generate/run.ts).
 * Re-running the same command resumes: finished problems are skipped, none is written twice.
 * The first Ctrl-C stops starting new problems and lets the ones in flight finish; a second one quits.
 */
import { existsSync } from 'node:fs';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { readConfigFile, resolveConfig, type ConfigOverrides, type RstarConfig } from '../../config.js';
import { loadProblems } from '../../data/problems.js';
import { invalidArgument } from '../../errors.js';
import { PythonPool } from '../../exec/index.js';
import { runGenerate, type GenerateSummary } from '../../generate/run.js';
import { extractBoxed, isEquivalent } from '../../grade/index.js';
import { createEnginePolicy } from '../../mcts/engine-policy.js';
import { formatDuration, printJsonLine, Progress } from '../output.js';

export interface GenerateArgs {
  policy: string;
  problems: string;
  out: string;
  rollouts?: number;
  candidates?: number;
  maxDepth?: number;
  ppm?: string;
  concurrency: number;
  limit?: number;
  config?: string;
  json: boolean;
  quiet: boolean;
}

/** The configuration of a generate run: defaults, then --config FILE, then the search flags. */
export async function generateConfig(args: Pick<GenerateArgs, 'config' | 'rollouts' | 'candidates' | 'maxDepth'>): Promise<RstarConfig> {
  const file = args.config ? await readConfigFile(args.config) : undefined;
  const search: Record<string, number> = {};
  if (args.rollouts !== undefined) search.rollouts = args.rollouts;
  if (args.candidates !== undefined) search.candidates = args.candidates;
  if (args.maxDepth !== undefined) search.maxDepth = args.maxDepth;
  return resolveConfig(file, { search } as ConfigOverrides);
}

function describeSummary(s: GenerateSummary): string {
  const t = s.trees;
  return [
    `${s.complete ? 'done' : s.interrupted ? 'interrupted' : 'incomplete'}: ${s.problems.done}/${s.problems.total} problems (${s.problems.thisRun} this run) in ${formatDuration(s.elapsedMs / 1000)}`,
    `solved        ${t.solved}/${t.trees} trees (easy ${t.difficulty.easy}, medium ${t.difficulty.medium}, hard ${t.difficulty.hard})`,
    `training data ${s.sft} SFT rows, ${s.pairs.step} step pairs, ${s.pairs.final} final-step pairs`,
    `search        ${t.search.nodes} nodes, ${t.search.generatedTokens} generated tokens, ${t.search.execRuns} code runs (${t.search.execFailures} failed)`,
    `output        ${s.outDir}`,
  ].join('\n');
}

/** The handler of `rstar generate`, callable from scripts and tests. */
export async function runGenerateCommand(args: GenerateArgs): Promise<GenerateSummary> {
  if (!existsSync(args.problems)) throw invalidArgument('an existing problem file', '--problems', args.problems);
  if (!existsSync(args.policy)) throw invalidArgument('an existing GGUF file', '--policy', args.policy);
  if (args.ppm !== undefined && !existsSync(args.ppm)) throw invalidArgument('an existing GGUF file', '--ppm', args.ppm);
  const config = await generateConfig(args);
  const engine = await createEnginePolicy({ policyPath: args.policy, ppmPath: args.ppm, config, concurrency: args.concurrency });
  const pool = new PythonPool({ timeoutMs: config.search.stepTimeoutMs, log: args.quiet ? null : undefined });
  const progress = new Progress('generate', args.quiet);
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
        problemsPath: args.problems,
        outDir: args.out,
        config,
        concurrency: args.concurrency,
        limit: args.limit,
        signal: controller.signal,
        runInfo: { policy: args.policy, ppm: args.ppm ?? null },
        onProgress: (p) => {
          const eta = p.etaMs === null ? '' : `, ETA ${formatDuration(p.etaMs / 1000)}`;
          progress.update(`${p.done}/${p.total} problems, ${p.solvedThisRun}/${p.thisRun} solved this run${eta}`);
        },
      },
      { policy: engine.policy, scorer: engine.scorer, executor: pool, grader: { extractBoxed, isEquivalent }, loadProblems },
    );
    progress.done(`${summary.problems.done}/${summary.problems.total} problems`);
    if (args.json) printJsonLine(summary);
    else process.stdout.write(`${describeSummary(summary)}\n`);
    return summary;
  } finally {
    process.off('SIGINT', onSigint);
    await engine.dispose();
    await pool.dispose();
  }
}

export const generateCommand: CommandModule<object, GenerateArgs> = {
  command: 'generate',
  describe: 'run MCTS over a problem set and write trees, SFT data and PPM pairs (resumable)',
  builder: (y) =>
    y
      .option('policy', { type: 'string', demandOption: true, describe: 'policy model (GGUF)' })
      .option('problems', { type: 'string', demandOption: true, describe: 'problems: a file of ../shared/data or JSONL/JSON {question, answer} records' })
      .option('out', { type: 'string', demandOption: true, describe: 'output directory (trees.jsonl, sft.jsonl, pairs.jsonl, summary.json, config.json); reused to resume' })
      .option('rollouts', { type: 'number', describe: 'rollouts per problem (default 16)' })
      .option('candidates', { type: 'number', describe: 'candidate steps per expansion (default 8)' })
      .option('max-depth', { type: 'number', describe: 'most steps per trajectory (default 16)' })
      .option('ppm', { type: 'string', describe: 'process preference model (GGUF with a value head): PPM-augmented Q initialisation' })
      .option('concurrency', { type: 'number', default: 16, describe: 'problems searched at once (keeps decode batches full)' })
      .option('limit', { type: 'number', describe: 'use only the first N problems' })
      .option('config', { type: 'string', describe: 'JSON file overriding any configuration key (flags win)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the summary as one JSON object' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress on stderr' })
      .example('$0 generate --policy slm-r1.gguf --problems train.jsonl --out rounds/002 --rollouts 16', 'round 2: terminal-guided MCTS with the round-1 policy')
      .example('$0 generate --policy slm-r2.gguf --ppm ppm-r2.gguf --problems train.jsonl --out rounds/003', 'round 3: PPM-augmented MCTS'),
  handler: async (args: ArgumentsCamelCase<GenerateArgs>) => {
    await runGenerateCommand(args);
  },
};
