/**
 * `rstar evolve`: self-evolution (lib/evolve/run.ts). With no model flags it runs the embedded
 * default (lib/evolve/default.ts: a synthetic curriculum, a fresh tiny base model and the bootstrap
 * program), which is what `npm run evolve` does. Re-running the same command resumes; the first
 * Ctrl-C stops at the next safe point (a rerun continues from there), a second one quits. With
 * `--queue URL` each round's search and evaluation stages run on `rstar worker` processes
 * (lib/queue); training runs here.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import type { RstarConfig } from '../../config/index.js';
import { resolveProblemFile } from '../../data/problems.js';
import { invalidArgument } from '../../errors.js';
import { BUILTIN_BOOTSTRAP, builtinBootstrap, prepareEmbeddedDefault, embeddedDefaultOverrides } from '../../evolve/default.js';
import { runEvolve, type EvolveOptions, type EvolveResult, type RoundResult } from '../../evolve/run.js';
import { configFromArgs, engineOptions, type EngineArgs } from '../config-flags.js';
import { formatDuration, printJsonLine, Progress } from '../output.js';
import { describeQueueStatus, queueOptions, queueRunnerFactory, type QueueArgs } from '../queue-flags.js';

export interface EvolveArgs extends EngineArgs, QueueArgs {
  out: string;
  base?: string;
  bootstrapPolicy?: string;
  problems?: string;
  evalProblems?: string;
  rounds?: number;
  concurrency: number;
  limit?: number;
  evalLimit?: number;
  config?: string;
  json: boolean;
  quiet: boolean;
}

const pct = (x: number | null): string => (x === null ? '   n/a' : `${(x * 100).toFixed(1).padStart(5)}%`);

/** The per-round table (the paper's Tables 2, 3 and 6 in one), then accuracy by level. */
export function describeEvolve(r: EvolveResult, majorityN: number): string {
  const lines = [
    `base model greedy pass@1 on the held-out set: ${pct(r.baseGreedyAccuracy)}`,
    '',
    `round  coverage  greedy  maj@${String(majorityN).padEnd(3)} mcts+ppm  ppm pairs  sft rows  pairs   time`,
    ...r.rounds.map(
      (x: RoundResult) =>
        `${String(x.round).padStart(5)}  ${pct(x.coverage)}  ${pct(x.greedyAccuracy)}  ${pct(x.majorityAccuracy)}   ${pct(x.mctsPpmAccuracy)}     ${pct(x.ppmPairAccuracy)}  ${String(x.sftRows).padStart(8)}  ${String(x.pairs).padStart(5)}  ${formatDuration(x.wallS).padStart(5)}`,
    ),
  ];
  const levels = [...new Set(r.rounds.flatMap((x) => Object.keys(x.eval.greedy?.byLevel ?? {})))];
  if (levels.length > 1) {
    lines.push('', `greedy pass@1 by level   ${levels.map((l) => `L${l}`.padStart(7)).join('')}`);
    if (r.baseGreedy) lines.push(`  base                   ${levels.map((l) => pct(r.baseGreedy!.byLevel[l]?.accuracy ?? null).padStart(7)).join('')}`);
    for (const x of r.rounds) lines.push(`  round ${x.round}                ${levels.map((l) => pct(x.eval.greedy?.byLevel[l]?.accuracy ?? null).padStart(7)).join('')}`);
    lines.push('', `coverage by level        ${levels.map((l) => `L${l}`.padStart(7)).join('')}`);
    for (const x of r.rounds) lines.push(`  round ${x.round}                ${levels.map((l) => pct(x.coverageByLevel[l]?.fraction ?? null).padStart(7)).join('')}`);
  }
  lines.push('', `${r.complete ? 'done' : 'stopped (rerun the command to resume)'} in ${formatDuration(r.wallS)}; output in ${r.outDir}`);
  return lines.join('\n');
}

/** The `--json` object: the contract's snake_case keys, with per-level breakdowns beside them. */
export function evolveJson(r: EvolveResult): Record<string, unknown> {
  return {
    base_greedy_accuracy: r.baseGreedyAccuracy,
    wall_s: r.wallS,
    complete: r.complete,
    out: r.outDir,
    rounds: r.rounds.map((x) => ({
      round: x.round,
      coverage: x.coverage,
      greedy_accuracy: x.greedyAccuracy,
      majority_accuracy: x.majorityAccuracy,
      mcts_ppm_accuracy: x.mctsPpmAccuracy,
      ppm_pair_accuracy: x.ppmPairAccuracy,
      sft_rows: x.sftRows,
      pairs: x.pairs,
      wall_s: x.wallS,
      coverage_by_level: Object.fromEntries(Object.entries(x.coverageByLevel).map(([l, c]) => [l, c.fraction])),
      greedy_accuracy_by_level: Object.fromEntries(Object.entries(x.eval.greedy?.byLevel ?? {}).map(([l, c]) => [l, c.accuracy])),
      majority_accuracy_by_level: Object.fromEntries(Object.entries(x.eval.majority?.byLevel ?? {}).map(([l, c]) => [l, c.accuracy])),
      mcts_ppm_accuracy_by_level: Object.fromEntries(Object.entries(x.eval.mcts?.byLevel ?? {}).map(([l, c]) => [l, c.accuracy])),
    })),
  };
}

/** The handler of `rstar evolve`, callable from scripts and tests. */
export async function runEvolveCommand(args: EvolveArgs): Promise<EvolveResult> {
  const embedded = args.base === undefined;
  if (embedded && (args.bootstrapPolicy !== undefined || args.problems !== undefined || args.evalProblems !== undefined)) {
    throw invalidArgument('--base with --bootstrap-policy, --problems and --eval-problems (or none of them: the embedded default)', 'rstar evolve', 'only some of them');
  }
  const progress = new Progress('evolve', args.quiet);
  const outDir = resolve(args.out);
  let options: Omit<EvolveOptions, 'config' | 'concurrency'>;
  let config: RstarConfig;
  if (embedded) {
    config = await configFromArgs(args, embeddedDefaultOverrides());
    const prepared = await prepareEmbeddedDefault(outDir, (line) => progress.update(line, true));
    options = { outDir, ...prepared };
  } else {
    if (!existsSync(args.base!)) throw invalidArgument('an existing GGUF file', '--base', args.base);
    if (args.bootstrapPolicy === undefined) throw invalidArgument(`a bootstrap policy GGUF (the stronger model of round 1) or "${BUILTIN_BOOTSTRAP}"`, '--bootstrap-policy', undefined);
    if (args.bootstrapPolicy !== BUILTIN_BOOTSTRAP && !existsSync(args.bootstrapPolicy)) throw invalidArgument(`an existing GGUF file or "${BUILTIN_BOOTSTRAP}"`, '--bootstrap-policy', args.bootstrapPolicy);
    if (args.problems === undefined) throw invalidArgument('a training problem file', '--problems', undefined);
    if (args.evalProblems === undefined) throw invalidArgument('a held-out problem file or benchmark name', '--eval-problems', undefined);
    config = await configFromArgs(args);
    options = {
      outDir,
      base: args.base!,
      bootstrap: args.bootstrapPolicy === BUILTIN_BOOTSTRAP ? builtinBootstrap() : { kind: 'model', path: args.bootstrapPolicy },
      problems: resolveProblemFile(args.problems, '--problems'),
      evalProblems: resolveProblemFile(args.evalProblems, '--eval-problems'),
    };
  }
  if (args.rounds !== undefined) {
    if (!Number.isInteger(args.rounds) || args.rounds < 1 || args.rounds > config.evolve.rounds.length) {
      throw invalidArgument(`an integer between 1 and ${config.evolve.rounds.length}`, '--rounds', args.rounds);
    }
  }
  let lastStage = '';
  let lastDetail = '';
  const queue = await queueRunnerFactory(args, {
    warn: (line) => progress.warn(line),
    log: (line) => progress.done(line),
    onStatus: (s) => {
      if (/:(search|eval|base)$/.test(lastStage)) progress.update(`${lastDetail} | queue: ${describeQueueStatus(s)}`);
    },
  });
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    progress.done('stopping at the next safe point (Ctrl-C again to quit; rerun the same command to resume)');
  };
  process.on('SIGINT', onSigint);
  try {
    const result = await runEvolve({
      ...options,
      config,
      concurrency: args.concurrency,
      lastRound: args.rounds,
      limit: { train: args.limit, eval: args.evalLimit },
      signal: controller.signal,
      ...(queue ? { runner: queue.runner } : {}),
      onProgress: (p) => {
        const eta = p.etaMs === null || p.etaMs === undefined ? '' : `, ETA ${formatDuration(p.etaMs / 1000)}`;
        const stage = `${p.round}:${p.stage}`;
        lastDetail = `${p.round === 0 ? 'base model' : `round ${p.round}`} ${p.stage}: ${p.detail}${eta}`;
        progress.update(lastDetail, stage !== lastStage);
        lastStage = stage;
      },
    });
    progress.done(result.complete ? 'done' : 'stopped');
    if (args.json) {
      process.stdout.write(`${describeEvolve(result, config.evolve.eval.majorityN)}\n`);
      printJsonLine(evolveJson(result));
    } else process.stdout.write(`${describeEvolve(result, config.evolve.eval.majorityN)}\n`);
    if (!result.complete) process.exitCode = 130;
    return result;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export const evolveCommand: CommandModule<object, EvolveArgs> = {
  command: 'evolve',
  describe: 'self-evolution: rounds of MCTS, policy SFT and PPM training, evaluated on held-out problems (resumable)',
  builder: (y) =>
    engineOptions(
      queueOptions(y, 'each round\'s searches and evaluations (training stays here)')
        .option('out', { type: 'string', default: 'rstar-evolve', describe: 'run directory (state.json, round-k/, base-eval/); reused to resume' })
        .option('base', { type: 'string', describe: 'base model GGUF every round fine-tunes (omit for the embedded default)' })
        .option('bootstrap-policy', { type: 'string', describe: `round-1 policy: a GGUF (a stronger model, prompted few-shot), or "${BUILTIN_BOOTSTRAP}" (the program that solves the synthetic curriculum: rstar data synth)` })
        .option('problems', { type: 'string', describe: 'training problems: a JSONL/JSON file of {question, answer[, level]} (never a benchmark you report)' })
        .option('eval-problems', { type: 'string', describe: 'held-out problems: gsm8k, math500, aime24, amc23 or a file; only evaluated, never trained on' })
        .option('rounds', { type: 'number', describe: 'run only the first N rounds of the configuration (default: all, 4)' })
        .option('concurrency', { type: 'number', default: 8, describe: 'problems searched or evaluated at once' })
        .option('limit', { type: 'number', describe: 'use only the first N training problems' })
        .option('eval-limit', { type: 'number', describe: 'use only the first N held-out problems' })
        .option('config', { type: 'string', describe: 'JSON file overriding any configuration key, e.g. {"evolve": {"rounds": [{"rollouts": 8}], "eval": {"temperature": 0.5}}} (flags win)' })
        .option('json', { type: 'boolean', default: false, describe: 'after the table, print the result as one JSON object on the last line' })
        .option('quiet', { type: 'boolean', default: false, describe: 'no progress on stderr' }),
    )
      .example('$0 evolve', 'the embedded default: a synthetic curriculum, a fresh tiny model, four rounds (npm run evolve; about 29 minutes on 2 cores)')
      .example('$0 evolve --base qwen2.5-math-1.5b-f16.gguf --bootstrap-policy qwen2.5-math-7b-q8_0.gguf --problems train.jsonl --eval-problems math500 --gpu-layers -1', 'your own models')
      .example('$0 evolve --out /shared/evolve --queue redis://10.0.0.5:6379/0', 'searches and evaluations on `rstar worker` machines that see /shared (or have --models-dir /shared/evolve)') as never,
  handler: async (args: ArgumentsCamelCase<EvolveArgs>) => {
    await runEvolveCommand(args);
  },
};
