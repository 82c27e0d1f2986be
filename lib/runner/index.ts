/**
 * Where a stage's per-problem work runs. Every stage that searches a problem set (generate's trees,
 * evaluation's answers) states its work as a `ProblemTask` (one problem + the stage's settings +
 * search dependencies → a JSON result) and hands it to a `ProblemRunner`:
 *
 * - `localRunner(deps, concurrency)`: in this process, on the dependencies it opened
 *   (lib/policy/deps.ts), `concurrency` problems at once (lib/mcts/driver.ts);
 * - `QueueRunner` (lib/queue/coordinator.ts): as jobs on a BullMQ queue in Redis, run by `rstar worker`
 *   processes on any number of machines, each on its own engine.
 *
 * The stage keeps its journal: the runner only delivers each problem's result (or its final failure)
 * once to `onResult` (`onError`), in completion order, and the stage writes it. A task must therefore be
 * pure of side effects: its settings and result travel as JSON, and a queue may run it twice (a worker
 * killed after sending its result), in which case the runner delivers the first result only.
 *
 * A task runs on a worker only if the worker knows it by name: built-in tasks are listed in
 * ./tasks.ts (what a new stage adds to be distributable).
 */
import type { RstarConfig } from '../config/index.js';
import { driveProblems, type DriveResult } from '../mcts/driver.js';
import type { SearchDeps, SearchProblem } from '../mcts/types.js';

/** A problem as tasks receive it (lib/data/problems.ts `Problem` and generate's problems satisfy this). */
export interface TaskProblem extends SearchProblem {
  /** The dataset the problem comes from, recorded with its result. */
  source?: string;
}

/**
 * The settings every task carries: the search and prompt sections it runs with (a worker opens its
 * search dependencies from them: the PPM's transform, the step time limit). Tasks add their own keys.
 */
export type TaskSettings = Pick<RstarConfig, 'search' | 'prompts'>;

/**
 * One problem's work in a stage. `run` must be free of side effects and return a JSON-serialisable
 * value; `name` identifies the task on workers (./tasks.ts).
 *
 * @example
 * const answerTask: ProblemTask<TaskSettings, { answer: string | null }> = {
 *   name: 'example.answer',
 *   async run(problem, settings, deps) { const tree = await searchProblem(problem, settings, deps); return { answer: bestAnswer(tree) }; },
 * };
 */
export interface ProblemTask<S extends TaskSettings, R> {
  readonly name: string;
  run(problem: TaskProblem, settings: S, deps: SearchDeps): Promise<R>;
}

/** Where the result came from (a worker's name for queue runs, null for this process). */
export interface ResultOrigin {
  worker: string | null;
}

export interface RunTaskOptions<P extends TaskProblem, R> {
  /**
   * Names this run of the task across restarts (the stage's journal path): a queue coordinator that
   * restarts with the same key, settings and models finds the jobs it queued before.
   */
  key: string;
  /** Once aborted, no new problem starts; in-flight ones finish and are delivered. */
  signal?: AbortSignal;
  /** Called (and awaited) once per problem with its result, in completion order. */
  onResult: (result: R, problem: P, origin: ResultOrigin) => void | Promise<void>;
  /** Called (and awaited) when a problem's task failed for good (after a queue's retries); the run goes on. */
  onError: (error: unknown, problem: P, origin: ResultOrigin) => void | Promise<void>;
  /** Failures in a row, with no success between them, that stop the run (default 8). */
  maxConsecutiveFailures?: number;
}

/** Runs a task over problems somewhere (this process, queue workers). */
export interface ProblemRunner {
  /** In words, for logs and run records: "local, 16 at once", "queue redis://10.0.0.5:6379/0". */
  readonly description: string;
  runTask<S extends TaskSettings, R, P extends TaskProblem>(task: ProblemTask<S, R>, settings: S, problems: readonly P[], options: RunTaskOptions<P, R>): Promise<DriveResult>;
}

/**
 * True for a runner (as opposed to search dependencies): stages accept either.
 *
 * @example const runner = isProblemRunner(x) ? x : localRunner(x, concurrency);
 */
export function isProblemRunner(value: SearchDeps | ProblemRunner): value is ProblemRunner {
  return typeof (value as ProblemRunner).runTask === 'function';
}

/**
 * The runner of this process: `concurrency` problems at once on `deps`.
 *
 * @example
 * const session = await openSearchDeps({ policyPath: 'slm.gguf', config, concurrency: 16 });
 * await localRunner(session.deps, 16).runTask(treeTask, config, problems, { key: 'out/trees.jsonl', onResult, onError });
 */
export function localRunner(deps: SearchDeps, concurrency: number): ProblemRunner {
  return {
    description: `local, ${concurrency} at once`,
    runTask(task, settings, problems, options) {
      const here: ResultOrigin = { worker: null };
      return driveProblems(problems, (problem) => task.run(problem, settings, deps), {
        concurrency,
        signal: options.signal,
        maxConsecutiveFailures: options.maxConsecutiveFailures,
        onResult: (result, _index, problem) => options.onResult(result, problem, here),
        onError: (error, problem) => options.onError(error, problem, here),
      });
    },
  };
}

/**
 * Search dependencies or a runner, as stages take them: the runner they describe.
 *
 * @example await runnerOf(depsOrRunner, options.concurrency).runTask(treeTask, settings, pending, { key, onResult, onError });
 */
export function runnerOf(depsOrRunner: SearchDeps | ProblemRunner, concurrency: number): ProblemRunner {
  return isProblemRunner(depsOrRunner) ? depsOrRunner : localRunner(depsOrRunner, concurrency);
}
