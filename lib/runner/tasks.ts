/**
 * What a queue worker can run, by name: the built-in tasks (one per stage that searches problem sets)
 * and the built-in program policies (policies that are code, not model files). A coordinator sends
 * names; a worker that does not know a name refuses the job with an error that names it (an older
 * rstar on that machine).
 *
 * A stage becomes distributable by adding its task here. The evaluation stage (lib/eval) will add
 * one: `{ name: 'eval.candidates', run: (problem, { search, prompts, method, n, prompt }, deps) =>
 * candidatesOf(…) }` returning a problem's candidates (text, answer, PPM scores, tokens), and call
 * `runnerOf(depsOrRunner, concurrency).runTask(evalTask, settings, blindProblems, { key: resultsPath,
 * onResult, onError })` in `evaluate()` where it now loops over the problems itself. It passes the
 * problems without their answers (`{ id, question }`: the label never leaves the coordinator), and
 * clusters, selects and grades in `onResult` (lib/eval/select.ts), before appending the line;
 * `rstar eval --queue` then needs only the flags of lib/cli/queue-flags.ts and
 * `queue.runner({ policy, ppm })`.
 */
import { builtinBootstrap } from '../evolve/default.js';
import { treeTask } from '../generate/search.js';
import type { StepPolicy } from '../mcts/types.js';
import type { ProblemTask, TaskSettings } from './index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tasks = new Map<string, ProblemTask<any, unknown>>([[treeTask.name, treeTask]]);

/**
 * The built-in task called `name`, or undefined.
 *
 * @example const record = await taskByName('generate.tree')!.run(problem, { search, prompts }, session.deps);
 */
export function taskByName(name: string): ProblemTask<TaskSettings, unknown> | undefined {
  return tasks.get(name);
}

/** Names of the built-in tasks (for error messages). */
export function taskNames(): string[] {
  return [...tasks.keys()];
}

/** Program policies by the name the stages record them under (evolve: `BootstrapPolicy.name`). */
function programs(): Map<string, () => StepPolicy> {
  const out = new Map<string, () => StepPolicy>();
  const bootstrap = builtinBootstrap();
  if (bootstrap.kind === 'program') out.set(bootstrap.name, bootstrap.create);
  return out;
}

/** A new instance of the built-in program policy called `name`, or undefined. */
export function programPolicy(name: string): StepPolicy | undefined {
  return programs().get(name)?.();
}

/** Names of the built-in program policies (for error messages). */
export function programPolicyNames(): string[] {
  return [...programs().keys()];
}
