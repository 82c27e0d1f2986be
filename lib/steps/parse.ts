/**
 * Parsing one generated step (one MCTS node) into its parts (spec §1.3).
 *
 * A step is classified by the marker that ended its generation, which the engine reports exactly
 * because markers are single special tokens:
 *   `<end_of_step>`   -> `code`        intermediate code step; executed, its output stays out of the text
 *   `<end_of_code>`   -> `final_code`  the step that prints the answer; its output block is appended
 *   `<output>`        -> `final_code`  (bootstrap round only: a few-shot model opens the block itself)
 *   `<end_of_answer>` -> `answer`      terminal; the final answer is the `\boxed{}` inside
 * A step that ended without a marker (token limit, end of generation) is an `answer` if it mentions
 * `boxed` and `unfinished` otherwise. The reference classifies by the substring `boxed` alone; going by
 * the marker first means a code step whose comment says "boxed" stays a code step.
 *
 * Boxed-answer extraction itself is the grader's (lib/grade `extractBoxed`), so there is one
 * implementation; this module only isolates the conclusion text it is applied to.
 */
import { FINAL_PRINT_COMMENT, MARKERS, type Marker } from './markers.js';

export type StepKind = 'code' | 'final_code' | 'answer' | 'unfinished';

export interface ParsedStep {
  kind: StepKind;
  /** The marker that ended the step, or null when generation stopped for another reason. */
  end: Marker | null;
  /** True when the step opens a program with `<code>` (the first code step of a solution). */
  opensCode: boolean;
  /** The reasoning: the comment lines with their `#` removed, joined by "\n" (the final-print comment excluded). */
  comment: string;
  /** The Python statements of the step: markers and comment-only lines removed. '' for an answer step. */
  code: string;
  /**
   * The conclusion of an answer step: the text between `<answer>` and `<end_of_answer>` (or the whole
   * step when the model skipped `<answer>`); null for code steps.
   */
  answerText: string | null;
}

const M = MARKERS;
const END_MARKERS: readonly Marker[] = [M.endOfStep, M.endOfCode, M.endOfAnswer, M.output];

/** The end marker of `text`: the reported stop when given, else the marker the text ends with. */
function endMarkerOf(text: string, stop: string | null | undefined): Marker | null {
  if (stop && (END_MARKERS as readonly string[]).includes(stop)) return stop as Marker;
  const trimmed = text.trimEnd();
  return END_MARKERS.find((m) => trimmed.endsWith(m)) ?? null;
}

/** The kind of a step, from its end marker (see the file header). */
export function classifyStep(text: string, stop?: string | null): StepKind {
  switch (endMarkerOf(text, stop)) {
    case M.endOfStep:
      return 'code';
    case M.endOfCode:
    case M.output:
      return 'final_code';
    case M.endOfAnswer:
      return 'answer';
    default:
      return text.includes('boxed') ? 'answer' : 'unfinished';
  }
}

function stripMarkers(text: string): string {
  let out = text;
  for (const marker of [M.code, M.endOfStep, M.endOfCode]) out = out.split(marker).join('\n');
  const outputAt = out.indexOf(M.output);
  return outputAt >= 0 ? out.slice(0, outputAt) : out;
}

function conclusionOf(text: string): string {
  const open = text.lastIndexOf(M.answer);
  const body = open >= 0 ? text.slice(open + M.answer.length) : text;
  const close = body.indexOf(M.endOfAnswer);
  return (close >= 0 ? body.slice(0, close) : body).trim();
}

/** Splits a generated step into its kind, reasoning comment, code and conclusion. */
export function parseStep(text: string, stop?: string | null): ParsedStep {
  const kind = classifyStep(text, stop);
  const end = endMarkerOf(text, stop);
  const opensCode = text.includes(M.code);
  if (kind === 'answer') {
    return { kind, end, opensCode, comment: '', code: '', answerText: conclusionOf(text) };
  }
  const comments: string[] = [];
  const statements: string[] = [];
  for (const line of stripMarkers(text).split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') {
      if (statements.length > 0) statements.push(line);
    } else if (trimmed.startsWith('#')) {
      if (trimmed !== FINAL_PRINT_COMMENT) comments.push(trimmed.replace(/^#+\s?/, ''));
    } else {
      statements.push(line);
    }
  }
  while (statements.length > 0 && statements[statements.length - 1].trim() === '') statements.pop();
  return { kind, end, opensCode, comment: comments.join('\n'), code: statements.join('\n'), answerText: null };
}
