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
 *   under 30 minutes on a 2-core machine (measured: README, Self-evolution).
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
import { loadedProblemsCorpus, trainMerges } from '../synth/tokenizer.js';
import type { BootstrapPolicy } from './run.js';

/** Sizes and seeds of the embedded default (documented in the README with its measured results). */
export const EMBEDDED_DEFAULT = {
  curriculum: { train: 1600, test: 100, seed: 1 },
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
    // One decoding thread, 4,096 KV cells, no idle prefix cache: on 2 cores the tiny model's decode is
    // cheap and the Python verifier is not, so a second ggml thread only spins against it (measured: 200
    // problems, round-2 search, 42 s at the defaults → 31 s with 4,096 cells → 20 s with one thread as
    // well), and re-decoding an evicted prefix costs this model less than attending over idle cells.
    engine: { threads: 1, contextSize: 4096, idleCacheCells: 0 },
    search: { candidates: 4, maxStepTokens: 160, stepTimeoutMs: 5_000 },
    // The reference drops step pairs whose texts differ by fewer than 20 characters; this model's
    // mistakes are one wrong number ("people = 5" for "people = 7"), so that filter kept 1-2 step pairs
    // of a round (measured on round-2 trees: 1 step pair; with 1: 469).
    extract: { minEditDistance: 1 },
    train: {
      // A fixed step budget at lr 1e-2 every round, whatever the round's data size: the tiny model starts
      // copying numbers only after several hundred steps (measured: 600 steps → 30 % held-out greedy, 300
      // → 2 %; README), and an epoch count gives a round with less data fewer steps, hence a policy below
      // that threshold, less data again in the next round (measured: 14 % → 3 %). 800 steps fit the time.
      // What it reads well depends on how many distinct problems it has seen (1,000 steps on one solution
      // each of 922 problems: 13 % on a dev set; of 1,602 problems: 50 %), hence 1,600 training problems.
      // 256-token micro-batches: every solution fits, and attention over a packed 1,024-token batch cost
      // as much as the rest (2× faster).
      // Weight decay 0.1 (the spec's SFT default): 800 steps pass ~11 times over round 1's ~1,200 rows, and
      // without decay the model memorises them instead of learning to read (round-1 rows of a fresh run,
      // dev-set greedy: seeds 42 / 1 at decay 0: 0.095 / 0.12; at 0.1: 0.395 / 0.155; at 0.3: 0.16).
      sft: { steps: 800, epochs: 1, lr: 1e-2, batch: 16, ctx: 256, warmupRatio: 0.05, weightDecay: 0.1, evalFraction: 0.05 },
      // The PPM schedule the addition recipe needed (README, Training): lr 1e-3, the head at the same rate;
      // a fixed 200 steps, so a round with many pairs does not take longer. 512 tokens: a prompt with
      // its chosen and rejected whole solutions fits.
      ppm: { steps: 200, epochs: 1, lr: 1e-3, headLrMult: 1, batch: 16, ctx: 512, warmupRatio: 0.05, evalFraction: 0.1 },
    },
    evolve: {
      // The bootstrap searches 8 rollouts; the tiny policies 4 (round 4: up to 8 for the still-unsolved),
      // so that 1,600 problems fit the time (a tree's first rollout costs most: halving the rollouts saved
      // a fifth of the search).
      rounds: [{ rollouts: 8 }, { rollouts: 4 }, { rollouts: 4 }, { rollouts: 4, unsolvedRolloutsUpTo: 8, unsolvedRolloutsPerPass: 4 }],
      // Every round trains on the solutions and pairs of all rounds so far: the tiny policy-1 solves
      // fewer training problems than the bootstrap (measured: coverage 0.77 → 0.52), and with each
      // round's own data alone every later policy trained on fewer problems (greedy flat at 0.21-0.25).
      trainingData: 'all-rounds',
      // Temperature 0.6, chosen on a dev set (200 curriculum problems of seed 777, in neither split): at 1
      // this model samples worse than it decodes greedily (round-1 models: maj@8 0.415 and MCTS 0.35
      // against greedy 0.46; at 0.6: 0.46 and 0.44).
      // One test-time search per problem, not the paper's 8: more runs did not help this model and cost
      // their number in time (dev set, a round-1 policy with greedy 0.395 and maj@8 0.41: one run 0.38,
      // four runs 0.37 by a top-4 vote, 0.345 by the best PPM score alone).
      eval: { majorityN: 8, mctsCandidates: 4, mctsRollouts: 8, mctsRuns: 1, baseGreedy: true, temperature: 0.6 },
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
      loadedProblemsCorpus(problems),
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
