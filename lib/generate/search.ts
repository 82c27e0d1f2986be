/**
 * The searching half of `rstar generate`: MCTS over the problems not yet in the journal, each finished
 * tree appended to trees.jsonl as one line (lib/generate/journal.ts), each failed search appended to
 * failures.jsonl. A problem is done iff its tree line is whole, so a resumed run (after Ctrl-C, a crash
 * or `kill -9`) searches exactly the problems that have no tree yet, failed ones included.
 *
 * The searches run in this process (search dependencies) or wherever a runner sends them (lib/runner:
 * queue workers); either way this module is the only writer of the journal, and a problem whose
 * result arrives twice is written once.
 */
import type { RstarConfig } from '../config/index.js';
import { RstarError } from '../errors.js';
import { ProblemSearch } from '../mcts/search.js';
import { treeToRecord, type TreeRecord } from '../mcts/tree-record.js';
import type { SearchDeps, SearchProblem } from '../mcts/types.js';
import { runnerOf, type ProblemRunner, type ProblemTask, type TaskSettings } from '../runner/index.js';
import { JournalWriter, openJournal } from './journal.js';

/** A problem as loaded from a data file (lib/data/problems.ts `Problem` satisfies this). */
export interface GenerateProblem extends SearchProblem {
  source?: string;
}

/** The generate stage's work on one problem: its search tree, as the journal's line holds it. */
export const treeTask: ProblemTask<TaskSettings, TreeRecord> = {
  name: 'generate.tree',
  async run(problem, settings, deps) {
    const tree = await new ProblemSearch(problem, settings, deps).run();
    return treeToRecord(tree, settings.search.mode, { source: problem.source });
  },
};

export interface JournalSearchOptions {
  /** The run's problems; those already in the journal are skipped. */
  problems: readonly GenerateProblem[];
  treesPath: string;
  failuresPath: string;
  config: Pick<RstarConfig, 'search' | 'prompts'>;
  /** Problems searched at once in this process (a runner decides its own). */
  concurrency: number;
  signal?: AbortSignal;
  /** Once the journal is read: how many problems were done before and how many this run searches. */
  onStart?: (counts: { doneBefore: number; pending: number }) => void;
  /** After every finished or failed problem; `worker` names the queue worker that ran it (null: this process). */
  onProblem?: (event: { id: string; solved: boolean; failed: boolean; worker: string | null }) => void;
}

export interface JournalSearchResult {
  /** Problems of the input that were already in the journal when this run started. */
  doneBefore: number;
  /** Problems this run had to search. */
  pending: number;
  /** Trees written by this run. */
  written: number;
  /** Of those, trees with a correct answer. */
  solved: number;
  /** Problems whose search failed this run (in failures.jsonl; a resumed run tries them again). */
  failed: number;
  /** The signal stopped the run before every pending problem started. */
  aborted: boolean;
  /** Bytes of a partial tree line cut off at start (an interrupted write). */
  recoveredBytes: number;
}

/**
 * Searches the problems missing from `treesPath` and journals them, in this process (`deps`) or on a
 * runner's workers.
 *
 * @example
 * await searchIntoJournal({ problems, treesPath: 'out/trees.jsonl', failuresPath: 'out/failures.jsonl', config, concurrency: 16 }, deps);
 */
export async function searchIntoJournal(options: JournalSearchOptions, depsOrRunner: SearchDeps | ProblemRunner): Promise<JournalSearchResult> {
  const { config } = options;
  const journal = await openJournal(options.treesPath);
  const done = new Set(journal.ids);
  const pending = options.problems.filter((p) => !done.has(p.id));
  const result: JournalSearchResult = {
    doneBefore: options.problems.length - pending.length,
    pending: pending.length,
    written: 0,
    solved: 0,
    failed: 0,
    aborted: false,
    recoveredBytes: journal.truncatedBytes,
  };
  options.onStart?.({ doneBefore: result.doneBefore, pending: result.pending });
  const trees = await JournalWriter.open(options.treesPath);
  const failures = await JournalWriter.open(options.failuresPath);
  try {
    const written = new Set<string>();
    const drive = await runnerOf(depsOrRunner, options.concurrency).runTask(treeTask, { search: config.search, prompts: config.prompts }, pending, {
      key: options.treesPath,
      signal: options.signal,
      onResult: async (record, problem, { worker }) => {
        if (written.has(problem.id)) return; // a result delivered twice is written once
        written.add(problem.id);
        await trees.append(JSON.stringify(record));
        result.written += 1;
        const solved = record.stats.correct > 0;
        if (solved) result.solved += 1;
        options.onProblem?.({ id: problem.id, solved, failed: false, worker });
      },
      onError: async (error, problem, { worker }) => {
        result.failed += 1;
        const code = error instanceof RstarError ? error.code : 'ERROR';
        await failures.append(JSON.stringify({ id: problem.id, code, error: (error as Error)?.message ?? String(error), at: new Date().toISOString(), ...(worker !== null ? { worker } : {}) }));
        options.onProblem?.({ id: problem.id, solved: false, failed: true, worker });
      },
    });
    result.aborted = drive.aborted;
  } finally {
    await trees.close();
    await failures.close();
  }
  return result;
}
