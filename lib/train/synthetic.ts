/**
 * A synthetic corpus in the rStar step format that a tiny model can learn in minutes: single-digit
 * additions solved as code steps. The trainer's tests, the `rstar bench train` benchmark and the
 * acceptance runs use it; it never stands in for real data.
 */
import { renderPolicyPrompt, defaultPromptTemplates } from '../steps/prompts.js';
import { rng, type PairRow, type SftRow } from './data.js';

export function additionPrompt(a: number, b: number): string {
  return renderPolicyPrompt(defaultPromptTemplates, `What is ${a} + ${b}?`);
}

/** The solution up to (not including) the interpreter output, then the output and answer. */
export function additionSolution(a: number, b: number, shown = a + b): { code: string; result: string } {
  return {
    code: `<code>\n# Step 1: add the two numbers\ns = ${a} + ${b}\n<end_of_step>\n# Now print the final answer\nprint(s)\n<end_of_code>\n<output>`,
    result: `${shown}<end_of_output>\n<answer>The answer is \\boxed{${shown}}<end_of_answer>`,
  };
}

/** `count` SFT rows {prompt, completion}: a random single-digit addition each, solved correctly. */
export function additionSftRows(count: number, seed: number): SftRow[] {
  const next = rng(seed);
  const rows: SftRow[] = [];
  for (let i = 0; i < count; i++) {
    const a = Math.floor(next() * 10);
    const b = Math.floor(next() * 10);
    const s = additionSolution(a, b);
    rows.push({ prompt: additionPrompt(a, b), completion: s.code + s.result });
  }
  return rows;
}

/**
 * `count` PPM pairs on the final step: the prompt is the problem plus the solution's code, the
 * chosen continuation shows the right sum and the rejected one a wrong sum (each pair is its own
 * prefix group, weight 1).
 */
export function additionPairRows(count: number, seed: number): PairRow[] {
  const next = rng(seed);
  const rows: PairRow[] = [];
  for (let i = 0; i < count; i++) {
    const a = Math.floor(next() * 10);
    const b = Math.floor(next() * 10);
    let wrong = a + b;
    while (wrong === a + b) wrong = Math.floor(next() * 19);
    const right = additionSolution(a, b);
    rows.push({
      prompt: additionPrompt(a, b) + right.code,
      chosen: right.result,
      rejected: additionSolution(a, b, wrong).result,
      weight: 1,
    });
  }
  return rows;
}
