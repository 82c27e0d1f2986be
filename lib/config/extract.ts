/** The `extract` section of the configuration: SFT rows and PPM pairs from finished trees (spec §4). */
import { assertInteger, assertNumber } from '../errors.js';
import { oneOf } from './search.js';

/** Settings of SFT and PPM-pair extraction from finished trees (spec §4). */
export interface ExtractConfig {
  /** Correct trajectories kept per problem for SFT, best by mean step Q then min step Q (paper and code: 2). */
  sftPerProblem: number;
  /**
   * Which correct trajectories SFT leaves out. 'status' (default): those with a step whose program
   * failed (possible when errorsThreshold > 1). 'substring' (code): those whose text contains "error".
   * 'off': none.
   */
  sftErrorFilter: 'status' | 'substring' | 'off';
  /** Positives and negatives taken at each shared prefix (paper and code: 2 each). */
  pairsPerSide: number;
  /** When one side has a single candidate, how many the other side may contribute (code: 4). */
  pairsWhenOneSide: number;
  /** Least Q(chosen) - Q(rejected) for a step pair (code: 0.5). Pairs need a strictly positive margin anyway. */
  minStepMargin: number;
  /** Least character edit distance between the two step texts of a pair (code: 20). */
  minEditDistance: number;
  /**
   * Also require that the greedy best continuation of the chosen step (highest-Q child leading to a
   * correct answer, down to a leaf) has a higher mean Q than the greedy worst continuation of the
   * rejected one (code, default true).
   */
  continuationCheck: boolean;
  /** Which children the pair search descends into: 'all' mixed children (code `--mode all`, default) or only the most-visited one. */
  descend: 'all' | 'most_visited';
  /**
   * Final-answer-step pairs of whole trajectories (paper §3.3; the reference ships examples but not the
   * script): the 2 correct trajectories with the highest mean Q against the 2 wrong ones with the lowest.
   */
  finalPairs: boolean;
  /** Count trajectories that died of code errors as wrong in final pairs (as the reference's examples do). */
  finalPairsIncludeCodeErrors: boolean;
}

export const defaultExtractConfig: ExtractConfig = {
  sftPerProblem: 2,
  sftErrorFilter: 'status',
  pairsPerSide: 2,
  pairsWhenOneSide: 4,
  minStepMargin: 0.5,
  minEditDistance: 20,
  continuationCheck: true,
  descend: 'all',
  finalPairs: true,
  finalPairsIncludeCodeErrors: true,
};

export function validateExtractConfig(e: ExtractConfig): void {
  assertInteger(e.sftPerProblem, 'extract.sftPerProblem', 0);
  oneOf(e.sftErrorFilter, ['status', 'substring', 'off'], 'extract.sftErrorFilter');
  assertInteger(e.pairsPerSide, 'extract.pairsPerSide', 1);
  assertInteger(e.pairsWhenOneSide, 'extract.pairsWhenOneSide', 1);
  assertNumber(e.minStepMargin, 'extract.minStepMargin', 0, 2);
  assertInteger(e.minEditDistance, 'extract.minEditDistance', 0);
  oneOf(e.descend, ['all', 'most_visited'], 'extract.descend');
}

