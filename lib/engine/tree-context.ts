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
 *   sequence ids or KV cells run out. The prefix's last token is decoded once, in the base
 *   sequence, and every child's first token is sampled from that one row of logits (one sampler
 *   per child), so a child starts with its own first token instead of decoding the parent's last
 *   token again: n - 1 tokens and cells fewer per expansion of n.
 * - Admission to the KV cells: a ledger mirrors which cells every sequence holds (llama.cpp's API has
 *   no count of used cells), so a step is fitted to the free cells before it is decoded. While the
 *   cells suffice nothing else happens. When they do not, the context is "under pressure" until the
 *   reservations of all admitted work fit again: idle cache entries are evicted, generations get
 *   their tokens before prefills, the step carries fewer tokens, and new work waits, first come first
 *   served, until its reservation (its prefill plus up to ADMISSION_HORIZON_TOKENS per generation)
 *   fits. Only when no admitted request can
 *   move at all does work give way, youngest first: a request that has produced nothing yet gives
 *   back its own cells and waits again, else a generation ends early with stopReason
 *   'context_full' (a result). A request is refused (KvCacheFullError) only when it cannot fit even
 *   with everything else finished: the cells are held by the caller's own sequences.
 *
 * What is left out: no speculative decoding, no KV defragmentation (llama.cpp has none for the
 * unified cache: dead leaves are released promptly instead), no recurrent/hybrid models (their
 * state cannot be rebuilt from a descendant, see the llama.cpp notes A.3), no preemption by
 * recomputation (vLLM's: a generation that gives way ends; it is not paused and re-decoded later),
 * and admission is optimistic until the cells first run out (reserving for every child would
 * serialise the normal case, where steps stop long before maxTokens).
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

/**
 * Tokens per generation that admission reserves under pressure (or maxTokens if smaller). A step
 * of the method is tens to a few hundred tokens; reserving maxTokens (2048 in the search) would run
 * one expansion at a time once a policy rambles, while a generation past this horizon is what gives
 * way (youngest first) when the cells run out.
 */
const ADMISSION_HORIZON_TOKENS = 256;

type JobMode = 'feed' | 'generate' | 'score' | 'logits' | 'fanout';

/** A first token sampled from a parent's logits, handed to the child that continues from it. */
interface FirstToken {
  sampler: NativeSampler;
  token: number;
  logprob: number;
  piece: Buffer;
}

/**
 * Hooks called around every decode step (benchmarks); with none set the engine checks one field
 * per step. Called on the event loop, so keep them cheap.
 */
export interface StepProbe {
  stepStart(): void;
  /** `outputs`: sampled rows in the step (the batch size the search reached); timings in ms. */
  stepEnd(step: { tokens: number; outputs: number; decodeMs: number; sampleMs: number }): void;
}

interface Job {
  seq: Sequence;
  mode: JobMode;
  /** Tokens still to decode; for generate/score/logits the last one produces the output row. */
  feed: number[];
  pos: number;
  /** The sequence position of feed[0] (where a job that has produced nothing yet can restart). */
  start: number;
  sampler: NativeSampler | null;
  /** 'fanout': the samplers of the children, each drawing one first token from the last row. */
  samplers?: NativeSampler[];
  gen?: GenerationState;
  /** Arrival order: older work goes first when cells are short. */
  order: number;
  /** The job may take cells; under pressure a new job waits until its reservation fits. */
  admitted: boolean;
  /** Gave back its cells: sits out until another job ends, so it cannot take them straight back. */
  parked: boolean;
  /** The expansion or score this job serves: its cells were reserved when the request was admitted. */
  ticket: Ticket | null;
  /** A request's own sequence: its pin is dropped as soon as its job ends (not when its siblings end). */
  unpinWhenDone: boolean;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * An expansion's or a score's claim on KV cells. Under pressure a request is admitted whole, before
 * it holds any cell (so a waiting request never sits on cells), with what it will decode reserved
 * (prefill, and up to ADMISSION_HORIZON_TOKENS per child); its jobs never wait for admission.
 */
interface Ticket {
  /** Cells reserved for what the request has still to decode (its prefill and its children's horizon). */
  reserve: number;
  /** What it needs to start when it would run alone: its prefill. */
  prefill: number;
  order: number;
  /** Its jobs may take cells. A request admitted on the normal path steps back into the queue when pressure begins before it has decoded anything. */
  admitted: boolean;
  /** Its promise has resolved (the request went on to acquire its sequences). */
  started: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface StepPlan {
  rows: Array<{ job: Job; take: number; output: boolean }>;
  tokens: number;
  embed: boolean;
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
  /** KV cells holding no sequence right now. */
  freeCells: number;
  /** Steps planned while the cells could not hold all pending work (see "Admission" above). */
  pressureSteps: number;
  /** Generations ended early (stopReason 'context_full') to free cells for older work. */
  generationsEndedEarly: number;
  /** Requests that gave back their cells and waited again. */
  rollbacks: number;
  /** Sequences longer than the context that `score` scored on their last `contextSize` tokens. */
  truncatedScores: number;
  /** Children whose first token was sampled from the parent's logits (not decoded again per child). */
  firstTokensFromParent: number;
  /** Milliseconds in llama_decode, and in sampling after it, summed over steps (decode thread). */
  decodeMs: number;
  sampleMs: number;
  /** Milliseconds from handing a step to the addon until its result was back on the event loop. */
  stepMs: number;
  /** Sum over steps of the squared number of sampled rows: Σrows² / tokensSampled is the row-weighted mean batch. */
  sampledRowsSquared: number;
  /** Most sampled rows in one step. */
  maxSampledRows: number;
}

/**
 * Which KV cells are in use, mirrored from the operations this context issues: a cell is made by
 * decoding one token of one sequence, shared by a sequence copy, and free again when the last
 * sequence holding it removes it (llama.cpp's rule). Cells here are our own ids, not llama.cpp's slot
 * indices: only the count matters, since llama.cpp places a batch in any free cells, contiguous or
 * not (find_slot with cont = false), and a decode of n tokens fits exactly when n cells are free.
 */
class CellLedger {
  private holders: Int32Array;
  private readonly freeIds: number[] = [];

  constructor(size: number) {
    this.holders = new Int32Array(size);
    for (let i = size - 1; i >= 0; i--) this.freeIds.push(i);
  }

  get free(): number {
    return this.freeIds.length;
  }

  /** Appends `n` new cells (decoded tokens) to a sequence's cells. */
  add(cells: number[], n: number): void {
    for (let i = 0; i < n; i++) {
      let c = this.freeIds.pop();
      if (c === undefined) {
        // llama.cpp found room we did not count (a model with sliding-window cells): never fail a
        // decode that succeeded; the ledger only errs on the safe side.
        c = this.holders.length;
        const grown = new Int32Array(c * 2);
        grown.set(this.holders);
        this.holders = grown;
        for (let j = grown.length - 1; j > c; j--) this.freeIds.push(j);
      }
      this.holders[c] = 1;
      cells.push(c);
    }
  }

  /** The first `length` cells of a sequence, now held by one more sequence as well. */
  share(cells: readonly number[], length: number): number[] {
    const out = cells.slice(0, length);
    for (const c of out) this.holders[c]++;
    return out;
  }

  /** Removes positions [from, end) from a sequence; returns how many cells became free. */
  truncate(cells: number[], from: number): number {
    let freed = 0;
    for (let i = from; i < cells.length; i++) {
      const c = cells[i];
      if (--this.holders[c] === 0) {
        this.freeIds.push(c);
        freed++;
      }
    }
    if (from < cells.length) cells.length = from;
    return freed;
  }

  /** The first position of the sequence's tail that no other sequence holds (cells.length if none). */
  exclusiveStart(cells: readonly number[]): number {
    let i = cells.length;
    while (i > 0 && this.holders[cells[i - 1]] === 1) i--;
    return i;
  }
}

/** A handle on one llama.cpp sequence of a TreeContext. */
export class Sequence {
  /** @internal logical tokens: the KV holds tokens[0, kvLength) and the rest is fed lazily. */
  tokens: number[];
  /** @internal the ledger's cell for each position held in the KV. */
  cells: number[];
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
    cells: number[],
  ) {
    this.tokens = tokens;
    this.cells = cells;
  }

  /** @internal tokens held in the KV cache. */
  get kvLength(): number {
    return this.cells.length;
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
  private readonly counters = {
    decodeSteps: 0, tokensDecoded: 0, tokensSampled: 0, evictions: 0, pressureSteps: 0, generationsEndedEarly: 0, rollbacks: 0, truncatedScores: 0,
    firstTokensFromParent: 0, decodeMs: 0, sampleMs: 0, stepMs: 0, sampledRowsSquared: 0, maxSampledRows: 0,
  };
  private probe: StepProbe | null = null;
  private readonly cells: CellLedger;
  /** Jobs ever queued: each job's arrival order. */
  private arrivals = 0;
  /** Set when the cells could not hold a step's work; cleared once every admitted reservation fits. */
  private pressure = false;
  private parkedJobs = 0;
  /** Admitted requests and the ones waiting for cells. */
  private readonly tickets = new Set<Ticket>();
  private readonly ticketWaiters: Ticket[] = [];
  private readonly Sampler: new (p: { temperature: number; topK: number; topP: number; seed: number }) => NativeSampler;

  /** Cells idle cache entries may hold before the least recently used are released (see TreeContextOptions). */
  private readonly idleCacheCells: number;

  private constructor(model: Model, native: NativeContext, idleCacheCells: number | undefined) {
    this.model = model;
    this.native = native;
    const info = native.info();
    this.contextSize = info.contextSize;
    this.idleCacheCells = idleCacheCells ?? Math.floor(info.contextSize / 4);
    this.batchSize = info.batchSize;
    this.threads = info.threads;
    this.cells = new CellLedger(info.contextSize);
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
    const idleCacheCells = options.idleCacheCells;
    if (idleCacheCells !== undefined && idleCacheCells !== Infinity) assertInteger(idleCacheCells, 'idleCacheCells', 0);
    const native = new (loadBinding().Context)();
    const callSite = new Error();
    try {
      await native.init(model.native, { contextSize, batchSize, threads, flashAttention, kvType, maxSequences: 16 });
    } catch (err) {
      throw fromNative(err, callSite);
    }
    return new TreeContext(model, native, options.idleCacheCells);
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
    return { ...this.counters, liveSequences: this.live.size, cachedSequences: cached, freeCells: this.cells.free };
  }

  /** Sets (or clears, with null) the hooks called around every decode step. */
  setStepProbe(probe: StepProbe | null): void {
    this.probe = probe;
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
    const seq = await this.runOp(() => this.newSequence([], []));
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
          const child = this.newSequence(parent.tokens.slice(), this.cells.share(parent.cells, parent.kvLength));
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

  /**
   * @internal With `first`, the generation starts from a token already sampled from this
   * sequence's logits (its sequence holds every token in the KV): nothing is decoded again.
   */
  generate(seq: Sequence, options: SamplingOptions, seedOffset = 0, ticket: Ticket | null = null, first: FirstToken | null = null): Promise<Generation> {
    this.checkSeq(seq);
    const { params, state } = resolveSampling(options, this.model, seedOffset);
    if (seq.tokens.length === 0) return Promise.reject(invalidArgument('a sequence with at least one token', 'sequence', 'an empty sequence'));
    return this.enqueue(seq, 'generate', (s) => {
      if (!first) this.rewindForOutput(s);
      const job: Pick<Job, 'feed' | 'sampler' | 'gen'> = {
        // With a first token the feed is replaced by advanceGeneration right after the job is queued.
        feed: first ? [first.token] : s.tokens.slice(s.kvLength),
        sampler: first ? first.sampler : new this.Sampler(params),
        gen: { ...state, tokens: [], text: Buffer.alloc(0), logprob: 0 },
      };
      return job;
    }, ticket, ticket !== null, first ? (job) => {
      this.counters.firstTokensFromParent++;
      this.advanceGeneration(job, first.token, first.logprob, first.piece);
    } : undefined) as Promise<Generation>;
  }

  /** @internal Decodes the rest of `seq` and samples one token per sampler from its last logits. */
  private fanOut(seq: Sequence, samplers: NativeSampler[], ticket: Ticket | null): Promise<FirstToken[]> {
    return this.enqueue(seq, 'fanout', (s) => {
      this.rewindForOutput(s);
      return { feed: s.tokens.slice(s.kvLength), sampler: null, samplers };
    }, ticket) as Promise<FirstToken[]>;
  }

  /** @internal */
  scoreSequence(seq: Sequence, ticket: Ticket | null = null): Promise<number> {
    this.checkSeq(seq);
    if (!this.model.info.hasValueHead) return Promise.reject(new InvalidArgumentError(`${this.model.info.path} has no value head: score with a PPM model (rstar train ppm)`));
    if (seq.tokens.length === 0) return Promise.reject(invalidArgument('a sequence with at least one token', 'sequence', 'an empty sequence'));
    return this.enqueue(seq, 'score', (s) => {
      this.rewindForOutput(s);
      return { feed: s.tokens.slice(s.kvLength), sampler: null };
    }, ticket, ticket !== null) as Promise<number>;
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
    const { maxTokens } = resolveSampling(sampling, this.model, 0).state; // validate before any work
    // Admission: all the ids this expansion needs are reserved up front, so concurrent expansions
    // beyond the 256-id limit wait their turn instead of deadlocking on half-acquired ids; then its
    // KV cells, which under pressure means a reservation: the prefix, and every child decoding the
    // prefix's last token and up to ADMISSION_HORIZON_TOKENS - 1 more (up to the context's end).
    const ids = { left: n > 1 ? n + 1 : 1 };
    await this.reserveIds(ids.left);
    // Each child decodes at most maxTokens - 1 of its own tokens (its first comes from the prefix's
    // logits, its last is never decoded); the prefix's last token is decoded once, in the base.
    const perChild = Math.min(maxTokens, ADMISSION_HORIZON_TOKENS, this.contextSize - tokens.length + 1) - 1;
    let ticket: Ticket | null = null;
    let base: Sequence | null = null;
    let children: Sequence[] = [];
    try {
      ticket = await this.admitRequest(tokens.length + n * perChild, tokens.length);
      base = await this.acquire(tokens, tokens.length - 1, ids);
      ticket.reserve = Math.min(ticket.reserve, tokens.length - base.kvLength + n * perChild); // the cached part costs no cell
      children = [base];
      const admitted = ticket;
      if (n === 1) return [await this.generate(base, sampling, 0, admitted)];
      const samplers = Array.from({ length: n }, (_, i) => new this.Sampler(resolveSampling(sampling, this.model, i).params));
      const firsts = await this.fanOut(base, samplers, ticket);
      children = await this.forkForExpansion(base, n, ids);
      // Each child's pin goes when its own generation ends, so a finished child is an ordinary
      // cache entry (evictable when cells are short) while its siblings still generate.
      return await Promise.all(children.map((c, i) => this.generate(c, sampling, i, admitted, firsts[i])));
    } finally {
      await this.runOp(() => {
        for (const c of children) if (c.pins > 0) this.unpin(c);
        if (base && !children.includes(base)) this.releaseNow(base);
        this.unreserveIds(ids.left);
        this.releaseTicket(ticket);
      }).catch(() => undefined);
    }
  }

  /**
   * Raw value-head outputs for token sequences (the model must be a PPM). Sequences are scored
   * together in groups of at most half the context's tokens (shared prefixes are decoded once), so
   * any number of sequences can be passed; a longer sequence is scored in a group of its own. A
   * sequence longer than the context keeps its last `contextSize` tokens (left truncation, as the
   * reference's reward model truncates) and is counted in `stats().truncatedScores`.
   */
  async score(sequences: ReadonlyArray<readonly number[]>): Promise<number[]> {
    this.check();
    if (!this.model.info.hasValueHead) throw new InvalidArgumentError(`${this.model.info.path} has no value head: score with a PPM model (rstar train ppm)`);
    const all = sequences.map((tokens, i) => {
      const t = this.validateTokens(tokens, `sequences[${i}]`);
      if (t.length === 0) throw invalidArgument('a non-empty token sequence', `sequences[${i}]`, tokens);
      if (t.length <= this.contextSize) return t;
      this.counters.truncatedScores++;
      return t.slice(t.length - this.contextSize);
    });
    const out: number[] = [];
    for (let start = 0; start < all.length; ) {
      let end = start;
      let budget = this.contextSize / 2;
      // The first sequence of a group always goes in: one longer than the budget is scored alone.
      while (end < all.length && (end === start || all[end].length <= budget)) budget -= all[end++].length;
      out.push(...(await Promise.all(all.slice(start, end).map((t) => this.scoreOne(t)))));
      start = end;
    }
    return out;
  }

  private async scoreOne(t: number[]): Promise<number> {
    const ids = { left: 1 };
    await this.reserveIds(1);
    let ticket: Ticket | null = null;
    let seq: Sequence | null = null;
    try {
      ticket = await this.admitRequest(t.length, t.length);
      seq = await this.acquire(t, t.length, ids);
      ticket.reserve = Math.min(ticket.reserve, t.length - seq.kvLength);
      return await this.scoreSequence(seq, ticket);
    } finally {
      await this.runOp(() => {
        if (seq && seq.pins > 0) this.unpin(seq);
        this.unreserveIds(ids.left);
        this.releaseTicket(ticket);
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
        const seq = this.newSequence(tokens.slice(), best && bestLen > 0 ? this.cells.share(best.cells, bestLen) : [], ids);
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
          const c = this.newSequence(base.tokens.slice(), this.cells.share(base.cells, base.kvLength), ids);
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
      // The children hold every cell of the base now: its id is free for other work at once.
      this.releaseNow(base);
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

  /** Admits a request to the KV cells: at once on the normal path, first come first served under pressure. */
  private admitRequest(reserve: number, prefill: number): Promise<Ticket> {
    return new Promise<Ticket>((resolve, reject) => {
      const ticket: Ticket = { reserve, prefill, order: 0, admitted: false, started: false, resolve: () => resolve(ticket), reject };
      this.ops.push({
        run: () => {
          ticket.order = ++this.arrivals;
          if (this.pressure) {
            this.ticketWaiters.push(ticket);
          } else {
            this.admitTicket(ticket);
          }
        },
        cancel: reject,
      });
      this.wake();
    });
  }

  private admitTicket(ticket: Ticket): void {
    ticket.admitted = true;
    this.tickets.add(ticket);
    if (!ticket.started) {
      ticket.started = true;
      ticket.resolve();
    }
  }

  private releaseTicket(ticket: Ticket | null): void {
    if (!ticket) return;
    this.tickets.delete(ticket);
    const i = this.ticketWaiters.indexOf(ticket);
    if (i >= 0) this.ticketWaiters.splice(i, 1);
  }

  /** Whether a job may take cells now. */
  private plannable(job: Job): boolean {
    return job.ticket ? job.ticket.admitted : job.admitted;
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

  /** A new sequence id holding `cells` (already counted in the ledger; the caller copies the KV). */
  private newSequence(tokens: number[], cells: number[], ids?: { left: number }): Sequence {
    if (ids && ids.left > 0) {
      ids.left--;
      this.reserved--;
    } else if (this.spareIds() < 1) {
      this.cells.truncate(cells, 0);
      throw new KvCacheFullError(`all ${MAX_SEQUENCES} sequence ids are in use or promised: release sequences you no longer need`);
    }
    let id = this.freeIds.pop();
    if (id === undefined) {
      this.evict(1);
      id = this.freeIds.pop();
    }
    if (id === undefined) {
      this.cells.truncate(cells, 0);
      throw new KvCacheFullError(`all ${MAX_SEQUENCES} sequence ids are in use: release sequences you no longer need`);
    }
    // Defensive: llama.cpp's copy adds to the destination, so an id must come back empty.
    this.native.seqRemove(id, -1, -1);
    const seq = new Sequence(this, id, tokens, cells);
    seq.lastUsed = ++this.clock;
    this.live.add(seq);
    return seq;
  }

  private releaseNow(seq: Sequence): void {
    if (seq.released) return;
    seq.released = true;
    this.live.delete(seq);
    if (!this.disposed) this.native.seqRemove(seq.id, -1, -1);
    this.cells.truncate(seq.cells, 0);
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
    if (seq.kvLength === seq.tokens.length) this.truncateKv(seq, seq.kvLength - 1);
  }

  /** Drops positions [from, end) of a sequence from the KV; returns the cells that became free. */
  private truncateKv(seq: Sequence, from: number): number {
    if (from >= seq.kvLength) return 0;
    this.native.seqRemove(seq.id, from, -1);
    return this.cells.truncate(seq.cells, from);
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

  private enqueue(
    seq: Sequence,
    mode: JobMode,
    setup: (s: Sequence) => Pick<Job, 'feed' | 'sampler' | 'gen' | 'samplers'>,
    ticket: Ticket | null = null,
    unpinWhenDone = false,
    queued?: (job: Job) => void,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.ops.push({ cancel: reject, run: () => {
        try {
          if (seq.released) throw new DisposedError(`Sequence ${seq.id}`);
          if (seq.busy) throw new InvalidArgumentError(`sequence ${seq.id} already has a request in flight`);
          const { feed, sampler, gen, samplers } = setup(seq);
          if (feed.length === 0) {
            resolve(undefined);
            return;
          }
          seq.busy = true;
          // On the normal path every job may take cells at once, and so may the jobs of an admitted
          // request; under pressure any other job queues for them.
          const job: Job = { seq, mode, feed, pos: 0, start: seq.kvLength, sampler, samplers, gen, order: ++this.arrivals, admitted: ticket !== null || !this.pressure, parked: false, ticket, unpinWhenDone, resolve, reject };
          this.jobs.push(job);
          queued?.(job);
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
    let stalled = false;
    while (!this.disposed) {
      while (this.ops.length > 0) this.ops.shift()!.run();
      if (this.jobs.length === 0) {
        // Requests waiting for cells are admitted between steps; with no step to run, here.
        if (this.ticketWaiters.length > 0) this.admit();
        return;
      }
      const plan = this.plan();
      if (plan) {
        stalled = false;
        await this.step(plan);
        continue;
      }
      // Nothing can move and nothing can give way. The cells may belong to a request between two of
      // its phases (an expansion whose last child just ended releases its sequences in an op): give
      // it one turn of the event loop before a request is refused.
      if (!stalled) {
        stalled = true;
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      stalled = false;
      this.giveWay();
    }
  }

  /**
   * Keeps idle cache entries within `idleCacheCells`, least recently used out first. Checked only
   * when the cells in use exceed the budget at all, so a context with room costs one comparison.
   */
  private trimIdleCache(): void {
    if (this.contextSize - this.cells.free <= this.idleCacheCells) return;
    while (this.reclaimableCells() > this.idleCacheCells && this.evict(1) > 0);
  }

  /** The next step's rows, or null when no request can take a KV cell now. */
  private plan(): StepPlan | null {
    this.trimIdleCache();
    if (!this.pressure) {
      // The normal path: the step is what continuous batching wants, and the cells hold it, if
      // need be after evicting idle cache entries (least recently used first).
      const plan = this.buildPlan(this.jobs, this.batchSize);
      while (plan.tokens > this.cells.free && this.evict(1) > 0);
      if (plan.tokens <= this.cells.free) return plan.tokens > 0 ? plan : null;
      this.pressure = true;
    }
    return this.planUnderPressure();
  }

  /**
   * Rows for one decode from `jobs` (in arrival order), at most `budget` tokens. `eagerScores`
   * scores the ready sequences without waiting for the others (under pressure: a ready score holds
   * cells that its result frees).
   */
  private buildPlan(jobs: readonly Job[], budget: number, eagerScores = false): StepPlan {
    // Scoring rows need embeddings on for the whole decode, and with embeddings on every token of
    // the batch becomes an output; so a scoring step carries only last tokens of scoring jobs, and
    // normally waits until every scoring job is ready so that they share one step.
    const scoreReady = jobs.filter((j) => j.mode === 'score' && j.pos === j.feed.length - 1);
    const embed = scoreReady.length > 0 && (eagerScores || scoreReady.length === jobs.filter((j) => j.mode === 'score').length);
    const rows: StepPlan['rows'] = [];
    let left = budget;
    if (embed) {
      for (const job of scoreReady.slice(0, left)) {
        rows.push({ job, take: 1, output: true });
        left--;
      }
    } else {
      // Generating sequences first, one token each: they are what keeps every step full (and,
      // when cells are short, what finishes and frees cells soonest). The sort is stable, so
      // older jobs come first among equals.
      const ordered = [...jobs].sort((a, b) => a.feed.length - a.pos - (b.feed.length - b.pos));
      for (const job of ordered) {
        if (left === 0) break;
        const remaining = job.feed.length - job.pos;
        const limit = job.mode === 'score' ? remaining - 1 : remaining;
        if (limit <= 0) continue;
        const take = Math.min(limit, left);
        const output = job.mode !== 'feed' && job.mode !== 'score' && take === remaining;
        rows.push({ job, take, output });
        left -= take;
      }
    }
    return { rows, tokens: budget - left, embed };
  }

  /**
   * The step when the cells cannot hold everything: admit what fits, make room from the prefix
   * cache, shrink the step to the free cells, and when no admitted job can take a single cell,
   * let younger work give way until one can (or nothing can, and the caller stalls).
   */
  private planUnderPressure(): StepPlan | null {
    this.counters.pressureSteps++;
    for (;;) {
      const admitted = this.admit().filter((j) => !j.parked);
      let plan = this.buildPlan(admitted, this.batchSize, true);
      // Idle cache entries make room first, least recently used, as much as this step wants.
      while (plan.tokens > this.cells.free && this.evict(1) > 0);
      if (plan.tokens > this.cells.free) plan = this.buildPlan(admitted, this.cells.free, true);
      if (plan.tokens > 0) return plan;
      if (!this.giveBackCells()) return null;
    }
  }

  /**
   * Cells reserved for a job: its prefill, plus one per token a generation may still sample within
   * the admission horizon (the last sampled token is never decoded), up to the context's end.
   */
  private reservation(job: Job): number {
    const feed = job.feed.length - job.pos;
    if (job.mode !== 'generate') return feed;
    const g = job.gen!;
    const horizon = Math.min(g.maxTokens, ADMISSION_HORIZON_TOKENS);
    return Math.min(feed + Math.max(0, horizon - g.tokens.length - 1), this.contextSize - job.seq.kvLength);
  }

  /**
   * Under pressure, waiting requests (and jobs of the low-level API) are admitted first come, first
   * served while the reservations of all admitted work still fit the free cells and those of idle
   * cache entries, so new work starts only where it has room to run and a large request is not
   * overtaken forever by small ones. With nothing admitted, the oldest waiting one needs only its
   * prefill to fit. Pressure ends when nothing waits and every admitted reservation fits. Returns
   * the admitted jobs, in arrival order.
   */
  private admit(): Job[] {
    let committed = 0;
    for (const ticket of this.tickets) committed += ticket.reserve;
    let admittedAny = this.tickets.size > 0;
    for (const job of this.jobs) {
      if (!job.admitted || job.ticket) continue;
      committed += this.reservation(job);
      admittedAny = true;
    }
    // Idle cache entries count as room: the step evicts them when it needs their cells.
    const capacity = this.cells.free + this.reclaimableCells();
    if (committed > capacity) committed = this.stepBack(committed, capacity);
    const waitingJobs = this.jobs.filter((j) => !j.admitted);
    let waiting = false;
    let j = 0;
    while (j < waitingJobs.length || this.ticketWaiters.length > 0) {
      const job = waitingJobs[j];
      const ticket = this.ticketWaiters[0];
      const takeJob = job !== undefined && (ticket === undefined || job.order < ticket.order);
      const reserved = takeJob ? this.reservation(job) : ticket.reserve;
      const need = admittedAny ? reserved : takeJob ? job.feed.length - job.pos : ticket.prefill;
      if (committed + need > capacity) {
        waiting = true;
        break;
      }
      if (takeJob) {
        job.admitted = true;
        j++;
      } else {
        this.ticketWaiters.shift();
        this.admitTicket(ticket);
      }
      committed += reserved;
      admittedAny = true;
    }
    if (!waiting && committed <= capacity) this.pressure = false;
    return this.jobs.filter((job) => this.plannable(job));
  }

  /**
   * Requests admitted on the normal path that have produced nothing yet (a prefill, a score, or
   * children before their first token) step back into the queue, youngest first, while the
   * admitted reservations do not fit: going on now, they would only be cut short later. What they
   * decoded stays (and is given back first if the admitted work gets stuck). The oldest admitted
   * request stays. Returns the new committed count.
   */
  private stepBack(committed: number, capacity: number): number {
    const jobsOf = new Map<Ticket, Job[]>();
    for (const job of this.jobs) if (job.ticket) (jobsOf.get(job.ticket) ?? jobsOf.set(job.ticket, []).get(job.ticket)!).push(job);
    const admitted = [...this.tickets].sort((a, b) => b.order - a.order);
    for (const ticket of admitted.slice(0, -1)) {
      if (committed <= capacity) break;
      const jobs = jobsOf.get(ticket);
      // A request between two phases has no job to judge by: it stays.
      if (!jobs || jobs.some((j) => j.gen !== undefined && j.gen.tokens.length > 0)) continue;
      ticket.admitted = false;
      this.tickets.delete(ticket);
      let at = this.ticketWaiters.findIndex((w) => w.order > ticket.order);
      if (at < 0) at = this.ticketWaiters.length;
      this.ticketWaiters.splice(at, 0, ticket);
      committed -= ticket.reserve;
    }
    return committed;
  }

  /** Cells that evicting every idle cache entry would free, at least (cells shared only among idle entries are not counted). */
  private reclaimableCells(): number {
    let n = 0;
    for (const s of this.live) if (s.cached && s.pins === 0 && !s.busy) n += s.kvLength - this.cells.exclusiveStart(s.cells);
    return n;
  }

  /**
   * No admitted job can take a cell: younger work gives way to the oldest admitted job, youngest
   * first. A job that has produced nothing yet (a prefill, a score, a generation before its first
   * token) gives back the cells only it holds and waits again; else the youngest generation that
   * holds cells of its own ends early with stopReason 'context_full' and gives them back. Each
   * call frees at least one cell or ends a job, so repeating it terminates. Returns false when
   * nothing can give way.
   */
  private giveBackCells(): boolean {
    const oldest = this.jobs.find((j) => this.plannable(j) && !j.parked);
    for (let i = this.jobs.length - 1; i >= 0; i--) {
      const job = this.jobs[i];
      if (job === oldest || (job.mode === 'generate' && job.gen!.tokens.length > 0)) continue;
      // A cache entry may shed its whole own tail (copied prefixes included, their source may be
      // gone); a caller's sequence keeps what it held before this request.
      const from = Math.max(this.cells.exclusiveStart(job.seq.cells), job.seq.cached ? 0 : job.start);
      if (from >= job.seq.kvLength) continue;
      const end = job.start + job.feed.length;
      const dropped = job.seq.kvLength - from;
      this.truncateKv(job.seq, from);
      job.feed = job.seq.tokens.slice(from, end);
      job.start = from;
      job.pos = 0;
      // A request's job keeps its admission (the dropped cells go back into its reserve: it
      // decodes them again) but sits out until another job ends; a low-level job queues again.
      if (job.ticket) {
        job.ticket.reserve += dropped;
        job.parked = true;
        this.parkedJobs++;
      } else {
        job.admitted = false;
      }
      this.counters.rollbacks++;
      return true;
    }
    for (let i = this.jobs.length - 1; i >= 0; i--) {
      const job = this.jobs[i];
      if (job === oldest || job.mode !== 'generate') continue;
      const from = this.cells.exclusiveStart(job.seq.cells);
      if (from >= job.seq.kvLength) continue;
      this.counters.generationsEndedEarly++;
      this.finishGeneration(job, 'context_full', null);
      // The sequence keeps its tokens; the dropped tail is decoded again if it is ever continued.
      this.truncateKv(job.seq, from);
      return true;
    }
    return false;
  }

  /**
   * The last resort, after a turn of the event loop released nothing: no request can take a cell
   * and none holds cells it could give back, so the remaining cells belong to sequences the caller
   * holds or are shared by stuck generations. The youngest generation ends with what it has
   * ('context_full'); with no generation left, the oldest request (the one the rest queue behind)
   * cannot fit even alone and rejects with KvCacheFullError.
   */
  private giveWay(): void {
    const generation = this.jobs.findLast((j) => j.mode === 'generate');
    if (generation) {
      this.counters.generationsEndedEarly++;
      this.finishGeneration(generation, 'context_full', null);
      return;
    }
    const job = this.jobs.find((j) => this.plannable(j)) ?? this.jobs[0];
    if (!job) return;
    const need = job.feed.length - job.pos;
    this.fail(job, new KvCacheFullError(`no free KV cells for ${need} tokens: ${this.cells.free} of ${this.contextSize} cells are free and the rest are held by sequences no pending request can release (${this.live.size} live sequences); release sequences or use a larger contextSize`));
  }

  private finish(job: Job, value: unknown): void {
    const i = this.jobs.indexOf(job);
    if (i >= 0) this.jobs.splice(i, 1);
    job.seq.busy = false;
    job.seq.lastUsed = ++this.clock;
    this.settle(job);
    job.resolve(value);
  }

  private fail(job: Job, err: unknown): void {
    const i = this.jobs.indexOf(job);
    if (i >= 0) this.jobs.splice(i, 1);
    job.seq.busy = false;
    this.settle(job);
    job.reject(err);
  }

  /** A job is done: what its request reserved for it and did not use is free for others. */
  private settle(job: Job): void {
    if (job.parked) this.parkedJobs--;
    if (this.parkedJobs > 0) {
      for (const j of this.jobs) j.parked = false;
      this.parkedJobs = 0;
    }
    if (job.ticket) job.ticket.reserve = Math.max(0, job.ticket.reserve - this.reservation(job));
    if (job.unpinWhenDone) this.unpin(job.seq);
  }

  private async step(plan: StepPlan): Promise<void> {
    const { rows, tokens: n, embed } = plan;
    const tokens = new Int32Array(n);
    const seqs = new Int32Array(n);
    const outRows: number[] = [];
    const samplers: Array<NativeSampler | null> = [];
    const outputs: Job[] = [];
    let k = 0;
    let wantLogits = false;
    for (const { job, take, output } of rows) {
      for (let i = 0; i < take; i++) {
        tokens[k] = job.feed[job.pos + i];
        seqs[k] = job.seq.id;
        k++;
      }
      if (output && job.mode === 'fanout') {
        // One logits row, one sample per child: the row index repeats, each with its sampler.
        for (const sampler of job.samplers!) {
          outRows.push(k - 1);
          samplers.push(sampler);
          outputs.push(job);
        }
      } else if (output) {
        outRows.push(k - 1);
        samplers.push(job.sampler);
        outputs.push(job);
        if (job.mode === 'logits') wantLogits = true;
      }
    }
    let result: NativeStepResult;
    const probe = this.probe;
    const started = performance.now();
    probe?.stepStart();
    try {
      result = await this.native.step(tokens, seqs, Int32Array.from(outRows), samplers, { embed, logits: wantLogits });
    } catch (err) {
      probe?.stepEnd({ tokens: n, outputs: 0, decodeMs: 0, sampleMs: 0 });
      const e = fromNative(err);
      if (e.code === 'KV_CACHE_FULL' && !this.disposed) {
        // The ledger counted these cells free and llama.cpp disagrees: never expected, but the
        // failed decode changed nothing, so plan under pressure from now on and make room so that
        // the same step is not repeated as it was.
        this.pressure = true;
        if (this.evict(1) === 0 && !this.giveBackCells()) this.giveWay();
        return;
      }
      if (this.disposed) return;
      for (const { job } of rows) this.fail(job, e);
      return;
    }
    if (this.disposed) return;
    const c = this.counters;
    c.stepMs += performance.now() - started;
    c.decodeMs += result.decodeMs;
    c.sampleMs += result.sampleMs;
    const sampled = embed ? 0 : samplers.length;
    c.sampledRowsSquared += sampled * sampled;
    if (sampled > c.maxSampledRows) c.maxSampledRows = sampled;
    probe?.stepEnd({ tokens: n, outputs: sampled, decodeMs: result.decodeMs, sampleMs: result.sampleMs });
    this.counters.decodeSteps++;
    this.counters.tokensDecoded += n;
    for (const { job, take } of rows) {
      job.pos += take;
      this.cells.add(job.seq.cells, take);
      if (job.ticket) job.ticket.reserve = Math.max(0, job.ticket.reserve - take);
    }
    const nVocab = this.model.info.nVocab;
    // A fan-out job's rows are consecutive: its children's first tokens, collected, then handed over.
    const firsts = new Map<Job, FirstToken[]>();
    for (let j = 0; j < outputs.length; j++) {
      const job = outputs[j];
      const piece = (): Buffer => result.pieces.subarray(result.pieceOffsets[j], result.pieceOffsets[j + 1]);
      switch (job.mode) {
        case 'fanout': {
          let list = firsts.get(job);
          if (!list) firsts.set(job, (list = []));
          list.push({ sampler: samplers[j]!, token: result.tokens[j], logprob: result.logprobs[j], piece: Buffer.from(piece()) });
          break;
        }
        case 'score':
          this.finish(job, result.scores![j]);
          break;
        case 'logits':
          this.finish(job, result.logits!.slice(j * nVocab, (j + 1) * nVocab));
          break;
        case 'generate':
          this.advanceGeneration(job, result.tokens[j], result.logprobs[j], piece());
          break;
        default:
          break;
      }
    }
    for (const [job, list] of firsts) this.finish(job, list);
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
    if (g.stopTokens.has(token)) {
      reason = 'stop_token';
      stop = piece.toString('utf8');
    } else if (g.eog.has(token)) {
      reason = 'eog';
      stop = piece.toString('utf8');
    } else if (g.stopStrings.length > 0) {
      // Only a match that ends in this token's piece is new (earlier ones would have stopped an
      // earlier token); among several, the one that ends first is reported.
      const from = Math.max(0, before - g.maxStopLength + 1);
      let firstEnd = Infinity;
      for (const s of g.stopStrings) {
        const at = g.text.indexOf(s, from);
        if (at >= 0 && at + s.length < firstEnd) {
          firstEnd = at + s.length;
          stop = s.toString('utf8');
        }
      }
      if (stop !== null) reason = 'stop_string';
    }
    if (!reason && g.tokens.length >= g.maxTokens) reason = 'max_tokens';
    if (!reason && seq.tokens.length >= this.contextSize) reason = 'context_full';
    if (reason) {
      this.finishGeneration(job, reason, stop);
      return;
    }
    job.feed = [token];
    job.pos = 0;
  }

  /**
   * The text is always the whole text of the generated tokens, so `text` and `tokens` agree and a
   * continuation from `tokens` continues exactly this text: a stop string that ends inside the last
   * token's piece leaves that piece's remaining characters in the text (a token cannot be split).
   */
  private finishGeneration(job: Job, reason: StopReason, stop: string | null): void {
    const g = job.gen!;
    const generation: Generation = { text: g.text.toString('utf8'), tokens: g.tokens, stopReason: reason, stop, logprob: g.logprob };
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
    for (const w of this.ticketWaiters.splice(0)) w.reject(err);
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
