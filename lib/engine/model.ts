/**
 * A loaded GGUF model: weights, vocabulary, and the PPM value head when the file carries one.
 * One Model backs any number of TreeContexts; disposing the model disposes them first.
 */
import { DisposedError, assertInteger, fromNative, invalidArgument } from '../errors.js';
import { loadBinding, type NativeModel } from '../native/binding.js';
import { TreeContext } from './tree-context.js';
import type { LoadModelOptions, ModelInfo, TreeContextOptions } from './types.js';

export class Model {
  /** @internal */ readonly native: NativeModel;
  readonly info: ModelInfo;
  /**
   * Layers asked to be offloaded to the GPU (`gpuLayers`, -1 for all) and how many were: 0 on a build
   * without GPU offload, else up to every repeating layer plus the output layer (llama.cpp's count).
   */
  readonly offload: { requestedLayers: number; offloadedLayers: number };
  private readonly contexts = new Set<TreeContext>();
  private disposed = false;
  private eogIds: Set<number> | null = null;

  private constructor(native: NativeModel, path: string, gpuLayers: number, gpuOffload: boolean) {
    this.native = native;
    const i = native.info();
    this.info = { ...i, path };
    const layers = i.nLayer + 1;
    this.offload = { requestedLayers: gpuLayers, offloadedLayers: gpuOffload ? (gpuLayers < 0 ? layers : Math.min(gpuLayers, layers)) : 0 };
  }

  /**
   * Loads a GGUF file. Rejects with a typed error (never a crash) for a missing, truncated or
   * corrupt file.
   * @example const model = await Model.load('model.gguf', { onProgress: (p) => console.log(p) });
   */
  static async load(path: string, options: LoadModelOptions = {}): Promise<Model> {
    if (typeof path !== 'string' || path.length === 0) throw invalidArgument('a file path', 'path', path);
    const binding = loadBinding();
    const gpuLayers = assertInteger(options.gpuLayers ?? 0, 'gpuLayers', -1, 100_000);
    const native = new binding.Model();
    const callSite = new Error();
    try {
      await native.load(path, { gpuLayers, mmap: options.mmap ?? true, onProgress: options.onProgress });
    } catch (err) {
      throw fromNative(err, callSite);
    }
    return new Model(native, path, gpuLayers, binding.systemInfo().gpuOffload);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private check(): void {
    if (this.disposed) throw new DisposedError('Model');
  }

  /**
   * Text to token ids; special tokens (markers, roles) are parsed as single tokens by default.
   * `addBos` adds the beginning-of-sequence token only when the model's GGUF asks for it
   * (`tokenizer.ggml.add_bos_token`); text that starts a sequence should pass it (see `promptTokens`).
   */
  tokenize(text: string, options: { special?: boolean; addBos?: boolean } = {}): number[] {
    this.check();
    if (typeof text !== 'string') throw invalidArgument('a string', 'text', text);
    return Array.from(this.native.tokenize(text, options.addBos ?? false, options.special ?? true));
  }

  /** Token ids to text; special tokens are rendered by default. */
  detokenize(tokens: readonly number[] | Int32Array, options: { special?: boolean } = {}): string {
    this.check();
    try {
      return this.native.detokenize(Int32Array.from(tokens), options.special ?? true);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** The id of `text` when it is exactly one token (a marker, say), else null. */
  tokenId(text: string): number | null {
    const t = this.tokenize(text);
    return t.length === 1 ? t[0] : null;
  }

  /** Raw bytes of each token, for building stop sets by content. */
  tokenBytes(tokens: readonly number[]): Buffer[] {
    this.check();
    const { bytes, offsets } = this.native.tokenPieces(Int32Array.from(tokens));
    return tokens.map((_, i) => bytes.subarray(offsets[i], offsets[i + 1]));
  }

  /** End-of-generation tokens (EOS, EOT, <|im_end|>, ...), computed once. */
  endOfGenerationTokens(): Set<number> {
    this.check();
    if (!this.eogIds) {
      const ids = new Set<number>();
      for (let t = 0; t < this.info.nVocab; t++) if (this.native.isEog(t)) ids.add(t);
      this.eogIds = ids;
    }
    return this.eogIds;
  }

  /**
   * A tree-search context on a unified KV cache shared by all its sequences.
   * @example const ctx = await model.createContext({ contextSize: 8192 });
   */
  async createContext(options: TreeContextOptions = {}): Promise<TreeContext> {
    this.check();
    const ctx = await TreeContext.create(this, options);
    this.contexts.add(ctx);
    ctx.onDispose(() => this.contexts.delete(ctx));
    return ctx;
  }

  /** Disposes every context, then frees the weights. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all([...this.contexts].map((c) => c.dispose()));
    this.native.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
