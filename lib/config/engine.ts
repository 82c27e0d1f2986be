/**
 * The `engine` section of the configuration: how every command that loads a model runs it (policy,
 * PPM, evaluation). Flags `--gpu-layers`, `--threads`, `--ctx-size` and `--batch-size` set these on
 * every such command (lib/cli/engine-flags.ts); a `--config` file may set them too.
 */
import { assertInteger } from '../errors.js';
import { oneOf } from './search.js';

export interface EngineConfig {
  /**
   * Layers offloaded to the GPU: 0 keeps the model on the CPU (default), -1 offloads every layer.
   * A CPU build ignores it (the model reports what was offloaded: `Model.offload`).
   */
  gpuLayers: number;
  /** CPU threads for decoding; 0: every core this process may use. */
  threads: number;
  /**
   * KV cells of each context (one for the policy, one for the PPM, the same size). 0 (default): 2048
   * per problem searched at once, between 4096 and 65536.
   */
  contextSize: number;
  /** Most tokens in one decode step (prefill chunks are cut to it); llama.cpp's n_batch. */
  batchSize: number;
  /** KV cache element type: 'f16' (default), 'f32' (exact comparisons), 'q8_0' (half the memory). */
  kvType: 'f16' | 'f32' | 'q8_0';
  /**
   * Most KV cells idle prefix-cache entries may hold before the least recently used are released;
   * -1 (default): a quarter of the context. Every decode attends over the cells in use, so a large
   * idle cache slows every step: measured with the tiny model, 50 problems in flight, 0 made the
   * search 1.6 times faster than 4096 (re-decoding evicted prefixes costs little on a tiny model;
   * on a large one it costs more, hence the default keeps some).
   */
  idleCacheCells: number;
}

export const defaultEngineConfig: EngineConfig = {
  gpuLayers: 0,
  threads: 0,
  contextSize: 0,
  batchSize: 512,
  kvType: 'f16',
  idleCacheCells: -1,
};

export function validateEngineConfig(e: EngineConfig): void {
  assertInteger(e.gpuLayers, 'engine.gpuLayers', -1, 100_000);
  assertInteger(e.threads, 'engine.threads', 0, 1024);
  if (e.contextSize !== 0) assertInteger(e.contextSize, 'engine.contextSize', 256, 1 << 22);
  assertInteger(e.batchSize, 'engine.batchSize', 1, 1 << 16);
  oneOf(e.kvType, ['f16', 'f32', 'q8_0'], 'engine.kvType');
  assertInteger(e.idleCacheCells, 'engine.idleCacheCells', -1, 1 << 22);
}

/** The KV cells a context gets: `engine.contextSize`, or 2048 per concurrent problem within [4096, 65536]. */
export function contextCells(engine: EngineConfig, concurrency: number): number {
  return engine.contextSize > 0 ? engine.contextSize : Math.min(65536, Math.max(4096, concurrency * 2048));
}
