/**
 * The bootstrap policy: a program that stands in for the paper's round-1 "stronger model"
 * (DeepSeek-Coder-V2-Instruct, spec §7.2) when no weights can be downloaded. It writes candidate steps
 * in our exact step format for the problems of the synthetic curriculum (lib/synth/curriculum.ts), makes
 * realistic mistakes at a configurable rate, and plugs into the real search (`ProblemSearch`,
 * `searchProblems`) with the real Python pool and grader, like any `StepPolicy`.
 *
 * What it reads: the question text, the path so far and the request's seed, temperature and token limit.
 * Never the answer field (the tests run it behind a problem whose `answer` throws when read). It
 * "understands" a question when the question follows a curriculum template's wording
 * (`parseCurriculumQuestion`), and then follows that template's reference plan, step by step:
 *   step 1 opens with `<code>`; every step is `# Step k: <reasoning>` plus its Python lines and ends
 *   with `<end_of_step>`; then `# Now print the final answer` / `print(<var>)` / `<end_of_code>`; after
 *   the search appends `<output>…<end_of_output>`, the answer step `\n<answer>… \boxed{…}<end_of_answer>`
 *   boxes what the program printed (a fraction `p/q` as `\frac{p}{q}`).
 * Which step to write is read off the path (its length, and whether the last step closed the code), so
 * a mistake made in one step flows through the later ones as real Python would carry it.
 *
 * Mistake model. Each candidate step deviates from the plan with probability `rate(level) × temperature`
 * (capped at 0.95); temperature 0 is greedy: no mistakes, every candidate identical. A deviation is one of
 *   wrong_operator      one binary operator replaced (+, -, *) — `cost = count + price`;
 *   off_by_one          one integer literal misread by ±1;
 *   forgotten_step      the step's last operation dropped — `good = made` instead of `made - faulty`;
 *   unit_not_converted  a conversion step keeps the raw quantity — `from_meters = meters` (level 4);
 *   name_error          a variable misspelt — the run dies with NameError, a code-error leaf;
 *   wrong_quantity      the print step prints an intermediate variable (half the step rate).
 * Level 5 adds a choice of approach at the first step: sympy (the plan) with probability
 * `sympyRate × temperature`, otherwise one of the template's naive arithmetic shortcuts (`naive_plan`),
 * which are wrong. A question it does not understand gets plausible but wrong steps: the numbers of the
 * question in a list, combined by a sum, a product or a difference chosen by the seed.
 *
 * Intended problem-level solve rates with the defaults, through the real search with 4 rollouts × 4
 * candidates at temperature 1: levels 1–2 nearly always, level 3 mostly, level 4 about half, level 5
 * rarely (test/synth.test.ts measures them; the README gives the numbers).
 *
 * Seeds: the i-th candidate of a request uses `request.seed + i` (hashed with the question and the depth),
 * so one call for n candidates equals n calls for one. Tokens are the text's UTF-16 code units (as
 * `ScriptedPolicy`): the search only stores and concatenates them, so trees made with this policy are
 * for SFT and PPM *text*, never engine tokens of a real model; `maxTokens` cuts a step at that many code
 * units (it then has no stop marker).
 */
import { assertNumber } from '../errors.js';
import { textTokens } from '../mcts/scripted-policy.js';
import type { CandidateStep, StepPolicy, StepRequest } from '../mcts/types.js';
import { FINAL_PRINT_COMMENT, MARKERS } from '../steps/markers.js';
import { parseCurriculumQuestion } from './curriculum.js';
import { Rng } from './random.js';
import { LEVELS, type Level, type Plan, type PlanStep } from './templates.js';

export type MistakeKind = 'wrong_operator' | 'off_by_one' | 'forgotten_step' | 'unit_not_converted' | 'name_error' | 'wrong_quantity' | 'naive_plan';
export const MISTAKE_KINDS: readonly MistakeKind[] = ['wrong_operator', 'off_by_one', 'forgotten_step', 'unit_not_converted', 'name_error', 'wrong_quantity', 'naive_plan'];

/** Probability that one step of a problem of each level deviates from the plan, at temperature 1. */
export const DEFAULT_MISTAKE_RATES: Readonly<Record<Level, number>> = { 1: 0.08, 2: 0.1, 3: 0.12, 4: 0.55, 5: 0.3 };
/** Probability, at temperature 1, that a level-5 problem is set up with sympy instead of a shortcut. */
export const DEFAULT_SYMPY_RATE = 0.06;
const MAX_DEVIATION = 0.95;

export interface BootstrapPolicyOptions {
  /** Per-step mistake probability by level at temperature 1 (default `DEFAULT_MISTAKE_RATES`). */
  mistakeRates?: Partial<Record<Level, number>>;
  /** Level 5: probability of the sympy approach at temperature 1 (default `DEFAULT_SYMPY_RATE`). */
  sympyRate?: number;
}

/** What the policy did, for tests and reports. */
export interface BootstrapStats {
  requests: number;
  candidates: number;
  /** Code steps written for a question it recognised / did not recognise (answer steps not counted). */
  understood: number;
  guessed: number;
  mistakes: Record<MistakeKind, number>;
}

const M = MARKERS;
const STOPS = [M.endOfStep, M.endOfCode, M.endOfAnswer, M.output];
const ASSIGNMENT = /^([A-Za-z_]\w*(?:, [A-Za-z_]\w*)*) = (.+)$/;
const BINARY_OP = / (\+|-|\*|\/\/|\/) /g;
const LITERAL = /(?<![\w.'"])\d+(?![\w.'"])/g;
const IDENTIFIER = /(?<![\w.'"])[A-Za-z_]\w*(?![\w'"(])/g;
const NOT_VARIABLES = new Set(['Fraction', 'Eq', 'solve', 'symbols', 'sum', 'max', 'min', 'print', 'and', 'or', 'not', 'in', 'for', 'if', 'else', 'True', 'False', 'None']);

/**
 * Creates the bootstrap policy.
 *
 * @example
 * const policy = createBootstrapPolicy();
 * const config = resolveConfig({ search: { rollouts: 8, candidates: 4 } });
 * const tree = await searchProblem(problem, config, { policy, executor: pool, grader: { extractBoxed, isEquivalent } });
 */
export function createBootstrapPolicy(options: BootstrapPolicyOptions = {}): BootstrapPolicy {
  return new BootstrapPolicy(options);
}

export class BootstrapPolicy implements StepPolicy {
  readonly stats: BootstrapStats = {
    requests: 0,
    candidates: 0,
    understood: 0,
    guessed: 0,
    mistakes: Object.fromEntries(MISTAKE_KINDS.map((k) => [k, 0])) as Record<MistakeKind, number>,
  };
  private readonly rates: Record<Level, number>;
  private readonly sympyRate: number;

  constructor(options: BootstrapPolicyOptions = {}) {
    this.rates = { ...DEFAULT_MISTAKE_RATES };
    for (const level of LEVELS) {
      const r = options.mistakeRates?.[level];
      if (r !== undefined) this.rates[level] = assertNumber(r, `mistakeRates[${level}]`, 0, 1);
    }
    this.sympyRate = assertNumber(options.sympyRate ?? DEFAULT_SYMPY_RATE, 'sympyRate', 0, 1);
  }

  async generateSteps(request: StepRequest): Promise<CandidateStep[]> {
    this.stats.requests += 1;
    const out: CandidateStep[] = [];
    for (let i = 0; i < request.n; i++) {
      const full = this.writeStep(request, request.seed + i);
      const max = request.sampling.maxTokens;
      const text = full.length > max ? full.slice(0, max) : full;
      const stop = STOPS.find((m) => text.endsWith(m) && request.sampling.stopMarkers.includes(m)) ?? null;
      out.push({ text, tokens: textTokens(text), stop });
    }
    this.stats.candidates += out.length;
    return out;
  }

  tokenize(text: string): number[] {
    return textTokens(text);
  }

  /** One candidate step: a pure function of the question, the path, the seed and the temperature. */
  private writeStep(request: StepRequest, seed: number): string {
    const question = request.problem.question;
    const path = request.path;
    const depth = path.length;
    const rng = new Rng('rstar-bootstrap', seed, depth, question);
    const temperature = request.sampling.temperature;
    const last = depth > 0 ? path[depth - 1].text : '';
    if (last.includes(M.endOfCode) || last.includes(M.endOfOutput)) return answerStep(last, rng, temperature);

    const parsed = parseCurriculumQuestion(question);
    if (!parsed) {
      this.stats.guessed += 1;
      return guessStep(question, depth, rng, temperature);
    }
    this.stats.understood += 1;
    const { template, values } = parsed;
    const level = template.level;
    const deviate = (p: number): boolean => temperature > 0 && rng.chance(Math.min(MAX_DEVIATION, p * temperature));

    let plan: Plan = template.plan(values);
    if (template.naive) {
      const naive = template.naive(values);
      if (depth === 0) {
        if (!deviate(this.sympyRate)) {
          plan = temperature > 0 ? rng.pick(naive) : naive[0];
          this.stats.mistakes.naive_plan += 1;
        }
      } else if (!path[0].text.includes('sympy')) {
        plan = naive[0];
      }
    }

    const rate = this.rates[level];
    if (depth < plan.steps.length) {
      const step = plan.steps[depth];
      let lines = step.lines;
      if (deviate(rate)) {
        const mutated = mutateStep(step, rng);
        if (mutated) {
          lines = mutated.lines;
          this.stats.mistakes[mutated.kind] += 1;
        }
      }
      const body = `# Step ${depth + 1}: ${step.comment}\n${lines.join('\n')}\n${M.endOfStep}`;
      return depth === 0 ? `${M.code}\n${body}` : `\n\n${body}`;
    }

    let printed = plan.answerVar;
    if (deviate(rate / 2)) {
      const targets = plan.steps.flatMap((s) => s.lines.map((l) => ASSIGNMENT.exec(l)?.[1]).filter((t): t is string => Boolean(t) && !t!.includes(',') && t !== plan.answerVar));
      const intermediate = targets.filter((t) => !['x', 'f', 'equation', 'solution'].includes(t) && !t.endsWith('_equation'));
      if (intermediate.length > 0 && rng.chance(0.65)) {
        printed = rng.pick(intermediate);
        this.stats.mistakes.wrong_quantity += 1;
      } else {
        printed = misspell(printed);
        this.stats.mistakes.name_error += 1;
      }
    }
    const body = `${FINAL_PRINT_COMMENT}\nprint(${printed})\n${M.endOfCode}`;
    return depth === 0 ? `${M.code}\n${body}` : `\n\n${body}`;
  }
}

// ---- mistakes -----------------------------------------------------------------------------------------

type Mutator = (expr: string, rng: Rng) => string | null;

const mutators: Record<'wrong_operator' | 'off_by_one' | 'forgotten_step' | 'unit_not_converted' | 'name_error', Mutator> = {
  wrong_operator(expr, rng) {
    const ops = [...expr.matchAll(BINARY_OP)];
    if (ops.length === 0) return null;
    const m = rng.pick(ops);
    const replacement = rng.pick(['+', '-', '*'].filter((o) => o !== m[1]));
    return `${expr.slice(0, m.index)} ${replacement} ${expr.slice(m.index + m[0].length)}`;
  },
  off_by_one(expr, rng) {
    const literals = [...expr.matchAll(LITERAL)];
    if (literals.length === 0) return null;
    const m = rng.pick(literals);
    const n = Number(m[0]);
    const changed = n <= 1 || rng.chance(0.5) ? n + 1 : n - 1;
    return `${expr.slice(0, m.index)}${changed}${expr.slice(m.index + m[0].length)}`;
  },
  forgotten_step(expr) {
    const left = leftOperand(expr);
    if (left !== null) return left;
    return firstVariable(expr);
  },
  unit_not_converted(expr) {
    return firstVariable(expr);
  },
  name_error(expr, rng) {
    const names = [...expr.matchAll(IDENTIFIER)].filter((m) => !NOT_VARIABLES.has(m[0]));
    if (names.length === 0) return null;
    const m = rng.pick(names);
    return `${expr.slice(0, m.index)}${misspell(m[0])}${expr.slice(m.index + m[0].length)}`;
  },
};

/** The text before the first binary operator outside parentheses, or null when there is none. */
function leftOperand(expr: string): string | null {
  let depth = 0;
  for (let i = 0; i < expr.length; i++) {
    const ch = expr[i];
    if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    else if (depth === 0 && ch === ' ' && /^ (\+|-|\*|\/\/|\/) /.test(expr.slice(i))) return expr.slice(0, i);
  }
  return null;
}

function firstVariable(expr: string): string | null {
  const m = [...expr.matchAll(IDENTIFIER)].find((x) => !NOT_VARIABLES.has(x[0]));
  return m && m[0] !== expr ? m[0] : null;
}

/** A plausible typo that Python cannot resolve: a vowel dropped (`total` → `totl`), else a trailing `s`. */
function misspell(name: string): string {
  for (let i = name.length - 1; i > 0; i--) {
    if ('aeiou'.includes(name[i])) return name.slice(0, i) + name.slice(i + 1);
  }
  return `${name}s`;
}

/** One mistake in one line of the step; null when no mistake applies to any of its lines. */
function mutateStep(step: PlanStep, rng: Rng): { lines: string[]; kind: MistakeKind } | null {
  const weights: [keyof typeof mutators, number][] = step.unit
    ? [['unit_not_converted', 6], ['wrong_operator', 1], ['off_by_one', 1], ['name_error', 1]]
    : [['wrong_operator', 3], ['off_by_one', 3], ['forgotten_step', 2], ['name_error', 1.5]];
  const lines = step.lines;
  const assignments = lines.map((l, i) => ({ i, m: ASSIGNMENT.exec(l) })).filter((a) => a.m !== null);
  // Which lines each mistake applies to (probing with a throwaway generator keeps `rng` in step).
  const applicable = weights
    .map(([kind, w]) => {
      const targets = assignments.filter(({ m }) => mutators[kind](m![2], new Rng('probe')) !== null);
      // A unit mistake belongs on the line that applies the factor: the step's last line.
      const unitTargets = kind === 'unit_not_converted' ? targets.filter(({ i }) => i === lines.length - 1) : targets;
      return { kind, w, targets: unitTargets };
    })
    .filter((a) => a.targets.length > 0);
  if (applicable.length === 0) return null;
  const choice = rng.weighted(applicable.map((a) => [a, a.w] as const));
  const { i, m } = rng.pick(choice.targets);
  const expr = mutators[choice.kind](m![2], rng);
  if (expr === null) return null;
  const out = [...lines];
  out[i] = `${m![1]} = ${expr}`;
  return { lines: out, kind: choice.kind };
}

// ---- answers and guesses ------------------------------------------------------------------------------

/** A seeded choice; at temperature 0 (greedy) always the first option. */
function choose<T>(rng: Rng, temperature: number, options: readonly T[]): T {
  return temperature > 0 ? rng.pick(options) : options[0];
}

/** The answer step after a final code step: box the last line the program printed. */
function answerStep(lastText: string, rng: Rng, temperature: number): string {
  const output = /<output>([\s\S]*?)<end_of_output>/.exec(lastText)?.[1] ?? '';
  const printed = output.trim().split('\n').pop()?.trim() ?? '';
  let boxed = printed;
  const fraction = /^(-?)(\d+)\/(\d+)$/.exec(printed);
  if (fraction) boxed = `${fraction[1]}\\frac{${fraction[2]}}{${fraction[3]}}`;
  else if (/^-?\d+\.\d{5,}$/.test(printed)) boxed = Number(printed).toFixed(2);
  const sentence = choose(rng, temperature, [
    `The program prints ${printed}, so the answer is \\boxed{${boxed}}.`,
    `So the answer is \\boxed{${boxed}}.`,
    `The result is ${printed}, which gives \\boxed{${boxed}}.`,
  ]);
  return `\n${M.answer}${sentence}${M.endOfAnswer}`;
}

/** Plausible but wrong steps for a question the policy does not recognise. */
function guessStep(question: string, depth: number, rng: Rng, temperature: number): string {
  const numbers = question.match(/\d+(?:\.\d+)?/g) ?? [];
  if (depth === 0) {
    return `${M.code}\n# Step 1: Write down the quantities given in the problem\nnumbers = [${numbers.join(', ')}]\n${M.endOfStep}`;
  }
  if (depth === 1) {
    const combine =
      numbers.length < 2
        ? ['Add up the quantities', 'result = sum(numbers)']
        : choose(rng, temperature, [
            ['Add up the quantities', 'result = sum(numbers)'],
            ['Multiply the first quantity by the last', 'result = numbers[0] * numbers[-1]'],
            ['The difference between the largest and the smallest quantity', 'result = max(numbers) - min(numbers)'],
            ['Divide the first quantity by the second', 'result = numbers[0] / numbers[1]'],
          ]);
    return `\n\n# Step 2: ${combine[0]}\n${combine[1]}\n${M.endOfStep}`;
  }
  return `\n\n${FINAL_PRINT_COMMENT}\nprint(result)\n${M.endOfCode}`;
}
