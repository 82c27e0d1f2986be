/**
 * One question, one test-time search (`rstar solve`): MCTS in 'test' mode, then the answer with the
 * highest terminal PPM score, or the majority answer when no PPM is loaded (every answer then scores 0).
 */
import type { RstarConfig } from '../config/index.js';
import { renderPrompt } from '../steps/prompts.js';
import { chooseAnswer, type AnswerCluster } from './choose.js';
import { ProblemSearch, type SearchStats } from './search.js';
import type { SearchDeps } from './types.js';

export interface SolveResult {
  question: string;
  /** The chosen final answer, or null when no rollout reached one. */
  answer: string | null;
  /** The chosen trajectory's steps, from `<code>` to `<end_of_answer>` ('' when there is no answer). */
  solution: string;
  /** The prompt the policy continued. */
  prompt: string;
  /** 'score' (highest terminal PPM score) or 'vote' (majority over answers; no PPM loaded). */
  method: 'score' | 'vote';
  /** Terminal score of the chosen answer node (its PPM score; 0 without a PPM). */
  score: number | null;
  /** Answer nodes agreeing with the chosen answer. */
  votes: number;
  clusters: AnswerCluster[];
  annotation: 'terminal-guided' | 'ppm-augmented';
  stats: SearchStats;
}

/**
 * Searches one question. `config.search.mode` is forced to 'test' (there is no reference answer).
 *
 * @example
 * const result = await solveQuestion('What is 2+3?', resolveConfigFrom(defaultConfig, { search: testTimeSearchOverrides }), deps);
 */
export async function solveQuestion(question: string, config: Pick<RstarConfig, 'search' | 'prompts'>, deps: SearchDeps): Promise<SolveResult> {
  const testConfig = { ...config, search: { ...config.search, mode: 'test' as const } };
  const search = new ProblemSearch({ id: 'question', question }, testConfig, deps);
  const tree = await search.run();
  const method = tree.annotation === 'ppm-augmented' ? 'score' : 'vote';
  const choice = await chooseAnswer(tree.root, deps.grader, method);
  return {
    question,
    answer: choice.answer,
    solution: choice.node ? choice.node.pathFromRoot().map((n) => n.text).join('') : '',
    prompt: renderPrompt(config.prompts, config.search.promptStyle, question),
    method,
    score: choice.score,
    votes: choice.votes,
    clusters: choice.clusters,
    annotation: tree.annotation,
    stats: tree.stats,
  };
}
