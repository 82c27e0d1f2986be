/**
 * What `rstar train sft` and `rstar train ppm` share: the flags, the configuration layers (defaults,
 * --config FILE, flags), progress on stderr, Ctrl-C handling, and the `--json` line. The work itself
 * is the train stage (lib/train/stage.ts).
 */
import type { Argv } from 'yargs';
import { readConfigFile, resolveConfig, type ConfigOverrides, type RstarConfig } from '../../../config/index.js';
import { runTrainStage, type TrainStageResult } from '../../../train/stage.js';
import type { TrainProgress, TrainReport } from '../../../train/trainer.js';
import { formatDuration, printJsonLine, Progress } from '../../output.js';

export interface TrainArgs {
  model: string;
  data: string;
  eval?: string;
  out: string;
  epochs?: number;
  steps?: number;
  lr?: number;
  batch?: number;
  ctx?: number;
  threads?: number;
  evalFraction?: number;
  seed?: number;
  schedule?: 'linear' | 'cosine' | 'constant';
  warmupRatio?: number;
  weightDecay?: number;
  gradClip?: number;
  headLrMult?: number;
  valueTransform?: 'tanh_div5' | 'tanh' | 'raw';
  checkpointEvery?: number;
  freezeEmbeddings?: boolean;
  checkpointDir?: string;
  resume: boolean;
  maxSteps?: number;
  device?: 'auto' | 'cpu' | 'gpu';
  external?: string;
  config?: string;
  json: boolean;
  quiet: boolean;
}

/** The outcome of one `rstar train` command: the built-in trainer's report, or the external run's. */
export interface TrainCommandResult {
  trainer: 'builtin' | 'external';
  report: TrainReport | null;
  /** The `--json` object (snake_case keys, the contract of the issue). */
  json: Record<string, unknown>;
}

export function trainOptions<T>(y: Argv<T>, mode: 'sft' | 'ppm'): Argv<T> {
  const what = mode === 'sft' ? 'examples' : 'pairs';
  let b = y
    .option('model', { type: 'string', demandOption: true, describe: 'input GGUF (llama/qwen2, F32/F16/BF16 weights)' })
    .option('data', {
      type: 'string',
      demandOption: true,
      describe: mode === 'sft' ? 'training JSONL of {prompt, completion} (rstar generate: sft.jsonl)' : 'training JSONL of {prompt, chosen, rejected} (rstar generate: pairs.jsonl)',
    })
    .option('eval', { type: 'string', describe: `held-out JSONL (default: --eval-fraction of --data, split by problem)` })
    .option('out', { type: 'string', demandOption: true, describe: 'output GGUF' })
    .option('epochs', { type: 'number', describe: `passes over the data (default ${mode === 'sft' ? 2 : 1})` })
    .option('steps', { type: 'number', describe: 'train exactly this many optimizer steps, passing over the data as often as that takes (overrides --epochs; default 0: use --epochs)' })
    .option('lr', { type: 'number', describe: 'peak learning rate (default 7e-6; ~1e-3 for tiny models from scratch)' })
    .option('batch', { type: 'number', describe: `${what} per optimizer step, accumulated over packed micro-batches (default ${mode === 'sft' ? 128 : 512})` })
    .option('ctx', { type: 'number', describe: `tokens per packed micro-batch; longer ${what} are truncated (default ${mode === 'sft' ? 4096 : 2048})` })
    .option('threads', { type: 'number', describe: 'CPU threads (default: all cores)' })
    .option('eval-fraction', { type: 'number', describe: 'held-out share of --data when --eval is absent (default 0.05)' })
    .option('seed', { type: 'number', describe: 'data order, split and initialisation seed (default 42)' })
    .option('schedule', { choices: ['linear', 'cosine', 'constant'] as const, describe: 'learning-rate decay after warmup (default linear)' })
    .option('warmup-ratio', { type: 'number', describe: 'warmup steps as a fraction of all steps (default 0.03)' })
    .option('weight-decay', { type: 'number', describe: `AdamW weight decay on matrices (default ${mode === 'sft' ? 0.1 : 0})` })
    .option('grad-clip', { type: 'number', describe: 'clip the global gradient norm (default 1; 0 disables)' })
    .option('freeze-embeddings', { type: 'boolean', describe: 'keep token_embd (and a tied output head) fixed, as llama-finetune does (default: train every weight)' })
    .option('checkpoint-every', { type: 'number', describe: 'steps between checkpoints (default: every tenth of the run; 0: only on Ctrl-C)' })
    .option('checkpoint-dir', { type: 'string', describe: 'checkpoint directory (default OUT.ckpt); a matching checkpoint there is resumed' })
    .option('resume', { type: 'boolean', default: true, describe: 'continue from a checkpoint of the same run (--no-resume starts over)' })
    .option('max-steps', { type: 'number', describe: 'stop after this many optimizer steps' })
    .option('device', { choices: ['auto', 'cpu', 'gpu'] as const, describe: 'where to train (default auto: a GPU when the build has one)' })
    .option('external', { type: 'string', describe: `external trainer command template (overrides config train.external.${mode}; see lib/train/external.ts)` })
    .option('config', { type: 'string', describe: 'JSON file overriding any configuration key (flags win)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as one JSON object on the last line of stdout' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress on stderr' });
  if (mode === 'ppm') {
    b = b
      .option('head-lr-mult', { type: 'number', describe: 'learning-rate multiplier of the value head (default 1)' })
      .option('value-transform', { choices: ['tanh_div5', 'tanh', 'raw'] as const, describe: 'inference transform of the head written into the PPM (default tanh_div5)' });
  }
  return b;
}

/** The resolved configuration: defaults, then --config FILE, then the flags. */
export async function trainConfig(mode: 'sft' | 'ppm', args: TrainArgs): Promise<RstarConfig> {
  const file = args.config ? await readConfigFile(args.config) : undefined;
  const section: Record<string, unknown> = {};
  const set = (key: string, value: unknown): void => {
    if (value !== undefined) section[key] = value;
  };
  set('epochs', args.epochs);
  set('steps', args.steps);
  set('lr', args.lr);
  set('batch', args.batch);
  set('ctx', args.ctx);
  set('evalFraction', args.evalFraction);
  set('seed', args.seed);
  set('schedule', args.schedule);
  set('warmupRatio', args.warmupRatio);
  set('weightDecay', args.weightDecay);
  set('gradClip', args.gradClip);
  set('checkpointEvery', args.checkpointEvery);
  set('freezeEmbeddings', args.freezeEmbeddings);
  if (mode === 'ppm') {
    set('headLrMult', args.headLrMult);
    set('valueTransform', args.valueTransform);
  }
  const train: Record<string, unknown> = { [mode]: section };
  if (args.threads !== undefined) train.threads = args.threads;
  if (args.device !== undefined) train.device = args.device;
  if (args.external !== undefined) train.external = { [mode]: args.external };
  return resolveConfig(file, { train } as ConfigOverrides);
}

function describeProgress(p: TrainProgress): string {
  switch (p.phase) {
    case 'tokenize':
      return 'tokenizing';
    case 'eval_before':
    case 'eval_after':
      return `held-out evaluation ${p.phase === 'eval_before' ? 'before' : 'after'} training ${Math.round(p.fraction * 100)}%`;
    case 'checkpoint':
      return `step ${p.step}/${p.totalSteps}: writing a checkpoint`;
    case 'save':
      return 'writing the model';
    default:
      return (
        `step ${p.step}/${p.totalSteps} (epoch ${p.epoch.toFixed(2)}) loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(2)} ` +
        `| ${Math.round(p.tokensPerSecond).toLocaleString('en-US')} tok/s | ETA ${formatDuration(p.etaSeconds)}`
      );
  }
}

function jsonOf(mode: 'sft' | 'ppm', r: TrainReport, epochs: number): Record<string, unknown> {
  const base: Record<string, unknown> = {
    mode,
    trainer: 'builtin',
    model: r.model,
    out: r.cancelled ? null : r.out,
    cancelled: r.cancelled,
    eval_loss_before: r.evalLossBefore,
    eval_loss_after: r.evalLossAfter,
  };
  if (mode === 'ppm') {
    base.eval_pair_accuracy_before = r.evalPairAccuracyBefore;
    base.eval_pair_accuracy = r.evalPairAccuracyAfter;
  }
  return {
    ...base,
    train_tokens_per_s: r.trainTokensPerSecond,
    train_tokens: r.trainTokens,
    train_seconds: r.trainSeconds,
    steps: r.steps,
    total_steps: r.totalSteps,
    epochs,
    final_train_loss: r.finalTrainLoss,
    resumed_from_step: r.resumedFromStep,
    skipped_steps: r.skippedSteps,
    train_rows: r.train.examples,
    train_rows_used: r.train.used,
    eval_rows: r.eval.examples,
    truncated: r.train.truncated + r.eval.truncated,
    skipped: r.train.skipped + r.eval.skipped,
    device: r.device,
    peak_rss_mib: r.memory.peakRssMiB,
    memory_mib: { weights: r.memory.weightsMiB, grads: r.memory.gradsMiB, optimizer: r.memory.optimizerMiB, compute: r.memory.computeMiB },
    checkpoint_dir: r.checkpointDir,
  };
}

function summaryOf(mode: 'sft' | 'ppm', r: TrainReport): string {
  const f = (x: number | null, d = 4): string => (x === null ? 'n/a' : x.toFixed(d));
  const lines = [
    `${r.cancelled ? 'interrupted' : 'done'}: ${r.steps}/${r.totalSteps} steps in ${formatDuration(r.trainSeconds)}, ` +
      `${Math.round(r.trainTokensPerSecond).toLocaleString('en-US')} tokens/s on ${r.device}`,
    `held-out loss ${f(r.evalLossBefore)} -> ${f(r.evalLossAfter)}` +
      (mode === 'ppm' ? `, pair accuracy ${f(r.evalPairAccuracyBefore, 3)} -> ${f(r.evalPairAccuracyAfter, 3)}` : ''),
    `data: ${r.train.used}/${r.train.examples} training and ${r.eval.used}/${r.eval.examples} held-out ${mode === 'sft' ? 'examples' : 'pairs'}` +
      (r.train.truncated + r.eval.truncated ? `, ${r.train.truncated + r.eval.truncated} truncated` : '') +
      (r.train.skipped + r.eval.skipped ? `, ${r.train.skipped + r.eval.skipped} skipped` : ''),
  ];
  if (r.cancelled) lines.push(`checkpoint: ${r.checkpointDir ?? '(none)'}; run the same command again to resume`);
  else lines.push(`wrote ${r.out}`);
  return lines.join('\n');
}

/** The `--json` object of an external trainer's run. */
function externalJsonOf(r: TrainStageResult): Record<string, unknown> {
  const m = r.external!.metrics;
  return {
    mode: r.mode,
    trainer: 'external',
    model: r.model,
    out: r.out,
    cancelled: false,
    eval_loss_before: m.eval_loss_before ?? null,
    eval_loss_after: m.eval_loss_after ?? null,
    ...(r.mode === 'ppm' ? { eval_pair_accuracy_before: m.eval_pair_accuracy_before ?? null, eval_pair_accuracy: m.eval_pair_accuracy ?? null } : {}),
    train_tokens_per_s: m.train_tokens_per_s ?? null,
    train_rows: r.rows.train,
    eval_rows: r.rows.eval,
    seconds: r.external!.seconds,
    workdir: r.external!.workdir,
  };
}

/** The handler of `rstar train sft|ppm`, callable from scripts and tests. */
export async function runTrainCommand(mode: 'sft' | 'ppm', args: TrainArgs): Promise<TrainCommandResult> {
  const config = await trainConfig(mode, args);
  const progress = new Progress(`train ${mode}`, args.quiet);
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    progress.done('stopping: finishing the current step and writing a checkpoint (Ctrl-C again to quit)');
  };
  process.on('SIGINT', onSigint);
  try {
    const result = await runTrainStage({
      mode,
      model: args.model,
      out: args.out,
      data: args.data,
      eval: args.eval,
      config,
      checkpointDir: args.checkpointDir,
      resume: args.resume,
      maxSteps: args.maxSteps,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.trainer === 'external') progress.update(`external trainer: ${p.command}`, true);
        else progress.update(describeProgress(p.progress), p.progress.phase !== 'train');
      },
    });
    if (result.trainer === 'external') {
      const json = externalJsonOf(result);
      progress.done(`external trainer finished in ${formatDuration(result.external!.seconds)}`);
      if (args.json) printJsonLine(json);
      else process.stdout.write(`done: the external trainer wrote ${args.out} in ${formatDuration(result.external!.seconds)} (data in ${result.external!.workdir})\n`);
      return { trainer: 'external', report: null, json };
    }
    const report = result.report!;
    progress.done(report.cancelled ? 'interrupted' : 'done');
    const json = jsonOf(mode, report, result.hyper.epochs);
    if (args.json) printJsonLine(json);
    else process.stdout.write(`${summaryOf(mode, report)}\n`);
    if (report.cancelled) process.exitCode = 130;
    return { trainer: 'builtin', report, json };
  } finally {
    process.off('SIGINT', onSigint);
  }
}
