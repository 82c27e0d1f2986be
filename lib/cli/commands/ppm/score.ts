/**
 * `rstar ppm score --model PPM.gguf --pairs FILE --json`: the engine's value-head scores of
 * preference pairs ({prompt, chosen, rejected} JSONL, what `rstar generate` writes and
 * `rstar train ppm` reads), one output line per input pair, in order.
 *
 * Scores are the raw head outputs (what the trainer's Bradley–Terry loss compares); `*_value` is
 * the same under the transform the search applies: the PPM file's, unless --config sets
 * search.ppmTransform (lib/policy/engine.ts).
 */
import { existsSync } from 'node:fs';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { readJsonl } from '../../../data/jsonl.js';
import { DataError, invalidArgument } from '../../../errors.js';
import { EnginePpm, applyValueTransform } from '../../../policy/engine.js';
import { configFromArgs, engineOptions, type EngineArgs } from '../../config-flags.js';
import { printJsonLine, Progress } from '../../output.js';

interface PpmScoreArgs extends EngineArgs {
  model: string;
  pairs: string;
  json: boolean;
  batch: number;
  config?: string;
}

interface PairRecord {
  prompt: string;
  chosen: string;
  rejected: string;
}

export interface PairScore {
  chosen_score: number;
  rejected_score: number;
  chosen_value: number;
  rejected_value: number;
  correct: boolean;
}

export async function runPpmScore(args: PpmScoreArgs, write: (s: PairScore) => void = printJsonLine): Promise<{ pairs: number; accuracy: number; transform: string }> {
  if (!existsSync(args.pairs)) throw invalidArgument('an existing JSONL file', '--pairs', args.pairs);
  if (!existsSync(args.model)) throw invalidArgument('an existing GGUF file', '--model', args.model);
  const config = await configFromArgs({ ...args, ctxSize: args.ctxSize ?? 8192 });
  // The transform the search would apply to this PPM (the file's, unless the config overrides it).
  const ppm = await EnginePpm.open(args.model, config.engine, { contextSize: config.engine.contextSize, transform: config.search.ppmTransform });
  const progress = new Progress('ppm score');
  try {
    let batch: PairRecord[] = [];
    let n = 0;
    let right = 0;
    const flush = async (): Promise<void> => {
      const texts: string[] = [];
      for (const p of batch) texts.push(p.prompt + p.chosen, p.prompt + p.rejected);
      const scores = await ppm.rawScores(texts);
      for (let i = 0; i < batch.length; i++) {
        const c = scores[2 * i];
        const r = scores[2 * i + 1];
        if (c > r) right++;
        write({ chosen_score: c, rejected_score: r, chosen_value: applyValueTransform(c, ppm.transform), rejected_value: applyValueTransform(r, ppm.transform), correct: c > r });
      }
      n += batch.length;
      progress.update(`${n} pairs, pairwise accuracy ${(right / n).toFixed(3)}`);
      batch = [];
    };
    let line = 0;
    for await (const rec of readJsonl<Partial<PairRecord>>(args.pairs)) {
      line++;
      if (typeof rec !== 'object' || rec === null || typeof rec.prompt !== 'string' || typeof rec.chosen !== 'string' || typeof rec.rejected !== 'string') {
        throw new DataError(`${args.pairs}: record ${line} needs string fields prompt, chosen and rejected`);
      }
      batch.push(rec as PairRecord);
      if (batch.length >= args.batch) await flush();
    }
    if (batch.length > 0) await flush();
    progress.done(`${n} pairs, pairwise accuracy ${n ? (right / n).toFixed(4) : 'n/a'} (transform ${ppm.transform})`);
    return { pairs: n, accuracy: n ? right / n : 0, transform: ppm.transform };
  } finally {
    await ppm.dispose();
  }
}

export const ppmScoreCommand: CommandModule<object, PpmScoreArgs> = {
  command: 'score',
  describe: 'score {prompt, chosen, rejected} pairs with the engine; one JSON line per pair, in order',
  builder: (y) =>
    engineOptions(
      y
        .option('model', { type: 'string', demandOption: true, describe: 'PPM GGUF (from `rstar train ppm`)' })
        .option('pairs', { type: 'string', demandOption: true, describe: 'JSONL of {prompt, chosen, rejected}' })
        .option('json', { type: 'boolean', default: true, describe: 'one JSON object per pair on stdout (the only output format)' })
        .option('batch', { type: 'number', default: 32, describe: 'pairs scored per engine batch' })
        .option('config', { type: 'string', describe: 'JSON file overriding any configuration key (search.ppmTransform overrides the file\'s transform)' }),
    )
      .option('ctx', { type: 'number', hidden: true, describe: 'alias of --ctx-size' })
      .middleware((a) => {
        if (a.ctx !== undefined && a.ctxSize === undefined) a.ctxSize = a.ctx as number;
      }) as never,
  handler: async (args: ArgumentsCamelCase<PpmScoreArgs>) => {
    await runPpmScore(args);
  },
};
