/**
 * Where an evaluation's candidates come from: one solution along a single path of the search (greedy,
 * majority and best-of-N in our step format), a chain of thought in free text (`--prompt cot`, for base
 * models), or one whole test-time search (mcts). The label never enters any of them: each is given the
 * problem's id and question only.
 *
 * A single-path solution is the search with one candidate per expansion and one rollout, so it is
 * built, verified and (for best-of-N) PPM-scored exactly as a search's trajectory: each code step's
 * program runs in the sandbox, the `<output>` block is appended by us, and the PPM scores every new step
 * as it is made (`search.usePpm`). A chain of thought is one generation up to the end of generation (or
 * the model starting a new problem); for best-of-N the PPM scores it paragraph by paragraph, after the
 * PPM's own (step-format) prompt, the usual way a process reward model reads free text.
 */
import type { RstarConfig, SearchConfig } from '../config/index.js';
import { extractFinalAnswer } from '../grade/index.js';
import { chooseAnswer } from '../mcts/choose.js';
import type { MctsNode } from '../mcts/node.js';
import { ProblemSearch, type SearchTree } from '../mcts/search.js';
import type { SearchDeps, SearchProblem } from '../mcts/types.js';
import { COT_STOP_STRINGS, renderCotPrompt, renderPolicyPrompt } from '../steps/prompts.js';

/** One candidate solution of a problem, before grading. */
export interface Candidate {
  text: string;
  /** Its final answer, or null when it has none. */
  answer: string | null;
  /** The PPM's score of the whole candidate (its last scored step), or null without a PPM. */
  score: number | null;
  /** Every step's PPM score, in order; empty without a PPM. */
  stepScores: number[];
  /** Tokens the policy generated for it (for a search: for the whole tree). */
  tokens: number;
  /** Whether a step's program hit the time limit. */
  timedOut: boolean;
}

/** Seed offsets between independent samples and searches of one problem (primes, so streams never line up). */
export const SAMPLE_SEED_STRIDE = 7919;
export const RUN_SEED_STRIDE = 104_729;

type Config = Pick<RstarConfig, 'search' | 'prompts'>;

function blind(problem: SearchProblem): SearchProblem {
  return { id: problem.id, question: problem.question };
}

/** The candidate a path from the root to `leaf` makes. */
function pathCandidate(leaf: MctsNode | null, tree: SearchTree, score: number | null): Candidate {
  const path = leaf ? leaf.pathFromRoot() : [];
  const stepScores = path.map((n) => n.ppmScore).filter((s): s is number => s !== null);
  const answer = leaf && leaf.terminalReason === 'answer' ? leaf.answer : null;
  return {
    text: path.map((n) => n.text).join(''),
    answer,
    score,
    stepScores,
    tokens: tree.stats.generatedTokens,
    timedOut: tree.stats.execTimeouts > 0,
  };
}

/**
 * One solution in the step format along a single path: `search` should have one candidate and one
 * rollout (see `methodSearchSettings`); its temperature, seed and `usePpm` decide the rest.
 */
export async function sampleStepSolution(problem: SearchProblem, config: Config, deps: SearchDeps): Promise<Candidate> {
  const tree = await new ProblemSearch(blind(problem), config, deps).run();
  let leaf: MctsNode | null = null;
  for (let node = tree.root; node.children.length > 0; node = node.children[0]) leaf = node.children[0];
  const last = leaf && leaf.terminalReason === 'answer' ? leaf.ppmScore : null;
  return pathCandidate(leaf, tree, last);
}

/** Cuts a chain of thought at the first stop string (the engine keeps the stop text in the output). */
function cutAtStop(text: string): string {
  let end = text.length;
  for (const s of COT_STOP_STRINGS) {
    const at = text.indexOf(s);
    if (at >= 0 && at < end) end = at;
  }
  return text.slice(0, end);
}

/** A chain of thought's paragraphs, each with the blank lines that follow it (their concatenation is the text). */
export function paragraphs(text: string): string[] {
  const out: string[] = [];
  const re = /\n[ \t]*\n\s*/g;
  let start = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push(text.slice(start, m.index + m[0].length));
    start = m.index + m[0].length;
  }
  if (start < text.length) out.push(text.slice(start));
  return out.filter((p) => p.trim() !== '');
}

/**
 * `n` chains of thought in one generation request (they share the prompt's KV cells), the i-th with
 * seed `search.seed + i`. With `scoreSteps` the PPM scores each solution paragraph by paragraph.
 */
export async function sampleCotSolutions(problem: SearchProblem, n: number, config: Config, deps: SearchDeps, scoreSteps: boolean): Promise<Candidate[]> {
  const s = config.search;
  const gens = await deps.policy.generateSteps({
    problem: blind(problem),
    prompt: renderCotPrompt(problem.question),
    path: [],
    n,
    seed: s.seed,
    sampling: { temperature: s.temperature, maxTokens: s.maxStepTokens, stopMarkers: COT_STOP_STRINGS },
  });
  const candidates: Candidate[] = gens.map((g) => {
    const text = cutAtStop(g.text);
    return { text, answer: extractFinalAnswer(text), score: null, stepScores: [], tokens: g.tokens.length, timedOut: false };
  });
  if (scoreSteps && deps.scorer) {
    const prompt = renderPolicyPrompt(config.prompts, problem.question);
    const requests: Array<{ candidate: number; path: string[] }> = [];
    candidates.forEach((c, i) => {
      const parts = paragraphs(c.text);
      for (let k = 1; k <= parts.length; k++) requests.push({ candidate: i, path: parts.slice(0, k) });
    });
    const scores = requests.length === 0 ? [] : await deps.scorer.score(requests.map((r) => ({ problem: blind(problem), prompt, path: r.path.map((text) => ({ text, tokens: [] })) })));
    requests.forEach((r, i) => candidates[r.candidate].stepScores.push(scores[i]));
    for (const c of candidates) c.score = c.stepScores.length > 0 ? c.stepScores[c.stepScores.length - 1] : null;
  }
  return candidates;
}

/**
 * One whole test-time search (spec §8.2): its answer is the best-scored answer node with a PPM (the
 * paper's rule), the majority of its answer nodes without one; the candidate's text is that answer's
 * trajectory (the search's most visited line when it found no answer) and its score the answer's
 * terminal PPM score (null without a PPM).
 */
export async function searchOnce(problem: SearchProblem, config: Config, deps: SearchDeps): Promise<Candidate> {
  const tree = await new ProblemSearch(blind(problem), config, deps).run();
  const scored = tree.annotation === 'ppm-augmented';
  const choice = await chooseAnswer(tree.root, deps.grader, scored ? 'score' : 'vote');
  return pathCandidate(choice.node ?? mainLine(tree.root), tree, scored ? choice.score : null);
}

/** Without an answer, the search's main line: the most visited child at each level (ties: higher Q, then first). */
function mainLine(root: MctsNode): MctsNode | null {
  let leaf: MctsNode | null = null;
  for (let node = root; node.children.length > 0; ) {
    let best = node.children[0];
    for (const c of node.children) if (c.visits > best.visits || (c.visits === best.visits && c.q > best.q)) best = c;
    leaf = node = best;
  }
  return leaf;
}

/** The search settings of one candidate of `method`, over the configured ones (always test mode). */
export function methodSearchSettings(method: 'greedy' | 'majority' | 'best-of-n' | 'mcts', search: SearchConfig): SearchConfig {
  const test = { ...search, mode: 'test' as const };
  switch (method) {
    case 'greedy':
      return { ...test, candidates: 1, rollouts: 1, temperature: 0, usePpm: false };
    case 'majority':
      return { ...test, candidates: 1, rollouts: 1, usePpm: false };
    case 'best-of-n':
      return { ...test, candidates: 1, rollouts: 1, usePpm: true };
    default:
      return test;
  }
}
