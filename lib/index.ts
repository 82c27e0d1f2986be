/** The public API of rstar-math. */
export * from './errors.js';
export * from './engine/index.js';
export * from './config.js';
export { loadProblems, type Problem } from './data/problems.js';
export { PythonPool, buildStepProgram, observationOf } from './exec/index.js';
export { extractBoxed, isEquivalent, gradeAnswer } from './grade/index.js';
export { createEnginePolicy } from './mcts/engine-policy.js';
export { searchProblem } from './mcts/search.js';
export { searchProblems } from './mcts/driver.js';
export { runGenerate } from './generate/run.js';
export * from './train/index.js';
