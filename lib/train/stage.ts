/**
 * The train stage (`rstar train sft|ppm`, and each round of self-evolution): load and validate the
 * rows, split off a held-out set by problem when none is given, and train with the built-in trainer
 * or the configured external command. One function for both modes; the CLI only parses flags, passes
 * a signal for Ctrl-C and prints.
 */
import type { RstarConfig } from '../config/index.js';
import { DataError, invalidArgument } from '../errors.js';
import { existsSync } from 'node:fs';
import type { TrainHyperparameters } from './config.js';
import { loadPairRows, loadSftRows, splitHeldOut, type PairRow, type SftRow } from './data.js';
import { runExternalTrainer, type ExternalTrainReport } from './external.js';
import { trainModel, type TrainProgress, type TrainReport } from './trainer.js';

export type TrainMode = 'sft' | 'ppm';

export interface TrainStageOptions {
  mode: TrainMode;
  /** Input GGUF: the base model (SFT) or the policy the PPM starts from. */
  model: string;
  /** Output GGUF. */
  out: string;
  /** Training rows: a JSONL file (what `rstar generate` writes) or rows already loaded. */
  data: string | SftRow[] | PairRow[];
  /** Held-out rows; absent: `evalFraction` of `data`, split by problem. */
  eval?: string | SftRow[] | PairRow[];
  /** The configuration; its `train` section is used. */
  config: RstarConfig;
  /** Checkpoint directory (default `<out>.ckpt`). */
  checkpointDir?: string;
  /** Continue from a matching checkpoint (default true). */
  resume?: boolean;
  /** Stop after this many optimizer steps. */
  maxSteps?: number;
  /** Aborting stops at the next step boundary and writes a checkpoint (built-in trainer). */
  signal?: AbortSignal;
  onProgress?: (p: TrainStageProgress) => void;
}

export type TrainStageProgress = { trainer: 'builtin'; progress: TrainProgress } | { trainer: 'external'; command: string };

export interface TrainStageResult {
  mode: TrainMode;
  trainer: 'builtin' | 'external';
  model: string;
  out: string;
  /** The built-in trainer's report (null for an external trainer). */
  report: TrainReport | null;
  /** The external trainer's report (null for the built-in one). */
  external: ExternalTrainReport | null;
  hyper: TrainHyperparameters;
  rows: { train: number; eval: number };
}

/** The GGUF metadata key under which a trained model records how it was trained. */
export const TRAIN_METADATA_KEY = 'rstar.train.config';

/**
 * What a trained model records about its training (mode, data files, hyper-parameters), so a caller
 * can recognise an output it already produced (self-evolution's resume) and a user can read it back.
 */
export function trainMetadata(o: Pick<TrainStageOptions, 'mode' | 'data' | 'eval' | 'config'>): string {
  return JSON.stringify({ mode: o.mode, data: typeof o.data === 'string' ? o.data : null, eval: typeof o.eval === 'string' ? o.eval : null, hyper: o.config.train[o.mode] });
}

async function loadRows(mode: TrainMode, source: string | SftRow[] | PairRow[], flag: string): Promise<SftRow[] | PairRow[]> {
  if (typeof source !== 'string') return source;
  return mode === 'sft' ? loadSftRows(source, flag) : loadPairRows(source, flag);
}

/**
 * Trains one model. Resolves with the result (also when cancelled: `report.cancelled`); rejects with an
 * RstarError for bad input or a failed run.
 *
 * @example
 * const r = await runTrainStage({ mode: 'sft', model: 'base.gguf', out: 'slm-r1.gguf', data: 'round1/sft.jsonl', config });
 */
export async function runTrainStage(o: TrainStageOptions): Promise<TrainStageResult> {
  if (o.mode !== 'sft' && o.mode !== 'ppm') throw invalidArgument('"sft" or "ppm"', 'mode', o.mode);
  if (!existsSync(o.model)) throw invalidArgument('an existing GGUF file', '--model', o.model);
  const configured: TrainHyperparameters = o.config.train[o.mode];
  const rows = await loadRows(o.mode, o.data, '--data');
  let train: SftRow[] | PairRow[];
  let evalRows: SftRow[] | PairRow[];
  if (o.eval !== undefined) {
    train = rows;
    evalRows = await loadRows(o.mode, o.eval, '--eval');
  } else {
    const split = splitHeldOut<SftRow | PairRow>(rows, configured.evalFraction, configured.seed);
    train = split.train as SftRow[] | PairRow[];
    evalRows = split.eval as SftRow[] | PairRow[];
  }
  if (train.length === 0) throw new DataError(`no training rows left after holding out ${evalRows.length} for evaluation`);
  // A step budget (`steps`): as many passes as it takes (counting whole batches only), cut at the budget.
  const hyper: TrainHyperparameters =
    configured.steps > 0 ? { ...configured, epochs: Math.ceil(configured.steps / Math.max(1, Math.floor(train.length / configured.batch))) } : configured;
  const maxSteps = configured.steps > 0 ? Math.min(o.maxSteps ?? Infinity, configured.steps) : o.maxSteps;
  const base = { mode: o.mode, model: o.model, out: o.out, hyper, rows: { train: train.length, eval: evalRows.length } };

  const external = o.config.train.external[o.mode];
  if (external) {
    o.onProgress?.({ trainer: 'external', command: external });
    const ext = await runExternalTrainer({ mode: o.mode, command: external, model: o.model, out: o.out, train, eval: evalRows, hyper, signal: o.signal });
    return { ...base, trainer: 'external', report: null, external: ext };
  }

  const common = {
    model: o.model,
    out: o.out,
    threads: o.config.train.threads,
    device: o.config.train.device,
    checkpointDir: o.checkpointDir,
    resume: o.resume,
    maxSteps,
    signal: o.signal,
    onProgress: (progress: TrainProgress) => o.onProgress?.({ trainer: 'builtin', progress }),
    metadata: { [TRAIN_METADATA_KEY]: trainMetadata(o) },
  };
  const report =
    o.mode === 'sft'
      ? await trainModel({ ...common, mode: 'sft', train: train as SftRow[], eval: evalRows as SftRow[], hyper: { ...o.config.train.sft, epochs: hyper.epochs } })
      : await trainModel({ ...common, mode: 'ppm', train: train as PairRow[], eval: evalRows as PairRow[], hyper: { ...o.config.train.ppm, epochs: hyper.epochs } });
  return { ...base, trainer: 'builtin', report, external: null };
}
