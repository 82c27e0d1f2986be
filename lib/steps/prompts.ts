/**
 * The two prompt templates of rStar-Math (spec §1.4), in our own words, all in one place.
 *
 * - `policy`: the zero-shot prompt of the policy SLM and of the PPM (rounds 2-4 and test time).
 * - the bootstrap prompt: an instruction block, two worked demonstrations we wrote ourselves (one
 *   arithmetic word problem, one solved with sympy), then the question (round 1, a large general model).
 *
 * Both are raw completion prompts (no chat template). The partial solution (the concatenated node texts)
 * follows the rendered prompt with no separator; the first step starts with `<code>`.
 *
 * One deliberate difference from the reference: its inference prompt puts an extra "\n" between the
 * question and `<|assistant|>` that its SFT prompt does not have (a train/test mismatch, spec §1.4). We
 * use one template for search, PPM scoring and SFT data, so the three always agree.
 *
 * Every template can be replaced through configuration (`prompts` section of lib/config.ts); `{question}`
 * and `{count}` are the only placeholders.
 *
 * A third, plain prompt is for models that never learnt the step format (`rstar eval --prompt cot`): a
 * chain of thought in free text, graded by reading its final answer from the text (lib/grade
 * `extractFinalAnswer`). It is a constant, not part of the `prompts` section, so adding it changed no
 * existing configuration (and no resumable run's recorded settings).
 */
import { FINAL_PRINT_COMMENT, MARKERS } from './markers.js';

export interface PromptTemplates {
  /** Zero-shot policy/PPM prompt. `{question}` is replaced by the problem text. */
  policy: string;
  /** Bootstrap prompt, part 1: what the model is and the solution format it must follow. */
  bootstrapInstruction: string;
  /** Bootstrap prompt, part 2: the line introducing the demonstrations; `{count}` is their number. */
  bootstrapDemoHeader: string;
  /** Bootstrap prompt, part 3: worked demonstrations, each "Question: ...\n<code>...<end_of_answer>". */
  bootstrapDemos: string[];
  /** Bootstrap prompt, part 4: the turn of the model; `{question}` is replaced. Ends with a newline. */
  bootstrapTurn: string;
}

export type PromptStyle = 'policy' | 'bootstrap';

const M = MARKERS;

const bootstrapInstruction = [
  'You are a math problem solver who reasons in small steps and uses a Python interpreter for every calculation, so that all arithmetic and algebra are exact.',
  `A solution has three parts: ${M.code}, ${M.output} and ${M.answer}. Do every calculation in code and keep the reasoning short, as Python comments. The libraries math, sympy, scipy and numpy are available.`,
  'Follow this template:',
  'Question: the problem to solve',
  `${M.code}`,
  `Build the program one step at a time. Each step is a comment with one piece of reasoning followed by the code that carries it out, and ends with ${M.endOfStep}. The steps together must run without errors: define every name before using it, import what you use, and write valid Python.`,
  `The last step prints the answer, under the comment "${FINAL_PRINT_COMMENT.slice(2)}", and ends with ${M.endOfCode}.`,
  `${M.output}`,
  `What the interpreter printed, followed by ${M.endOfOutput}.`,
  `${M.answer}`,
  `One short sentence with the final answer, whose numeric part (no units; for a multiple-choice question only the choice) goes in \\boxed{}, followed by ${M.endOfAnswer}.`,
].join('\n');

/** Demonstration 1: an arithmetic word problem. Its program prints exactly the `<output>` shown. */
const demoArithmetic = [
  'Question: A bakery sells muffins for $3 each and cookies for $1.50 each. On Monday it sold 42 muffins and three times as many cookies. How much money, in dollars, did the bakery take in on Monday?',
  `${M.code}`,
  '# Step 1: The bakery sold three times as many cookies as muffins',
  'muffins = 42',
  'cookies = 3 * muffins',
  `${M.endOfStep}`,
  '',
  '# Step 2: Revenue from each kind of item',
  'muffin_revenue = muffins * 3',
  'cookie_revenue = cookies * 1.5',
  `${M.endOfStep}`,
  '',
  '# Step 3: The day\'s takings are the sum of both revenues',
  'total = muffin_revenue + cookie_revenue',
  `${M.endOfStep}`,
  '',
  FINAL_PRINT_COMMENT,
  'print(total)',
  `${M.endOfCode}`,
  `${M.output}315.0${M.endOfOutput}`,
  `${M.answer}The bakery took in 315 dollars on Monday, so the answer is \\boxed{315}.${M.endOfAnswer}`,
].join('\n');

/** Demonstration 2: an equation solved exactly with sympy. */
const demoSympy = [
  'Question: Let a and b be the two solutions of 2x^2 - 7x + 3 = 0. What is a^2 + b^2?',
  `${M.code}`,
  '# Step 1: Write the equation with a sympy symbol',
  'from sympy import symbols, Eq, solve',
  "x = symbols('x')",
  'equation = Eq(2*x**2 - 7*x + 3, 0)',
  `${M.endOfStep}`,
  '',
  '# Step 2: Solve it exactly to get both roots',
  'roots = solve(equation, x)',
  `${M.endOfStep}`,
  '',
  '# Step 3: Add up the squares of the roots',
  'sum_of_squares = sum(root**2 for root in roots)',
  `${M.endOfStep}`,
  '',
  FINAL_PRINT_COMMENT,
  'print(sum_of_squares)',
  `${M.endOfCode}`,
  `${M.output}37/4${M.endOfOutput}`,
  `${M.answer}The roots are 1/2 and 3, so the sum of their squares is \\boxed{\\frac{37}{4}}.${M.endOfAnswer}`,
].join('\n');

/** The templates used unless configuration replaces them. */
export const defaultPromptTemplates: PromptTemplates = {
  policy: `${M.user}:\n{question}\n${M.assistant}: Let's think step by step and solve the problem with code.`,
  bootstrapInstruction,
  bootstrapDemoHeader: 'The following are {count} demonstration examples.',
  bootstrapDemos: [demoArithmetic, demoSympy],
  bootstrapTurn: "\nNow! It's your turn.\nQuestion: {question}\n",
};

function fill(template: string, values: Record<string, string>): string {
  // A function replacer, so `$&` and friends inside a question are taken literally.
  return template.replace(/\{(question|count)\}/g, (whole, key: string) => values[key] ?? whole);
}

/** The zero-shot policy/PPM prompt for one question. */
export function renderPolicyPrompt(templates: PromptTemplates, question: string): string {
  return fill(templates.policy, { question });
}

/**
 * The few-shot bootstrap prompt: instruction, demo header, the demos, then the turn, joined by "\n".
 * The reference samples the demos at random; with exactly two demos that only changes their order, so
 * we keep the configured order and the prompt is the same for every problem (one prefix-cache entry).
 */
export function renderBootstrapPrompt(templates: PromptTemplates, question: string): string {
  const demos = templates.bootstrapDemos;
  const parts = [templates.bootstrapInstruction];
  if (demos.length > 0) parts.push(fill(templates.bootstrapDemoHeader, { count: String(demos.length) }), ...demos);
  parts.push(fill(templates.bootstrapTurn, { question }));
  return parts.join('\n');
}

/** The prompt of the given style for one question. */
export function renderPrompt(templates: PromptTemplates, style: PromptStyle, question: string): string {
  return style === 'policy' ? renderPolicyPrompt(templates, question) : renderBootstrapPrompt(templates, question);
}

/**
 * The chain-of-thought prompt for a base model: a raw completion prompt (no chat template) asking for
 * reasoning in prose and the final answer in `\boxed{}`. `{question}` is replaced.
 */
export const COT_PROMPT = 'Solve the following math problem step by step. Put the final answer in \\boxed{}.\n\nProblem: {question}\n\nSolution:';

/** Where a chain-of-thought solution ends besides the end-of-generation token: the model starting a new problem or turn. */
export const COT_STOP_STRINGS: readonly string[] = ['\n\nProblem:', MARKERS.user];

/** The chain-of-thought prompt for one question. */
export function renderCotPrompt(question: string): string {
  return fill(COT_PROMPT, { question });
}
