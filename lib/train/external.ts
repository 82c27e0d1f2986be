/**
 * The external-trainer hook: users with a PyTorch stack train large models themselves and hand back a
 * GGUF. `rstar train sft|ppm` takes this path when `train.external.sft` / `train.external.ppm` is set
 * in the configuration file (or --external is given).
 *
 * The contract
 * ------------
 * 1. rstar writes the data it would train on into a work directory, `<out>.external/`:
 *    - `train.jsonl`, `eval.jsonl`: the same rows the built-in trainer uses, after validation and the
 *      held-out split. SFT: {"prompt", "completion"} (loss on the completion only; the built-in
 *      trainer appends EOS). PPM: {"prompt", "chosen", "rejected", "weight"}, where weight is the
 *      per-prefix-group factor of the Bradley-Terry loss: minimise
 *      Σ weight · −log σ(r(prompt+chosen) − r(prompt+rejected)) / Σ weight.
 *    - `job.json`: every placeholder value below, plus the resolved hyper-parameters.
 * 2. It runs the command template through `/bin/sh -c`, after replacing these placeholders with
 *    shell-quoted values: {mode} (sft|ppm) {model} (input GGUF) {train} {eval} (the JSONL files)
 *    {out} (the GGUF to produce) {workdir} {epochs} {lr} {batch} {ctx} {seed}. The same values are in
 *    the environment as RSTAR_TRAIN_MODE, _MODEL, _TRAIN, _EVAL, _OUT, _WORKDIR, _EPOCHS, _LR, _BATCH,
 *    _CTX, _SEED. The command's stdout and stderr go to rstar's stderr (stdout stays rstar's own).
 * 3. The command must exit with status 0 and leave a GGUF at {out} that llama.cpp loads (convert an
 *    HF checkpoint with llama.cpp's convert_hf_to_gguf.py). A PPM must carry its scalar head in the
 *    metadata: `rstar.value_head.weight` (float32 array of n_embd), `rstar.value_head.bias` (float32)
 *    and `rstar.value_head.transform` ("tanh_div5" = tanh(x/5), "tanh", or "raw"), applied by the engine
 *    to w·h + b where h is the final hidden state (after the output norm) of the last token.
 * 4. Optionally it writes `{workdir}/metrics.json` with any of eval_loss_before, eval_loss_after,
 *    eval_pair_accuracy_before, eval_pair_accuracy, train_tokens_per_s; rstar reports them.
 *
 * rstar checks the exit status, the GGUF magic and, for a PPM, the value-head key; it does not run
 * the model.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { RstarError, invalidArgument } from '../errors.js';
import { writeJsonAtomic, writeJsonlAtomic } from '../data/jsonl.js';
import { loadBinding } from '../native/binding.js';
import type { TrainHyperparameters } from './config.js';
import type { PairRow, SftRow } from './data.js';

export interface ExternalTrainOptions {
  mode: 'sft' | 'ppm';
  /** The command template (see the contract above). */
  command: string;
  model: string;
  out: string;
  train: SftRow[] | PairRow[];
  eval: SftRow[] | PairRow[];
  hyper: TrainHyperparameters;
  signal?: AbortSignal;
}

export interface ExternalTrainReport {
  exitCode: number;
  workdir: string;
  seconds: number;
  /** Whatever the command put in metrics.json (snake_case keys as written). */
  metrics: Record<string, number>;
}

/** POSIX single-quote quoting: the value reaches the command as exactly one word. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Replaces {name} placeholders; an unknown placeholder is an error, so typos do not pass silently. */
export function renderCommand(template: string, values: Record<string, string>): string {
  return template.replace(/\{([a-z_]+)\}/g, (whole, name: string) => {
    if (!Object.hasOwn(values, name)) {
      throw invalidArgument(`a placeholder among {${Object.keys(values).join('}, {')}}`, 'the external trainer command', whole);
    }
    return shellQuote(values[name]);
  });
}

async function checkGguf(path: string, ppm: boolean): Promise<void> {
  if (!existsSync(path)) throw new RstarError('TRAIN', `the external trainer exited successfully but wrote no file at ${path}`);
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    if (head.toString('latin1') !== 'GGUF') throw new RstarError('TRAIN', `the external trainer's output ${path} is not a GGUF file`);
  } finally {
    await fh.close();
  }
  if (ppm) {
    const meta = (await loadBinding().inspect(path)).metadata;
    if (!Object.hasOwn(meta, 'rstar.value_head.weight')) {
      throw new RstarError('TRAIN', `the external trainer's PPM ${path} has no rstar.value_head.weight metadata (see lib/train/external.ts)`);
    }
  }
}

/** Runs the external trainer per the contract above and validates what it produced. */
export async function runExternalTrainer(o: ExternalTrainOptions): Promise<ExternalTrainReport> {
  if (!o.command.trim()) throw invalidArgument('a command template', 'the external trainer command', o.command);
  if (!existsSync(o.model)) throw invalidArgument('an existing GGUF file', 'model', o.model);
  const out = resolve(o.out);
  const workdir = `${out}.external`;
  mkdirSync(workdir, { recursive: true });
  const trainPath = join(workdir, 'train.jsonl');
  const evalPath = join(workdir, 'eval.jsonl');
  await writeJsonlAtomic(trainPath, o.train);
  await writeJsonlAtomic(evalPath, o.eval);
  const values: Record<string, string> = {
    mode: o.mode,
    model: resolve(o.model),
    train: trainPath,
    eval: evalPath,
    out,
    workdir,
    epochs: String(o.hyper.epochs),
    lr: String(o.hyper.lr),
    batch: String(o.hyper.batch),
    ctx: String(o.hyper.ctx),
    seed: String(o.hyper.seed),
  };
  await writeJsonAtomic(join(workdir, 'job.json'), { ...values, hyper: o.hyper });
  const command = renderCommand(o.command, values);
  const env = { ...process.env };
  for (const [k, v] of Object.entries(values)) env[`RSTAR_TRAIN_${k.toUpperCase()}`] = v;

  const started = Date.now();
  const exitCode = await new Promise<number>((resolveExit, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(process.stderr, { end: false });
    child.stderr.pipe(process.stderr, { end: false });
    const onAbort = (): void => {
      child.kill('SIGTERM');
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => reject(new RstarError('TRAIN', `cannot start the external trainer: ${err.message}`)));
    child.on('close', (code, signal) => {
      o.signal?.removeEventListener('abort', onAbort);
      resolveExit(code ?? (signal ? 128 : 1));
    });
  });
  if (o.signal?.aborted) throw new RstarError('ABORTED', 'the external trainer was interrupted');
  if (exitCode !== 0) throw new RstarError('TRAIN', `the external trainer exited with status ${exitCode}: ${command}`);
  await checkGguf(out, o.mode === 'ppm');

  const metrics: Record<string, number> = {};
  const metricsPath = join(workdir, 'metrics.json');
  if (existsSync(metricsPath)) {
    try {
      const parsed: unknown = JSON.parse(await readFile(metricsPath, 'utf8'));
      if (parsed && typeof parsed === 'object') {
        for (const [k, v] of Object.entries(parsed)) if (typeof v === 'number') metrics[k] = v;
      }
    } catch {
      process.stderr.write(`warning: ${metricsPath} is not valid JSON; ignored\n`);
    }
  }
  return { exitCode, workdir, seconds: (Date.now() - started) / 1000, metrics };
}
