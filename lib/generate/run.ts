/**
 * The generate stage (`rstar generate`): MCTS over a problem set, writing into one output directory
 *
 *   config.json    the resolved configuration, the run's inputs by content hash, and how it was run
 *   trees.jsonl    one tree per problem (lib/mcts/tree-record.ts); also the resume journal
 *   failures.jsonl problems whose search failed, with the error (retried by a resumed run)
 *   sft.jsonl      {prompt, completion, ...} policy SFT rows (lib/data/extract.ts)
 *   pairs.jsonl    {prompt, chosen, rejected, ...} PPM preference pairs
 *   summary.json   counts over every tree in trees.jsonl, and this run's timing
 *
 * Two halves: searching into the journal (./search.ts) and deriving the training files from it
 * (./derive.ts). Resuming: a problem is done iff its tree line is complete; a restarted run searches
 * the others and appends them, then rebuilds the derived files from all of trees.jsonl. A resumed run
 * must use the same search and prompt settings and the same model files (compared by SHA-256) as the
 * trees already written; otherwise it is refused with what differs.
 *
 * The searches run in this process on search dependencies, or on queue workers through a runner
 * (lib/runner, lib/queue); the files are the same either way.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RstarConfig } from '../config/index.js';
import { digestInputs, differingInputs, type RunInputs } from '../data/digest.js';
import { writeJsonAtomic } from '../data/jsonl.js';
import { loadProblems } from '../data/problems.js';
import { DataError, assertInteger, invalidArgument } from '../errors.js';
import type { SearchDeps } from '../mcts/types.js';
import { isProblemRunner, type ProblemRunner } from '../runner/index.js';
import { deriveTrainingData } from './derive.js';
import { searchIntoJournal, type GenerateProblem } from './search.js';
import type { TreeTotals } from './summary.js';

export type { GenerateProblem } from './search.js';

export interface GenerateOptions {
  /** A problem file (JSONL/JSON: the shipped benchmark formats or {question, answer} records), or the problems. */
  problems: string | readonly GenerateProblem[];
  outDir: string;
  config: RstarConfig;
  /** Problems searched at once (in this process; queue workers have their own). */
  concurrency: number;
  /** Use only the first `limit` problems. */
  limit?: number;
  /**
   * The model files the search runs with, recorded by content hash in config.json; a resume with other
   * files is refused. Omit for policies that are not files (tests' scripted policies).
   */
  models?: { policy?: string | null; ppm?: string | null };
  /** Once aborted, no new problem starts; in-flight ones finish and are written. */
  signal?: AbortSignal;
  onProgress?: (progress: GenerateProgress) => void;
  /** Extra facts recorded in config.json under `run`. */
  runInfo?: Record<string, unknown>;
}

export interface GenerateProgress {
  /** Problems of the input done, earlier runs included. */
  done: number;
  total: number;
  /** Problems finished by this run. */
  thisRun: number;
  /** Of this run's problems, those with a correct answer. */
  solvedThisRun: number;
  /** Problems whose search failed in this run. */
  failedThisRun: number;
  /** Problems of this run by the queue worker that searched them (empty for a local run). */
  byWorker: Record<string, number>;
  elapsedMs: number;
  /** Estimated time left, from this run's pace; null before the first problem finishes. */
  etaMs: number | null;
}

export interface GenerateSummary {
  outDir: string;
  problems: { total: number; done: number; thisRun: number; doneBefore: number; failed: number };
  /** Every input problem has its tree. */
  complete: boolean;
  /** The run stopped early on its signal. */
  interrupted: boolean;
  /** Trees in trees.jsonl (can exceed problems.done when an earlier run used a larger --limit). */
  trees: TreeTotals;
  solveRate: number;
  sft: number;
  pairs: { step: number; final: number };
  elapsedMs: number;
  /** Bytes of a partial tree line cut off at start (an interrupted write). */
  recoveredBytes: number;
  /** Trees of this run by the queue worker that searched them (empty for a local run). */
  workers: Record<string, number>;
}

/** What config.json holds. */
export interface GenerateRecord {
  config: RstarConfig;
  inputs?: RunInputs;
  run: Record<string, unknown>;
}

const INPUT_FLAGS = { policy: '--policy', ppm: '--ppm' };

/** The settings that shape the trees; a resumed run must not change them. */
function treeShapingSettings(config: RstarConfig): unknown {
  return { search: config.search, prompts: config.prompts };
}

async function checkResumable(configPath: string, config: RstarConfig, inputs: RunInputs | undefined): Promise<void> {
  let previous: Partial<GenerateRecord>;
  try {
    previous = JSON.parse(await readFile(configPath, 'utf8')) as Partial<GenerateRecord>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new DataError(`${configPath} is unreadable (${(err as Error).message}); remove it or choose another --out`);
  }
  const differences: string[] = [];
  if (previous.config && JSON.stringify(treeShapingSettings(previous.config)) !== JSON.stringify(treeShapingSettings(config))) {
    const changed = (Object.keys(config.search) as Array<keyof RstarConfig['search']>).filter(
      (k) => JSON.stringify(previous.config?.search?.[k]) !== JSON.stringify(config.search[k]),
    );
    differences.push(changed.length > 0 ? `search.${changed.join(', search.')}` : 'prompts');
  }
  if (previous.inputs && inputs) differences.push(...differingInputs(previous.inputs, inputs, INPUT_FLAGS));
  if (differences.length > 0) {
    throw invalidArgument(
      `the settings and model files of the run being resumed in ${configPath} (these differ: ${differences.join('; ')})`,
      'this run',
      'other settings; use a new --out, or the same flags and files',
    );
  }
}

/**
 * Runs (or resumes) a generation into `options.outDir` and returns its summary. A problem whose search
 * fails is recorded in failures.jsonl and the run goes on (lib/mcts/driver.ts). The searches run on
 * `deps` in this process, or on a runner's workers (`QueueRunner`, lib/queue).
 *
 * @example
 * const session = await openSearchDeps({ policyPath: 'slm.gguf', config, concurrency: 32 });
 * const summary = await runGenerate(
 *   { problems: 'train.jsonl', outDir: 'rounds/001', config, concurrency: 32, models: { policy: 'slm.gguf' } },
 *   session.deps,
 * );
 */
export async function runGenerate(options: GenerateOptions, depsOrRunner: SearchDeps | ProblemRunner): Promise<GenerateSummary> {
  const started = Date.now();
  assertInteger(options.concurrency, 'concurrency', 1, 100_000);
  if (options.limit !== undefined) assertInteger(options.limit, 'limit', 1);
  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const configPath = join(outDir, 'config.json');
  const treesPath = join(outDir, 'trees.jsonl');
  const { config } = options;

  const inputs = options.models ? await digestInputs({ policy: options.models.policy, ppm: options.models.ppm }) : undefined;
  await checkResumable(configPath, config, inputs);
  const problems =
    typeof options.problems === 'string'
      ? await loadProblems(options.problems, options.limit === undefined ? {} : { limit: options.limit })
      : options.problems.slice(0, options.limit ?? options.problems.length);
  const seen = new Set<string>();
  for (const p of problems) {
    if (seen.has(p.id)) throw new DataError(`Problem id "${p.id}" appears twice in ${typeof options.problems === 'string' ? options.problems : 'the problems'}; ids must be unique to resume safely`);
    seen.add(p.id);
  }
  const record: GenerateRecord = {
    config,
    ...(inputs ? { inputs } : {}),
    run: {
      problems: typeof options.problems === 'string' ? resolve(options.problems) : null,
      limit: options.limit ?? null,
      concurrency: options.concurrency,
      ...(isProblemRunner(depsOrRunner) ? { runner: depsOrRunner.description } : {}),
      ...options.runInfo,
    },
  };
  await writeJsonAtomic(configPath, record);

  let thisRun = 0;
  let solvedThisRun = 0;
  let failedThisRun = 0;
  const byWorker: Record<string, number> = {};
  let doneBefore = 0;
  let pending = 0;
  const report = (): void => {
    const elapsedMs = Date.now() - started;
    const finished = thisRun + failedThisRun;
    options.onProgress?.({
      done: doneBefore + thisRun,
      total: problems.length,
      thisRun,
      solvedThisRun,
      failedThisRun,
      byWorker,
      elapsedMs,
      etaMs: finished === 0 ? null : (elapsedMs / finished) * (pending - finished),
    });
  };
  const searched = await searchIntoJournal(
    {
      problems,
      treesPath,
      failuresPath: join(outDir, 'failures.jsonl'),
      config,
      concurrency: options.concurrency,
      signal: options.signal,
      onStart: (counts) => {
        doneBefore = counts.doneBefore;
        pending = counts.pending;
        report();
      },
      onProblem: ({ solved, failed, worker }) => {
        if (worker !== null && !failed) byWorker[worker] = (byWorker[worker] ?? 0) + 1;
        if (failed) failedThisRun += 1;
        else thisRun += 1;
        if (solved) solvedThisRun += 1;
        report();
      },
    },
    depsOrRunner,
  );

  const derived = await deriveTrainingData([treesPath], outDir, config, seen);
  const summary: GenerateSummary = {
    outDir,
    problems: { total: problems.length, done: derived.problemsWithTree, thisRun: searched.written, doneBefore: searched.doneBefore, failed: searched.failed },
    complete: derived.problemsWithTree === problems.length,
    interrupted: searched.aborted,
    trees: derived.trees,
    solveRate: derived.trees.trees === 0 ? 0 : derived.trees.solved / derived.trees.trees,
    sft: derived.sft,
    pairs: derived.pairs,
    elapsedMs: Date.now() - started,
    recoveredBytes: searched.recoveredBytes,
    workers: byWorker,
  };
  await writeJsonAtomic(join(outDir, 'summary.json'), summary);
  return summary;
}
