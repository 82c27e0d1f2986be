/** The `search` section of the configuration: settings of one MCTS run over a problem (spec §3). */
import { assertInteger, assertNumber, invalidArgument } from '../errors.js';
import { STEP_STOP_MARKERS } from '../steps/markers.js';

/** Settings of one MCTS run over a problem (spec §3). */
export interface SearchConfig {
  /**
   * Rollouts per problem: each starts at the root and ends at a terminal node. Paper: 8 in the
   * bootstrap round, 16 in rounds 2-4 (default); reference configs: 48 for data generation, 12 at test time.
   */
  rollouts: number;
  /**
   * Candidate steps sampled per expansion (n). Paper: 8 for data generation (default), 32 at test time;
   * reference configs: 12 for data generation, 32 at test time.
   */
  candidates: number;
  /**
   * Most code steps in one trajectory (paper and code: 16). As in the reference (a node deeper than
   * `max_depth` is terminal), a trajectory holds up to `maxDepth` code steps plus its answer step: a
   * non-answer step created below depth `maxDepth` ends the rollout as 'too_deep'.
   */
  maxDepth: number;
  /** c in UCT = Q + c·sqrt(ln N_parent / N) (paper and code: 2). */
  explorationConstant: number;
  /**
   * UCT score of a child never visited. 'zero' (code, default): its score is its Q, i.e. 0 without a
   * PPM, and the exploration term is also 0 under a parent visited at most once; visited siblings with
   * Q near -1 still win for about 10 visits, so trees grow deep rather than wide (maintainer, issue #32).
   * 'infinity' (textbook UCT): every child is tried once before any is revisited.
   */
  unvisitedScore: 'zero' | 'infinity';
  /**
   * Candidates whose code fails (once `errorsThreshold` is reached). 'keep' (code, default): they stay in
   * the tree as terminal leaves valued -1 on themselves only (never back-propagated, never selected),
   * and serve as negatives of full-trajectory PPM pairs. 'discard' (paper): they are dropped.
   */
  invalidSteps: 'keep' | 'discard';
  /**
   * Consecutive failing code steps that make a node terminal. Code: 1 in the policy-SLM configs
   * (default), 2 in the bootstrap config. Below the threshold a failing step stays a normal node.
   */
  errorsThreshold: number;
  /**
   * How a failed step is recognised. 'status' (default, spec §11.9): the interpreter raised or timed
   * out. 'substring' (code): the observation contains "error" in any case, which also flags a program
   * that legitimately prints the word.
   */
  errorDetection: 'status' | 'substring';
  /**
   * When some candidates of one expansion are answer steps, keep only the first of them and drop every
   * other candidate, so an answer expansion has exactly one child (code, default true).
   */
  answerCollapse: boolean;
  /** Drop candidates whose text repeats an earlier candidate of the same expansion (code, default true). */
  dedupe: boolean;
  /** Sampling temperature. Code: 1.0 in rounds 2-4 and at test time (default), 0.7 in the bootstrap round. */
  temperature: number;
  /** Most tokens generated for one step (code: 2048). */
  maxStepTokens: number;
  /**
   * Markers that end one step. Default: `<end_of_step>`, `<end_of_code>`, `<end_of_answer>` (policy SLM);
   * the bootstrap round adds `<output>`.
   */
  stopMarkers: string[];
  /** Prompt template: 'policy' (zero-shot SLM prompt, default) or 'bootstrap' (few-shot, round 1). */
  promptStyle: 'policy' | 'bootstrap';
  /**
   * Use the PPM, when one is loaded, to initialise Q of every new non-terminal node (PPM-augmented,
   * rounds 3-4, paper Eq. 3). false, or no PPM loaded: terminal-guided annotation (rounds 1-2, Eq. 2).
   */
  usePpm: boolean;
  /**
   * Transform of the raw PPM head output into a step score. 'model' (default): the transform stored
   * in the PPM file (`rstar.value_head.transform`, written by the trainer; `tanh_div5` when absent),
   * so the search, `rstar ppm score` and evaluation read one PPM the same way. The others override the
   * file explicitly: 'tanh_div5' (code): tanh(x / 5), the reference's inference-time scaling of an
   * unbounded head; 'tanh' (paper: linear + tanh head): tanh(x); 'raw': the head output unchanged.
   */
  ppmTransform: 'model' | 'tanh_div5' | 'tanh' | 'raw';
  /**
   * 'generate' (default, data generation): answer nodes are graded against the reference answer and
   * back-propagate ±1. 'test' (test time): answers are not graded; a loaded PPM scores them and that
   * score is back-propagated (0 without a PPM), and the run's answer is chosen by score (or vote).
   */
  mode: 'generate' | 'test';
  /** Wall-clock limit for running one step's program, in milliseconds (code: 30 s inner limit). */
  stepTimeoutMs: number;
  /** Base sampling seed; the k-th expansion of a problem uses seed + k·candidates, its i-th child + i. */
  seed: number;
}

export const defaultSearchConfig: SearchConfig = {
  rollouts: 16,
  candidates: 8,
  maxDepth: 16,
  explorationConstant: 2,
  unvisitedScore: 'zero',
  invalidSteps: 'keep',
  errorsThreshold: 1,
  errorDetection: 'status',
  answerCollapse: true,
  dedupe: true,
  temperature: 1.0,
  maxStepTokens: 2048,
  stopMarkers: [...STEP_STOP_MARKERS],
  promptStyle: 'policy',
  usePpm: true,
  ppmTransform: 'model',
  mode: 'generate',
  stepTimeoutMs: 30_000,
  seed: 0,
};

/**
 * The search settings of the reference's test-time config (`sft_eval_mcts.yaml`): 32 candidates per
 * step, 12 rollouts, answers scored by the PPM. `rstar solve` starts from these.
 */
export const testTimeSearchOverrides: Partial<SearchConfig> = { mode: 'test', candidates: 32, rollouts: 12 };

export function oneOf<T extends string>(value: T, allowed: readonly T[], name: string): void {
  if (!allowed.includes(value)) throw invalidArgument(`one of ${allowed.map((a) => `"${a}"`).join(', ')}`, name, value);
}

export function validateSearchConfig(s: SearchConfig): void {
  assertInteger(s.rollouts, 'search.rollouts', 1);
  assertInteger(s.candidates, 'search.candidates', 1, 1024);
  assertInteger(s.maxDepth, 'search.maxDepth', 1, 256);
  assertNumber(s.explorationConstant, 'search.explorationConstant', 0, 1e6);
  oneOf(s.unvisitedScore, ['zero', 'infinity'], 'search.unvisitedScore');
  oneOf(s.invalidSteps, ['keep', 'discard'], 'search.invalidSteps');
  assertInteger(s.errorsThreshold, 'search.errorsThreshold', 1, 256);
  oneOf(s.errorDetection, ['status', 'substring'], 'search.errorDetection');
  assertNumber(s.temperature, 'search.temperature', 0, 10);
  assertInteger(s.maxStepTokens, 'search.maxStepTokens', 1);
  if (s.stopMarkers.length === 0) throw invalidArgument('at least one stop marker', 'search.stopMarkers', s.stopMarkers);
  oneOf(s.promptStyle, ['policy', 'bootstrap'], 'search.promptStyle');
  oneOf(s.ppmTransform, ['model', 'tanh_div5', 'tanh', 'raw'], 'search.ppmTransform');
  oneOf(s.mode, ['generate', 'test'], 'search.mode');
  assertInteger(s.stepTimeoutMs, 'search.stepTimeoutMs', 1);
  assertInteger(s.seed, 'search.seed', 0, 2 ** 32 - 1);
}

