/**
 * `rstar ppm score --model PPM.gguf --pairs FILE --json`: the engine's value-head scores of
 * preference pairs ({prompt, chosen, rejected} JSONL, what `rstar generate` writes and
 * `rstar train ppm` reads), one output line per input pair, in order.
 *
 * Scores are the raw head outputs (what the trainer's Bradley–Terry loss compares); `*_value` is
 * the same after the head's inference transform (tanh(x/5) by default, see the README).
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { readJsonl } from '../../../data/jsonl.js';
import { Model } from '../../../engine/model.js';
import { DataError, InvalidArgumentError, invalidArgument } from '../../../errors.js';
import { transformPpmScore } from '../../../mcts/search.js';
import { printJsonLine, Progress } from '../../output.js';

interface PpmScoreArgs {
  model: string;
  pairs: string;
  json: boolean;
  batch: number;
  threads: number;
  ctx: number;
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

/** The transform written into the GGUF by the trainer, in the search config's vocabulary. */
export function headTransform(model: Model): 'tanh_div5' | 'tanh' | 'raw' {
  const t = model.info.metadata['rstar.value_head.transform'] ?? 'tanh_div5';
  return t === 'tanh' || t === 'raw' ? t : 'tanh_div5';
}

export async function runPpmScore(args: PpmScoreArgs, write: (s: PairScore) => void = printJsonLine): Promise<{ pairs: number; accuracy: number }> {
  if (!existsSync(args.pairs)) throw invalidArgument('an existing JSONL file', '--pairs', args.pairs);
  const model = await Model.load(args.model);
  const progress = new Progress('ppm score');
  try {
    if (!model.info.hasValueHead) throw new InvalidArgumentError(`${args.model} has no value head: it is not a PPM (make one with \`rstar train ppm\`)`);
    const ctx = await model.createContext({ contextSize: args.ctx, threads: args.threads });
    const transform = headTransform(model);
    let batch: PairRecord[] = [];
    let n = 0;
    let right = 0;
    const flush = async (): Promise<void> => {
      const seqs: number[][] = [];
      for (const p of batch) {
        seqs.push(model.tokenize(p.prompt + p.chosen), model.tokenize(p.prompt + p.rejected));
      }
      const scores = await ctx.score(seqs);
      for (let i = 0; i < batch.length; i++) {
        const c = scores[2 * i];
        const r = scores[2 * i + 1];
        if (c > r) right++;
        write({ chosen_score: c, rejected_score: r, chosen_value: transformPpmScore(c, transform), rejected_value: transformPpmScore(r, transform), correct: c > r });
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
    progress.done(`${n} pairs, pairwise accuracy ${n ? (right / n).toFixed(4) : 'n/a'} (transform ${transform})`);
    return { pairs: n, accuracy: n ? right / n : 0 };
  } finally {
    await model.dispose();
  }
}

export const ppmScoreCommand: CommandModule<object, PpmScoreArgs> = {
  command: 'score',
  describe: 'score {prompt, chosen, rejected} pairs with the engine; one JSON line per pair, in order',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'PPM GGUF (from `rstar train ppm`)' })
      .option('pairs', { type: 'string', demandOption: true, describe: 'JSONL of {prompt, chosen, rejected}' })
      .option('json', { type: 'boolean', default: true, describe: 'one JSON object per pair on stdout (the only output format)' })
      .option('batch', { type: 'number', default: 32, describe: 'pairs scored per engine batch' })
      .option('threads', { type: 'number', default: availableParallelism(), describe: 'CPU threads' })
      .option('ctx', { type: 'number', default: 8192, describe: 'KV cells (the longest prompt + completion must fit)' }),
  handler: async (args: ArgumentsCamelCase<PpmScoreArgs>) => {
    await runPpmScore(args);
  },
};
