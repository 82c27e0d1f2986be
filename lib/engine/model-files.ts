/**
 * Model files: random-weight GGUFs of real architectures (tests and benchmarks make their own
 * models; nothing downloads weights), quantization, and header inspection.
 *
 * Random weights measure speed, never accuracy.
 */
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DataError, RstarError, assertInteger, fromNative, invalidArgument } from '../errors.js';
import { loadBinding, type GgufInspection, type MakeModelSpec } from '../native/binding.js';
import { qwen2VocabPath } from '../paths.js';
import { ALL_MARKERS } from '../steps/markers.js';

export type Preset = 'tiny' | 'qwen2.5-0.5b' | 'qwen2.5-math-1.5b' | 'qwen2.5-math-7b';
export type ModelType = 'f32' | 'f16' | 'q8_0' | 'q4_k_m';
export const PRESETS: Preset[] = ['tiny', 'qwen2.5-0.5b', 'qwen2.5-math-1.5b', 'qwen2.5-math-7b'];
export const MODEL_TYPES: ModelType[] = ['f32', 'f16', 'q8_0', 'q4_k_m'];

export interface Shape {
  layers: number;
  embd: number;
  heads: number;
  kvHeads: number;
  ff: number;
  ctx: number;
  ropeBase: number;
  /** Tied input/output embeddings (no output.weight), as Qwen2.5 up to 3B have them. */
  tied: boolean;
}

/** The real models' dimensions (from their published configs); `tiny` loads in milliseconds. */
export const PRESET_SHAPES: Record<Preset, Shape> = {
  tiny: { layers: 2, embd: 64, heads: 4, kvHeads: 2, ff: 192, ctx: 4096, ropeBase: 10000, tied: true },
  'qwen2.5-0.5b': { layers: 24, embd: 896, heads: 14, kvHeads: 2, ff: 4864, ctx: 32768, ropeBase: 1e6, tied: true },
  'qwen2.5-math-1.5b': { layers: 28, embd: 1536, heads: 12, kvHeads: 2, ff: 8960, ctx: 4096, ropeBase: 10000, tied: true },
  'qwen2.5-math-7b': { layers: 28, embd: 3584, heads: 28, kvHeads: 4, ff: 18944, ctx: 4096, ropeBase: 10000, tied: false },
};

export interface MakeModelOptions {
  preset: Preset;
  out: string;
  vocab?: 'qwen2' | 'bytes';
  type?: ModelType;
  seed?: number;
  arch?: 'qwen2' | 'llama';
  overrides?: Partial<Shape>;
  threads?: number;
  /** Add a random value head, making the file a (random) PPM for scoring tests and benchmarks. */
  valueHead?: boolean;
  /** Standard deviation of the random weights (default 0.02); tiny models learn faster from ~0.08. */
  initStd?: number;
  /** With valueHead: the inference transform the PPM file records (default tanh_div5). */
  valueTransform?: 'tanh_div5' | 'tanh' | 'raw';
  /** The tokenizer starts every sequence with BOS (`tokenizer.ggml.add_bos_token`), as llama-family models do. */
  addBos?: boolean;
  /**
   * Put the step markers and roles in the vocabulary as single tokens (default true). false makes a
   * model like a downloaded base model, whose vocabulary lacks them (`addTokens` adds them).
   */
  markers?: boolean;
  /**
   * With the byte vocabulary: BPE merges ([left, right] text, in rank order) that make whole words and
   * numbers single tokens, as `trainMerges` (lib/synth/tokenizer.ts) learns them from a corpus.
   */
  merges?: Array<[string, string]>;
}

export interface MadeModel {
  path: string;
  preset: Preset;
  type: ModelType;
  vocab: 'qwen2' | 'bytes';
  nParams: number;
  bytes: number;
  nVocab: number;
  shape: Shape;
}

/**
 * Writes a random-weight GGUF (qwen2 architecture by default: q/k/v biases, grouped-query
 * attention, tied embeddings as the real models have them). Quantized types are written as F16
 * first, then quantized by llama.cpp, so the tensor mix is exactly what llama-quantize makes.
 * @example await makeModel({ preset: 'tiny', vocab: 'bytes', type: 'f32', out: 'tiny.gguf' });
 */
export async function makeModel(options: MakeModelOptions): Promise<MadeModel> {
  const preset = options.preset;
  if (!PRESETS.includes(preset)) throw invalidArgument(`one of ${PRESETS.join(', ')}`, 'preset', preset);
  const type = options.type ?? 'f16';
  if (!MODEL_TYPES.includes(type)) throw invalidArgument(`one of ${MODEL_TYPES.join(', ')}`, 'type', type);
  const vocab = options.vocab ?? 'qwen2';
  if (vocab !== 'qwen2' && vocab !== 'bytes') throw invalidArgument('qwen2 or bytes', 'vocab', vocab);
  if (typeof options.out !== 'string' || options.out.length === 0) throw invalidArgument('an output file path', 'out', options.out);
  if (!existsSync(dirname(options.out) || '.')) throw invalidArgument('a path in an existing directory', 'out', options.out);
  if (options.merges !== undefined && (vocab !== 'bytes' || !Array.isArray(options.merges))) {
    throw invalidArgument('merges (an array of [left, right] pairs) only with the byte vocabulary', 'merges', vocab);
  }
  if (vocab === 'qwen2' && !existsSync(qwen2VocabPath)) {
    throw new RstarError('IO', `the Qwen2 vocabulary is missing at ${qwen2VocabPath}: run \`npm install\`, which unpacks llama.cpp`);
  }
  const shape: Shape = { ...PRESET_SHAPES[preset], ...stripUndefined(options.overrides ?? {}) };
  for (const [k, v] of Object.entries(shape)) {
    if (k === 'tied') continue;
    if (k === 'ropeBase') continue;
    assertInteger(v, `--${k === 'kvHeads' ? 'kv-heads' : k}`, 1, 1 << 20);
  }
  if (shape.embd % shape.heads !== 0) throw invalidArgument(`an embedding size divisible by heads (${shape.heads})`, '--embd', shape.embd);
  if (shape.heads % shape.kvHeads !== 0) throw invalidArgument(`a kv-head count dividing heads (${shape.heads})`, '--kv-heads', shape.kvHeads);
  if ((shape.embd / shape.heads) % 2 !== 0) throw invalidArgument('an even head dimension (embd / heads)', '--embd', shape.embd);
  const seed = assertInteger(options.seed ?? 42, 'seed', 0, 2 ** 52);
  const arch = options.arch ?? 'qwen2';
  const quantized = type === 'q8_0' || type === 'q4_k_m';
  const rawPath = quantized ? `${options.out}.f16.tmp` : `${options.out}.tmp`;
  const spec: MakeModelSpec = {
    out: rawPath,
    arch,
    vocab,
    vocabPath: qwen2VocabPath,
    type: type === 'f32' ? 'f32' : 'f16',
    name: `rstar-random-${preset}`,
    nEmbd: shape.embd,
    nLayer: shape.layers,
    nHead: shape.heads,
    nHeadKv: shape.kvHeads,
    nFf: shape.ff,
    nCtx: shape.ctx,
    ropeBase: shape.ropeBase,
    tied: shape.tied,
    biases: arch === 'qwen2',
    valueHead: options.valueHead ?? false,
    valueTransform: options.valueTransform,
    addBos: options.addBos ?? false,
    markers: options.markers ?? true,
    merges: options.merges,
    initStd: options.initStd,
    seed,
  };
  const binding = loadBinding();
  const callSite = new Error();
  try {
    const made = await binding.makeModel(spec);
    if (quantized) {
      await binding.quantize(rawPath, options.out, type, options.threads ?? availableParallelism());
      rmSync(rawPath, { force: true });
    } else {
      renameSync(rawPath, options.out);
    }
    return { path: options.out, preset, type, vocab, nParams: made.nParams, bytes: statSync(options.out).size, nVocab: made.nVocab, shape };
  } catch (err) {
    rmSync(rawPath, { force: true });
    throw fromNative(err, callSite);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Quantizes a GGUF with llama.cpp (q8_0, q4_k_m). Rows not divisible by the block size fall back to another type (llama.cpp warns). */
export async function quantizeModel(input: string, output: string, type: 'q8_0' | 'q4_k_m', threads = availableParallelism()): Promise<void> {
  if (!existsSync(input)) throw invalidArgument('an existing GGUF file', 'IN', input);
  if (type !== 'q8_0' && type !== 'q4_k_m') throw invalidArgument('q8_0 or q4_k_m', '--type', type);
  const tmp = join(dirname(output), `.${Date.now()}.quantize.tmp`);
  try {
    await loadBinding().quantize(input, tmp, type, threads);
    renameSync(tmp, output);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw fromNative(err);
  }
}

export interface ModelFileInfo {
  path: string;
  fileBytes: number;
  ggufVersion: number;
  architecture: string;
  name: string;
  layers: number | null;
  embd: number | null;
  heads: number | null;
  kvHeads: number | null;
  ff: number | null;
  contextLength: number | null;
  vocabSize: number | null;
  tensorCount: number;
  tensorTypes: Record<string, number>;
  params: number | null;
  hasValueHead: boolean;
  randomWeights: boolean;
  metadata: GgufInspection['metadata'];
}

/** Reads a GGUF header (no weights) and summarises it. */
export async function inspectModel(path: string): Promise<ModelFileInfo> {
  if (!existsSync(path)) throw new DataError(`no such file: ${path}`);
  let g: GgufInspection;
  try {
    g = await loadBinding().inspect(path);
  } catch (err) {
    throw fromNative(err);
  }
  const m = g.metadata;
  const arch = String(m['general.architecture'] ?? 'unknown');
  const num = (k: string): number | null => (typeof m[`${arch}.${k}`] === 'number' ? (m[`${arch}.${k}`] as number) : null);
  const tokens = m['tokenizer.ggml.tokens'];
  const tensorTypes: Record<string, number> = {};
  for (const t of g.tensors) tensorTypes[t.type] = (tensorTypes[t.type] ?? 0) + 1;
  return {
    path,
    fileBytes: statSync(path).size,
    ggufVersion: g.version,
    architecture: arch,
    name: String(m['general.name'] ?? ''),
    layers: num('block_count'),
    embd: num('embedding_length'),
    heads: num('attention.head_count'),
    kvHeads: num('attention.head_count_kv'),
    ff: num('feed_forward_length'),
    contextLength: num('context_length'),
    vocabSize: typeof tokens === 'object' && tokens !== null && 'length' in tokens ? tokens.length : num('vocab_size'),
    tensorCount: g.tensors.length,
    tensorTypes,
    params: null,
    hasValueHead: 'rstar.value_head.weight' in m,
    randomWeights: typeof m['rstar.generator'] === 'string',
    metadata: m,
  };
}

export interface AddTokensResult {
  /** Tokens given new rows at the end of the embedding. */
  added: number;
  /** Tokens that took an unused padding row ("[PAD…]" entries of the vocabulary). */
  reused: number;
  /** Tokens the vocabulary already had (left as they were). */
  present: number;
  /** Vocabulary size of the output. */
  nVocab: number;
}

/**
 * Writes `output`: `input` with `tokens` (default: the step markers and prompt roles) added to its
 * vocabulary as special tokens, as the reference does before SFT. Each new token takes an unused
 * padding row when the vocabulary has one, else a new row of the embedding (and of an untied output
 * matrix); new rows start as the mean of the existing ones. Other text tokenizes as before.
 *
 * @example await addTokens('qwen2.5-math-1.5b.gguf', 'base-with-markers.gguf');
 */
export async function addTokens(input: string, output: string, tokens: readonly string[] = ALL_MARKERS): Promise<AddTokensResult> {
  if (!existsSync(input)) throw invalidArgument('an existing GGUF file', 'input', input);
  if (resolve(input) === resolve(output)) throw invalidArgument('an output path other than the input', 'output', output);
  if (tokens.length === 0 || tokens.some((t) => typeof t !== 'string' || t.length === 0)) throw invalidArgument('non-empty token texts', 'tokens', tokens);
  const callSite = new Error();
  try {
    return await loadBinding().addTokens(input, output, [...new Set(tokens)]);
  } catch (err) {
    throw fromNative(err, callSite);
  }
}
