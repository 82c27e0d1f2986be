/**
 * `rstar bench search`: the whole search measured as users run it, `rstar generate` over N problems
 * with N in flight, against the same model's batched generation rate measured in the same run.
 *
 * - The model: `--model`, or by default a tiny policy the benchmark trains itself (the addition
 *   recipe's shape with a short schedule, lib/train/synthetic.ts) and keeps in its cache directory:
 *   it writes the step format, so decoding, verification in the sandbox and grading all happen for
 *   real. A random-weight model (`rstar model make`) never writes a step marker, so with one every
 *   candidate runs to `--max-step-tokens` and the search is pure decoding: the engine's ceiling.
 * - The anchor: `llama-batched-bench` (same model file, same threads, same build) at the batch
 *   sizes the search reached: the row-weighted mean of sampled rows per decode step (what a token
 *   of the search typically rode in) and the largest, with the search's mean prefix and step length.
 *   Its S_TG (generation tokens per second, no sampling at all) is `peak_tps`;
 *   `utilisation = search_tps / peak_tps`.
 * - The breakdown: wall time of the search split into exclusive shares that add up to it. While the
 *   policy's context decodes, the time is `decode` (inside llama_decode) or `sampling` (reading the
 *   logits, sampling, pieces), as the addon measures them, and the rest of the step's round trip is
 *   `js` (handing the step over and back through the event loop). While it does not decode, the
 *   time goes to what the search is waiting for, in this order: a generation request pending
 *   (the engine has work but JavaScript holds the loop: `js`), a program being verified
 *   (`verification`), an answer being graded (`grading`), a PPM call (`ppm_scoring`), else `js`
 *   (tree bookkeeping, the journal). `busy_s` gives, per activity, the wall time with at least one
 *   in flight (these overlap).
 * The hooks are counters and one clock read per transition: the engine's own counters (always on)
 * and wrappers around the search's dependencies; nothing in the hot path waits on them.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, existsSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultConfig, resolveConfigFrom, type ConfigOverrides, type RstarConfig } from '../config/index.js';
import { makeModel } from '../engine/model-files.js';
import type { TreeContextStats } from '../engine/tree-context.js';
import { runGenerate } from '../generate/run.js';
import type { SearchDeps } from '../mcts/types.js';
import { openSearchDeps } from '../policy/deps.js';
import { additionRecipe, additionSftRows, additionSplit } from '../train/synthetic.js';
import { trainModel } from '../train/trainer.js';
import { runLlamaBatchedBenchRows } from './engine.js';

export interface SearchBenchOptions {
  /** Policy GGUF; default: the benchmark's own tiny addition policy (trained once into `cacheDir`). */
  model?: string;
  /** PPM GGUF (PPM-augmented search); default none. */
  ppm?: string;
  problems: number;
  concurrency: number;
  rollouts: number;
  candidates: number;
  maxStepTokens: number;
  threads: number;
  /** KV cells of the policy's context (0: the configuration's default, 2048 per problem in flight). */
  ctxSize?: number;
  /** `engine.idleCacheCells` (-1 or absent: the default, a quarter of the context). */
  idleCacheCells?: number;
  /** Where the default model is kept and the generate output is written (removed afterwards). */
  cacheDir?: string;
  /** Skip the llama-batched-bench anchor (then peak_tps and utilisation are null). */
  noAnchor?: boolean;
  onProgress?: (line: string) => void;
}

/** Exclusive wall-time shares of the search, seconds; they add up to `search_s`. */
export interface SearchBreakdown {
  decode: number;
  sampling: number;
  verification: number;
  grading: number;
  ppm_scoring: number;
  js: number;
}

export interface SearchBenchResult {
  bench: 'search';
  model: string;
  model_trained_here: boolean;
  model_prep_s: number;
  problems: number;
  concurrency: number;
  rollouts: number;
  candidates: number;
  threads: number;
  context_size: number;
  search_s: number;
  problems_per_hour: number;
  /** Tokens the policy generated (sampled) per second of the search's wall time. */
  search_tps: number;
  /** llama-batched-bench S_TG at the row-weighted mean batch the search reached (null with noAnchor). */
  peak_tps: number | null;
  utilisation: number | null;
  /** llama-batched-bench S_TG at the largest batch the search reached, and search_tps over it. */
  peak_tps_at_max_batch: number | null;
  utilisation_at_max_batch: number | null;
  breakdown: SearchBreakdown;
  /** The same shares as fractions of search_s. */
  breakdown_share: SearchBreakdown;
  /** Wall seconds with at least one of each activity in flight (overlapping). */
  busy_s: { engine: number; generation: number; verification: number; grading: number; ppm_scoring: number };
  /** Detail of `js`: the step round trip outside decode and sampling, loop time with generation pending, and the rest. */
  js_detail: { step_round_trip: number; generation_pending: number; other: number };
  batch: { mean_rows: number; row_weighted_mean_rows: number; max_rows: number; decode_steps: number; tokens_decoded: number; tokens_sampled: number; first_tokens_from_parent: number };
  anchor: { npl: number[]; npp: number; ntg: number } | null;
  /** Programs run by the pool, answered from its cache, and the mean wait per verification call as the search saw it. */
  exec: { runs: number; cache_hits: number; pool_size: number; mean_run_ms: number };
  solved: number;
  trees: number;
  /** 1-minute load average before and after the search: read the seconds with it on a shared machine. */
  load_avg_1m: { before: number; after: number };
  cores: number;
}

/** Bumped whenever the default policy's recipe changes, so a cached file is never stale. */
const DEFAULT_POLICY_VERSION = 2;
/** Rows of the default policy's SFT: the recipe's (a shorter schedule writes the format greedily but rambles at temperature 1). */
const DEFAULT_POLICY_ROWS = additionRecipe.sftRows;

/** The benchmark's default policy: trained once (about a minute on 2 idle cores, several under load) and cached. */
export async function benchPolicy(cacheDir: string, threads: number, log: (line: string) => void): Promise<{ path: string; trained: boolean }> {
  const path = join(cacheDir, `bench-policy-v${DEFAULT_POLICY_VERSION}.gguf`);
  if (existsSync(path)) return { path, trained: false };
  mkdirSync(cacheDir, { recursive: true });
  const work = mkdtempSync(join(cacheDir, 'train-'));
  try {
    const p = additionRecipe.problems;
    const split = additionSplit(p.maxOperand, p.heldOut, p.splitSeed, p.minOperand);
    const base = join(work, 'base.gguf');
    await makeModel({ ...additionRecipe.model, out: base, seed: 5 });
    log(`training the default policy (the addition recipe's tiny model, ${DEFAULT_POLICY_ROWS} SFT rows; once, kept in ${cacheDir})`);
    const out = join(work, 'policy.gguf');
    await trainModel({
      mode: 'sft',
      model: base,
      out,
      train: additionSftRows(DEFAULT_POLICY_ROWS, 11, { problems: split.train }),
      eval: additionSftRows(16, 12, { problems: split.heldOut }),
      hyper: additionRecipe.sft,
      threads,
      checkpointDir: null,
      onProgress: (pr) => {
        if (pr.phase === 'train' && (pr.step % 20 === 0 || pr.step === pr.totalSteps)) log(`training: step ${pr.step}/${pr.totalSteps}, loss ${pr.loss.toFixed(3)}, ${pr.tokensPerSecond.toFixed(0)} tok/s`);
      },
    });
    renameSync(out, path);
    return { path, trained: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Addition problems never trained on (the recipe's held-out side), as the search's problems. */
function benchProblems(n: number): Array<{ id: string; question: string; answer: string }> {
  const p = additionRecipe.problems;
  const { heldOut, train } = additionSplit(p.maxOperand, p.heldOut, p.splitSeed, p.minOperand);
  return [...heldOut, ...train].slice(0, n).map(({ a, b }, i) => ({ id: `add-${i}`, question: `What is ${a} + ${b}?`, answer: String(a + b) }));
}

type Activity = 'engine' | 'generation' | 'verification' | 'grading' | 'ppm_scoring';

/** Integrates wall time over what is in flight; one clock read per transition. */
class Timeline {
  private readonly counts: Record<Activity, number> = { engine: 0, generation: 0, verification: 0, grading: 0, ppm_scoring: 0 };
  readonly busy: Record<Activity, number> = { engine: 0, generation: 0, verification: 0, grading: 0, ppm_scoring: 0 };
  readonly exclusive = { engine: 0, generation_pending: 0, verification: 0, grading: 0, ppm_scoring: 0, other: 0 };
  private last = performance.now();

  private flush(): void {
    const now = performance.now();
    const dt = now - this.last;
    this.last = now;
    const c = this.counts;
    for (const k of Object.keys(c) as Activity[]) if (c[k] > 0) this.busy[k] += dt;
    if (c.engine > 0) this.exclusive.engine += dt;
    else if (c.generation > 0) this.exclusive.generation_pending += dt;
    else if (c.verification > 0) this.exclusive.verification += dt;
    else if (c.grading > 0) this.exclusive.grading += dt;
    else if (c.ppm_scoring > 0) this.exclusive.ppm_scoring += dt;
    else this.exclusive.other += dt;
  }

  enter(a: Activity): void {
    this.flush();
    this.counts[a]++;
  }

  leave(a: Activity): void {
    this.flush();
    this.counts[a]--;
  }

  /** Starts the clock (everything before is not part of the search). */
  start(): void {
    this.last = performance.now();
  }

  end(): void {
    this.flush();
  }

  async around<T>(a: Activity, work: () => Promise<T> | T): Promise<T> {
    this.enter(a);
    try {
      return await work();
    } finally {
      this.leave(a);
    }
  }

  aroundSync<T>(a: Activity, work: () => T): T {
    this.enter(a);
    try {
      return work();
    } finally {
      this.leave(a);
    }
  }
}

/** The search's dependencies with every call counted on the timeline (and prefix/step sizes noted). */
function instrument(deps: SearchDeps, tl: Timeline, sizes: { prefixTokens: number; expansions: number; execCalls: number; execMs: number }, promptTokens: (prompt: string) => number): SearchDeps {
  const { policy, executor, grader, scorer } = deps;
  return {
    policy: {
      tokenize: (text) => policy.tokenize(text),
      generateSteps: (request) => {
        sizes.expansions++;
        sizes.prefixTokens += promptTokens(request.prompt);
        for (const step of request.path) sizes.prefixTokens += step.tokens.length;
        return tl.around('generation', () => policy.generateSteps(request));
      },
    },
    executor: {
      run: async (program, options) => {
        const t0 = performance.now();
        try {
          return await tl.around('verification', () => executor.run(program, options));
        } finally {
          sizes.execCalls++;
          sizes.execMs += performance.now() - t0;
        }
      },
    },
    grader: {
      extractBoxed: (text) => tl.aroundSync('grading', () => grader.extractBoxed(text)),
      isEquivalent: (gold, pred) => tl.around('grading', () => grader.isEquivalent(gold, pred)),
    },
    scorer: scorer ? { score: (requests) => tl.around('ppm_scoring', () => scorer.score(requests)) } : null,
  };
}

const round = (x: number, digits = 2): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export async function benchSearch(o: SearchBenchOptions): Promise<SearchBenchResult> {
  const log = o.onProgress ?? (() => undefined);
  const cacheDir = o.cacheDir ?? join(tmpdir(), 'rstar-bench');
  const prepStart = performance.now();
  let modelPath = o.model;
  let trained = false;
  if (!modelPath) {
    const p = await benchPolicy(cacheDir, o.threads, log);
    modelPath = p.path;
    trained = p.trained;
  }
  const modelPrepS = (performance.now() - prepStart) / 1000;

  const overrides: ConfigOverrides = {
    engine: { threads: o.threads, ...(o.ctxSize ? { contextSize: o.ctxSize } : {}), ...(o.idleCacheCells !== undefined ? { idleCacheCells: o.idleCacheCells } : {}) },
    search: { rollouts: o.rollouts, candidates: o.candidates, maxStepTokens: o.maxStepTokens },
  } as ConfigOverrides;
  const config: RstarConfig = resolveConfigFrom(defaultConfig, overrides);
  const problems = benchProblems(o.problems);
  mkdirSync(cacheDir, { recursive: true });
  const outDir = mkdtempSync(join(cacheDir, 'search-'));
  const session = await openSearchDeps({ policyPath: modelPath, ppmPath: o.ppm, config, concurrency: o.concurrency, log: null });
  const ctx = session.engine!.context;
  let before: TreeContextStats;
  let after: TreeContextStats;
  let searchS: number;
  const tl = new Timeline();
  const sizes = { prefixTokens: 0, expansions: 0, execCalls: 0, execMs: 0 };
  const poolStats = { runs: 0, cacheHits: 0, size: 0 };
  const promptLengths = new Map<string, number>();
  const promptTokens = (prompt: string): number => {
    let n = promptLengths.get(prompt);
    if (n === undefined) promptLengths.set(prompt, (n = session.engine!.policy.tokenize(prompt).length + 1));
    return n;
  };
  let solved = 0;
  let trees = 0;
  const contextSize = ctx.contextSize;
  const load0 = loadavg()[0];
  try {
    const pool = await session.pool.start();
    log(`searching ${problems.length} problems, ${o.concurrency} in flight, ${o.rollouts} rollouts x ${o.candidates} candidates, ${o.threads} threads; ${pool.size} Python workers`);
    const deps = instrument(session.deps, tl, sizes, promptTokens);
    ctx.setStepProbe({ stepStart: () => tl.enter('engine'), stepEnd: () => tl.leave('engine') });
    before = ctx.stats();
    tl.start();
    const t0 = performance.now();
    const summary = await runGenerate({ problems, outDir, config, concurrency: o.concurrency }, deps);
    searchS = (performance.now() - t0) / 1000;
    tl.end();
    ctx.setStepProbe(null);
    after = ctx.stats();
    poolStats.runs = session.pool.stats.runs;
    poolStats.cacheHits = session.pool.stats.cacheHits;
    poolStats.size = pool.size;
    solved = summary.trees.solved;
    trees = summary.trees.trees;
    if (summary.problems.failed > 0) log(`${summary.problems.failed} problems failed (see the generate output)`);
  } finally {
    await session.dispose();
    rmSync(outDir, { recursive: true, force: true });
  }
  const load1 = loadavg()[0];

  const d = (k: keyof TreeContextStats): number => (after[k] as number) - (before[k] as number);
  const sampled = d('tokensSampled');
  const steps = d('decodeSteps');
  const rowWeighted = sampled > 0 ? d('sampledRowsSquared') / sampled : 0;
  const decodeS = d('decodeMs') / 1000;
  const samplingS = d('sampleMs') / 1000;
  const engineS = tl.exclusive.engine / 1000;
  const roundTrip = Math.max(0, engineS - decodeS - samplingS);
  const breakdown: SearchBreakdown = {
    decode: decodeS,
    sampling: samplingS,
    verification: tl.exclusive.verification / 1000,
    grading: tl.exclusive.grading / 1000,
    ppm_scoring: tl.exclusive.ppm_scoring / 1000,
    js: roundTrip + (tl.exclusive.generation_pending + tl.exclusive.other) / 1000,
  };
  const share = Object.fromEntries(Object.entries(breakdown).map(([k, v]) => [k, round(v / searchS, 3)])) as unknown as SearchBreakdown;
  const searchTps = sampled / searchS;

  let peak: number | null = null;
  let peakMax: number | null = null;
  let anchor: SearchBenchResult['anchor'] = null;
  if (!o.noAnchor && sampled > 0) {
    const npl = [...new Set([Math.max(1, Math.round(rowWeighted)), Math.max(1, after.maxSampledRows)])];
    const npp = Math.max(1, Math.round(sizes.prefixTokens / Math.max(1, sizes.expansions)));
    const expansions = Math.max(1, sizes.expansions);
    const ntg = Math.max(2, Math.round(sampled / (expansions * o.candidates)));
    anchor = { npl, npp, ntg };
    log(`anchor: llama-batched-bench -npp ${npp} -ntg ${ntg} -npl ${npl.join(',')} -pps -kvu`);
    const rows = await runLlamaBatchedBenchRows(modelPath, npp, ntg, npl, o.threads);
    peak = rows.get(npl[0])?.tgTps ?? null;
    peakMax = rows.get(npl[npl.length - 1])?.tgTps ?? null;
  }
  const busy = tl.busy;
  return {
    bench: 'search',
    model: modelPath,
    model_trained_here: trained,
    model_prep_s: round(modelPrepS, 1),
    problems: problems.length,
    concurrency: o.concurrency,
    rollouts: o.rollouts,
    candidates: o.candidates,
    threads: o.threads,
    context_size: contextSize,
    search_s: round(searchS, 2),
    problems_per_hour: round((trees / searchS) * 3600, 1),
    search_tps: round(searchTps, 1),
    peak_tps: peak === null ? null : round(peak, 1),
    utilisation: peak === null ? null : round(searchTps / peak, 3),
    peak_tps_at_max_batch: peakMax === null ? null : round(peakMax, 1),
    utilisation_at_max_batch: peakMax === null ? null : round(searchTps / peakMax, 3),
    breakdown: Object.fromEntries(Object.entries(breakdown).map(([k, v]) => [k, round(v, 2)])) as unknown as SearchBreakdown,
    breakdown_share: share,
    busy_s: {
      engine: round(busy.engine / 1000),
      generation: round(busy.generation / 1000),
      verification: round(busy.verification / 1000),
      grading: round(busy.grading / 1000),
      ppm_scoring: round(busy.ppm_scoring / 1000),
    },
    js_detail: { step_round_trip: round(roundTrip), generation_pending: round(tl.exclusive.generation_pending / 1000), other: round(tl.exclusive.other / 1000) },
    batch: {
      mean_rows: round(steps > 0 ? sampled / steps : 0, 1),
      row_weighted_mean_rows: round(rowWeighted, 1),
      max_rows: after.maxSampledRows,
      decode_steps: steps,
      tokens_decoded: d('tokensDecoded'),
      tokens_sampled: sampled,
      first_tokens_from_parent: d('firstTokensFromParent'),
    },
    anchor,
    exec: { runs: poolStats.runs, cache_hits: poolStats.cacheHits, pool_size: poolStats.size, mean_run_ms: round(sizes.execCalls > 0 ? sizes.execMs / sizes.execCalls : 0) },
    solved,
    trees,
    load_avg_1m: { before: round(load0), after: round(load1) },
    cores: availableParallelism(),
  };
}
