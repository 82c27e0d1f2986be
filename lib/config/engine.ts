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
}

export const defaultEngineConfig: EngineConfig = {
  gpuLayers: 0,
  threads: 0,
  contextSize: 0,
  batchSize: 512,
  kvType: 'f16',
};

export function validateEngineConfig(e: EngineConfig): void {
  assertInteger(e.gpuLayers, 'engine.gpuLayers', -1, 100_000);
  assertInteger(e.threads, 'engine.threads', 0, 1024);
  if (e.contextSize !== 0) assertInteger(e.contextSize, 'engine.contextSize', 256, 1 << 22);
  assertInteger(e.batchSize, 'engine.batchSize', 1, 1 << 16);
  oneOf(e.kvType, ['f16', 'f32', 'q8_0'], 'engine.kvType');
}

/** The KV cells a context gets: `engine.contextSize`, or 2048 per concurrent problem within [4096, 65536]. */
export function contextCells(engine: EngineConfig, concurrency: number): number {
  return engine.contextSize > 0 ? engine.contextSize : Math.min(65536, Math.max(4096, concurrency * 2048));
}
