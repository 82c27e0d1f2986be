/** The public API of rstar-math. */
export * from './errors.js';
export * from './engine/index.js';
export * from './config/index.js';
export { loadProblems, resolveProblemFile, benchmarkPath, BENCHMARKS, type Problem, type BenchmarkName } from './data/problems.js';
export { PythonPool, buildStepProgram, observationOf } from './exec/index.js';
export { extractBoxed, isEquivalent, gradeAnswer } from './grade/index.js';
export { createEnginePolicy, EnginePpm, promptTokens, applyValueTransform, valueTransformOf, type EnginePolicy, type ValueTransform } from './policy/engine.js';
export { openSearchDeps, defaultGrader, type SearchSession } from './policy/deps.js';
export { searchProblem } from './mcts/search.js';
export { searchProblems } from './mcts/driver.js';
export { runGenerate, type GenerateOptions, type GenerateSummary } from './generate/run.js';
export { searchIntoJournal } from './generate/search.js';
export { deriveTrainingData } from './generate/derive.js';
export { fileDigest, digestInputs, differingInputs, type FileDigest } from './data/digest.js';
export * from './train/index.js';
export { generateCurriculum, writeCurriculum, parseCurriculumQuestion, createBootstrapPolicy, BootstrapPolicy, LEVEL_DESCRIPTIONS, type SynthProblem, type CurriculumOptions, type WrittenCurriculum, type BootstrapPolicyOptions, type MistakeKind } from './synth/index.js';
