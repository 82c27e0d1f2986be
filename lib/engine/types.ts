/** Public types of the inference engine (lib/engine). */

import type { NativeModelInfo } from '../native/binding.js';

/**
 * What `Model.info` reports, read from the GGUF and the loaded model: architecture, shape,
 * special token ids (-1 when absent), `hasValueHead` (the file is a PPM) and the metadata as strings.
 */
export interface ModelInfo extends NativeModelInfo {
  path: string;
}

export interface LoadModelOptions {
  /** Layers to offload to the GPU; 0 keeps everything on the CPU (default), -1 offloads all. */
  gpuLayers?: number;
  /** Map the file instead of reading it (default true). */
  mmap?: boolean;
  /** Called with a fraction in [0, 1] while tensors load. */
  onProgress?: (fraction: number) => void;
}

export interface TreeContextOptions {
  /** KV cells shared by every sequence (llama.cpp rounds up to a multiple of 256). Default 4096. */
  contextSize?: number;
  /** Most tokens one decode may carry (prefill chunks are cut to this). Default 512. */
  batchSize?: number;
  /** CPU threads for decoding; default: the number of physical cores we can see. */
  threads?: number;
  /** Flash attention: 'auto' (llama.cpp decides; on for CPU), 'on', 'off'. */
  flashAttention?: 'auto' | 'on' | 'off';
  /** KV cache element type. f16 default; f32 where exact comparisons matter (tests). */
  kvType?: 'f16' | 'f32' | 'q8_0';
  /**
   * Most KV cells that idle prefix-cache entries may hold (cells no running request shares); past
   * it the least recently used are released before the next step. Every decode attends over the
   * cells up to the highest one in use (llama.cpp's unified cache), so idle entries slow every step
   * down (measured: the tiny model's search, 50 problems in flight, ran 1.6 times faster with 0 than
   * with 4096). Default: a quarter of the context. Infinity keeps them until the cells run out.
   */
  idleCacheCells?: number;
}

export interface SamplingOptions {
  /** 0 means greedy. Default 1.0 (the reference code's data-generation temperature). */
  temperature?: number;
  /** 0 disables top-k. Default 0 (the reference code samples from the full distribution). */
  topK?: number;
  /** 1 disables top-p. Default 1. */
  topP?: number;
  /** Base seed; the i-th child of one expansion uses seed + i (siblings must differ). */
  seed?: number;
  /** Most new tokens. Default 512. */
  maxTokens?: number;
  /** Stop after any of these tokens (ids, or texts that tokenize to exactly one token). */
  stopTokens?: Array<number | string>;
  /** Stop once the generated text contains any of these (matched across token boundaries). */
  stopStrings?: string[];
  /** Keep going past end-of-generation tokens (benchmarks on random weights need exact lengths). */
  ignoreEndOfGeneration?: boolean;
}

export type StopReason = 'stop_token' | 'stop_string' | 'max_tokens' | 'eog' | 'context_full';

export interface Generation {
  /**
   * The text of `tokens` (always `model.detokenize(tokens)`). A stop marker or stop string is in it;
   * a stop string that ends inside the last token is followed by the rest of that token's characters.
   */
  text: string;
  /** Generated token ids (the source of truth: never re-tokenize `text` to continue). */
  tokens: number[];
  stopReason: StopReason;
  /** The marker or stop string that ended generation, or null. */
  stop: string | null;
  /** Sum of log-probabilities of the generated tokens under the model (temperature 1). */
  logprob: number;
}
