/**
 * `rstar solve "question" --policy FILE [--ppm FILE]`: one test-time MCTS (32 candidates per step and
 * 12 rollouts by default, as the reference's test config), then the chosen solution, its answer and
 * the search statistics. With a PPM the answer is the best-scored one; without, the majority answer.
 */
import { existsSync } from 'node:fs';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { defaultConfig, readConfigFile, resolveConfigFrom, testTimeSearchOverrides, type ConfigOverrides, type RstarConfig } from '../../config.js';
import { invalidArgument } from '../../errors.js';
import { PythonPool } from '../../exec/index.js';
import { extractBoxed, isEquivalent } from '../../grade/index.js';
import { createEnginePolicy } from '../../mcts/engine-policy.js';
import { solveQuestion, type SolveResult } from '../../mcts/solve.js';
import { formatDuration, printJsonLine } from '../output.js';

export interface SolveArgs {
  question: string;
  policy: string;
  ppm?: string;
  rollouts?: number;
  candidates?: number;
  maxDepth?: number;
  config?: string;
  json: boolean;
}

/** The configuration of a solve: the test-time search settings, then --config FILE, then flags. */
export async function solveConfig(args: Pick<SolveArgs, 'config' | 'rollouts' | 'candidates' | 'maxDepth'>): Promise<RstarConfig> {
  const base = resolveConfigFrom(defaultConfig, { search: testTimeSearchOverrides });
  const file = args.config ? await readConfigFile(args.config) : undefined;
  const search: Record<string, number> = {};
  if (args.rollouts !== undefined) search.rollouts = args.rollouts;
  if (args.candidates !== undefined) search.candidates = args.candidates;
  if (args.maxDepth !== undefined) search.maxDepth = args.maxDepth;
  return resolveConfigFrom(base, file, { search } as ConfigOverrides);
}

export function describeSolve(r: SolveResult): string {
  const s = r.stats;
  const how = r.method === 'score' ? `best PPM score ${r.score?.toFixed(3)}` : `${r.votes} of ${r.clusters.reduce((a, c) => a + c.count, 0)} answers agree`;
  return [
    r.solution || '(no rollout reached an answer)',
    '',
    `answer   ${r.answer ?? 'none'}${r.answer !== null ? ` (${how})` : ''}`,
    `answers  ${r.clusters.map((c) => `${c.answer} ×${c.count}`).join(', ') || 'none'}`,
    `search   ${s.rollouts} rollouts, ${s.nodes} nodes, ${s.expansions} expansions, ${s.generatedTokens} tokens, ${s.execRuns} code runs (${s.execFailures} failed), ${r.annotation}, ${formatDuration(s.wallMs / 1000)}`,
  ].join('\n');
}

/** The handler of `rstar solve`, callable from scripts and tests. */
export async function runSolveCommand(args: SolveArgs): Promise<SolveResult> {
  if (typeof args.question !== 'string' || args.question.trim() === '') throw invalidArgument('a non-empty question', 'the question', args.question);
  if (!existsSync(args.policy)) throw invalidArgument('an existing GGUF file', '--policy', args.policy);
  if (args.ppm !== undefined && !existsSync(args.ppm)) throw invalidArgument('an existing GGUF file', '--ppm', args.ppm);
  const config = await solveConfig(args);
  const engine = await createEnginePolicy({ policyPath: args.policy, ppmPath: args.ppm, config, concurrency: 1 });
  const pool = new PythonPool({ timeoutMs: config.search.stepTimeoutMs, log: null });
  try {
    const result = await solveQuestion(args.question, config, { policy: engine.policy, scorer: engine.scorer, executor: pool, grader: { extractBoxed, isEquivalent } });
    if (args.json) printJsonLine(result);
    else process.stdout.write(`${describeSolve(result)}\n`);
    return result;
  } finally {
    await engine.dispose();
    await pool.dispose();
  }
}

export const solveCommand: CommandModule<object, SolveArgs> = {
  command: 'solve <question>',
  describe: 'solve one question with test-time MCTS and print the solution, its answer and search statistics',
  builder: (y) =>
    y
      .positional('question', { type: 'string', demandOption: true, describe: 'the problem text' })
      .option('policy', { type: 'string', demandOption: true, describe: 'policy model (GGUF)' })
      .option('ppm', { type: 'string', describe: 'process preference model (GGUF with a value head): scores steps and answers' })
      .option('rollouts', { type: 'number', describe: 'rollouts (default 12)' })
      .option('candidates', { type: 'number', describe: 'candidate steps per expansion (default 32)' })
      .option('max-depth', { type: 'number', describe: 'most steps per trajectory (default 16)' })
      .option('config', { type: 'string', describe: 'JSON file overriding any configuration key (flags win)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as one JSON object' })
      .example('$0 solve "What is the sum of the first 100 positive integers?" --policy slm.gguf --ppm ppm.gguf', ''),
  handler: async (args: ArgumentsCamelCase<SolveArgs>) => {
    await runSolveCommand(args);
  },
};
