/**
 * What a queue worker can run, by name: the built-in tasks (one per stage that searches problem sets)
 * and the built-in program policies (policies that are code, not model files). A coordinator sends
 * names; a worker that does not know a name refuses the job with an error that names it (an older
 * rstar on that machine).
 *
 * A stage becomes distributable by adding its task here: generate's trees (`generate.tree`,
 * lib/generate/search.ts) and the evaluation's candidates (`eval.candidates`, lib/eval/evaluate.ts:
 * a problem's candidates, made from its id and question only; the coordinator clusters, selects and
 * grades them).
 */
import { evalTask } from '../eval/evaluate.js';
import { builtinBootstrap } from '../evolve/default.js';
import { treeTask } from '../generate/search.js';
import type { StepPolicy } from '../mcts/types.js';
import type { ProblemTask, TaskSettings } from './index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tasks = new Map<string, ProblemTask<any, unknown>>([
  [treeTask.name, treeTask],
  [evalTask.name, evalTask],
]);

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
