/**
 * The trainer's part of the native contract (native/train/train_addon.cpp). lib/native/binding.ts
 * adds these methods to NativeBinding; only lib/train calls them.
 */

export interface NativeTrainOptions {
  mode: 'sft' | 'ppm';
  modelPath: string;
  outPath: string;
  /** Empty: no checkpoints and no resume. */
  checkpointDir: string;
  train: Array<{ prompt: string; completion: string }> | Array<{ prompt: string; chosen: string; rejected: string; weight: number }>;
  eval: NativeTrainOptions['train'];
  epochs: number;
  maxSteps: number;
  batch: number;
  ctx: number;
  lr: number;
  schedule: string;
  warmupRatio: number;
  minLrRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  adamEps: number;
  gradClip: number;
  headLrMult: number;
  addEos: boolean;
  freezeEmbeddings: boolean;
  valueTransform: string;
  checkpointEvery: number;
  resume: boolean;
  keepCheckpoint: boolean;
  evalBefore: boolean;
  seed: number;
  threads: number;
  device: string;
  /** Extra string keys (under "rstar.") written into the output GGUF. */
  metadata?: Record<string, string>;
}

export interface NativeTrainProgress {
  phase: 'tokenize' | 'eval_before' | 'train' | 'checkpoint' | 'eval_after' | 'save';
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  tokens: number;
  elapsedSeconds: number;
  etaSeconds: number;
  /** Evaluation progress in [0, 1]. */
  fraction: number;
}

export interface NativeUnitStats {
  examples: number;
  used: number;
  truncated: number;
  skipped: number;
  tokens: number;
}

/** Numbers that do not apply (or were not measured) are NaN. */
export interface NativeTrainResult {
  cancelled: boolean;
  stepsDone: number;
  totalSteps: number;
  resumedFromStep: number;
  skippedSteps: number;
  evalLossBefore: number;
  evalLossAfter: number;
  evalPairAccuracyBefore: number;
  evalPairAccuracyAfter: number;
  finalTrainLoss: number;
  trainTokensPerSecond: number;
  trainTokens: number;
  trainSeconds: number;
  trainStats: NativeUnitStats;
  evalStats: NativeUnitStats;
  weightsMiB: number;
  gradsMiB: number;
  optimizerMiB: number;
  computeMiB: number;
  peakRssMiB: number;
  device: string;
  outPath: string;
  checkpointPath: string;
}

export interface NativeGradientCheck {
  maxRelError: number;
  maxAbsError: number;
  maxAbsGrad: number;
  probes: number;
  graphLoss: number;
  referenceLoss: number;
  allPositionsLoss: number;
  packingMaxAbsDiff: number;
  promptRows: number;
  targetRows: number;
}

export interface NativeTrainBinding {
  trainStart(options: NativeTrainOptions, onProgress?: (p: NativeTrainProgress) => void): { promise: Promise<NativeTrainResult>; cancel(): void };
  trainForwardLogits(modelPath: string, tokens: Int32Array, threads: number): Promise<Float32Array>;
  trainScoreTokens(modelPath: string, sequences: Int32Array[], threads: number): Promise<Float32Array>;
  trainGradientCheck(options: {
    modelPath: string;
    mode: 'sft' | 'ppm';
    examples: NativeTrainOptions['train'];
    probesPerTensor?: number;
    eps?: number;
    seed?: number;
    threads?: number;
  }): Promise<NativeGradientCheck>;
  trainTokenize(modelPath: string, texts: string[], addSpecial: boolean): Promise<Int32Array[]>;
}
