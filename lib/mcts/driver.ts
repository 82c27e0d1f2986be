/**
 * Many problems searched at once. Each problem's rollouts are sequential, but `concurrency` problems
 * are in flight together, so while one awaits its code runs or its PPM call the others' generations
 * keep the engine's decode batches full (the reference gets the same effect by stepping all trees of a
 * chunk in lockstep; plain async concurrency needs no lockstep and never waits for the slowest tree).
 *
 * Failure policy: the first error (a policy or engine failure; failing user code is never an error)
 * stops new problems from starting; problems already in flight finish and are reported, then the error
 * is rethrown. An aborted signal stops new problems the same way, without an error.
 */
import type { RstarConfig } from '../config.js';
import { assertInteger } from '../errors.js';
import { ProblemSearch, type SearchTree } from './search.js';
import type { SearchDeps, SearchProblem } from './types.js';

export interface DriveOptions {
  /** Problems searched at the same time. */
  concurrency: number;
  /** Once aborted, no new problem starts; in-flight ones finish. */
  signal?: AbortSignal;
  /** Called (and awaited) with every finished tree, in completion order. */
  onTree?: (tree: SearchTree, index: number) => void | Promise<void>;
  /** Called when a problem starts. */
  onStart?: (problem: SearchProblem, index: number) => void;
}

export interface DriveResult {
  /** Problems whose search finished and whose onTree returned. */
  completed: number;
  /** True when the signal stopped the run before every problem started. */
  aborted: boolean;
}

/**
 * Searches `problems` with `concurrency` of them in flight.
 *
 * @example
 * await searchProblems(problems, config, { policy, executor, grader }, { concurrency: 16, onTree: write });
 */
export async function searchProblems(
  problems: readonly SearchProblem[],
  config: Pick<RstarConfig, 'search' | 'prompts'>,
  deps: SearchDeps,
  options: DriveOptions,
): Promise<DriveResult> {
  assertInteger(options.concurrency, 'concurrency', 1, 100_000);
  let next = 0;
  let completed = 0;
  let failure: { error: unknown } | null = null;
  const stopped = (): boolean => failure !== null || Boolean(options.signal?.aborted);

  const worker = async (): Promise<void> => {
    while (!stopped() && next < problems.length) {
      const index = next++;
      const problem = problems[index];
      try {
        options.onStart?.(problem, index);
        const tree = await new ProblemSearch(problem, config, deps).run();
        await options.onTree?.(tree, index);
        completed += 1;
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const workers = Math.min(options.concurrency, problems.length);
  await Promise.all(Array.from({ length: workers }, worker));
  if (failure) throw (failure as { error: unknown }).error;
  return { completed, aborted: completed < problems.length };
}
