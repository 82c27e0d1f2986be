/**
 * The one place that builds what a search needs from the configuration: the policy and PPM on the
 * engine (./engine.ts), the sandboxed Python pool (lib/exec) and the grader (lib/grade). Every command
 * and stage that searches (generate, solve, and the evaluation and self-evolution stages) opens its
 * dependencies here, so engine settings, the PPM transform and verification limits mean the same
 * thing everywhere.
 */
import { contextCells, type RstarConfig } from '../config/index.js';
import { invalidArgument } from '../errors.js';
import { PythonPool } from '../exec/index.js';
import { extractBoxed, isEquivalent } from '../grade/index.js';
import type { Grader, SearchDeps, StepPolicy } from '../mcts/types.js';
import { createEnginePolicy, EnginePpm, type EnginePolicy } from './engine.js';

export interface OpenSearchDepsOptions {
  /** GGUF of the policy. */
  policyPath?: string;
  /**
   * A policy that is not a model file (a program, such as the embedded bootstrap policy, or a remote
   * one): used instead of `policyPath`, with no engine loaded for it.
   */
  policy?: StepPolicy;
  /** GGUF of the PPM; absent: terminal-guided search. */
  ppmPath?: string;
  config: RstarConfig;
  /** Problems searched at once (sizes the KV cache when `engine.contextSize` is 0). */
  concurrency: number;
  /** Where the Python pool's start-up line goes; default stderr; null for silence. */
  log?: ((line: string) => void) | null;
}

/** Open search dependencies; `dispose()` frees the models and stops the Python workers (idempotent). */
export interface SearchSession {
  deps: SearchDeps;
  /** The engine models, or null when the policy is a program (`policy` option) and no PPM is loaded. */
  engine: EnginePolicy | null;
  pool: PythonPool;
  dispose(): Promise<void>;
}

/** The grader every search uses: `\boxed{}` extraction and answer equivalence (lib/grade). */
export const defaultGrader: Grader = { extractBoxed, isEquivalent };

/**
 * @example
 * const session = await openSearchDeps({ policyPath: 'slm.gguf', config, concurrency: 16 });
 * try { await runGenerate({ ... }, session.deps); } finally { await session.dispose(); }
 */
export async function openSearchDeps(options: OpenSearchDepsOptions): Promise<SearchSession> {
  const { config } = options;
  if ((options.policyPath === undefined) === (options.policy === undefined)) {
    throw invalidArgument('exactly one of policyPath and policy', 'openSearchDeps options', Object.keys(options).join(', '));
  }
  let engine: EnginePolicy | null = null;
  let ppmOnly: EnginePpm | null = null;
  if (options.policyPath !== undefined) {
    engine = await createEnginePolicy({
      policyPath: options.policyPath,
      ppmPath: options.ppmPath,
      engine: config.engine,
      ppmTransform: config.search.ppmTransform,
      concurrency: options.concurrency,
    });
  } else if (options.ppmPath !== undefined) {
    ppmOnly = await EnginePpm.open(options.ppmPath, config.engine, { contextSize: contextCells(config.engine, options.concurrency), transform: config.search.ppmTransform });
  }
  const pool = new PythonPool({ timeoutMs: config.search.stepTimeoutMs, log: options.log });
  let disposed: Promise<void> | null = null;
  return {
    deps: {
      policy: engine ? engine.policy : options.policy!,
      scorer: engine ? engine.scorer : (ppmOnly?.scorer() ?? null),
      executor: pool,
      grader: defaultGrader,
    },
    engine,
    pool,
    dispose() {
      disposed ??= Promise.all([engine?.dispose(), ppmOnly?.dispose(), pool.dispose()]).then(() => undefined);
      return disposed;
    },
  };
}
