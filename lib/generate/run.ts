/**
 * `rstar generate`: MCTS over a problem file, writing into one output directory
 *
 *   config.json   the resolved configuration and the run's inputs
 *   trees.jsonl   one tree per problem (lib/mcts/tree-record.ts); also the resume journal
 *   sft.jsonl     {prompt, completion, ...} policy SFT rows (lib/data/extract.ts)
 *   pairs.jsonl   {prompt, chosen, rejected, ...} PPM preference pairs
 *   summary.json  counts over every tree in trees.jsonl, and this run's timing
 *
 * Resuming: a problem is done iff its tree line is complete (lib/generate/journal.ts). A restarted run
 * skips done problems and appends the others; sft.jsonl, pairs.jsonl and summary.json are rebuilt from
 * all of trees.jsonl at the end of every run (atomically), so they never hold duplicates. A resumed run
 * must use the same search and prompt settings as the trees already written (checked against config.json).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RstarConfig } from '../config.js';
import { DataError, assertInteger, invalidArgument } from '../errors.js';
import { extractPairs, extractSft } from '../data/extract.js';
import { readJsonl, writeJsonAtomic, writeJsonlAtomic } from '../data/jsonl.js';
import { searchProblems } from '../mcts/driver.js';
import { treeToRecord, type TreeRecord } from '../mcts/tree-record.js';
import type { SearchDeps, SearchProblem } from '../mcts/types.js';
import { JournalWriter, openJournal } from './journal.js';
import { addTree, emptyTotals, type TreeTotals } from './summary.js';

/** A problem as loaded from a data file (lib/data/problems.ts `Problem` satisfies this). */
export interface GenerateProblem extends SearchProblem {
  source?: string;
}

export interface GenerateOptions {
  /** Problem file: the JSONL/JSON formats of ../shared/data, or plain {question, answer} records. */
  problemsPath: string;
  outDir: string;
  config: RstarConfig;
  /** Problems searched at once. */
  concurrency: number;
  /** Use only the first `limit` problems of the file. */
  limit?: number;
  /** Once aborted, no new problem starts; in-flight ones finish and are written. */
  signal?: AbortSignal;
  onProgress?: (progress: GenerateProgress) => void;
  /** Extra facts recorded in config.json under `run` (policy and PPM paths, ...). */
  runInfo?: Record<string, unknown>;
}

export interface GenerateDeps extends SearchDeps {
  loadProblems(path: string, options: { limit?: number }): Promise<GenerateProblem[]>;
}

export interface GenerateProgress {
  /** Problems of the input done, earlier runs included. */
  done: number;
  total: number;
  /** Problems finished by this run. */
  thisRun: number;
  /** Of this run's problems, those with a correct answer. */
  solvedThisRun: number;
  elapsedMs: number;
  /** Estimated time left, from this run's pace; null before the first problem finishes. */
  etaMs: number | null;
}

export interface GenerateSummary {
  outDir: string;
  problems: { total: number; done: number; thisRun: number; doneBefore: number };
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
}

/** The settings that shape the trees; a resumed run must not change them. */
function treeShapingSettings(config: RstarConfig): unknown {
  return { search: config.search, prompts: config.prompts };
}

async function checkResumable(configPath: string, config: RstarConfig): Promise<void> {
  let previous: { config?: RstarConfig };
  try {
    previous = JSON.parse(await readFile(configPath, 'utf8')) as { config?: RstarConfig };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new DataError(`${configPath} is unreadable (${(err as Error).message}); remove it or choose another --out`);
  }
  if (!previous.config) return;
  const before = JSON.stringify(treeShapingSettings(previous.config));
  const now = JSON.stringify(treeShapingSettings(config));
  if (before !== now) {
    const changed = (Object.keys(config.search) as Array<keyof RstarConfig['search']>).filter(
      (k) => JSON.stringify(previous.config?.search?.[k]) !== JSON.stringify(config.search[k]),
    );
    const detail = changed.length > 0 ? `search.${changed.join(', search.')}` : 'prompts';
    throw invalidArgument(
      `the search settings of the run being resumed (${detail} differ)`,
      'the settings of this run',
      `a different configuration; use a new --out or the same flags`,
    );
  }
}

/**
 * Runs (or resumes) a generation into `options.outDir` and returns its summary.
 *
 * @example
 * const summary = await runGenerate(
 *   { problemsPath: 'train.jsonl', outDir: 'rounds/001', config: resolveConfig(), concurrency: 32 },
 *   { policy, scorer: null, executor, grader, loadProblems },
 * );
 */
export async function runGenerate(options: GenerateOptions, deps: GenerateDeps): Promise<GenerateSummary> {
  const started = Date.now();
  assertInteger(options.concurrency, 'concurrency', 1, 100_000);
  if (options.limit !== undefined) assertInteger(options.limit, 'limit', 1);
  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const configPath = join(outDir, 'config.json');
  const treesPath = join(outDir, 'trees.jsonl');
  const { config } = options;

  await checkResumable(configPath, config);
  const problems = await deps.loadProblems(options.problemsPath, options.limit === undefined ? {} : { limit: options.limit });
  const seen = new Set<string>();
  for (const p of problems) {
    if (seen.has(p.id)) throw new DataError(`Problem id "${p.id}" appears twice in ${options.problemsPath}; ids must be unique to resume safely`);
    seen.add(p.id);
  }
  await writeJsonAtomic(configPath, {
    config,
    run: { problems: resolve(options.problemsPath), limit: options.limit ?? null, concurrency: options.concurrency, ...options.runInfo },
  });

  const journal = await openJournal(treesPath);
  const done = new Set(journal.ids);
  const pending = problems.filter((p) => !done.has(p.id));
  const doneBefore = problems.length - pending.length;

  let thisRun = 0;
  let solvedThisRun = 0;
  const report = (): void => {
    const elapsedMs = Date.now() - started;
    const left = pending.length - thisRun;
    options.onProgress?.({
      done: doneBefore + thisRun,
      total: problems.length,
      thisRun,
      solvedThisRun,
      elapsedMs,
      etaMs: thisRun === 0 ? null : (elapsedMs / thisRun) * left,
    });
  };
  report();

  const writer = await JournalWriter.open(treesPath);
  let drive: { completed: number; aborted: boolean };
  try {
    drive = await searchProblems(pending, config, deps, {
      concurrency: options.concurrency,
      signal: options.signal,
      onTree: async (tree, index) => {
        const record = treeToRecord(tree, config.search.mode, { source: pending[index].source });
        await writer.append(JSON.stringify(record));
        thisRun += 1;
        if (tree.stats.correct > 0) solvedThisRun += 1;
        report();
      },
    });
  } finally {
    await writer.close();
  }

  // Rebuild the derived files from every tree written so far (this run's and earlier runs'). Rows are
  // streamed straight to disk, one pass per file, so a large round never sits in memory.
  const totals = emptyTotals();
  const inputIds = new Set(problems.map((p) => p.id));
  let inputDone = 0;
  const sftCount = await writeJsonlAtomic(
    join(outDir, 'sft.jsonl'),
    (async function* () {
      for await (const tree of readJsonl<TreeRecord>(treesPath)) {
        addTree(totals, tree);
        if (inputIds.has(tree.id)) inputDone += 1;
        yield* extractSft(tree, config);
      }
    })(),
  );
  let stepPairs = 0;
  const pairCount = await writeJsonlAtomic(
    join(outDir, 'pairs.jsonl'),
    (async function* () {
      for await (const tree of readJsonl<TreeRecord>(treesPath)) {
        for (const row of extractPairs(tree, config)) {
          if (row.kind === 'step') stepPairs += 1;
          yield row;
        }
      }
    })(),
  );

  const summary: GenerateSummary = {
    outDir,
    problems: { total: problems.length, done: inputDone, thisRun, doneBefore },
    complete: inputDone === problems.length,
    interrupted: drive.aborted,
    trees: totals,
    solveRate: totals.trees === 0 ? 0 : totals.solved / totals.trees,
    sft: sftCount,
    pairs: { step: stepPairs, final: pairCount - stepPairs },
    elapsedMs: Date.now() - started,
    recoveredBytes: journal.truncatedBytes,
  };
  await writeJsonAtomic(join(outDir, 'summary.json'), summary);
  return summary;
}
