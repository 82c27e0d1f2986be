/**
 * The one place that builds what a search needs from the configuration: the policy and PPM on the
 * engine (./engine.ts), the sandboxed Python pool (lib/exec) and the grader (lib/grade). Every command
 * and stage that searches (generate, solve, and the evaluation and self-evolution stages) opens its
 * dependencies here, so engine settings, the PPM transform and verification limits mean the same
 * thing everywhere.
 */
import type { RstarConfig } from '../config/index.js';
import { PythonPool } from '../exec/index.js';
import { extractBoxed, isEquivalent } from '../grade/index.js';
import type { Grader, SearchDeps } from '../mcts/types.js';
import { createEnginePolicy, type EnginePolicy } from './engine.js';

export interface OpenSearchDepsOptions {
  /** GGUF of the policy. */
  policyPath: string;
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
  engine: EnginePolicy;
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
  const engine = await createEnginePolicy({
    policyPath: options.policyPath,
    ppmPath: options.ppmPath,
    engine: config.engine,
    ppmTransform: config.search.ppmTransform,
    concurrency: options.concurrency,
  });
  const pool = new PythonPool({ timeoutMs: config.search.stepTimeoutMs, log: options.log });
  let disposed: Promise<void> | null = null;
  return {
    deps: { policy: engine.policy, scorer: engine.scorer, executor: pool, grader: defaultGrader },
    engine,
    pool,
    dispose() {
      disposed ??= Promise.all([engine.dispose(), pool.dispose()]).then(() => undefined);
      return disposed;
    },
  };
}
