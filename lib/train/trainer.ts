/**
 * The built-in trainer's TypeScript face: validates a run, hands it to the native trainer
 * (native/train) on a worker thread, relays progress, and turns the result into a report.
 *
 * What the native side does (see native/train/*.h): our own ggml forward graph of the llama/qwen2
 * family, checked against llama.cpp's logits; SFT loss on completion tokens only; PPM = backbone +
 * linear value head on the last token's final hidden state with the weighted Bradley-Terry loss;
 * AdamW with warmup and decay, global-norm clipping and gradient accumulation over packed
 * micro-batches; checkpoints (weights + AdamW moments + step) and exact resume.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fromNative, invalidArgument, DataError } from '../errors.js';
import { loadBinding } from '../native/binding.js';
import type { PpmTrainConfig, SftTrainConfig } from './config.js';
import type { PairRow, SftRow } from './data.js';
import type { NativeTrainOptions, NativeTrainProgress, NativeTrainResult, NativeUnitStats } from '../native/train-types.js';

export type TrainProgress = NativeTrainProgress;

interface CommonOptions {
  /** Input GGUF (llama or qwen2 architecture, F32/F16/BF16 weights). */
  model: string;
  /** Output GGUF. */
  out: string;
  /** CPU threads (0: all cores). */
  threads?: number;
  device?: 'auto' | 'cpu' | 'gpu';
  /** Checkpoint directory; default `<out>.ckpt`; null: no checkpoints and no resume. */
  checkpointDir?: string | null;
  /** Continue from a checkpoint of the same run when one exists (default true). */
  resume?: boolean;
  /** Keep the checkpoint directory after a successful run (default false: it is removed). */
  keepCheckpoint?: boolean;
  /** Stop after this many optimizer steps (benchmarks); 0 or absent: the whole schedule. */
  maxSteps?: number;
  /** Measure the held-out loss before training (default true). */
  evalBefore?: boolean;
  /** Aborting writes a checkpoint of the last finished step and resolves with `cancelled: true`. */
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /** Extra string metadata (keys under "rstar.") for the output GGUF, e.g. how it was trained. */
  metadata?: Record<string, string>;
}

export interface SftTrainOptions extends CommonOptions {
  mode: 'sft';
  train: SftRow[];
  eval: SftRow[];
  hyper: SftTrainConfig;
}

export interface PpmTrainOptions extends CommonOptions {
  mode: 'ppm';
  train: PairRow[];
  eval: PairRow[];
  hyper: PpmTrainConfig;
}

export type TrainOptions = SftTrainOptions | PpmTrainOptions;

export interface TrainReport {
  mode: 'sft' | 'ppm';
  model: string;
  out: string;
  /** True when the run was interrupted: `out` was not written, the checkpoint holds the progress. */
  cancelled: boolean;
  steps: number;
  totalSteps: number;
  /** The checkpoint step this run continued from, or null. */
  resumedFromStep: number | null;
  /** Steps dropped because the loss or gradient was not finite. */
  skippedSteps: number;
  /** Mean loss per held-out completion token (SFT) or pair (PPM); null without held-out data. */
  evalLossBefore: number | null;
  evalLossAfter: number | null;
  /** PPM: fraction of held-out pairs with r(chosen) > r(rejected). */
  evalPairAccuracyBefore: number | null;
  evalPairAccuracyAfter: number | null;
  finalTrainLoss: number | null;
  /** Tokens through forward + backward + update per second of training time (this run). */
  trainTokensPerSecond: number;
  trainTokens: number;
  trainSeconds: number;
  train: NativeUnitStats;
  eval: NativeUnitStats;
  memory: { weightsMiB: number; gradsMiB: number; optimizerMiB: number; computeMiB: number; peakRssMiB: number };
  device: string;
  /** Where the checkpoint is, when one was kept (interrupted run or keepCheckpoint). */
  checkpointDir: string | null;
}

const num = (x: number): number | null => (Number.isFinite(x) ? x : null);

function toReport(o: TrainOptions, r: NativeTrainResult): TrainReport {
  return {
    mode: o.mode,
    model: o.model,
    out: o.out,
    cancelled: r.cancelled,
    steps: r.stepsDone,
    totalSteps: r.totalSteps,
    resumedFromStep: r.resumedFromStep >= 0 ? r.resumedFromStep : null,
    skippedSteps: r.skippedSteps,
    evalLossBefore: num(r.evalLossBefore),
    evalLossAfter: num(r.evalLossAfter),
    evalPairAccuracyBefore: num(r.evalPairAccuracyBefore),
    evalPairAccuracyAfter: num(r.evalPairAccuracyAfter),
    finalTrainLoss: num(r.finalTrainLoss),
    trainTokensPerSecond: r.trainTokensPerSecond,
    trainTokens: r.trainTokens,
    trainSeconds: r.trainSeconds,
    train: r.trainStats,
    eval: r.evalStats,
    memory: { weightsMiB: r.weightsMiB, gradsMiB: r.gradsMiB, optimizerMiB: r.optimizerMiB, computeMiB: r.computeMiB, peakRssMiB: r.peakRssMiB },
    device: r.device,
    checkpointDir: r.checkpointPath || null,
  };
}

/** The default checkpoint directory of an output file. */
export function checkpointDirFor(out: string): string {
  return `${resolve(out)}.ckpt`;
}

/**
 * Trains with the built-in trainer and writes `out`. Resolves with the report (also when cancelled
 * through `signal`); rejects with an RstarError for bad input or a failed run.
 *
 * @example
 * const report = await trainModel({ mode: 'sft', model: 'base.gguf', out: 'slm.gguf', train, eval,
 *   hyper: { ...defaultTrainConfig.sft, epochs: 3, lr: 1e-3, batch: 16, ctx: 512 } });
 */
export async function trainModel(o: TrainOptions): Promise<TrainReport> {
  const mode: string = o.mode;
  if (mode !== 'sft' && mode !== 'ppm') throw invalidArgument('"sft" or "ppm"', 'mode', mode);
  if (typeof o.model !== 'string' || !existsSync(o.model)) throw invalidArgument('an existing GGUF file', 'model', o.model);
  if (typeof o.out !== 'string' || o.out.length === 0) throw invalidArgument('an output file path', 'out', o.out);
  if (!existsSync(dirname(resolve(o.out)))) throw invalidArgument('a path in an existing directory', 'out', o.out);
  if (resolve(o.out) === resolve(o.model)) throw invalidArgument('an output path other than the input model', 'out', o.out);
  if (o.train.length === 0) throw new DataError('no training rows');
  const h = o.hyper;
  const native: NativeTrainOptions = {
    mode: o.mode,
    modelPath: o.model,
    outPath: o.out,
    checkpointDir: o.checkpointDir === null ? '' : (o.checkpointDir ?? checkpointDirFor(o.out)),
    train: o.train,
    eval: o.eval,
    epochs: h.epochs,
    maxSteps: o.maxSteps ?? 0,
    batch: h.batch,
    ctx: h.ctx,
    lr: h.lr,
    schedule: h.schedule,
    warmupRatio: h.warmupRatio,
    minLrRatio: h.minLrRatio,
    weightDecay: h.weightDecay,
    beta1: h.beta1,
    beta2: h.beta2,
    adamEps: h.adamEps,
    gradClip: h.gradClip,
    headLrMult: o.mode === 'ppm' ? o.hyper.headLrMult : 1,
    addEos: o.mode === 'sft' ? o.hyper.addEos : false,
    freezeEmbeddings: h.freezeEmbeddings,
    valueTransform: o.mode === 'ppm' ? o.hyper.valueTransform : 'tanh_div5',
    checkpointEvery: h.checkpointEvery,
    resume: o.resume ?? true,
    keepCheckpoint: o.keepCheckpoint ?? false,
    evalBefore: o.evalBefore ?? true,
    seed: h.seed,
    threads: o.threads ?? 0,
    device: o.device ?? 'auto',
    metadata: o.metadata,
  };
  const callSite = new Error();
  const binding = loadBinding();
  let settled = false;
  let job: ReturnType<typeof binding.trainStart> | null = null;
  const onAbort = (): void => job?.cancel();
  try {
    job = binding.trainStart(native, (p) => {
      if (!settled) o.onProgress?.(p);
    });
    if (o.signal?.aborted) job.cancel();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    return toReport(o, await job.promise);
  } catch (err) {
    throw fromNative(err, callSite);
  } finally {
    settled = true;
    o.signal?.removeEventListener('abort', onAbort);
  }
}
