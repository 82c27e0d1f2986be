/**
 * TreeContext: a llama.cpp context on a unified KV cache, scheduled for tree search.
 *
 * Three layers, all policy (the addon only provides mechanisms):
 * - Sequences: handles on llama.cpp sequence ids. `fork` shares the parent's KV cells with each
 *   child (a metadata copy in llama.cpp's unified cache, no K/V data moves).
 * - The scheduler: every pending feed, generation and scoring request of every caller, from every
 *   tree and problem, is merged into the same decode steps (continuous batching): each step takes
 *   one token from every generating sequence plus prefill chunks up to the batch size. Between two
 *   steps, and only then, KV metadata operations (fork, release, eviction) run, because llama.cpp
 *   must not see them during a decode.
 * - The prefix cache behind `expand` and `score`: finished sequences stay alive as cache entries,
 *   so expanding a node finds the longest cached prefix of its tokens (usually its own parent's
 *   sequence, or itself) and decodes only what is new. Entries are evicted least recently used when
 *   sequence ids or KV cells run out.
 *
 * What is left out: no speculative decoding, no KV defragmentation (llama.cpp has none for the
 * unified cache: dead leaves are released promptly instead), no recurrent/hybrid models (their
 * state cannot be rebuilt from a descendant, see the llama.cpp notes A.3).
 */
import { availableParallelism } from 'node:os';
import {
  DisposedError,
  InvalidArgumentError,
  KvCacheFullError,
  RstarError,
  assertInteger,
  assertNumber,
  fromNative,
  invalidArgument,
} from '../errors.js';
import { loadBinding, type NativeContext, type NativeSampler, type NativeStepResult } from '../native/binding.js';
import type { Model } from './model.js';
import type { Generation, SamplingOptions, StopReason, TreeContextOptions } from './types.js';

const MAX_SEQUENCES = 256; // llama.cpp's compile-time LLAMA_MAX_SEQ

type JobMode = 'feed' | 'generate' | 'score' | 'logits';

interface Job {
  seq: Sequence;
  mode: JobMode;
  /** Tokens still to decode; for generate/score/logits the last one produces the output row. */
  feed: number[];
  pos: number;
  sampler: NativeSampler | null;
  gen?: GenerationState;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

interface GenerationState {
  maxTokens: number;
  stopTokens: Set<number>;
  stopStrings: Buffer[];
  maxStopLength: number;
  eog: Set<number>;
  tokens: number[];
  text: Buffer;
  logprob: number;
}

/** Counters since the context was created (for benchmarks and tests). */
export interface TreeContextStats {
  decodeSteps: number;
  tokensDecoded: number;
  tokensSampled: number;
  liveSequences: number;
  cachedSequences: number;
  evictions: number;
}

/** A handle on one llama.cpp sequence of a TreeContext. */
export class Sequence {
  /** @internal logical tokens: the KV holds tokens[0, kvLength) and the rest is fed lazily. */
  tokens: number[];
  /** @internal */ kvLength: number;
  /** @internal */ busy = false;
  /** @internal */ released = false;
  /** @internal */ lastUsed = 0;
  /** @internal */ pins = 0;
  /** @internal true for sequences owned by the prefix cache. */
  cached = false;

  /** @internal */
  constructor(
    private readonly ctx: TreeContext,
    readonly id: number,
    tokens: number[],
    kvLength: number,
  ) {
    this.tokens = tokens;
    this.kvLength = kvLength;
  }

  /** Every token of the sequence (prompt and generated). */
  get length(): number {
    return this.tokens.length;
  }

  /** Splits into `k` children that share this sequence's KV cells; this sequence stays usable. */
  async fork(k: number): Promise<Sequence[]> {
    return this.ctx.fork(this, k);
  }

  /** Appends tokens and decodes them. */
  async append(tokens: readonly number[]): Promise<void> {
    return this.ctx.append(this, tokens);
  }

  /** Generates until a stop condition; the generated tokens are appended to this sequence. */
  async generate(options: SamplingOptions = {}): Promise<Generation> {
    return this.ctx.generate(this, options);
  }

  /** The raw PPM value-head output at this sequence's last token (the model must be a PPM). */
  async score(): Promise<number> {
    return this.ctx.scoreSequence(this);
  }

  /** Next-token logits after this sequence's last token (tests and diagnostics). */
  async logits(): Promise<Float32Array> {
    return this.ctx.logits(this);
  }

  /** Frees the sequence id; cells shared with other sequences stay until their last user goes. */
  async release(): Promise<void> {
    return this.ctx.release(this);
  }
}

function resolveSampling(options: SamplingOptions, model: Model, seedOffset: number): { params: { temperature: number; topK: number; topP: number; seed: number }; state: Omit<GenerationState, 'tokens' | 'text' | 'logprob'> } {
  const temperature = assertNumber(options.temperature ?? 1.0, 'temperature', 0, 100);
  const topK = assertInteger(options.topK ?? 0, 'topK', 0, model.info.nVocab);
  const topP = assertNumber(options.topP ?? 1.0, 'topP', Number.MIN_VALUE, 1);
  const seed = assertInteger(options.seed ?? 0, 'seed', 0, 2 ** 52) + seedOffset;
  const maxTokens = assertInteger(options.maxTokens ?? 512, 'maxTokens', 1, 1 << 20);
  const stopTokens = new Set<number>();
  for (const s of options.stopTokens ?? []) {
    if (typeof s === 'number') {
      stopTokens.add(assertInteger(s, 'stopTokens[]', 0, model.info.nVocab - 1));
    } else {
      const id = model.tokenId(s);
      if (id === null) throw invalidArgument('a text that is exactly one token (use stopStrings for longer texts)', 'stopTokens[]', s);
      stopTokens.add(id);
    }
  }
  const stopStrings = (options.stopStrings ?? []).map((s) => {
    if (typeof s !== 'string' || s.length === 0) throw invalidArgument('a non-empty string', 'stopStrings[]', s);
    return Buffer.from(s, 'utf8');
  });
  return {
    params: { temperature, topK, topP, seed },
    state: {
      maxTokens,
      stopTokens,
      stopStrings,
      maxStopLength: Math.max(0, ...stopStrings.map((b) => b.length)),
      eog: options.ignoreEndOfGeneration ? new Set<number>() : model.endOfGenerationTokens(),
    },
  };
}

function commonPrefix(a: readonly number[], b: readonly number[], limit: number): number {
  const n = Math.min(limit, a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class TreeContext {
  readonly model: Model;
  readonly contextSize: number;
  readonly batchSize: number;
  readonly threads: number;
  private readonly native: NativeContext;
  private readonly freeIds: number[] = [];
  private readonly live = new Set<Sequence>();
  private readonly jobs: Job[] = [];
  private readonly ops: Array<{ run: () => void; cancel: (err: unknown) => void }> = [];
  private pumping: Promise<void> | null = null;
  /** Sequence ids promised to expand/score calls that have not taken them yet. */
  private reserved = 0;
  private readonly idWaiters: Array<{ n: number; resolve: () => void; reject: (err: unknown) => void }> = [];
  private disposed = false;
  private clock = 0;
  private readonly disposeHooks: Array<() => void> = [];
  private readonly counters = { decodeSteps: 0, tokensDecoded: 0, tokensSampled: 0, evictions: 0 };
  private readonly Sampler: new (p: { temperature: number; topK: number; topP: number; seed: number }) => NativeSampler;

  private constructor(model: Model, native: NativeContext) {
    this.model = model;
    this.native = native;
    const info = native.info();
    this.contextSize = info.contextSize;
    this.batchSize = info.batchSize;
    this.threads = info.threads;
    this.Sampler = loadBinding().Sampler;
    for (let i = MAX_SEQUENCES - 1; i >= 0; i--) this.freeIds.push(i);
  }

  /** @internal use Model.createContext */
  static async create(model: Model, options: TreeContextOptions): Promise<TreeContext> {
    const contextSize = assertInteger(options.contextSize ?? 4096, 'contextSize', 16, 1 << 20);
    const batchSize = assertInteger(options.batchSize ?? Math.min(512, contextSize), 'batchSize', 1, contextSize);
    const threads = assertInteger(options.threads ?? availableParallelism(), 'threads', 1, 1024);
    const flashAttention = options.flashAttention ?? 'auto';
    if (!['auto', 'on', 'off'].includes(flashAttention)) throw invalidArgument('auto, on or off', 'flashAttention', flashAttention);
    const kvType = options.kvType ?? 'f16';
    if (!['f16', 'f32', 'q8_0'].includes(kvType)) throw invalidArgument('f16, f32 or q8_0', 'kvType', kvType);
    const native = new (loadBinding().Context)();
    const callSite = new Error();
    try {
      await native.init(model.native, { contextSize, batchSize, threads, flashAttention, kvType, maxSequences: 16 });
    } catch (err) {
      throw fromNative(err, callSite);
    }
    return new TreeContext(model, native);
  }

  /** @internal */
  onDispose(hook: () => void): void {
    this.disposeHooks.push(hook);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  stats(): TreeContextStats {
    let cached = 0;
    for (const s of this.live) if (s.cached) cached++;
    return { ...this.counters, liveSequences: this.live.size, cachedSequences: cached };
  }

  /** Bytes of the serialised KV state: grows with the cells in use (shared cells count once). */
  async kvStateBytes(): Promise<number> {
    return this.runOp(() => this.native.stateSize());
  }

  // ---- sequences ---------------------------------------------------------------------------

  /** A root sequence holding `tokens`, decoded once. */
  async createSequence(tokens: readonly number[]): Promise<Sequence> {
    this.check();
    const t = this.validateTokens(tokens, 'tokens');
    const seq = await this.runOp(() => this.newSequence([], 0));
    try {
      await this.append(seq, t);
    } catch (err) {
      await this.release(seq).catch(() => undefined);
      throw err;
    }
    return seq;
  }

  /** @internal */
  fork(parent: Sequence, k: number): Promise<Sequence[]> {
    this.checkSeq(parent);
    assertInteger(k, 'k', 1, MAX_SEQUENCES - 1);
    return this.runOp(() => {
      if (parent.busy) throw new InvalidArgumentError('cannot fork a sequence while it is generating; await its generate() first');
      const children: Sequence[] = [];
      try {
        for (let i = 0; i < k; i++) {
          const child = this.newSequence(parent.tokens.slice(), parent.kvLength);
          if (parent.kvLength > 0) this.native.seqCopy(parent.id, child.id, 0, parent.kvLength);
          children.push(child);
        }
      } catch (err) {
        for (const c of children) this.releaseNow(c);
        throw err;
      }
      return children;
    });
  }

  /** @internal */
  append(seq: Sequence, tokens: readonly number[]): Promise<void> {
    this.checkSeq(seq);
    const t = this.validateTokens(tokens, 'tokens');
    if (seq.tokens.length + t.length > this.contextSize) {
      return Promise.reject(new RstarError('CONTEXT_OVERFLOW', `a sequence of ${seq.tokens.length + t.length} tokens does not fit the context of ${this.contextSize} cells`));
    }
    return this.enqueue(seq, 'feed', (s) => {
      s.tokens.push(...t);
      return { feed: s.tokens.slice(s.kvLength), sampler: null };
    }) as Promise<void>;
  }

  /** @internal */
  generate(seq: Sequence, options: SamplingOptions, seedOffset = 0): Promise<Generation> {
    this.checkSeq(seq);
    const { params, state } = resolveSampling(options, this.model, seedOffset);
    if (seq.tokens.length === 0) return Promise.reject(invalidArgument('a sequence with at least one token', 'sequence', 'an empty sequence'));
    return this.enqueue(seq, 'generate', (s) => {
      this.rewindForOutput(s);
      const job: Pick<Job, 'feed' | 'sampler' | 'gen'> = {
        feed: s.tokens.slice(s.kvLength),
        sampler: new this.Sampler(params),
        gen: { ...state, tokens: [], text: Buffer.alloc(0), logprob: 0 },
      };
      return job;
    }) as Promise<Generation>;
  }

  /** @internal */
  scoreSequence(seq: Sequence): Promise<number> {
    this.checkSeq(seq);
    if (!this.model.info.hasValueHead) return Promise.reject(new InvalidArgumentError(`${this.model.info.path} has no value head: score with a PPM model (rstar train ppm)`));
    if (seq.tokens.length === 0) return Promise.reject(invalidArgument('a sequence with at least one token', 'sequence', 'an empty sequence'));
    return this.enqueue(seq, 'score', (s) => {
      this.rewindForOutput(s);
      return { feed: s.tokens.slice(s.kvLength), sampler: null };
    }) as Promise<number>;
  }

  /** @internal */
  logits(seq: Sequence): Promise<Float32Array> {
    this.checkSeq(seq);
    if (seq.tokens.length === 0) return Promise.reject(invalidArgument('a sequence with at least one token', 'sequence', 'an empty sequence'));
    return this.enqueue(seq, 'logits', (s) => {
      this.rewindForOutput(s);
      return { feed: s.tokens.slice(s.kvLength), sampler: null };
    }) as Promise<Float32Array>;
  }

  /** @internal */
  release(seq: Sequence): Promise<void> {
    if (seq.released || this.disposed) return Promise.resolve();
    return this.runOp(() => {
      if (seq.busy) throw new InvalidArgumentError('cannot release a sequence while it is generating');
      this.releaseNow(seq);
    });
  }

  // ---- the prefix-cached search API --------------------------------------------------------

  /**
   * Generates `n` continuations of `prefix` (token ids): the prefix is decoded at most once (less
   * when a cached sequence shares part of it), forked into `n` children, and the children generate
   * together with every other pending request. The i-th child samples with seed `seed + i`.
   * @example const steps = await ctx.expand(model.tokenize(prompt), 8, { temperature: 0.7, stopTokens: ['<end_of_step>'] });
   */
  async expand(prefix: readonly number[], n: number, sampling: SamplingOptions = {}): Promise<Generation[]> {
    this.check();
    const tokens = this.validateTokens(prefix, 'prefix');
    assertInteger(n, 'n', 1, 128);
    if (tokens.length === 0) throw invalidArgument('a non-empty prefix', 'prefix', prefix);
    if (tokens.length >= this.contextSize) throw new RstarError('CONTEXT_OVERFLOW', `a prefix of ${tokens.length} tokens does not fit the context of ${this.contextSize} cells`);
    resolveSampling(sampling, this.model, 0); // validate before any work
    // Admission: all the ids this expansion needs are reserved up front, so concurrent expansions
    // beyond the 256-id limit wait their turn instead of deadlocking on half-acquired ids.
    const ids = { left: n > 1 ? n + 1 : 1 };
    await this.reserveIds(ids.left);
    let base: Sequence | null = null;
    let children: Sequence[] = [];
    try {
      base = await this.acquire(tokens, tokens.length - 1, ids);
      children = [base];
      await this.enqueue(base, 'feed', (s) => ({ feed: s.tokens.slice(s.kvLength, s.tokens.length - 1), sampler: null }));
      if (n > 1) children = await this.forkForExpansion(base, n, ids);
      return await Promise.all(children.map((c, i) => this.generate(c, sampling, i)));
    } finally {
      await this.runOp(() => {
        for (const c of children) this.unpin(c);
        if (base && !children.includes(base)) this.releaseNow(base);
        this.unreserveIds(ids.left);
      }).catch(() => undefined);
    }
  }

  /**
   * Raw value-head outputs for token sequences (the model must be a PPM). Sequences are scored
   * together in groups whose tokens fit in half the context (shared prefixes are decoded once),
   * so any number of sequences can be passed without running out of KV cells.
   */
  async score(sequences: ReadonlyArray<readonly number[]>): Promise<number[]> {
    this.check();
    if (!this.model.info.hasValueHead) throw new InvalidArgumentError(`${this.model.info.path} has no value head: score with a PPM model (rstar train ppm)`);
    const all = sequences.map((tokens, i) => {
      const t = this.validateTokens(tokens, `sequences[${i}]`);
      if (t.length === 0) throw invalidArgument('a non-empty token sequence', `sequences[${i}]`, tokens);
      if (t.length > this.contextSize / 2) throw new RstarError('CONTEXT_OVERFLOW', `sequences[${i}] has ${t.length} tokens; scoring needs at most half the context (${this.contextSize} cells)`);
      return t;
    });
    const out: number[] = [];
    for (let start = 0; start < all.length; ) {
      let end = start;
      let budget = this.contextSize / 2;
      while (end < all.length && (end === start || all[end].length <= budget)) budget -= all[end++].length;
      out.push(...(await Promise.all(all.slice(start, end).map((t) => this.scoreOne(t)))));
      start = end;
    }
    return out;
  }

  private async scoreOne(t: number[]): Promise<number> {
    const ids = { left: 1 };
    await this.reserveIds(1);
    let seq: Sequence | null = null;
    try {
      seq = await this.acquire(t, t.length, ids);
      return await this.scoreSequence(seq);
    } finally {
      await this.runOp(() => {
        if (seq) this.unpin(seq);
        this.unreserveIds(ids.left);
      }).catch(() => undefined);
    }
  }

  /** Frees every cached sequence (and its cells); sequences handed out by the low-level API stay. */
  async dropCache(): Promise<void> {
    await this.runOp(() => {
      for (const s of [...this.live]) if (s.cached && s.pins === 0) this.releaseNow(s);
    });
  }

  /**
   * A pinned cache sequence whose logical tokens are `tokens`, reusing the longest cached prefix;
   * at most `limit` tokens are taken from the cache (the caller decodes the rest).
   */
  private acquire(tokens: number[], limit: number, ids: { left: number }): Promise<Sequence> {
    return this.runOp(() => {
      let best: Sequence | null = null;
      let bestLen = 0;
      for (const s of this.live) {
        if (!s.cached) continue;
        const l = commonPrefix(s.tokens, tokens, Math.min(s.kvLength, limit));
        if (l > bestLen) {
          best = s;
          bestLen = l;
        }
      }
      if (best) {
        best.pins++; // keep it alive while a new id may have to be found by eviction
        best.lastUsed = ++this.clock;
      }
      try {
        const seq = this.newSequence(tokens.slice(), bestLen, ids);
        seq.cached = true;
        seq.pins = 1;
        if (best && bestLen > 0) this.native.seqCopy(best.id, seq.id, 0, bestLen);
        return seq;
      } finally {
        if (best) best.pins--;
      }
    });
  }

  private forkForExpansion(base: Sequence, n: number, ids: { left: number }): Promise<Sequence[]> {
    return this.runOp(() => {
      const children: Sequence[] = [];
      base.pins++;
      try {
        for (let i = 0; i < n; i++) {
          const c = this.newSequence(base.tokens.slice(), base.kvLength, ids);
          c.cached = true;
          c.pins = 1;
          if (base.kvLength > 0) this.native.seqCopy(base.id, c.id, 0, base.kvLength);
          children.push(c);
        }
      } catch (err) {
        for (const c of children) this.releaseNow(c);
        throw err;
      } finally {
        base.pins--;
      }
      return children;
    });
  }

  private unpin(seq: Sequence): void {
    if (seq.pins > 0) seq.pins--;
    seq.lastUsed = ++this.clock;
    this.serviceIdWaiters();
  }

  /** Ids that a new sequence could get now: free ones plus evictable cache entries, less promises. */
  private spareIds(): number {
    let evictable = 0;
    for (const s of this.live) if (s.cached && s.pins === 0 && !s.busy) evictable++;
    return this.freeIds.length + evictable - this.reserved;
  }

  private reserveIds(n: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.ops.push({
        run: () => {
          this.idWaiters.push({ n, resolve, reject });
          this.serviceIdWaiters();
        },
        cancel: reject,
      });
      this.wake();
    });
  }

  private unreserveIds(n: number): void {
    this.reserved -= n;
    this.serviceIdWaiters();
  }

  /** First come, first served: a large request is not overtaken by small ones. */
  private serviceIdWaiters(): void {
    while (this.idWaiters.length > 0 && this.spareIds() >= this.idWaiters[0].n) {
      const w = this.idWaiters.shift()!;
      this.reserved += w.n;
      w.resolve();
    }
  }

  // ---- plumbing ----------------------------------------------------------------------------

  private check(): void {
    if (this.disposed) throw new DisposedError('TreeContext');
  }

  private checkSeq(seq: Sequence): void {
    this.check();
    if (!(seq instanceof Sequence)) throw invalidArgument('a Sequence', 'sequence', seq);
    if (seq.released) throw new DisposedError(`Sequence ${seq.id}`);
  }

  private validateTokens(tokens: readonly number[], name: string): number[] {
    if (!Array.isArray(tokens) && !(tokens instanceof Int32Array)) throw invalidArgument('an array of token ids', name, tokens);
    const n = this.model.info.nVocab;
    const out = Array.from(tokens);
    for (const t of out) if (!Number.isInteger(t) || t < 0 || t >= n) throw invalidArgument(`token ids in [0, ${n})`, name, t);
    return out;
  }

  private newSequence(tokens: number[], kvLength: number, ids?: { left: number }): Sequence {
    if (ids && ids.left > 0) {
      ids.left--;
      this.reserved--;
    } else if (this.spareIds() < 1) {
      throw new KvCacheFullError(`all ${MAX_SEQUENCES} sequence ids are in use or promised: release sequences you no longer need`);
    }
    let id = this.freeIds.pop();
    if (id === undefined) {
      this.evict(1);
      id = this.freeIds.pop();
    }
    if (id === undefined) throw new KvCacheFullError(`all ${MAX_SEQUENCES} sequence ids are in use: release sequences you no longer need`);
    // Defensive: llama.cpp's copy adds to the destination, so an id must come back empty.
    this.native.seqRemove(id, -1, -1);
    const seq = new Sequence(this, id, tokens, kvLength);
    seq.lastUsed = ++this.clock;
    this.live.add(seq);
    return seq;
  }

  private releaseNow(seq: Sequence): void {
    if (seq.released) return;
    seq.released = true;
    this.live.delete(seq);
    if (!this.disposed) this.native.seqRemove(seq.id, -1, -1);
    this.freeIds.push(seq.id);
    this.serviceIdWaiters();
  }

  /** Releases up to `count` least recently used, unpinned cache entries; returns how many. */
  private evict(count: number): number {
    const victims = [...this.live].filter((s) => s.cached && s.pins === 0 && !s.busy).sort((a, b) => a.lastUsed - b.lastUsed);
    let n = 0;
    for (const v of victims.slice(0, count)) {
      this.releaseNow(v);
      n++;
    }
    this.counters.evictions += n;
    return n;
  }

  /** Generation needs the logits after the last token: take it out of the KV to decode it again. */
  private rewindForOutput(seq: Sequence): void {
    if (seq.kvLength === seq.tokens.length) {
      seq.kvLength -= 1;
      this.native.seqRemove(seq.id, seq.kvLength, -1);
    }
  }

  /** Runs `fn` between two decode steps (KV metadata must not change during a decode). */
  private runOp<T>(fn: () => T): Promise<T> {
    if (this.disposed) return Promise.reject(new DisposedError('TreeContext'));
    return new Promise<T>((resolve, reject) => {
      this.ops.push({
        run: () => {
          try {
            resolve(fn());
          } catch (err) {
            reject(err instanceof RstarError ? err : fromNative(err));
          }
        },
        cancel: reject,
      });
      this.wake();
    });
  }

  private enqueue(seq: Sequence, mode: JobMode, setup: (s: Sequence) => Pick<Job, 'feed' | 'sampler' | 'gen'>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.ops.push({ cancel: reject, run: () => {
        try {
          if (seq.released) throw new DisposedError(`Sequence ${seq.id}`);
          if (seq.busy) throw new InvalidArgumentError(`sequence ${seq.id} already has a request in flight`);
          const { feed, sampler, gen } = setup(seq);
          if (feed.length === 0) {
            resolve(undefined);
            return;
          }
          seq.busy = true;
          this.jobs.push({ seq, mode, feed, pos: 0, sampler, gen, resolve, reject });
        } catch (err) {
          reject(err instanceof RstarError ? err : fromNative(err));
        }
      } });
      this.wake();
    });
  }

  private wake(): void {
    if (!this.pumping) {
      this.pumping = this.pump().finally(() => {
        this.pumping = null;
        if ((this.ops.length > 0 || this.jobs.length > 0) && !this.disposed) this.wake();
      });
    }
  }

  /** The decode loop: runs while there is work; every await yields to the event loop. */
  private async pump(): Promise<void> {
    // One macrotask of grace so that callers issuing requests in the same tick share the first step.
    await new Promise<void>((r) => setImmediate(r));
    while (!this.disposed) {
      while (this.ops.length > 0) this.ops.shift()!.run();
      if (this.jobs.length === 0) return;
      await this.step();
    }
  }

  private finish(job: Job, value: unknown): void {
    const i = this.jobs.indexOf(job);
    if (i >= 0) this.jobs.splice(i, 1);
    job.seq.busy = false;
    job.seq.lastUsed = ++this.clock;
    job.resolve(value);
  }

  private fail(job: Job, err: unknown): void {
    const i = this.jobs.indexOf(job);
    if (i >= 0) this.jobs.splice(i, 1);
    job.seq.busy = false;
    job.reject(err);
  }

  private async step(): Promise<void> {
    // Scoring rows need embeddings on for the whole decode, and with embeddings on every token of
    // the batch becomes an output; so a scoring step carries only last tokens of scoring jobs.
    const scoreReady = this.jobs.filter((j) => j.mode === 'score' && j.pos === j.feed.length - 1);
    const embed = scoreReady.length > 0 && scoreReady.length === this.jobs.filter((j) => j.mode === 'score').length;
    const plan: Array<{ job: Job; take: number; output: boolean }> = [];
    let budget = this.batchSize;
    if (embed) {
      for (const job of scoreReady.slice(0, budget)) {
        plan.push({ job, take: 1, output: true });
        budget--;
      }
    } else {
      // Generating sequences first, one token each: they are what keeps every step full.
      const ordered = [...this.jobs].sort((a, b) => a.feed.length - a.pos - (b.feed.length - b.pos));
      for (const job of ordered) {
        if (budget === 0) break;
        const remaining = job.feed.length - job.pos;
        const limit = job.mode === 'score' ? remaining - 1 : remaining;
        if (limit <= 0) continue;
        const take = Math.min(limit, budget);
        const output = job.mode !== 'feed' && job.mode !== 'score' && take === remaining;
        plan.push({ job, take, output });
        budget -= take;
      }
    }
    if (plan.length === 0) return;
    const n = this.batchSize - budget;
    const tokens = new Int32Array(n);
    const seqs = new Int32Array(n);
    const outRows: number[] = [];
    const samplers: Array<NativeSampler | null> = [];
    const outputs: Job[] = [];
    let k = 0;
    let wantLogits = false;
    for (const { job, take, output } of plan) {
      for (let i = 0; i < take; i++) {
        tokens[k] = job.feed[job.pos + i];
        seqs[k] = job.seq.id;
        k++;
      }
      if (output) {
        outRows.push(k - 1);
        samplers.push(job.sampler);
        outputs.push(job);
        if (job.mode === 'logits') wantLogits = true;
      }
    }
    let result: NativeStepResult;
    try {
      result = await this.native.step(tokens, seqs, Int32Array.from(outRows), samplers, { embed, logits: wantLogits });
    } catch (err) {
      const e = fromNative(err);
      if (e.code === 'KV_CACHE_FULL') {
        // The failed decode left the cache as it was. Make room from the prefix cache, else give
        // up on the newest request so the others can go on: never a hang.
        const cachedIdle = [...this.live].filter((s) => s.cached && s.pins === 0 && !s.busy).length;
        if (this.evict(Math.max(1, Math.ceil(cachedIdle / 2))) === 0) {
          // The newest request gives way. A generation ends early with what it has (stopReason
          // 'context_full', like running into the context end); other requests reject.
          const victim = plan[plan.length - 1].job;
          if (victim.mode === 'generate') this.finishGeneration(victim, 'context_full', null, victim.gen!.text.length);
          else this.fail(victim, new KvCacheFullError(`${e.message} (${this.live.size} live sequences)`));
        }
        return;
      }
      if (this.disposed) return;
      for (const { job } of plan) this.fail(job, e);
      return;
    }
    this.counters.decodeSteps++;
    this.counters.tokensDecoded += n;
    for (const { job, take } of plan) {
      job.pos += take;
      job.seq.kvLength += take;
    }
    const nVocab = this.model.info.nVocab;
    outputs.forEach((job, j) => {
      switch (job.mode) {
        case 'score':
          this.finish(job, result.scores![j]);
          break;
        case 'logits':
          this.finish(job, result.logits!.slice(j * nVocab, (j + 1) * nVocab));
          break;
        case 'generate':
          this.advanceGeneration(job, result.tokens[j], result.logprobs[j], result.pieces.subarray(result.pieceOffsets[j], result.pieceOffsets[j + 1]));
          break;
        default:
          break;
      }
    });
    for (const job of [...this.jobs]) if (job.mode === 'feed' && job.pos === job.feed.length) this.finish(job, undefined);
  }

  private advanceGeneration(job: Job, token: number, logprob: number, piece: Buffer): void {
    const g = job.gen!;
    const seq = job.seq;
    this.counters.tokensSampled++;
    g.tokens.push(token);
    g.logprob += logprob;
    seq.tokens.push(token);
    const before = g.text.length;
    g.text = Buffer.concat([g.text, piece]);
    let reason: StopReason | null = null;
    let stop: string | null = null;
    let cut = g.text.length;
    if (g.stopTokens.has(token)) {
      reason = 'stop_token';
      stop = piece.toString('utf8');
    } else if (g.eog.has(token)) {
      reason = 'eog';
      stop = piece.toString('utf8');
    } else if (g.stopStrings.length > 0) {
      const from = Math.max(0, before - g.maxStopLength + 1);
      let best = -1;
      for (const s of g.stopStrings) {
        const at = g.text.indexOf(s, from);
        if (at >= 0 && (best < 0 || at + s.length < cut)) {
          best = at;
          cut = at + s.length;
          stop = s.toString('utf8');
        }
      }
      if (best >= 0) reason = 'stop_string';
    }
    if (!reason && g.tokens.length >= g.maxTokens) reason = 'max_tokens';
    if (!reason && seq.tokens.length >= this.contextSize) reason = 'context_full';
    if (reason) {
      this.finishGeneration(job, reason, stop, cut);
      return;
    }
    job.feed = [token];
    job.pos = 0;
  }

  private finishGeneration(job: Job, reason: StopReason, stop: string | null, cut: number): void {
    const g = job.gen!;
    const generation: Generation = { text: g.text.subarray(0, cut).toString('utf8'), tokens: g.tokens, stopReason: reason, stop, logprob: g.logprob };
    this.finish(job, generation);
  }

  /** Disposes the context: pending requests reject with DisposedError. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const err = new DisposedError('TreeContext');
    for (const job of this.jobs.splice(0)) {
      job.seq.busy = false;
      job.reject(err);
    }
    for (const op of this.ops.splice(0)) op.cancel(err);
    for (const w of this.idWaiters.splice(0)) w.reject(err);
    this.native.dispose();
    await this.pumping?.catch(() => undefined);
    for (const s of this.live) s.released = true;
    this.live.clear();
    for (const h of this.disposeHooks) h();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
