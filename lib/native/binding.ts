/**
 * The one loader of the native addon, and the hand-written contract of what it exports. Nothing
 * else in the package `require`s the .node file: everything goes through `loadBinding()`.
 *
 * Load order: RSTAR_ADDON (an explicit path) → build/Release/rstar.node → build/Debug/rstar.node.
 * When none loads, the error lists every attempt and what to run.
 *
 * A GPU build (its rstar-build.json, written by scripts/install.mjs next to the .node file, names
 * the GPU) is first loaded in a child process that runs a small graph on every GPU
 * (`probeDevices`): a build for another GPU architecture, or a broken driver, aborts a process
 * (SIGABRT, SIGILL) in a way no try/catch survives, so it must happen in a process we can lose.
 * When the probe fails, the build is loaded with its GPUs hidden (CUDA_VISIBLE_DEVICES and
 * GGML_VK_VISIBLE_DEVICES empty), so everything runs on the CPU, and the reason is logged once on
 * stderr; when even that fails, the next candidate is tried. RSTAR_GPU_PROBE=0 skips the probe.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { RstarError } from '../errors.js';
import { packageRoot } from '../paths.js';
import type { NativeTrainBinding } from './train-types.js';

export interface NativeDevice {
  name: string;
  description: string;
  type: 'cpu' | 'gpu' | 'igpu' | 'accel';
  memoryFree: number;
  memoryTotal: number;
}

export interface NativeSystemInfo {
  llamaVersion: string;
  llamaCommit: string;
  /** Backends compiled in: "cpu", "cpu,cuda", "cpu,vulkan". */
  backends: string;
  gpuOffload: boolean;
  maxSequences: number;
  system: string;
  /** Devices ggml registered at load: the CPU, and each GPU a GPU build found. */
  devices: NativeDevice[];
}

/** One non-CPU device after `probeDevices()` ran a small graph on it. */
export interface NativeDeviceProbe {
  name: string;
  description: string;
  type: string;
  ok: boolean;
  error?: string;
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
  /** Milliseconds in llama_decode, and in reading outputs and sampling after it (decode thread). */
  decodeMs: number;
  sampleMs: number;
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
  /**
   * Byte vocabulary only: extra BPE merges as [left, right] UTF-8 text, in rank order (each side a token
   * already). With merges the pre-tokenizer is gpt2's: a run of digits stays one chunk.
   */
  merges?: Array<[string, string]>;
}

export interface GgufInspection {
  version: number;
  metadata: Record<string, string | number | boolean | { type: string; length: number }>;
  tensors: Array<{ name: string; type: string; bytes: number }>;
}

export interface NativeBinding {
  systemInfo(): NativeSystemInfo;
  /** Computes a small graph on every non-CPU device; may abort the process on a broken GPU build (call it in a child). */
  probeDevices(): NativeDeviceProbe[];
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
let loaded: AddonStatus | null = null;

/** What `loadBinding()` loaded, and what its GPU probe found (null before the first load). */
export interface AddonStatus {
  path: string;
  /** The GPU the build was made for ('off' for a CPU build), from its rstar-build.json. */
  gpu: string;
  /** Non-CPU devices the probe ran a graph on (empty for CPU builds and unprobed loads). */
  probes: NativeDeviceProbe[];
  /** Set when a GPU build runs on the CPU: why. */
  cpuFallbackReason: string | null;
}

export function addonStatus(): AddonStatus | null {
  return loaded;
}

/** The build record scripts/install.mjs writes next to the addon; absent for older builds (then CPU). */
function buildRecord(addonPath: string): { gpu?: string } {
  try {
    return JSON.parse(readFileSync(join(dirname(addonPath), 'rstar-build.json'), 'utf8')) as { gpu?: string };
  } catch {
    return {};
  }
}

const HIDE_GPUS = { CUDA_VISIBLE_DEVICES: '', GGML_VK_VISIBLE_DEVICES: '' };

/** Loads the addon in a child process and runs `probeDevices()` there. */
function probeInChild(path: string, env: NodeJS.ProcessEnv): { ok: true; probes: NativeDeviceProbe[] } | { ok: false; reason: string } {
  const script = 'const b = require(process.argv[1]); b.systemInfo(); process.stdout.write(JSON.stringify(b.probeDevices()));';
  const r = spawnSync(process.execPath, ['-e', script, path], { env, encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) return { ok: false, reason: `the probe process could not run: ${r.error.message}` };
  if (r.status !== 0) {
    const last = (r.stderr ?? '').trim().split('\n').filter(Boolean).slice(-1)[0] ?? '';
    return { ok: false, reason: `the probe process ${r.signal ? `was killed by ${r.signal}` : `exited with ${r.status}`}${last ? ` (${last.slice(0, 300)})` : ''}` };
  }
  try {
    return { ok: true, probes: JSON.parse(r.stdout) as NativeDeviceProbe[] };
  } catch {
    return { ok: false, reason: `the probe process printed no result: ${r.stdout.slice(0, 200)}` };
  }
}

/**
 * For a GPU build: probe it in a child, and hide its GPUs from this process when they fail. Returns
 * the status to record, or an error text when the build cannot run at all.
 */
function vetGpuBuild(path: string, gpu: string): AddonStatus | string {
  if (process.env.RSTAR_GPU_PROBE === '0') return { path, gpu, probes: [], cpuFallbackReason: null };
  const first = probeInChild(path, process.env);
  if (first.ok && first.probes.length > 0 && first.probes.every((p) => p.ok)) return { path, gpu, probes: first.probes, cpuFallbackReason: null };
  let reason: string;
  if (!first.ok) reason = `the ${gpu} build failed its GPU probe: ${first.reason}`;
  else if (first.probes.length === 0) reason = `the ${gpu} build found no GPU (no device, or no driver)`;
  else reason = `the ${gpu} build failed its GPU probe on ${first.probes.filter((p) => !p.ok).map((p) => `${p.name} (${p.error})`).join(', ')}`;
  if (first.ok && first.probes.length === 0) return { path, gpu, probes: [], cpuFallbackReason: reason };
  const hidden = probeInChild(path, { ...process.env, ...HIDE_GPUS });
  if (!hidden.ok) return `${reason}; with its GPUs hidden too: ${hidden.reason}`;
  Object.assign(process.env, HIDE_GPUS);
  return { path, gpu, probes: first.ok ? first.probes : [], cpuFallbackReason: `${reason}; its GPUs are hidden and it runs on the CPU` };
}

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
    const gpu = buildRecord(path).gpu ?? 'off';
    let status: AddonStatus = { path, gpu, probes: [], cpuFallbackReason: null };
    if (gpu !== 'off') {
      const vetted = vetGpuBuild(path, gpu);
      if (typeof vetted === 'string') {
        attempts.push(`  ${path}: ${vetted}`);
        continue;
      }
      status = vetted;
    }
    try {
      cached = require(path) as NativeBinding;
      loaded = status;
      if (status.cpuFallbackReason) process.stderr.write(`rstar: ${status.cpuFallbackReason}\n`);
      return cached;
    } catch (err) {
      attempts.push(`  ${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new RstarError(
    'NATIVE_NOT_BUILT',
    `the rstar native addon could not be loaded. Tried:\n${attempts.join('\n')}\n` +
      'Build it with `npm install` (or `npm run build:addon` after changing native/); the install log says what is missing. ' +
      'A GPU build that cannot run here (no CUDA runtime or driver) is replaced by a CPU build with `RSTAR_GPU=off npm run build`.',
  );
}
