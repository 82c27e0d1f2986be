/**
 * The marker strings of rStar-Math's code-augmented chain of thought (spec §1.2).
 *
 * In our models every marker is one special token, so the engine stops on tokens and a marker never
 * straddles a token boundary. The strings below are the single source of truth for their spelling;
 * everything else (prompts, parsing, the cumulative program, extraction) imports them from here.
 *
 * Left out on purpose: `<refine>`, `<end_of_refine>` and the "I am sure..." sentence, which the
 * reference defines but never uses in rStar-Math inference.
 */
export const MARKERS = {
  /** Opens the program; the first step of a solution starts with it. */
  code: '<code>',
  /** Ends an intermediate code step (one MCTS node). */
  endOfStep: '<end_of_step>',
  /** Ends the last code step, the one that prints the answer. */
  endOfCode: '<end_of_code>',
  /** Opens the interpreter output block; inserted by the search, never generated in SLM mode. */
  output: '<output>',
  endOfOutput: '<end_of_output>',
  /** Opens the short natural-language conclusion holding `\boxed{...}`. */
  answer: '<answer>',
  endOfAnswer: '<end_of_answer>',
  /** Chat-like headers of the zero-shot policy / PPM prompt. */
  user: '<|user|>',
  assistant: '<|assistant|>',
} as const;

export type MarkerName = keyof typeof MARKERS;
export type Marker = (typeof MARKERS)[MarkerName];

/** Every marker, in the order of the table in spec §1.2 (used to register special tokens). */
export const ALL_MARKERS: readonly Marker[] = Object.values(MARKERS);

/**
 * The markers that end one generation call = one MCTS node, for the policy SLM (rounds 2-4 and test
 * time). The bootstrap round additionally stops on `<output>` (a few-shot model tends to write the
 * output block itself); see `SearchConfig.stopMarkers`.
 */
export const STEP_STOP_MARKERS: readonly Marker[] = [MARKERS.endOfStep, MARKERS.endOfCode, MARKERS.endOfAnswer];

/** Stop markers of the bootstrap (few-shot) round: the SLM ones plus `<output>`. */
export const BOOTSTRAP_STOP_MARKERS: readonly Marker[] = [...STEP_STOP_MARKERS, MARKERS.output];

/** The comment the policy writes before the final `print(...)` (the reference's CODE_TAG). */
export const FINAL_PRINT_COMMENT = '# Now print the final answer';
