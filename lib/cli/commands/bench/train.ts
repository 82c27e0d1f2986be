/**
 * `rstar bench train`: training throughput of the built-in trainer next to llama.cpp's own
 * `llama-finetune`, on the same model and the same text, in the same run.
 *
 * Models (random weights, F32, made here): the tiny preset (byte vocabulary); a Qwen2.5-0.5B-shaped
 * model (Qwen2 vocabulary, 24 layers, 896 wide, tied embeddings; about 2 GB), on which
 * llama-finetune aborts in this llama.cpp (see MODELS); and the same width and vocabulary with 4
 * layers, where both run. The top-level numbers come from the last model both trainers ran.
 * Data: the synthetic step-format additions (lib/train/synthetic.ts); llama-finetune reads the same
 * rows as plain text.
 *
 * What is measured (each side in its own process, so peak RSS is per side, read by GNU time):
 * - ours_tps: tokens through forward + backward + AdamW per second of the training loop (the
 *   trainer's own clock: model load, evaluation and saving are outside it), --max-steps steps of
 *   packed --ctx-token micro-batches;
 * - llama_finetune_tps: the marginal rate of llama-finetune, from two runs over different amounts of
 *   text: (tokens_b - tokens_a) / (seconds_b - seconds_a), which cancels its load and save time.
 *   Each of its steps is one --ctx window (n_ctx rounded up to 256 by llama.cpp).
 * llama-finetune trains less than we do (no token embedding, so with tied embeddings no output
 * head either; in this llama.cpp no attn_k/attn_v), so the point is that we are not slower per
 * token: ratio = ours_tps / llama_finetune_tps. ours_matched_tps / ratio_matched repeat our run with
 * the token embedding frozen (--freeze-embeddings), i.e. on llama-finetune's trainable set plus
 * attn_k/attn_v; the difference between the two is the price of training the vocabulary matrix.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { makeModel, type Preset } from '../../../engine/model-files.js';
import { RstarError, assertInteger } from '../../../errors.js';
import { loadBinding } from '../../../native/binding.js';
import { llamaTool, packageRoot } from '../../../paths.js';
import { additionSftRows } from '../../../train/synthetic.js';
import { printJsonLine, Progress } from '../../output.js';

const run = promisify(execFile);

interface BenchTrainArgs {
  json: boolean;
  steps?: number;
  ctx: number;
  threads: number;
  models: string;
  dir?: string;
}

export interface BenchTrainModelResult {
  model: string;
  params_m: number;
  ours_tps: number;
  /** null when llama-finetune failed on this model (see llama_finetune_error). */
  llama_finetune_tps: number | null;
  ratio: number | null;
  /** Ours with the token embedding frozen: the trainable set llama-finetune has (plus attn_k/attn_v). */
  ours_matched_tps: number;
  ratio_matched: number | null;
  llama_finetune_error: string | null;
  ours_peak_rss_mib: number | null;
  llama_finetune_peak_rss_mib: number | null;
  ours_steps: number;
  ours_tokens: number;
  llama_finetune_windows: [number, number] | null;
}

export interface BenchTrainResult extends Omit<BenchTrainModelResult, 'model' | 'params_m' | 'ours_steps' | 'ours_tokens' | 'llama_finetune_windows'> {
  bench: 'train';
  /** The model the top-level numbers come from (the last one both trainers ran). */
  model: string;
  ctx: number;
  threads: number;
  models: BenchTrainModelResult[];
}

/**
 * Per model: our optimizer steps, and llama-finetune's window counts for its two runs. In this
 * llama.cpp, llama-finetune aborts on the full 24-layer 0.5B shape (its training graph outgrows the
 * node budget of 8 x n_tensors: GGML_ASSERT(cgraph->n_nodes < cgraph->size)), so the comparison is
 * also made at the 0.5B width and vocabulary with 4 layers, where it runs; the full shape still
 * reports our throughput and memory.
 */
const MODELS: Record<string, { preset: Preset; vocab: 'bytes' | 'qwen2'; layers?: number; steps: number; windows: [number, number] }> = {
  tiny: { preset: 'tiny', vocab: 'bytes', steps: 150, windows: [40, 200] },
  'qwen2.5-0.5b': { preset: 'qwen2.5-0.5b', vocab: 'qwen2', steps: 3, windows: [1, 3] },
  'qwen2.5-0.5b-4l': { preset: 'qwen2.5-0.5b', vocab: 'qwen2', layers: 4, steps: 6, windows: [2, 8] },
};

/** Runs a command under GNU time when available; returns its stdout/stderr, wall seconds and peak RSS. */
async function timed(cmd: string, args: string[], timeFile: string): Promise<{ stdout: string; stderr: string; seconds: number; peakMiB: number | null }> {
  const haveTime = existsSync('/usr/bin/time');
  const started = process.hrtime.bigint();
  const exe = haveTime ? '/usr/bin/time' : cmd;
  const argv = haveTime ? ['-o', timeFile, '-f', '%M', cmd, ...args] : args;
  let out: { stdout: string; stderr: string };
  try {
    out = await run(exe, argv, { maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new RstarError('TRAIN', `${cmd} failed: ${(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' | ')}`);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let peakMiB: number | null = null;
  if (haveTime && existsSync(timeFile)) {
    const kib = Number(readFileSync(timeFile, 'utf8').trim().split('\n').at(-1));
    if (Number.isFinite(kib)) peakMiB = kib / 1024;
  }
  return { ...out, seconds, peakMiB };
}

/** Text of `count` synthetic rows, as llama-finetune reads it (one flat document). */
function corpusText(count: number, seed: number): string {
  return additionSftRows(count, seed).map((r) => r.prompt + r.completion).join('\n');
}

async function benchModel(name: string, a: BenchTrainArgs, dir: string, progress: Progress): Promise<BenchTrainModelResult> {
  const spec = MODELS[name];
  const modelPath = join(dir, `${name}-f32.gguf`);
  if (!existsSync(modelPath)) {
    progress.update(`${name}: writing a random F32 model`, true);
    await makeModel({ preset: spec.preset, vocab: spec.vocab, type: 'f32', out: modelPath, seed: 1, overrides: { layers: spec.layers } });
  }
  const main = join(packageRoot, 'dist', 'lib', 'cli', 'main.js');

  // Ours: one optimizer step per micro-batch of about --ctx tokens (as llama-finetune steps once
  // per window), enough rows for the steps, no held-out set.
  const steps = a.steps ?? spec.steps;
  const sample = additionSftRows(16, 9).map((r) => r.prompt + r.completion);
  const tokensPerRow = (await loadBinding().trainTokenize(modelPath, sample, false)).reduce((s, t) => s + t.length + 1, 0) / sample.length;
  const rowsPerStep = Math.max(1, Math.floor(a.ctx / tokensPerRow));
  const rows = additionSftRows(steps * rowsPerStep, 7);
  const data = join(dir, `${name}-sft.jsonl`);
  writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const runOurs = async (freeze: boolean) => {
    progress.update(`${name}: built-in trainer, ${steps} steps${freeze ? ', token embedding frozen' : ''}`, true);
    const res = await timed(
      process.execPath,
      [main, 'train', 'sft', '--model', modelPath, '--data', data, '--out', join(dir, `${name}-ours.gguf`), '--epochs', '1', '--max-steps', String(steps),
        '--batch', String(rowsPerStep), '--ctx', String(a.ctx), '--lr', '1e-5', '--threads', String(a.threads), '--eval-fraction', '0', '--no-resume', '--checkpoint-every', '0',
        ...(freeze ? ['--freeze-embeddings'] : []), '--quiet', '--json'],
      join(dir, 'time-ours.txt'),
    );
    return { ...res, json: JSON.parse(res.stdout.trim().split('\n').at(-1)!) as { train_tokens_per_s: number; steps: number; train_tokens: number } };
  };
  const ours = await runOurs(false);
  const oursJson = ours.json;
  // The same trainable set as llama-finetune (everything but the token embedding; we still train attn_k/attn_v).
  const matched = await runOurs(true);

  const params = (await loadBinding().inspect(modelPath)).tensors.reduce((s, t) => s + t.bytes / 4, 0);  // F32: 4 bytes each
  rmSync(join(dir, `${name}-ours.gguf`), { force: true });
  let finetune: { tps: number; peakMiB: number | null; windows: [number, number] } | null = null;
  let finetuneError: string | null = null;
  try {
    finetune = await measureFinetune(name, modelPath, a, dir, progress, tokensPerRow);
  } catch (err) {
    finetuneError = (err as Error).message;
    progress.update(`${name}: ${finetuneError}`, true);
  }
  rmSync(join(dir, `${name}-finetune.gguf`), { force: true });
  return {
    model: name,
    params_m: params / 1e6,
    ours_tps: oursJson.train_tokens_per_s,
    llama_finetune_tps: finetune?.tps ?? null,
    ratio: finetune ? oursJson.train_tokens_per_s / finetune.tps : null,
    ours_matched_tps: matched.json.train_tokens_per_s,
    ratio_matched: finetune ? matched.json.train_tokens_per_s / finetune.tps : null,
    llama_finetune_error: finetuneError,
    ours_peak_rss_mib: ours.peakMiB,
    llama_finetune_peak_rss_mib: finetune?.peakMiB ?? null,
    ours_steps: oursJson.steps,
    ours_tokens: oursJson.train_tokens,
    llama_finetune_windows: finetune?.windows ?? null,
  };
}

/** llama-finetune's marginal tokens/s from two runs over different amounts of the same text. */
async function measureFinetune(
  name: string,
  modelPath: string,
  a: BenchTrainArgs,
  dir: string,
  progress: Progress,
  tokensPerRow: number,
): Promise<{ tps: number; peakMiB: number | null; windows: [number, number] }> {
  const spec = MODELS[name];
  // The text is sized from our tokenization of it (the same vocabulary); the window count is read
  // back from llama-finetune's progress.
  const nCtx = Math.max(256, Math.ceil(a.ctx / 256) * 256);
  const stride = nCtx / 2;
  const measured: Array<{ windows: number; seconds: number; peakMiB: number | null }> = [];
  for (const want of spec.windows) {
    const file = join(dir, `${name}-finetune-${want}.txt`);
    writeFileSync(file, corpusText(Math.ceil((nCtx + 1 + (want + 0.5) * stride) / tokensPerRow), 9));
    progress.update(`${name}: llama-finetune over ${want} window(s)`, true);
    const res = await timed(
      llamaTool('llama-finetune'),
      ['-m', modelPath, '-f', file, '-c', String(nCtx), '-b', String(nCtx), '-ub', String(nCtx), '--epochs', '1', '--val-split', '0',
        '-t', String(a.threads), '-o', join(dir, `${name}-finetune.gguf`), '-lr', '1e-5'],
      join(dir, 'time-finetune.txt'),
    );
    const matches = [...res.stderr.matchAll(/data=\s*(\d+)\s*\/\s*(\d+)/g)];
    const windows = matches.length ? Number(matches.at(-1)![2]) : NaN;
    if (!Number.isFinite(windows) || windows <= 0) throw new RstarError('TRAIN', `could not read llama-finetune's progress for ${name}`);
    measured.push({ windows, seconds: res.seconds, peakMiB: res.peakMiB });
  }
  const [x, y] = measured;
  if (y.windows <= x.windows || y.seconds <= x.seconds) throw new RstarError('TRAIN', `llama-finetune timing for ${name} is not usable (${JSON.stringify(measured)}); rerun on a quieter machine`);
  const tps = ((y.windows - x.windows) * nCtx) / (y.seconds - x.seconds);
  return { tps, peakMiB: Math.max(x.peakMiB ?? 0, y.peakMiB ?? 0) || null, windows: [x.windows, y.windows] };
}

export async function runBenchTrain(a: BenchTrainArgs): Promise<BenchTrainResult> {
  if (a.steps !== undefined) assertInteger(a.steps, '--steps', 1, 10_000);
  assertInteger(a.ctx, '--ctx', 16, 8192);
  assertInteger(a.threads, '--threads', 1, 1024);
  const names = a.models.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!MODELS[n]) throw new RstarError('INVALID_ARGUMENT', `Expected models among ${Object.keys(MODELS).join(', ')} but received ${JSON.stringify(n)}`);
  if (!existsSync(llamaTool('llama-finetune'))) throw new RstarError('IO', `llama-finetune is missing at ${llamaTool('llama-finetune')}: run \`npm install\``);
  const dir = a.dir ?? join(tmpdir(), 'rstar-bench-train');
  mkdirSync(dir, { recursive: true });
  const progress = new Progress('bench train', false, 1000);
  const results: BenchTrainModelResult[] = [];
  for (const n of names) {
    const r = await benchModel(n, a, dir, progress);
    results.push(r);
    if (!a.json) {
      const theirs =
        r.llama_finetune_tps === null
          ? `llama-finetune failed (${r.llama_finetune_error})`
          : `llama-finetune ${r.llama_finetune_tps.toFixed(1)} tok/s, ratio ${r.ratio!.toFixed(2)} (${r.ratio_matched!.toFixed(2)} with the embedding frozen)`;
      process.stdout.write(
        `${n} (${r.params_m.toFixed(1)}M params): ours ${r.ours_tps.toFixed(1)} tok/s (${r.ours_matched_tps.toFixed(1)} with the embedding frozen), ${theirs}; ` +
          `peak RSS ours ${r.ours_peak_rss_mib?.toFixed(0) ?? '?'} MiB, llama-finetune ${r.llama_finetune_peak_rss_mib?.toFixed(0) ?? '?'} MiB\n`,
      );
    }
  }
  progress.done('done');
  // Top level: the last model both trainers ran (the largest comparable one).
  const main = [...results].reverse().find((r) => r.ratio !== null) ?? results.at(-1)!;
  const result: BenchTrainResult = {
    bench: 'train',
    model: main.model,
    ours_tps: main.ours_tps,
    llama_finetune_tps: main.llama_finetune_tps,
    ratio: main.ratio,
    ours_matched_tps: main.ours_matched_tps,
    ratio_matched: main.ratio_matched,
    llama_finetune_error: main.llama_finetune_error,
    ours_peak_rss_mib: main.ours_peak_rss_mib,
    llama_finetune_peak_rss_mib: main.llama_finetune_peak_rss_mib,
    ctx: a.ctx,
    threads: a.threads,
    models: results,
  };
  if (a.json) printJsonLine(result);
  return result;
}

export const benchTrainCommand: CommandModule<object, BenchTrainArgs> = {
  command: 'train',
  describe: 'training tokens/s of the built-in trainer next to llama-finetune on the same models and text (tiny and Qwen2.5-0.5B-shaped, F32)',
  builder: (y) =>
    y
      .option('steps', { type: 'number', describe: 'optimizer steps of the built-in trainer per model (default: 150 tiny, 3 for 0.5B, 6 for 0.5B-4l)' })
      .option('ctx', { type: 'number', default: 256, describe: 'tokens per micro-batch / llama-finetune window (llama.cpp rounds n_ctx up to 256)' })
      .option('threads', { type: 'number', default: availableParallelism(), describe: 'CPU threads for both trainers' })
      .option('models', { type: 'string', default: 'tiny,qwen2.5-0.5b,qwen2.5-0.5b-4l', describe: `comma-separated: ${Object.keys(MODELS).join(', ')}` })
      .option('dir', { type: 'string', describe: 'working directory for models and data (default: the system temp dir)' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object (ours_tps, llama_finetune_tps, ratio, peak memory) on the last line' }),
  handler: async (args: ArgumentsCamelCase<BenchTrainArgs>) => {
    await runBenchTrain(args);
  },
};
