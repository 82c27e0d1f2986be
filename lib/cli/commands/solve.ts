/**
 * `rstar solve "question" --policy FILE [--ppm FILE]`: one test-time MCTS (32 candidates per step and
 * 12 rollouts by default, as the reference's test config), then the chosen solution, its answer and
 * the search statistics. With a PPM the answer is the best-scored one; without, the majority answer.
 */
import { existsSync } from 'node:fs';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { testTimeSearchOverrides, type RstarConfig } from '../../config/index.js';
import { invalidArgument } from '../../errors.js';
import { solveQuestion, type SolveResult } from '../../mcts/solve.js';
import { openSearchDeps } from '../../policy/deps.js';
import type { LoadedModelReport } from '../../policy/engine.js';
import { configFromArgs, engineOptions, searchOptions, type ConfigArgs } from '../config-flags.js';
import { formatDuration, printJsonLine } from '../output.js';

export interface SolveArgs extends ConfigArgs {
  question: string;
  policy: string;
  ppm?: string;
  json: boolean;
}

/** The configuration of a solve: the test-time search settings, then --config FILE, then flags. */
export function solveConfig(args: ConfigArgs): Promise<RstarConfig> {
  return configFromArgs(args, { search: testTimeSearchOverrides });
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

/** What `rstar solve` returns: the search's result and the models as loaded. */
export interface SolveCommandResult extends SolveResult {
  engine: { policy: LoadedModelReport; ppm: LoadedModelReport | null };
}

/** The handler of `rstar solve`, callable from scripts and tests. */
export async function runSolveCommand(args: SolveArgs): Promise<SolveCommandResult> {
  if (typeof args.question !== 'string' || args.question.trim() === '') throw invalidArgument('a non-empty question', 'the question', args.question);
  if (!existsSync(args.policy)) throw invalidArgument('an existing GGUF file', '--policy', args.policy);
  if (args.ppm !== undefined && !existsSync(args.ppm)) throw invalidArgument('an existing GGUF file', '--ppm', args.ppm);
  const config = await solveConfig(args);
  const session = await openSearchDeps({ policyPath: args.policy, ppmPath: args.ppm, config, concurrency: 1, log: null });
  try {
    const result: SolveCommandResult = { ...(await solveQuestion(args.question, config, session.deps)), engine: session.engine!.models };
    if (args.json) printJsonLine(result);
    else process.stdout.write(`${describeSolve(result)}\n`);
    return result;
  } finally {
    await session.dispose();
  }
}

export const solveCommand: CommandModule<object, SolveArgs> = {
  command: 'solve <question>',
  describe: 'solve one question with test-time MCTS and print the solution, its answer and search statistics',
  builder: (y) =>
    engineOptions(
      searchOptions(
        y
          .positional('question', { type: 'string', demandOption: true, describe: 'the problem text' })
          .option('policy', { type: 'string', demandOption: true, describe: 'policy model (GGUF)' })
          .option('ppm', { type: 'string', describe: 'process preference model (GGUF with a value head): scores steps and answers' }),
        { rollouts: 12, candidates: 32 },
      ),
    )
      .option('config', { type: 'string', describe: 'JSON file overriding any configuration key (flags win)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as one JSON object' })
      .example('$0 solve "What is the sum of the first 100 positive integers?" --policy slm.gguf --ppm ppm.gguf', '') as never,
  handler: async (args: ArgumentsCamelCase<SolveArgs>) => {
    await runSolveCommand(args);
  },
};
