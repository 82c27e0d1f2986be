/**
 * The small interfaces the search is written against. Real modules plug in by structural typing:
 * the engine adapter (lib/policy/engine.ts) provides `StepPolicy` and `PpmScorer`, lib/exec
 * provides `StepExecutor`, lib/grade provides `Grader`. Tests drive the search with a scripted policy
 * (lib/mcts/scripted-policy.ts) and the real executor and grader.
 */

/** A problem as the search sees it (lib/data/problems.ts `Problem` satisfies this). */
export interface SearchProblem {
  id: string;
  question: string;
  /** Reference answer; required in 'generate' mode, unused in 'test' mode. */
  answer?: string;
}

/** One step on the path from the root to the node being expanded (or scored). */
export interface PathStep {
  /** The node's full text: the generated step plus any output block the search appended. */
  text: string;
  /** Token ids of `text`: the generated tokens, then the tokens of the appended block. */
  tokens: readonly number[];
}

/** Sampling settings of one expansion, from the search config. */
export interface StepSampling {
  temperature: number;
  maxTokens: number;
  /** Markers that end a step; single special tokens in our models. */
  stopMarkers: readonly string[];
}

/** What the search asks the policy for: n candidate next steps after `prompt` + `path`. */
export interface StepRequest {
  problem: SearchProblem;
  /** The rendered prompt (zero-shot or bootstrap template) for this problem. */
  prompt: string;
  /** Steps from depth 1 down to the node being expanded, oldest first; empty at the root. */
  path: readonly PathStep[];
  /** How many candidates to sample. */
  n: number;
  /** Seed of the first candidate; the i-th candidate uses seed + i. */
  seed: number;
  sampling: StepSampling;
}

/** One sampled continuation, ending at a stop marker (or not, when generation ran out). */
export interface CandidateStep {
  /** Generated text, including the stop marker. */
  text: string;
  /** Generated token ids: the source of truth for continuing from this step. */
  tokens: readonly number[];
  /** The marker that ended generation, or null (token limit, end of generation, full context). */
  stop: string | null;
}

/**
 * The policy model. `generateSteps` is called once per expansion for all n candidates, so the engine
 * can fork them from one shared prefix; many problems call it concurrently and the engine merges their
 * decodes into the same batches.
 */
export interface StepPolicy {
  generateSteps(request: StepRequest): Promise<CandidateStep[]>;
  /** Token ids of text the search appends itself (the `<output>` block), markers as special tokens. */
  tokenize(text: string): number[];
}

/** One partial trajectory for the PPM: the zero-shot prompt plus the steps, the last one being scored. */
export interface ScoreRequest {
  problem: SearchProblem;
  /** The zero-shot policy prompt of the problem (the PPM's prompt, whatever template the policy used). */
  prompt: string;
  path: readonly PathStep[];
}

/**
 * The process preference model. Returns step scores, one per request (one batched call): the value
 * head's outputs already under the PPM's transform (lib/policy/engine.ts owns it), so the search uses
 * them as Q values directly.
 */
export interface PpmScorer {
  score(requests: readonly ScoreRequest[]): Promise<number[]>;
}

/** Result of running one program (lib/exec). User-code failures are results, never exceptions. */
export interface ExecResult {
  ok: boolean;
  stdout: string;
  /** "<ExceptionType>: <message>" (or a description of the failure) when the program failed. */
  error: string | null;
  timedOut: boolean;
  ms: number;
}

/** Runs Python programs, several at once (lib/exec pool). */
export interface StepExecutor {
  run(program: string, options: { timeoutMs: number }): Promise<ExecResult>;
}

/** Answer extraction and equivalence (lib/grade). */
export interface Grader {
  /** The content of the last `\boxed{...}` in `text`, or null. */
  extractBoxed(text: string): string | null;
  /** True when `pred` is mathematically the same answer as `gold`. May be asynchronous. */
  isEquivalent(gold: string, pred: string): boolean | Promise<boolean>;
}

/** Everything one search needs besides its configuration. */
export interface SearchDeps {
  policy: StepPolicy;
  executor: StepExecutor;
  grader: Grader;
  /** The PPM; null or absent for terminal-guided annotation. */
  scorer?: PpmScorer | null;
}
