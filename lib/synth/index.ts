/** The synthetic curriculum and the bootstrap policy: what a self-evolution run starts from when nothing can be downloaded. */
export { generateCurriculum, writeCurriculum, parseCurriculumQuestion, renderProgram, renderQuestion, instanceKey, countLevels, DEFAULT_TRAIN, DEFAULT_TEST, MAX_SPLIT } from './curriculum.js';
export type { SynthProblem, CurriculumOptions, Curriculum, WrittenCurriculum, WrittenSplit, ParsedQuestion } from './curriculum.js';
export { TEMPLATES, LEVELS, LEVEL_DESCRIPTIONS, templatesOf, formatRat } from './templates.js';
export type { Level, Template, Plan, PlanStep, Values } from './templates.js';
export { createBootstrapPolicy, BootstrapPolicy, DEFAULT_MISTAKE_RATES, DEFAULT_SYMPY_RATE, MISTAKE_KINDS } from './bootstrap.js';
export type { BootstrapPolicyOptions, BootstrapStats, MistakeKind } from './bootstrap.js';
