/**
 * `rstar eval` as a library function: several policies (one model as f16, q8_0 and q4_k_m, say), one
 * or more methods, the same problems, one output directory. Each policy is loaded alone (its models
 * and Python pool are freed before the next one loads, so peak memory is its own), and evaluated with
 * every method by `evaluate` (./evaluate.ts), which writes `results.jsonl` and `metrics.json`.
 *
 * The directory's `config.json` records what its results mean: the dataset and, per method, every
 * setting that shapes an answer (prompt, n, runs, top-K, the search settings, the prompt templates, the
 * PPM by SHA-256), and each policy by SHA-256. A rerun resumes; a rerun that would mix results of other
 * settings, another dataset or a changed model file into the same files is refused, naming what differs.
 * New policies and new methods may be added to a directory at any time; `--limit` may change.
 *
 * With a `runner` (`rstar eval --queue`), no model is loaded here: each policy's candidates are made by
 * the runner it returns for that policy's models (queue workers, which find the files by SHA-256), and
 * this process only clusters, selects, grades and writes; the files are the same as a local run's.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RstarConfig } from '../config/index.js';
import { differingInputs, fileDigest, type FileDigest } from '../data/digest.js';
import { writeJsonAtomic } from '../data/jsonl.js';
import { loadProblems, resolveProblemFile } from '../data/problems.js';
import { assertInteger, DataError, invalidArgument } from '../errors.js';
import { openSearchDeps } from '../policy/deps.js';
import type { LoadedModelReport } from '../policy/engine.js';
import type { ProblemRunner } from '../runner/index.js';
import { evaluate, type EvalMetrics, type EvalProgress } from './evaluate.js';
import { EVAL_METHODS, EVAL_PROMPTS, type EvalMethod, type EvalPrompt } from './metrics.js';
import { methodSearchSettings } from './sample.js';

export interface RunEvalOptions {
  /** Policy GGUF files, evaluated one after another on the same problems. */
  policies: readonly string[];
  /** PPM GGUF (best-of-n needs one; mcts uses it when given). */
  ppm?: string;
  /** A benchmark name (gsm8k, math500, aime24, amc23) or a problem file. */
  dataset: string;
  methods: readonly EvalMethod[];
  /** Samples per problem (majority, best-of-n); default 8. */
  n?: number;
  /** Independent searches per problem (mcts); default 1. */
  runs?: number;
  /** mcts: majority over the K best-scored searches; default 4. */
  topK?: number;
  prompt?: EvalPrompt;
  /** Only the first N problems. */
  limit?: number;
  outDir: string;
  config: RstarConfig;
  /** Problems evaluated at once (here; with `runner`, each queue worker has its own). */
  concurrency: number;
  /**
   * Where the candidates are made: by default in this process (each policy loaded here in turn); given
   * this, by the runner it returns for a policy and its PPM (`QueueRunner`: `rstar worker` processes).
   */
  runner?: (models: { policy: string; ppm: string | null }) => ProblemRunner;
  signal?: AbortSignal;
  onProgress?: (p: RunEvalProgress) => void;
  /** Where the Python pool's start-up line goes (default stderr; null: silence). */
  log?: ((line: string) => void) | null;
}

export interface RunEvalProgress extends EvalProgress {
  policy: string;
  /** 1-based position of the policy, out of `policies`. */
  policyIndex: number;
  policies: number;
  method: EvalMethod;
}

export interface RunEvalEntry {
  policy: string;
  method: EvalMethod;
  metrics: EvalMetrics;
  /** The models as loaded (engine settings, offloaded layers); null when a runner made the candidates. */
  engine: { policy: LoadedModelReport; ppm: LoadedModelReport | null } | null;
}

export interface RunEvalResult {
  outDir: string;
  /** The dataset's name (a benchmark name, or the file's source name). */
  dataset: string;
  datasetFile: string;
  /** Problems evaluated (after --limit). */
  problems: number;
  results: RunEvalEntry[];
  /** False when the signal stopped the run before every policy and method finished. */
  complete: boolean;
}

interface MethodSettings {
  prompt: EvalPrompt;
  n: number;
  top_k?: number;
  ppm: FileDigest | null;
  search: ReturnType<typeof methodSearchSettings>;
  prompts: RstarConfig['prompts'];
}

interface EvalDirConfig {
  version: 1;
  dataset: { name: string; file: FileDigest };
  policies: Record<string, FileDigest>;
  methods: Partial<Record<EvalMethod, MethodSettings>>;
  /** The engine settings of the latest run (informative: they may change between runs). */
  engine: RstarConfig['engine'];
}

const usesPpm = (m: EvalMethod): boolean => m === 'best-of-n' || m === 'mcts';

/** Candidates of one problem generated at once: sizes the KV cache with the problems in flight. */
function parallelism(method: EvalMethod, n: number): number {
  return method === 'greedy' ? 1 : n;
}

function describeDifferences(before: MethodSettings, now: MethodSettings): string[] {
  const out: string[] = [];
  for (const key of Object.keys(now) as Array<keyof MethodSettings>) {
    if (key === 'ppm') {
      out.push(...differingInputs({ ppm: before.ppm ?? null }, { ppm: now.ppm }, { ppm: '--ppm' }));
      continue;
    }
    const a = before[key] as unknown;
    const b = now[key] as unknown;
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    if (key === 'search' || key === 'prompts') {
      const x = (a ?? {}) as Record<string, unknown>;
      const y = b as Record<string, unknown>;
      for (const k of Object.keys(y)) if (JSON.stringify(x[k]) !== JSON.stringify(y[k])) out.push(`${key}.${k} (${JSON.stringify(x[k])} then, ${JSON.stringify(y[k])} now)`);
    } else out.push(`${key} (${JSON.stringify(a)} then, ${JSON.stringify(b)} now)`);
  }
  return out;
}

/**
 * Evaluates every policy with every method on the dataset (see the file header).
 *
 * @example
 * const r = await runEval({ policies: ['m-f16.gguf', 'm-q8_0.gguf'], dataset: 'math500', methods: ['greedy'], limit: 100, outDir: 'eval', config, concurrency: 8 });
 * r.results.map((e) => [e.policy, e.metrics.accuracy]);
 */
export async function runEval(options: RunEvalOptions): Promise<RunEvalResult> {
  if (options.policies.length === 0) throw invalidArgument('at least one policy GGUF', '--policy', []);
  const seen = new Set<string>();
  for (const p of options.policies) {
    if (typeof p !== 'string' || !existsSync(p)) throw invalidArgument('an existing GGUF file', '--policy', p);
    if (seen.has(p)) throw invalidArgument('each policy once', '--policy', p);
    seen.add(p);
  }
  if (options.ppm !== undefined && !existsSync(options.ppm)) throw invalidArgument('an existing GGUF file', '--ppm', options.ppm);
  if (options.methods.length === 0) throw invalidArgument(`at least one of ${EVAL_METHODS.join(', ')}`, '--method', []);
  for (const m of options.methods) if (!EVAL_METHODS.includes(m)) throw invalidArgument(`one of ${EVAL_METHODS.join(', ')}`, '--method', m);
  const methods = [...new Set(options.methods)];
  const prompt = options.prompt ?? 'step';
  if (!EVAL_PROMPTS.includes(prompt)) throw invalidArgument(`one of ${EVAL_PROMPTS.join(', ')}`, '--prompt', prompt);
  if (prompt === 'cot' && methods.includes('mcts')) throw invalidArgument('--prompt step with --method mcts (the search needs the step format)', '--prompt', prompt);
  if (methods.includes('best-of-n') && options.ppm === undefined) throw invalidArgument('a PPM (--ppm FILE): best-of-n ranks the samples by their PPM scores', '--ppm', undefined);
  const n = assertInteger(options.n ?? 8, '--n', 1, 10_000);
  const runs = assertInteger(options.runs ?? 1, '--runs', 1, 10_000);
  const topK = assertInteger(options.topK ?? 4, '--top-k', 1, 10_000);
  const concurrency = assertInteger(options.concurrency, '--concurrency', 1, 100_000);
  if (options.limit !== undefined) assertInteger(options.limit, '--limit', 1);

  const datasetFile = resolveProblemFile(options.dataset, '--dataset');
  const problems = await loadProblems(datasetFile, options.limit === undefined ? {} : { limit: options.limit });
  const dataset = problems[0]?.source ?? options.dataset;
  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });

  // ---- what this directory's results mean, and whether this run may add to them ----
  const configPath = join(outDir, 'config.json');
  const ppmDigest = options.ppm === undefined ? null : await fileDigest(options.ppm);
  const countOf = (m: EvalMethod): number => (m === 'greedy' ? 1 : m === 'mcts' ? runs : n);
  const settingsNow = (m: EvalMethod): MethodSettings => ({
    prompt,
    n: countOf(m),
    ...(m === 'mcts' ? { top_k: Math.min(topK, runs) } : {}),
    ppm: usesPpm(m) ? ppmDigest : null,
    search: methodSearchSettings(m, options.config.search),
    prompts: options.config.prompts,
  });
  let dirConfig: EvalDirConfig;
  const datasetDigest = await fileDigest(datasetFile);
  if (existsSync(configPath)) {
    try {
      dirConfig = JSON.parse(await readFile(configPath, 'utf8')) as EvalDirConfig;
    } catch (err) {
      throw new DataError(`${configPath} is not valid JSON (${(err as Error).message}); it records what the results in ${outDir} mean: restore it or use a new --out`);
    }
    const differences: string[] = [];
    if (dirConfig.dataset.file.sha256 !== datasetDigest.sha256) differences.push(`--dataset (${dirConfig.dataset.file.path} then, ${datasetDigest.path} now)`);
    for (const p of options.policies) {
      const before = dirConfig.policies[p];
      if (before) differences.push(...differingInputs({ policy: before }, { policy: await fileDigest(p) }, { policy: `--policy ${p}` }));
    }
    for (const m of methods) {
      const before = dirConfig.methods[m];
      if (before) differences.push(...describeDifferences(before, settingsNow(m)).map((d) => `${m}: ${d}`));
    }
    if (differences.length > 0) {
      throw invalidArgument(`the settings of the results in ${outDir} (these differ: ${differences.join('; ')})`, 'this run', 'other settings; use a new --out, or the same files and settings');
    }
  } else {
    dirConfig = { version: 1, dataset: { name: dataset, file: datasetDigest }, policies: {}, methods: {}, engine: options.config.engine };
  }
  for (const p of options.policies) dirConfig.policies[p] = await fileDigest(p);
  for (const m of methods) dirConfig.methods[m] = settingsNow(m);
  dirConfig.engine = options.config.engine;
  await writeJsonAtomic(configPath, dirConfig);

  // ---- every policy, alone, with every method ----
  const results: RunEvalEntry[] = [];
  const needPpm = options.ppm !== undefined && methods.some(usesPpm);
  const width = Math.max(...methods.map((m) => parallelism(m, countOf(m))));
  let complete = true;
  for (let i = 0; i < options.policies.length && complete; i++) {
    const policy = options.policies[i];
    const session = options.runner ? null : await openSearchDeps({ policyPath: policy, ppmPath: needPpm ? options.ppm : undefined, config: options.config, concurrency: concurrency * width, log: options.log });
    try {
      for (const method of methods) {
        if (options.signal?.aborted) {
          complete = false;
          break;
        }
        const metrics = await evaluate(
          {
            problems,
            method,
            n,
            runs,
            topK,
            prompt,
            config: options.config,
            outDir,
            concurrency,
            policy,
            ppm: usesPpm(method) ? (options.ppm ?? null) : null,
            dataset,
            signal: options.signal,
            onProgress: (p) => options.onProgress?.({ ...p, policy, policyIndex: i + 1, policies: options.policies.length, method }),
          },
          session ? { ...session.deps, scorer: usesPpm(method) ? session.deps.scorer : null } : options.runner!({ policy, ppm: usesPpm(method) ? (options.ppm ?? null) : null }),
        );
        results.push({ policy, method, metrics, engine: session ? session.engine!.models : null });
        if (options.signal?.aborted && metrics.problems < problems.length) complete = false;
      }
    } finally {
      await session?.dispose();
    }
  }
  return { outDir, dataset, datasetFile, problems: problems.length, results, complete };
}
