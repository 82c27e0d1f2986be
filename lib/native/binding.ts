/**
 * The one loader of the native addon, and the hand-written contract of what it exports. Nothing
 * else in the package `require`s the .node file: everything goes through `loadBinding()`.
 *
 * Load order: RSTAR_ADDON (an explicit path) → build/Release/rstar.node → build/Debug/rstar.node.
 * When none loads, the error lists every attempt and what to run.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { RstarError } from '../errors.js';
import { packageRoot } from '../paths.js';
import type { NativeTrainBinding } from './train-types.js';

export interface NativeSystemInfo {
  llamaVersion: string;
  llamaCommit: string;
  backends: string;
  gpuOffload: boolean;
  maxSequences: number;
  system: string;
}

export interface NativeModelInfo {
  description: string;
  architecture: string;
  nParams: number;
  sizeBytes: number;
  nVocab: number;
  nCtxTrain: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  bos: number;
  eos: number;
  hasValueHead: boolean;
  valueHeadTransform?: string;
  metadata: Record<string, string>;
}

export interface NativeModel {
  load(path: string, options: { gpuLayers?: number; mmap?: boolean; onProgress?: (p: number) => void }): Promise<void>;
  info(): NativeModelInfo;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array;
  detokenize(tokens: Int32Array, renderSpecial: boolean): string;
  tokenPieces(tokens: Int32Array): { bytes: Buffer; offsets: Int32Array };
  isEog(token: number): boolean;
  dispose(): void;
}

export interface NativeContextInfo {
  contextSize: number;
  batchSize: number;
  ubatchSize: number;
  maxSequences: number;
  threads: number;
  nVocab: number;
  hasValueHead: boolean;
}

export interface NativeStepResult {
  /** Sampled token per output row (-1 where the row had no sampler). */
  tokens: Int32Array;
  /** log p(token) under the model at temperature 1, per output row. */
  logprobs: Float32Array;
  /** Raw bytes of every sampled token's piece, delimited by pieceOffsets (n + 1 entries). */
  pieces: Buffer;
  pieceOffsets: Int32Array;
  /** Raw value-head outputs per output row (only on `embed` steps). */
  scores?: Float32Array;
  /** Full logits rows, n_vocab per output row (only when asked for: tests). */
  logits?: Float32Array;
}

export interface NativeContext {
  init(
    model: NativeModel,
    options: { contextSize?: number; batchSize?: number; maxSequences?: number; threads?: number; flashAttention?: string; kvType?: string },
  ): Promise<void>;
  info(): NativeContextInfo;
  step(
    tokens: Int32Array,
    seqs: Int32Array,
    outRows: Int32Array,
    samplers: Array<NativeSampler | null>,
    options?: { embed?: boolean; logits?: boolean },
  ): Promise<NativeStepResult>;
  seqCopy(src: number, dst: number, p0: number, p1: number): void;
  seqRemove(seq: number, p0: number, p1: number): boolean;
  seqPosMax(seq: number): number;
  seqPosMin(seq: number): number;
  clear(): void;
  stateSize(): number;
  dispose(): void;
}

// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface NativeSampler {}

export interface MakeModelSpec {
  out: string;
  arch: 'qwen2' | 'llama';
  vocab: 'qwen2' | 'bytes';
  vocabPath?: string;
  type: 'f32' | 'f16';
  name?: string;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  nCtx: number;
  ropeBase: number;
  eps?: number;
  initStd?: number;
  tied: boolean;
  biases: boolean;
  /** Add a random PPM value head (rstar.value_head.*) to the metadata. */
  valueHead?: boolean;
  seed: number;
  /** Written as `rstar.value_head.transform` with valueHead (default tanh_div5). */
  valueTransform?: 'tanh_div5' | 'tanh' | 'raw';
  /** Set `tokenizer.ggml.add_bos_token`: the tokenizer starts every sequence with BOS. */
  addBos?: boolean;
  /** Put the step markers and roles into the vocabulary as single tokens (default true). */
  markers?: boolean;
}

export interface GgufInspection {
  version: number;
  metadata: Record<string, string | number | boolean | { type: string; length: number }>;
  tensors: Array<{ name: string; type: string; bytes: number }>;
}

export interface NativeBinding {
  systemInfo(): NativeSystemInfo;
  Model: new () => NativeModel;
  Context: new () => NativeContext;
  Sampler: new (params: { temperature: number; topK: number; topP: number; seed: number }) => NativeSampler;
  makeModel(spec: MakeModelSpec): Promise<{ path: string; nParams: number; bytes: number; nVocab: number }>;
  quantize(input: string, output: string, type: string, threads: number): Promise<void>;
  inspect(path: string): Promise<GgufInspection>;
  /** Adds special tokens (reusing padding rows, else appending mean-initialised rows); see native/gguf_tools.cpp. */
  addTokens(input: string, output: string, tokens: string[]): Promise<{ added: number; reused: number; present: number; nVocab: number }>;
  /** The built-in trainer (native/train, typed in lib/native/train-types.ts). */
  trainStart: NativeTrainBinding['trainStart'];
  trainForwardLogits: NativeTrainBinding['trainForwardLogits'];
  trainScoreTokens: NativeTrainBinding['trainScoreTokens'];
  trainGradientCheck: NativeTrainBinding['trainGradientCheck'];
  trainTokenize: NativeTrainBinding['trainTokenize'];
}

let cached: NativeBinding | null = null;

export function loadBinding(): NativeBinding {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const candidates = [
    process.env.RSTAR_ADDON,
    join(packageRoot, 'build', 'Release', 'rstar.node'),
    join(packageRoot, 'build', 'Debug', 'rstar.node'),
  ].filter((p): p is string => Boolean(p));
  const attempts: string[] = [];
  for (const path of candidates) {
    if (!existsSync(path)) {
      attempts.push(`  ${path}: not found`);
      continue;
    }
    try {
      cached = require(path) as NativeBinding;
      return cached;
    } catch (err) {
      attempts.push(`  ${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new RstarError(
    'NATIVE_NOT_BUILT',
    `the rstar native addon could not be loaded. Tried:\n${attempts.join('\n')}\n` +
      'Build it with `npm install` (or `npm run build:addon` after changing native/); the install log says what is missing.',
  );
}
