/**
 * Flags that several commands share, and the one way they become a configuration: the command's
 * defaults, then `--config FILE`, then the flags (lib/config). Engine flags are on every command that
 * loads a model; search flags on every command that searches.
 */
import type { Argv } from 'yargs';
import { defaultConfig, readConfigFile, resolveConfigFrom, type ConfigOverrides, type RstarConfig } from '../config/index.js';

export interface EngineArgs {
  gpuLayers?: number;
  threads?: number;
  ctxSize?: number;
  batchSize?: number;
}

export interface SearchArgs {
  rollouts?: number;
  candidates?: number;
  maxDepth?: number;
}

export interface ConfigArgs extends EngineArgs, SearchArgs {
  config?: string;
}

/** `--gpu-layers`, `--threads`, `--ctx-size`, `--batch-size` (the configuration's `engine` section). */
export function engineOptions<T>(y: Argv<T>): Argv<T & EngineArgs> {
  return y
    .option('gpu-layers', { type: 'number', describe: 'layers offloaded to the GPU (0: CPU only, -1: all; needs a GPU build)' })
    .option('threads', { type: 'number', describe: 'CPU threads for decoding (default: all cores)' })
    .option('ctx-size', { type: 'number', describe: 'KV cells per model context (default: 2048 per concurrent problem, 4096 to 65536)' })
    .option('batch-size', { type: 'number', describe: 'most tokens per decode step (default 512)' }) as Argv<T & EngineArgs>;
}

/** `--rollouts`, `--candidates`, `--max-depth` (the configuration's `search` section). */
export function searchOptions<T>(y: Argv<T>, defaults: { rollouts: number; candidates: number }): Argv<T & SearchArgs> {
  return y
    .option('rollouts', { type: 'number', describe: `rollouts per problem (default ${defaults.rollouts})` })
    .option('candidates', { type: 'number', describe: `candidate steps per expansion (default ${defaults.candidates})` })
    .option('max-depth', { type: 'number', describe: 'most code steps per trajectory, the answer step not counted (default 16)' }) as Argv<T & SearchArgs>;
}

/** The configuration layer the engine flags set. */
export function engineOverrides(args: EngineArgs): ConfigOverrides {
  const engine: Record<string, number> = {};
  if (args.gpuLayers !== undefined) engine.gpuLayers = args.gpuLayers;
  if (args.threads !== undefined) engine.threads = args.threads;
  if (args.ctxSize !== undefined) engine.contextSize = args.ctxSize;
  if (args.batchSize !== undefined) engine.batchSize = args.batchSize;
  return { engine } as ConfigOverrides;
}

/** The configuration layer the search flags set. */
export function searchOverrides(args: SearchArgs): ConfigOverrides {
  const search: Record<string, number> = {};
  if (args.rollouts !== undefined) search.rollouts = args.rollouts;
  if (args.candidates !== undefined) search.candidates = args.candidates;
  if (args.maxDepth !== undefined) search.maxDepth = args.maxDepth;
  return { search } as ConfigOverrides;
}

/**
 * A command's configuration: `base` (the command's own defaults over `defaultConfig`), then
 * `--config FILE`, then the engine and search flags, then `extra` (command-specific flags).
 */
export async function configFromArgs(args: ConfigArgs, base: ConfigOverrides = {}, extra: ConfigOverrides = {}): Promise<RstarConfig> {
  const file = args.config ? await readConfigFile(args.config) : undefined;
  return resolveConfigFrom(defaultConfig, base, file, engineOverrides(args), searchOverrides(args), extra);
}
