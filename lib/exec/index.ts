/** Python verification of step programs: a pool of warm sandboxed workers, and the step/observation texts. */
export { PythonPool, describePool, ZYGOTE_SCRIPT } from './PythonPool.js';
export { buildStepProgram, codeOfStepText, formatObservation, observationOf, CODE_BLOCK_SEPARATOR, MAX_OBSERVATION_CHARS } from './program.js';
export type { AncestorStep } from './program.js';
export { checkPython, pythonCommand } from './interpreter.js';
export type { ExecResult, RunOptions, PythonPoolOptions, IsolationInfo, IsolationRequest, PoolInfo, PythonInfo } from './types.js';
