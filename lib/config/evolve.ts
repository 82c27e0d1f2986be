/**
 * The `evolve` section of the configuration: the rounds of self-evolution (spec §7.2) and the
 * evaluation after each round. Each round's search starts from the `search` section and applies its
 * round's settings on top; SFT and PPM training use the `train` section. A round's resolved settings
 * are saved in its directory.
 */
import { assertInteger, assertNumber, invalidArgument } from '../errors.js';
import { oneOf } from './search.js';

export interface RoundSettings {
  /**
   * The policy that searches: 'bootstrap' (round 1: the bootstrap policy, a stronger model or the
   * embedded program) or 'previous' (the policy trained by the previous round).
   */
  policy: 'bootstrap' | 'previous';
  /** PPM-augmented search with the previous round's PPM (rounds 3-4); false: terminal-guided (rounds 1-2). */
  usePpm: boolean;
  /** Rollouts per problem (paper: 8 in round 1, 16 after). */
  rollouts: number;
  /** Sampling temperature (reference: 0.7 in the bootstrap round, 1.0 after). */
  temperature: number;
  /** Prompt: 'bootstrap' (few-shot, round 1) or 'policy' (zero-shot). */
  promptStyle: 'policy' | 'bootstrap';
  /** Consecutive failing code steps that end a trajectory (reference: 2 in the bootstrap round, 1 after). */
  errorsThreshold: number;
  /** Stop markers added to the search's (the bootstrap round also stops at `<output>`). */
  extraStopMarkers: string[];
  /**
   * Problems still unsolved after the round's search are searched again, with new seeds, in passes of
   * `unsolvedRolloutsPerPass` rollouts until this many rollouts in all (paper, round 4: +64, up to 128).
   * 0: no extra passes.
   */
  unsolvedRolloutsUpTo: number;
  unsolvedRolloutsPerPass: number;
}

export interface EvolveEvalConfig {
  /** Sampled solutions per problem for majority voting (maj@n). */
  majorityN: number;
  /** The test-time search with the round's PPM: candidates per step and rollouts (spec §8.2: 32 and 12). */
  mctsCandidates: number;
  mctsRollouts: number;
  /**
   * Independent test-time searches per problem (spec §8.2: the paper's "8 trajectories" are 8 MCTS runs,
   * each contributing its best-scored answer; 16 for AIME/AMC), so the search is compared with maj@n at
   * the same number of answers.
   */
  mctsRuns: number;
  /** The method's answer: a majority vote over the `mctsTopK` best-scored runs' answers (reference `eval_maj.py`: 4). */
  mctsTopK: number;
  /** Evaluate the base model's greedy pass@1 once, before round 1 (the Table 3 baseline). */
  baseGreedy: boolean;
  /**
   * Sampling temperature of the majority vote and the test-time MCTS (reference: 1). A small model
   * trained briefly samples worse than it decodes greedily; the embedded default uses 0.6, chosen on a
   * dev set (lib/evolve/default.ts).
   */
  temperature: number;
}

export interface EvolveConfig {
  rounds: RoundSettings[];
  /**
   * The trees a round's SFT rows and PPM pairs come from: 'round' (default), only that round's searches;
   * 'all-rounds', every search so far, so a problem solved in an earlier round keeps its best
   * trajectories (top-2 by mean Q over all its trees) and the pairs add up. Whether the paper's rounds
   * accumulate is not stated (spec §6.2); a policy weaker than the bootstrap otherwise trains on fewer
   * problems each round.
   */
  trainingData: 'round' | 'all-rounds';
  eval: EvolveEvalConfig;
}

const roundDefaults = { temperature: 1.0, promptStyle: 'policy', errorsThreshold: 1, extraStopMarkers: [] as string[], unsolvedRolloutsUpTo: 0, unsolvedRolloutsPerPass: 64 } as const;

/** The paper's four rounds with the reference's per-round settings. */
export const defaultEvolveConfig: EvolveConfig = {
  rounds: [
    { ...roundDefaults, extraStopMarkers: ['<output>'], policy: 'bootstrap', usePpm: false, rollouts: 8, temperature: 0.7, promptStyle: 'bootstrap', errorsThreshold: 2 },
    { ...roundDefaults, extraStopMarkers: [], policy: 'previous', usePpm: false, rollouts: 16 },
    { ...roundDefaults, extraStopMarkers: [], policy: 'previous', usePpm: true, rollouts: 16 },
    { ...roundDefaults, extraStopMarkers: [], policy: 'previous', usePpm: true, rollouts: 16, unsolvedRolloutsUpTo: 128 },
  ],
  trainingData: 'round',
  eval: { majorityN: 8, mctsCandidates: 32, mctsRollouts: 12, mctsRuns: 8, mctsTopK: 4, baseGreedy: true, temperature: 1 },
};

export function validateEvolveConfig(e: EvolveConfig): void {
  if (!Array.isArray(e.rounds) || e.rounds.length < 1 || e.rounds.length > 64) throw invalidArgument('between 1 and 64 rounds', 'evolve.rounds', e.rounds);
  e.rounds.forEach((r, i) => {
    const name = `evolve.rounds[${i}]`;
    if (typeof r !== 'object' || r === null) throw invalidArgument('an object', name, r);
    for (const key of Object.keys(roundDefaults).concat(['policy', 'usePpm', 'rollouts'])) {
      if (!(key in r)) throw invalidArgument(`every round setting (missing "${key}")`, name, r);
    }
    oneOf(r.policy, ['bootstrap', 'previous'], `${name}.policy`);
    if (i === 0 && r.policy !== 'bootstrap') throw invalidArgument('"bootstrap" (there is no previous policy)', `${name}.policy`, r.policy);
    if (typeof r.usePpm !== 'boolean') throw invalidArgument('a boolean', `${name}.usePpm`, r.usePpm);
    if (i === 0 && r.usePpm) throw invalidArgument('false (there is no previous PPM)', `${name}.usePpm`, r.usePpm);
    assertInteger(r.rollouts, `${name}.rollouts`, 1, 100_000);
    assertNumber(r.temperature, `${name}.temperature`, 0, 10);
    oneOf(r.promptStyle, ['policy', 'bootstrap'], `${name}.promptStyle`);
    assertInteger(r.errorsThreshold, `${name}.errorsThreshold`, 1, 256);
    if (!Array.isArray(r.extraStopMarkers) || r.extraStopMarkers.some((m) => typeof m !== 'string' || m === '')) {
      throw invalidArgument('an array of marker strings', `${name}.extraStopMarkers`, r.extraStopMarkers);
    }
    assertInteger(r.unsolvedRolloutsUpTo, `${name}.unsolvedRolloutsUpTo`, 0, 1_000_000);
    assertInteger(r.unsolvedRolloutsPerPass, `${name}.unsolvedRolloutsPerPass`, 1, 1_000_000);
  });
  oneOf(e.trainingData, ['round', 'all-rounds'], 'evolve.trainingData');
  assertInteger(e.eval.majorityN, 'evolve.eval.majorityN', 1, 10_000);
  assertInteger(e.eval.mctsCandidates, 'evolve.eval.mctsCandidates', 1, 1024);
  assertInteger(e.eval.mctsRollouts, 'evolve.eval.mctsRollouts', 1, 100_000);
  assertInteger(e.eval.mctsRuns, 'evolve.eval.mctsRuns', 1, 10_000);
  assertInteger(e.eval.mctsTopK, 'evolve.eval.mctsTopK', 1, 10_000);
  if (typeof e.eval.baseGreedy !== 'boolean') throw invalidArgument('a boolean', 'evolve.eval.baseGreedy', e.eval.baseGreedy);
  assertNumber(e.eval.temperature, 'evolve.eval.temperature', 0, 10);
}
