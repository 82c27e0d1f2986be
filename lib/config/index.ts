/**
 * The one typed configuration of rstar-math.
 *
 * One section per area, each with its defaults and validator: `engine` (how models run, ./engine.ts),
 * `search` (MCTS, ./search.ts), `extract` (training-data extraction, ./extract.ts), `prompts`
 * (lib/steps/prompts.ts) and `train` (lib/train/config.ts, next to the trainer).
 *
 * Resolution order: `defaultConfig`, then a JSON config file, then command-line flags. Every layer is a
 * deep partial; `resolveConfig` rejects unknown keys and values whose type differs from the default's,
 * then runs the section validators (ranges, enums). Commands write the resolved config into their
 * output directory (`config.json`), so every run records exactly what it used.
 *
 * Defaults follow the reference code where paper and code differ, except where noted; every such
 * choice is a switch whose TSDoc names both sides.
 */
import { readFile } from 'node:fs/promises';
import { DataError, invalidArgument } from '../errors.js';
import { defaultPromptTemplates, type PromptTemplates } from '../steps/prompts.js';
import { defaultTrainConfig, validateTrainConfig, type TrainConfig } from '../train/config.js';
import { defaultEngineConfig, validateEngineConfig, type EngineConfig } from './engine.js';
import { defaultEvolveConfig, validateEvolveConfig, type EvolveConfig } from './evolve.js';
import { defaultExtractConfig, validateExtractConfig, type ExtractConfig } from './extract.js';
import { defaultSearchConfig, validateSearchConfig, type SearchConfig } from './search.js';

export * from './engine.js';
export * from './evolve.js';
export * from './extract.js';
export * from './search.js';

/** The whole configuration. */
export interface RstarConfig {
  engine: EngineConfig;
  search: SearchConfig;
  extract: ExtractConfig;
  prompts: PromptTemplates;
  train: TrainConfig;
  evolve: EvolveConfig;
}

export const defaultConfig: RstarConfig = {
  engine: defaultEngineConfig,
  search: defaultSearchConfig,
  extract: defaultExtractConfig,
  prompts: defaultPromptTemplates,
  train: defaultTrainConfig,
  evolve: defaultEvolveConfig,
};

export type DeepPartial<T> = T extends ReadonlyArray<infer E>
  ? E extends object
    ? Array<DeepPartial<E>> // arrays of settings objects merge element by element (see mergeLayer)
    : T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;
export type ConfigOverrides = DeepPartial<RstarConfig>;

/** Section validators, run after merging. Areas register theirs here with their section. */
const validators: { [K in keyof RstarConfig]?: (section: RstarConfig[K]) => void } = {
  engine: validateEngineConfig,
  search: validateSearchConfig,
  extract: validateExtractConfig,
  train: validateTrainConfig,
  evolve: validateEvolveConfig,
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

function mergeLayer(base: Record<string, unknown>, layer: Record<string, unknown>, path: string): void {
  for (const [key, value] of Object.entries(layer)) {
    const name = path ? `${path}.${key}` : key;
    if (value === undefined) continue;
    if (!Object.hasOwn(base, key)) {
      throw invalidArgument(`one of the keys ${Object.keys(base).join(', ')}`, `a config key under "${path || '(top level)'}"`, key);
    }
    const current = base[key];
    if (isPlainObject(current)) {
      if (!isPlainObject(value)) throw invalidArgument('an object', `config ${name}`, value);
      mergeLayer(current, value, name);
    } else if (Array.isArray(current)) {
      if (!Array.isArray(value)) throw invalidArgument('an array', `config ${name}`, value);
      if (current.length > 0 && isPlainObject(current[0])) {
        // Arrays of settings objects (evolve.rounds): the layer's array sets how many there are, and
        // each element is merged over the current element at its index (or the last one), so a file
        // can change one field of one round.
        base[key] = value.map((element, i) => {
          if (!isPlainObject(element)) throw invalidArgument('an object', `config ${name}[${i}]`, element);
          const merged = structuredClone(current[Math.min(i, current.length - 1)]) as Record<string, unknown>;
          mergeLayer(merged, element, `${name}[${i}]`);
          return merged;
        });
        continue;
      }
      const elementType = current.length > 0 ? typeof current[0] : null;
      value.forEach((element, i) => {
        if (elementType !== null && typeof element !== elementType) throw invalidArgument(`a ${elementType}`, `config ${name}[${i}]`, element);
      });
      base[key] = structuredClone(value);
    } else {
      if (typeof value !== typeof current || value === null) throw invalidArgument(kindOf(current), `config ${name}`, value);
      base[key] = value;
    }
  }
}

/**
 * Merges override layers (earliest first: config file, then flags) over `defaults` and validates the
 * result. Unknown keys and wrongly typed values throw InvalidArgumentError naming the key.
 *
 * @example
 * const config = resolveConfig(await readConfigFile('round3.json'), { search: { rollouts: 8 } });
 */
export function resolveConfig(...layers: Array<ConfigOverrides | undefined>): RstarConfig {
  return resolveConfigFrom(defaultConfig, ...layers);
}

/** `resolveConfig` over other defaults (e.g. `rstar solve` starts from the test-time settings). */
export function resolveConfigFrom(defaults: RstarConfig, ...layers: Array<ConfigOverrides | undefined>): RstarConfig {
  const out = structuredClone(defaults) as unknown as Record<string, unknown>;
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (!isPlainObject(layer)) throw invalidArgument('an object', 'a config layer', layer);
    mergeLayer(out, layer, '');
  }
  const config = out as unknown as RstarConfig;
  for (const key of Object.keys(validators) as Array<keyof RstarConfig>) {
    (validators[key] as ((section: unknown) => void) | undefined)?.(config[key]);
  }
  return config;
}

/** Reads a JSON config file (a deep partial of RstarConfig); validation happens in resolveConfig. */
export async function readConfigFile(path: string): Promise<ConfigOverrides> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw invalidArgument('a readable JSON config file', '--config', path);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isPlainObject(parsed)) throw new DataError(`Config file ${path} must hold a JSON object`);
    return parsed as ConfigOverrides;
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(`Config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}
