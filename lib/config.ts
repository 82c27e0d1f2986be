/**
 * The one typed configuration of rstar-math.
 *
 * Each section belongs to one area: `search` (MCTS, lib/mcts), `extract` (training-data extraction,
 * lib/data/extract.ts) and `prompts` (lib/steps/prompts.ts) are defined here; `engine`, `exec` and
 * `train` are added by their owners next to them, each with its defaults and an optional validator.
 *
 * Resolution order: `defaultConfig`, then a JSON config file, then command-line flags. Every layer is a
 * deep partial; `resolveConfig` rejects unknown keys and values whose type differs from the default's,
 * then runs the section validators (ranges, enums). Commands write the resolved config into their
 * output directory (`config.json`), so every run records exactly what it used.
 *
 * Defaults follow the reference code where paper and code differ, except where noted; every such
 * choice is a switch whose TSDoc names both sides.
 */
import { readFile } from 'node:fs/promises';
import { DataError, assertInteger, assertNumber, invalidArgument } from './errors.js';
import { STEP_STOP_MARKERS } from './steps/markers.js';
import { defaultPromptTemplates, type PromptTemplates } from './steps/prompts.js';
import { defaultTrainConfig, validateTrainConfig, type TrainConfig } from './train/config.js';

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
  /** Most steps in one trajectory, the answer step included (paper and code: 16). */
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
   * Transform of the raw PPM head output. 'tanh_div5' (code, default): tanh(x / 5), the reference's
   * inference-time scaling of an unbounded head; 'tanh' (paper: linear + tanh head): tanh(x);
   * 'raw': the head output unchanged (for a head that already applies tanh).
   */
  ppmTransform: 'tanh_div5' | 'tanh' | 'raw';
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

/** The whole configuration. Areas add their section here (engine, exec, train). */
export interface RstarConfig {
  search: SearchConfig;
  extract: ExtractConfig;
  prompts: PromptTemplates;
  train: TrainConfig;
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
  ppmTransform: 'tanh_div5',
  mode: 'generate',
  stepTimeoutMs: 30_000,
  seed: 0,
};

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

export const defaultConfig: RstarConfig = {
  search: defaultSearchConfig,
  extract: defaultExtractConfig,
  prompts: defaultPromptTemplates,
  train: defaultTrainConfig,
};

/**
 * The search settings of the reference's test-time config (`sft_eval_mcts.yaml`): 32 candidates per
 * step, 12 rollouts, answers scored by the PPM. `rstar solve` starts from these.
 */
export const testTimeSearchOverrides: Partial<SearchConfig> = { mode: 'test', candidates: 32, rollouts: 12 };

export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type ConfigOverrides = DeepPartial<RstarConfig>;

function oneOf<T extends string>(value: T, allowed: readonly T[], name: string): void {
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
  oneOf(s.ppmTransform, ['tanh_div5', 'tanh', 'raw'], 'search.ppmTransform');
  oneOf(s.mode, ['generate', 'test'], 'search.mode');
  assertInteger(s.stepTimeoutMs, 'search.stepTimeoutMs', 1);
  assertInteger(s.seed, 'search.seed', 0, 2 ** 32 - 1);
}

export function validateExtractConfig(e: ExtractConfig): void {
  assertInteger(e.sftPerProblem, 'extract.sftPerProblem', 0);
  oneOf(e.sftErrorFilter, ['status', 'substring', 'off'], 'extract.sftErrorFilter');
  assertInteger(e.pairsPerSide, 'extract.pairsPerSide', 1);
  assertInteger(e.pairsWhenOneSide, 'extract.pairsWhenOneSide', 1);
  assertNumber(e.minStepMargin, 'extract.minStepMargin', 0, 2);
  assertInteger(e.minEditDistance, 'extract.minEditDistance', 0);
  oneOf(e.descend, ['all', 'most_visited'], 'extract.descend');
}

/** Section validators, run after merging. Areas register theirs here with their section. */
const validators: { [K in keyof RstarConfig]?: (section: RstarConfig[K]) => void } = {
  search: validateSearchConfig,
  extract: validateExtractConfig,
  train: validateTrainConfig,
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

function mergeLayer(base: Record<string, unknown>, layer: Record<string, unknown>, path: string): void {
  for (const [key, value] of Object.entries(layer)) {
    const name = path ? `${path}.${key}` : key;
    if (value === undefined) continue;
    if (!Object.hasOwn(base, key)) {
      throw invalidArgument(`one of the keys ${Object.keys(base).join(', ')}`, `a config key under "${path || '(top level)'}"`, key);
    }
    const current = base[key];
    if (isPlainObject(current)) {
      if (!isPlainObject(value)) throw invalidArgument('an object', `config ${name}`, value);
      mergeLayer(current, value, name);
    } else if (Array.isArray(current)) {
      if (!Array.isArray(value)) throw invalidArgument('an array', `config ${name}`, value);
      const elementType = current.length > 0 ? typeof current[0] : null;
      value.forEach((element, i) => {
        if (elementType !== null && typeof element !== elementType) throw invalidArgument(`a ${elementType}`, `config ${name}[${i}]`, element);
      });
      base[key] = structuredClone(value);
    } else {
      if (typeof value !== typeof current || value === null) throw invalidArgument(kindOf(current), `config ${name}`, value);
      base[key] = value;
    }
  }
}

/**
 * Merges override layers (earliest first: config file, then flags) over `defaults` and validates the
 * result. Unknown keys and wrongly typed values throw InvalidArgumentError naming the key.
 *
 * @example
 * const config = resolveConfig(await readConfigFile('round3.json'), { search: { rollouts: 8 } });
 */
export function resolveConfig(...layers: Array<ConfigOverrides | undefined>): RstarConfig {
  return resolveConfigFrom(defaultConfig, ...layers);
}

/** `resolveConfig` over other defaults (e.g. `rstar solve` starts from the test-time settings). */
export function resolveConfigFrom(defaults: RstarConfig, ...layers: Array<ConfigOverrides | undefined>): RstarConfig {
  const out = structuredClone(defaults) as unknown as Record<string, unknown>;
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (!isPlainObject(layer)) throw invalidArgument('an object', 'a config layer', layer);
    mergeLayer(out, layer, '');
  }
  const config = out as unknown as RstarConfig;
  for (const key of Object.keys(validators) as Array<keyof RstarConfig>) {
    (validators[key] as ((section: unknown) => void) | undefined)?.(config[key]);
  }
  return config;
}

/** Reads a JSON config file (a deep partial of RstarConfig); validation happens in resolveConfig. */
export async function readConfigFile(path: string): Promise<ConfigOverrides> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw invalidArgument('a readable JSON config file', '--config', path);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isPlainObject(parsed)) throw new DataError(`Config file ${path} must hold a JSON object`);
    return parsed as ConfigOverrides;
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(`Config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}
