/**
 * The `train` section of the configuration (lib/config.ts): hyper-parameters of the built-in SFT and
 * PPM trainers, and the external-trainer command templates.
 *
 * Defaults follow the paper/reference for real models (spec §5.3, §6.1) except where noted. A tiny
 * model trained from random weights wants a learning rate near 1e-3 instead: pass --lr.
 */
import { assertInteger, assertNumber, invalidArgument } from '../errors.js';

/** Hyper-parameters shared by SFT and PPM training. */
export interface TrainHyperparameters {
  /** Passes over the training split. Paper: SFT 2, PPM 1 (the reference README trains the PPM for 2). */
  epochs: number;
  /**
   * Optimizer steps to train for, whatever the data's size (the data is passed over as many times as
   * that takes; the schedule spans exactly these steps); 0 (default): `epochs` decides. A fixed budget
   * keeps training compute equal between self-evolution rounds whose data differ in size, so a round's
   * policy differs from the last one by its data only.
   */
  steps: number;
  /** Peak learning rate after warmup (paper and code: 7e-6 for Qwen2.5-Math-7B). */
  lr: number;
  /**
   * Examples (SFT) or pairs (PPM) per optimizer step. Micro-batches of up to `ctx` packed tokens are
   * accumulated until the step holds this many (paper: 128 for SFT, 512 for the PPM).
   */
  batch: number;
  /** Most tokens per packed micro-batch; a longer example is truncated (prompt from the left). Paper: SFT 4096, PPM 2048. */
  ctx: number;
  /** Learning-rate decay after warmup: 'linear' to `minLrRatio`·lr (code), 'cosine', or 'constant'. */
  schedule: 'linear' | 'cosine' | 'constant';
  /** Warmup steps as a fraction of all steps (the reference uses none; a short warmup keeps Adam's first steps tame). */
  warmupRatio: number;
  /** Final learning rate as a fraction of `lr` for linear/cosine decay. */
  minLrRatio: number;
  /** Decoupled AdamW weight decay on weight matrices (code: 0.1 for SFT; trl's default 0 for the PPM). */
  weightDecay: number;
  /** Clip the global L2 norm of the gradient to this value; 0 disables (HF Trainer default 1.0). */
  gradClip: number;
  /** AdamW β1, β2 and ε (PyTorch defaults). */
  beta1: number;
  beta2: number;
  adamEps: number;
  /** Held-out fraction when no --eval file is given, split by prompt so no problem is on both sides (reference RM: 5 %). */
  evalFraction: number;
  /** Optimizer steps between checkpoints; 0: only when interrupted; -1: about every tenth of the run. */
  checkpointEvery: number;
  /** Seed of the data order, the held-out split and the value-head initialisation (code: 42). */
  seed: number;
  /**
   * Keep token_embd fixed (with tied embeddings, the output head too). The reference trains every
   * weight (default false); freezing saves the gradient and AdamW state of a vocabulary-sized matrix
   * (27 % of Qwen2.5-0.5B) and is what llama-finetune always does.
   */
  freezeEmbeddings: boolean;
}

export interface SftTrainConfig extends TrainHyperparameters {
  /** Append the model's EOS token to every completion, so generation learns to stop (code: yes). */
  addEos: boolean;
}

export interface PpmTrainConfig extends TrainHyperparameters {
  /** Learning-rate multiplier of the value head over the backbone's (reference: 1). */
  headLrMult: number;
  /**
   * Transform written into the PPM for inference (`rstar.value_head.transform`). 'tanh_div5' (code,
   * default): tanh(raw / 5); 'tanh' (paper): tanh(raw); 'raw'. Training always fits the raw head: the
   * Bradley-Terry loss needs no bound, and ggml has no backward pass for tanh.
   */
  valueTransform: 'tanh_div5' | 'tanh' | 'raw';
}

export interface TrainConfig {
  sft: SftTrainConfig;
  ppm: PpmTrainConfig;
  /**
   * External-trainer command templates (lib/train/external.ts documents the contract). Empty: the
   * built-in trainer. With a template, `rstar train sft|ppm` writes the train/eval JSONL splits and
   * runs it instead, e.g. "python train_sft.py --model {model} --train {train} --eval {eval} --out {out}".
   */
  external: { sft: string; ppm: string };
  /** CPU threads for training; 0: all available cores. */
  threads: number;
  /** 'auto' trains on a GPU when the build has one, else on the CPU. */
  device: 'auto' | 'cpu' | 'gpu';
}

const common: Omit<TrainHyperparameters, 'epochs' | 'batch' | 'ctx' | 'weightDecay'> = {
  steps: 0,
  lr: 7e-6,
  schedule: 'linear',
  warmupRatio: 0.03,
  minLrRatio: 0,
  gradClip: 1.0,
  beta1: 0.9,
  beta2: 0.999,
  adamEps: 1e-8,
  evalFraction: 0.05,
  checkpointEvery: -1,
  seed: 42,
  freezeEmbeddings: false,
};

export const defaultTrainConfig: TrainConfig = {
  sft: { ...common, epochs: 2, batch: 128, ctx: 4096, weightDecay: 0.1, addEos: true },
  ppm: { ...common, epochs: 1, batch: 512, ctx: 2048, weightDecay: 0, headLrMult: 1, valueTransform: 'tanh_div5' },
  external: { sft: '', ppm: '' },
  threads: 0,
  device: 'auto',
};

function oneOf<T extends string>(value: T, allowed: readonly T[], name: string): void {
  if (!allowed.includes(value)) throw invalidArgument(`one of ${allowed.map((a) => `"${a}"`).join(', ')}`, name, value);
}

export function validateHyperparameters(h: TrainHyperparameters, section: string): void {
  assertInteger(h.epochs, `${section}.epochs`, 1, 10_000);
  assertInteger(h.steps, `${section}.steps`, 0, 100_000_000);
  assertNumber(h.lr, `${section}.lr`, Number.MIN_VALUE, 10);
  assertInteger(h.batch, `${section}.batch`, 1, 1 << 24);
  assertInteger(h.ctx, `${section}.ctx`, 8, 1 << 20);
  oneOf(h.schedule, ['linear', 'cosine', 'constant'], `${section}.schedule`);
  assertNumber(h.warmupRatio, `${section}.warmupRatio`, 0, 1);
  assertNumber(h.minLrRatio, `${section}.minLrRatio`, 0, 1);
  assertNumber(h.weightDecay, `${section}.weightDecay`, 0, 10);
  assertNumber(h.gradClip, `${section}.gradClip`, 0, 1e9);
  assertNumber(h.beta1, `${section}.beta1`, 0, 0.999999);
  assertNumber(h.beta2, `${section}.beta2`, 0, 0.999999);
  assertNumber(h.adamEps, `${section}.adamEps`, Number.MIN_VALUE, 1);
  assertNumber(h.evalFraction, `${section}.evalFraction`, 0, 0.9);
  assertInteger(h.checkpointEvery, `${section}.checkpointEvery`, -1);
  assertInteger(h.seed, `${section}.seed`, 0, 2 ** 32 - 1);
}

/** The section validator registered in lib/config.ts. */
export function validateTrainConfig(t: TrainConfig): void {
  validateHyperparameters(t.sft, 'train.sft');
  validateHyperparameters(t.ppm, 'train.ppm');
  assertNumber(t.ppm.headLrMult, 'train.ppm.headLrMult', 0, 1e6);
  oneOf(t.ppm.valueTransform, ['tanh_div5', 'tanh', 'raw'], 'train.ppm.valueTransform');
  assertInteger(t.threads, 'train.threads', 0, 1024);
  oneOf(t.device, ['auto', 'cpu', 'gpu'], 'train.device');
}
