/**
 * The embedded default of `rstar evolve` / `npm run evolve`: everything the loop needs, made on the
 * spot, because no weights or datasets can be downloaded.
 *
 * - the problems: the synthetic curriculum (lib/synth, `rstar data synth`), train and held-out sets
 *   that share no (template, numbers) instance;
 * - the base model: a fresh random-weight model of the shape below with the byte vocabulary (the step
 *   markers are single tokens), small enough to train on 2 cores;
 * - the bootstrap policy: the curriculum-aware program of lib/synth/bootstrap.ts, standing in for the
 *   paper's 236B round-1 model: it writes our step format for problems it understands, makes realistic
 *   mistakes and rarely solves the hardest level; it is used in round 1 only;
 * - the settings (`embeddedDefaultOverrides`): the paper's loop, scaled down to finish four rounds in
 *   about half an hour on a 2-core machine.
 *
 * Everything is deterministic from the seeds below, so a rerun prepares byte-identical inputs (the
 * loop's resume check compares them by content).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConfigOverrides } from '../config/index.js';
import { makeModel } from '../engine/model-files.js';
import { createBootstrapPolicy } from '../synth/bootstrap.js';
import { writeCurriculum } from '../synth/curriculum.js';
import type { BootstrapPolicy } from './run.js';

/** Sizes and seeds of the embedded default (documented in the README with its measured results). */
export const EMBEDDED_DEFAULT = {
  curriculum: { train: 400, test: 100, seed: 1 },
  /**
   * The base model: qwen2 layout, byte vocabulary; the shape and initialisation of the addition recipe
   * that learns to read the question (lib/train/synthetic.ts).
   */
  model: { layers: 2, embd: 64, heads: 4, kvHeads: 2, ff: 192, initStd: 0.08, seed: 11 },
} as const;

/** The loop's settings for the embedded default, over the spec's defaults. */
export function embeddedDefaultOverrides(): ConfigOverrides {
  return {
    search: { candidates: 4, maxStepTokens: 160, stepTimeoutMs: 5_000 },
    train: {
      sft: { epochs: 8, lr: 3e-3, batch: 16, ctx: 1024, warmupRatio: 0.05, weightDecay: 0, evalFraction: 0.05 },
      ppm: { epochs: 2, lr: 3e-3, headLrMult: 10, batch: 16, ctx: 1024, warmupRatio: 0.05, evalFraction: 0.1 },
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
    log(`making the base model (${m.layers} layers × ${m.embd}, random weights, byte vocabulary)`);
    await mkdir(outDir, { recursive: true });
    await makeModel({
      preset: 'tiny',
      vocab: 'bytes',
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
