/** Answer grading: extraction of the final answer, normalisation, and equivalence. */
export { extractBoxed, extractBoxedAnswer, extractGsm8kAnswer, type ExtractOptions } from './extract.js';
export { extractFinalAnswer } from './free-text.js';
export { normalizeAnswer } from './normalize.js';
export { lookupUnit, type Unit } from './units.js';
export {
  parseAnswer,
  answersEqual,
  numbersClose,
  NUMERIC_RELATIVE_TOLERANCE,
  INTEGER_RELATIVE_TOLERANCE,
  SYMBOLIC_RELATIVE_TOLERANCE,
  type ParsedAnswer,
  type ParseOptions,
} from './answer.js';
export { isEquivalent, gradeAnswer, AnswerKey, clusterEquivalent, type GradeOptions } from './equivalence.js';
