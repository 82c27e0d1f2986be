/** Scripted policies shared by the tests that run the real search on "What is A + B?" problems. */
import { SAMPLE_SEED_STRIDE } from '../../lib/eval/sample.js';
import { ScriptedPolicy } from '../../lib/mcts/scripted-policy.js';

/**
 * For "What is A + B?": three first steps (right, wrong, broken), then the print step, then an answer
 * that boxes whatever the program printed. So a problem's answer is right iff the path went through
 * the right first step, and the numbers come from Python, not from the script.
 */
export function additionPolicy(): ScriptedPolicy {
  return new ScriptedPolicy((request) => {
    const [a, b] = (/(\d+) \+ (\d+)/.exec(request.problem.question) ?? []).slice(1);
    const last = request.path[request.path.length - 1]?.text ?? '';
    if (request.path.length === 0) {
      return [
        `<code>\n# Step 1: add the two numbers\ns = ${a} + ${b}\n<end_of_step>`,
        `<code>\n# Step 1: the question surely means the difference of the numbers\ns = ${a} - ${b}\n<end_of_step>`,
        `<code>\n# Step 1: use a helper that was never defined\ns = plus(${a}, ${b})\n<end_of_step>`,
      ];
    }
    if (last.includes('<end_of_step>')) return ['\n# Now print the final answer\nprint(s)\n<end_of_code>'];
    const printed = /<output>([\s\S]*?)<end_of_output>/.exec(last)?.[1] ?? '?';
    return [`\n<answer>The result is \\boxed{${printed}}.<end_of_answer>`];
  });
}

/**
 * Sample i (its first step's seed is i × SAMPLE_SEED_STRIDE) writes the sum (i mod 4 = 0 or 3), the
 * difference (1) or a broken step (2, a NameError: no answer); then it prints, and boxes what Python printed.
 */
export function seededAdditionPolicy(): ScriptedPolicy {
  return new ScriptedPolicy((request) => {
    const [a, b] = (/(\d+) \+ (\d+)/.exec(request.problem.question) ?? []).slice(1);
    const last = request.path[request.path.length - 1]?.text ?? '';
    if (request.path.length === 0) {
      const first = [
        `<code>\n# Step 1: add\ns = ${a} + ${b}\n<end_of_step>`,
        `<code>\n# Step 1: subtract\ns = ${a} - ${b}\n<end_of_step>`,
        `<code>\n# Step 1: a helper never defined\ns = plus(${a}, ${b})\n<end_of_step>`,
      ];
      if (request.n > 1) return first; // a search: every first step
      const i = Math.round(request.seed / SAMPLE_SEED_STRIDE) % 4;
      return [first[i === 3 ? 0 : i]];
    }
    if (last.includes('<end_of_step>')) return ['\n# Now print the final answer\nprint(s)\n<end_of_code>'];
    const printed = /<output>([\s\S]*?)<end_of_output>/.exec(last)?.[1] ?? '?';
    return [`\n<answer>The result is \\boxed{${printed}}.<end_of_answer>`];
  });
}
