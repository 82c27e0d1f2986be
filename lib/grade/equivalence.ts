/**
 * The grading entry points: is a predicted answer equivalent to the gold one, is a generated solution
 * correct, and which of K sampled answers agree (majority voting).
 *
 * Every terminal node of every MCTS tree is graded and majority voting compares all pairs, so answers
 * are parsed once (an {@link AnswerKey}, or the bounded memo behind {@link isEquivalent}) and compared many
 * times; a comparison of two parsed answers does no string work beyond one equality test.
 * The rules and the numeric tolerances are stated in lib/grade/answer.ts.
 */
import { answersEqual, parseAnswer, type ParsedAnswer } from './answer.js';
import { extractBoxed, type ExtractOptions } from './extract.js';
import { extractFinalAnswer } from './free-text.js';

/** Options of {@link gradeAnswer}. */
export interface GradeOptions extends ExtractOptions {
  /**
   * Read the answer of free text ({@link extractFinalAnswer}: boxes, "the final answer is", the last math
   * span, the last number) instead of requiring a box. Default false: our policy's answers are boxed, and
   * for it a missing box means no answer.
   */
  freeText?: boolean;
}

/** What a caller may hand us as an answer; anything but a string or a number is "no answer". */
type AnswerInput = string | number | null | undefined;

/**
 * Whether `pred` is an equivalent answer to `gold`. Both are final answers (a `\boxed{}` content, a gold
 * field, or a number), not whole solutions: see {@link gradeAnswer} for those. Symmetric, never throws;
 * a missing, empty or huge answer (see lib/grade/answer.ts) is equal to nothing.
 *
 * @example
 * isEquivalent('\\frac{1}{2}', '0.5')          // true
 * isEquivalent('025', 25)                      // true  (AIME gold strings)
 * isEquivalent('(3,4]', '(3,4)')               // false (interval brackets matter)
 * isEquivalent('\\{1\\pm\\sqrt{5},-2\\}', '-2, 1-\\sqrt5, 1+\\sqrt5') // true
 */
export function isEquivalent(gold: AnswerInput, pred: AnswerInput): boolean {
  return answersEqual(parseAnswer(gold), parseAnswer(pred));
}

/**
 * Whether a generated solution is correct: the content of its last `\boxed{}` is equivalent to `gold`.
 * A solution without a box is wrong, unless `options.freeText` asks for {@link extractFinalAnswer}.
 *
 * @example
 * gradeAnswer('18', 'She makes 9 * 2 = 18 dollars, so the answer is $\\boxed{\\$18}$.') // true
 * gradeAnswer('18', 'So she makes 18 dollars.', { freeText: true })                   // true
 */
export function gradeAnswer(gold: string | number | AnswerKey, generatedText: unknown, options: GradeOptions = {}): boolean {
  if (typeof generatedText !== 'string') return false;
  const extracted = options.freeText ? extractFinalAnswer(generatedText) : extractBoxed(generatedText, options);
  if (extracted === null) return false;
  const key = gold instanceof AnswerKey ? gold : new AnswerKey(gold);
  return key.matches(extracted);
}

/**
 * A gold (or any) answer parsed once, for grading many predictions against it.
 *
 * @example
 * const key = new AnswerKey('\\left( 3, \\frac{\\pi}{2} \\right)');
 * key.matches('(3, \\pi/2)') // true
 * key.matches('(3, \\pi)')   // false
 */
export class AnswerKey {
  /** The answer as given. */
  readonly answer: string | number;
  /** The parsed form (see lib/grade/answer.ts). */
  readonly parsed: ParsedAnswer;

  constructor(answer: string | number) {
    this.answer = answer;
    // parseAnswer turns anything but a string or number (a JavaScript caller's null) into "no answer".
    this.parsed = parseAnswer(answer);
  }

  /** The normalised text of the answer. */
  get normalized(): string {
    return this.parsed.canon;
  }

  /** Whether `pred` (a final answer, or another key) is equivalent to this one. */
  matches(pred: AnswerInput | AnswerKey): boolean {
    return answersEqual(this.parsed, pred instanceof AnswerKey ? pred.parsed : parseAnswer(pred));
  }
}

/**
 * Groups answers into classes of equivalent ones, for majority voting: each answer joins the first class
 * whose first member it matches. Returns the classes as index lists, largest first (ties keep the order
 * of first appearance). K answers take at most K * (number of classes) comparisons, each on parsed forms.
 *
 * @example
 * clusterEquivalent(['\\frac12', '0.5', '3', '1/2']) // [[0, 1, 3], [2]]
 */
export function clusterEquivalent(answers: readonly AnswerInput[]): number[][] {
  const keys = answers.map((a) => parseAnswer(a));
  const classes: number[][] = [];
  for (let i = 0; i < keys.length; i++) {
    const home = classes.find((c) => answersEqual(keys[c[0]], keys[i]));
    if (home) home.push(i);
    else classes.push([i]);
  }
  // Array.prototype.sort is stable, so equal sizes keep their first-appearance order.
  return classes.sort((a, b) => b.length - a.length);
}
