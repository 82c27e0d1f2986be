/**
 * The searching half of `rstar generate`: MCTS over the problems not yet in the journal, each finished
 * tree appended to trees.jsonl as one line (lib/generate/journal.ts), each failed search appended to
 * failures.jsonl. A problem is done iff its tree line is whole, so a resumed run (after Ctrl-C, a crash
 * or `kill -9`) searches exactly the problems that have no tree yet, failed ones included.
 */
import type { RstarConfig } from '../config/index.js';
import { RstarError } from '../errors.js';
import { searchProblems } from '../mcts/driver.js';
import { treeToRecord } from '../mcts/tree-record.js';
import type { SearchDeps, SearchProblem } from '../mcts/types.js';
import { JournalWriter, openJournal } from './journal.js';

/** A problem as loaded from a data file (lib/data/problems.ts `Problem` satisfies this). */
export interface GenerateProblem extends SearchProblem {
  source?: string;
}

export interface JournalSearchOptions {
  /** The run's problems; those already in the journal are skipped. */
  problems: readonly GenerateProblem[];
  treesPath: string;
  failuresPath: string;
  config: Pick<RstarConfig, 'search' | 'prompts'>;
  concurrency: number;
  signal?: AbortSignal;
  /** Once the journal is read: how many problems were done before and how many this run searches. */
  onStart?: (counts: { doneBefore: number; pending: number }) => void;
  /** After every finished or failed problem. */
  onProblem?: (event: { id: string; solved: boolean; failed: boolean }) => void;
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
 * Searches the problems missing from `treesPath` and journals them.
 *
 * @example
 * await searchIntoJournal({ problems, treesPath: 'out/trees.jsonl', failuresPath: 'out/failures.jsonl', config, concurrency: 16 }, deps);
 */
export async function searchIntoJournal(options: JournalSearchOptions, deps: SearchDeps): Promise<JournalSearchResult> {
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
    const drive = await searchProblems(pending, config, deps, {
      concurrency: options.concurrency,
      signal: options.signal,
      onTree: async (tree, _index, problem) => {
        const record = treeToRecord(tree, config.search.mode, { source: (problem as GenerateProblem).source });
        await trees.append(JSON.stringify(record));
        result.written += 1;
        const solved = tree.stats.correct > 0;
        if (solved) result.solved += 1;
        options.onProblem?.({ id: problem.id, solved, failed: false });
      },
      onError: async (error, problem) => {
        result.failed += 1;
        const code = error instanceof RstarError ? error.code : 'ERROR';
        await failures.append(JSON.stringify({ id: problem.id, code, error: (error as Error)?.message ?? String(error), at: new Date().toISOString() }));
        options.onProblem?.({ id: problem.id, solved: false, failed: true });
      },
    });
    result.aborted = drive.aborted;
  } finally {
    await trees.close();
    await failures.close();
  }
  return result;
}
