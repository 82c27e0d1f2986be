/**
 * Aggregates over the trees of a generation run (every line of trees.jsonl, resumed runs included).
 * Difficulty follows paper §3.4.1 over the graded answers of a tree: easy = every answer correct,
 * medium = some correct and some wrong, hard = none correct (including trees that found no answer).
 */
import type { SearchStats } from '../mcts/search.js';
import type { TreeRecord } from '../mcts/tree-record.js';

export interface TreeTotals {
  trees: number;
  /** Trees with at least one correct answer: the only ones that yield training data. */
  solved: number;
  difficulty: { easy: number; medium: number; hard: number };
  /** Sums of every per-tree search counter. */
  search: SearchStats;
  annotation: { 'terminal-guided': number; 'ppm-augmented': number };
}

export function emptyTotals(): TreeTotals {
  return {
    trees: 0,
    solved: 0,
    difficulty: { easy: 0, medium: 0, hard: 0 },
    search: {
      rollouts: 0, expansions: 0, candidates: 0, duplicates: 0, collapsed: 0, discarded: 0, nodes: 0,
      generatedTokens: 0, execRuns: 0, execFailures: 0, execTimeouts: 0, execMs: 0, ppmCalls: 0,
      ppmScored: 0, answers: 0, correct: 0, wallMs: 0,
    },
    annotation: { 'terminal-guided': 0, 'ppm-augmented': 0 },
  };
}

export function addTree(totals: TreeTotals, tree: TreeRecord): void {
  totals.trees += 1;
  let correct = 0;
  let wrong = 0;
  for (const node of tree.nodes) {
    if (node.reason !== 'answer') continue;
    if (node.correct === true) correct += 1;
    else if (node.correct === false) wrong += 1;
  }
  if (correct > 0) totals.solved += 1;
  if (correct > 0 && wrong === 0) totals.difficulty.easy += 1;
  else if (correct > 0) totals.difficulty.medium += 1;
  else totals.difficulty.hard += 1;
  for (const key of Object.keys(totals.search) as Array<keyof SearchStats>) totals.search[key] += tree.stats[key] ?? 0;
  totals.annotation[tree.annotation] += 1;
}
