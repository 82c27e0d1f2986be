/** The public API of rstar-math. */
export * from './errors.js';
export * from './engine/index.js';
