/**
 * Many problems searched at once. Each problem's rollouts are sequential, but `concurrency` problems
 * are in flight together, so while one awaits its code runs or its PPM call the others' generations
 * keep the engine's decode batches full (the reference gets the same effect by stepping all trees of a
 * chunk in lockstep; plain async concurrency needs no lockstep and never waits for the slowest tree).
 *
 * Problems come from a source (an array, or any iterable or async iterable: a file being read, a queue),
 * pulled only when a slot is free, so a large problem set never sits in memory.
 *
 * Failure policy: one problem never stops a run. A search that throws (the engine rejected a request,
 * say) is reported through `onError` and the run goes on with the next problem; the problem has no tree,
 * so a resumed run tries it again. Only a systematic failure stops the run: `maxConsecutiveFailures`
 * problems failing in a row with no success between them (a broken model, a dead engine); the last
 * error is then rethrown after the problems in flight finish. An aborted signal stops new problems
 * from starting, without an error. Failing user code is never an error at all (it is a result).
 *
 * `driveProblems` is that loop for any per-problem work (lib/runner runs a stage's task with it);
 * `searchProblems` is the loop with one MCTS search per problem.
 */
import type { RstarConfig } from '../config/index.js';
import { assertInteger } from '../errors.js';
import { ProblemSearch, type SearchTree } from './search.js';
import type { SearchDeps, SearchProblem } from './types.js';

export interface DriveOptions {
  /** Problems searched at the same time. */
  concurrency: number;
  /** Once aborted, no new problem starts; in-flight ones finish. */
  signal?: AbortSignal;
  /** Called (and awaited) with every finished tree, in completion order; `index` is the problem's position in the source. */
  onTree?: (tree: SearchTree, index: number, problem: SearchProblem) => void | Promise<void>;
  /** Called (and awaited) when a problem's search failed; the run goes on. */
  onError?: (error: unknown, problem: SearchProblem, index: number) => void | Promise<void>;
  /** Called when a problem starts. */
  onStart?: (problem: SearchProblem, index: number) => void;
  /** Failures in a row, with no problem succeeding between them, that stop the run (default 8). */
  maxConsecutiveFailures?: number;
}

export interface DriveResult {
  /** Problems whose search finished and whose onTree returned. */
  completed: number;
  /** Problems whose search failed (reported through onError). */
  failed: number;
  /** True when the signal stopped the run before every problem started. */
  aborted: boolean;
}

/** A source of problems: an array, an iterable or an async iterable. */
export type ProblemSource<P extends SearchProblem = SearchProblem> = Iterable<P> | AsyncIterable<P>;

/**
 * Searches the problems of `source` with `concurrency` of them in flight.
 *
 * @example
 * await searchProblems(problems, config, { policy, executor, grader }, { concurrency: 16, onTree: write });
 */
export function searchProblems<P extends SearchProblem>(
  source: ProblemSource<P>,
  config: Pick<RstarConfig, 'search' | 'prompts'>,
  deps: SearchDeps,
  options: DriveOptions,
): Promise<DriveResult> {
  return driveProblems(source, (problem) => new ProblemSearch(problem, config, deps).run(), { ...options, onResult: options.onTree });
}

/** `DriveOptions` for any per-problem work: `onResult` receives what `work` returned. */
export interface DriveWorkOptions<P extends SearchProblem, R> extends Omit<DriveOptions, 'onTree' | 'onError' | 'onStart'> {
  onResult?: (result: R, index: number, problem: P) => void | Promise<void>;
  onError?: (error: unknown, problem: P, index: number) => void | Promise<void>;
  onStart?: (problem: P, index: number) => void;
}

/**
 * Runs `work` on the problems of `source` with `concurrency` of them in flight, under the failure
 * policy above.
 *
 * @example
 * await driveProblems(problems, (p) => searchProblem(p, config, deps), { concurrency: 8, onResult: (tree) => save(tree) });
 */
export async function driveProblems<P extends SearchProblem, R>(
  source: ProblemSource<P>,
  work: (problem: P, index: number) => Promise<R>,
  options: DriveWorkOptions<P, R>,
): Promise<DriveResult> {
  assertInteger(options.concurrency, 'concurrency', 1, 100_000);
  const maxConsecutive = assertInteger(options.maxConsecutiveFailures ?? 8, 'maxConsecutiveFailures', 1);
  const iterator: Iterator<P> | AsyncIterator<P> =
    Symbol.asyncIterator in source ? (source as AsyncIterable<P>)[Symbol.asyncIterator]() : (source as Iterable<P>)[Symbol.iterator]();
  let nextIndex = 0;
  let exhausted = false;
  let completed = 0;
  let failed = 0;
  let consecutiveFailures = 0;
  let fatal: { error: unknown } | null = null;
  const stopped = (): boolean => fatal !== null || Boolean(options.signal?.aborted);
  // One pull at a time: iterators (a file reader, say) need not be re-entrant.
  let pulling: Promise<unknown> = Promise.resolve();
  const pull = (): Promise<{ problem: P; index: number } | null> => {
    const next = pulling.then(async () => {
      if (exhausted || stopped()) return null;
      const r = await iterator.next();
      if (r.done) {
        exhausted = true;
        return null;
      }
      return { problem: r.value, index: nextIndex++ };
    });
    pulling = next.catch(() => undefined);
    return next;
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const item = await pull();
      if (!item) return;
      const { problem, index } = item;
      try {
        options.onStart?.(problem, index);
        const result = await work(problem, index);
        await options.onResult?.(result, index, problem);
        completed += 1;
        consecutiveFailures = 0;
      } catch (error) {
        failed += 1;
        consecutiveFailures += 1;
        try {
          await options.onError?.(error, problem, index);
        } catch (reportError) {
          fatal ??= { error: reportError };
        }
        if (consecutiveFailures >= maxConsecutive) fatal ??= { error };
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    if (!exhausted) await (iterator as AsyncIterator<P>).return?.();
  }
  if (fatal) throw (fatal as { error: unknown }).error;
  return { completed, failed, aborted: !exhausted };
}
