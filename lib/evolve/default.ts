/**
 * The embedded default of `rstar evolve` / `npm run evolve`: everything the loop needs, made on the
 * spot, because no weights or datasets can be downloaded.
 *
 * - the problems: the synthetic curriculum (lib/synth, `rstar data synth`), train and held-out sets
 *   that share no (template, numbers) instance;
 * - the base model: a fresh random-weight model of the shape below, small enough to train on 2 cores,
 *   with a byte-level BPE vocabulary learned from the training problems (lib/synth/tokenizer.ts): every
 *   integer 0..999 and the curriculum's words are single tokens, the step markers too. With one token
 *   per byte the model never learned to copy a question's numbers into its code in this budget (README,
 *   Limits); with whole-number tokens it does;
 * - the bootstrap policy: the curriculum-aware program of lib/synth/bootstrap.ts, standing in for the
 *   paper's 236B round-1 model: it writes our step format for problems it understands, makes realistic
 *   mistakes and rarely solves the hardest level; it is used in round 1 only;
 * - the settings (`embeddedDefaultOverrides`): the paper's loop, scaled down to finish four rounds in
 *   about 45 minutes on a 2-core machine (measured: README, Limits).
 *
 * Everything is deterministic from the seeds below, so a rerun prepares byte-identical inputs (the
 * loop's resume check compares them by content).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConfigOverrides } from '../config/index.js';
import { makeModel } from '../engine/model-files.js';
import { loadProblems } from '../data/problems.js';
import { createBootstrapPolicy } from '../synth/bootstrap.js';
import { writeCurriculum } from '../synth/curriculum.js';
import { curriculumCorpus, trainMerges } from '../synth/tokenizer.js';
import type { BootstrapPolicy } from './run.js';

/** Sizes and seeds of the embedded default (documented in the README with its measured results). */
export const EMBEDDED_DEFAULT = {
  curriculum: { train: 1200, test: 100, seed: 1 },
  /**
   * The base model: qwen2 layout; the shape and initialisation of the addition recipe that learns to
   * read the question (lib/train/synthetic.ts); `wordMerges` BPE merges learned from the training
   * problems on top of the byte vocabulary and the 2,100 merges that make 0..999 single tokens.
   */
  model: { layers: 2, embd: 64, heads: 4, kvHeads: 2, ff: 192, initStd: 0.08, seed: 11, wordMerges: 800 },
} as const;

/** The loop's settings for the embedded default, over the spec's defaults. */
export function embeddedDefaultOverrides(): ConfigOverrides {
  return {
    search: { candidates: 4, maxStepTokens: 160, stepTimeoutMs: 5_000 },
    train: {
      // 1,000 steps at lr 1e-2 every round, whatever the round's data size: the tiny model starts copying
      // numbers only after several hundred steps (measured: 600 steps → 30 % held-out greedy, 300 → 2 %;
      // README), and an epoch count would give a round with less data fewer steps, hence a policy below
      // that threshold, less data again in the next round (measured: 14 % → 3 %).
      sft: { steps: 1_000, epochs: 1, lr: 1e-2, batch: 16, ctx: 1024, warmupRatio: 0.05, weightDecay: 0, evalFraction: 0.05 },
      // The PPM schedule the addition recipe needed (README, Training): lr 1e-3, the head at the same rate.
      ppm: { epochs: 3, lr: 1e-3, headLrMult: 1, batch: 16, ctx: 1024, warmupRatio: 0.05, evalFraction: 0.1 },
    },
    evolve: {
      rounds: [{ rollouts: 8 }, { rollouts: 8 }, { rollouts: 8 }, { rollouts: 8, unsolvedRolloutsUpTo: 16, unsolvedRolloutsPerPass: 8 }],
      eval: { majorityN: 8, mctsCandidates: 4, mctsRollouts: 8, baseGreedy: true },
    },
  };
}

/** The name that selects the bootstrap program on the command line (`--bootstrap-policy synth`). */
export const BUILTIN_BOOTSTRAP = 'synth';

/** The bootstrap program for problems of the synthetic curriculum (any base model, any such problem file). */
export function builtinBootstrap(): BootstrapPolicy {
  return { kind: 'program', name: 'synthetic-curriculum bootstrap (lib/synth/bootstrap.ts)', create: () => createBootstrapPolicy() };
}

export interface PreparedDefault {
  base: string;
  bootstrap: BootstrapPolicy;
  problems: string;
  evalProblems: string;
}

/**
 * Writes the curriculum and the base model into `outDir` (once: a rerun finds them) and returns the
 * loop's inputs.
 */
export async function prepareEmbeddedDefault(outDir: string, log: (line: string) => void = () => undefined): Promise<PreparedDefault> {
  const dataDir = join(outDir, 'curriculum');
  const train = join(dataDir, 'train.jsonl');
  const test = join(dataDir, 'test.jsonl');
  if (!existsSync(train) || !existsSync(test)) {
    log(`writing the synthetic curriculum (${EMBEDDED_DEFAULT.curriculum.train} training and ${EMBEDDED_DEFAULT.curriculum.test} held-out problems)`);
    await writeCurriculum(dataDir, EMBEDDED_DEFAULT.curriculum);
  }
  const base = join(outDir, 'base.gguf');
  if (!existsSync(base)) {
    const m = EMBEDDED_DEFAULT.model;
    const problems = await loadProblems(train);
    const merges = trainMerges(
      curriculumCorpus(problems.map((p) => ({ question: p.question, program: typeof p.meta.program === 'string' ? p.meta.program : undefined }))),
      { wordMerges: m.wordMerges },
    );
    log(`making the base model (${m.layers} layers × ${m.embd}, random weights, ${merges.length}-merge BPE vocabulary learned from the training problems)`);
    await mkdir(outDir, { recursive: true });
    await makeModel({
      preset: 'tiny',
      vocab: 'bytes',
      merges,
      type: 'f32',
      seed: m.seed,
      initStd: m.initStd,
      overrides: { layers: m.layers, embd: m.embd, heads: m.heads, kvHeads: m.kvHeads, ff: m.ff },
      out: base,
    });
  }
  return {
    base,
    bootstrap: builtinBootstrap(),
    problems: train,
    evalProblems: test,
  };
}
