/**
 * The deriving half of `rstar generate`: training data and totals rebuilt from every tree of a run
 * (this run's and earlier runs'), written atomically, so they never hold duplicates or half a file.
 * It reads only the journal, so it can be re-run on its own (other extraction settings, a run whose
 * trees came from elsewhere).
 */
import type { RstarConfig } from '../config/index.js';
import { extractTreesFile } from '../data/extract.js';
import { addTree, emptyTotals, type TreeTotals } from './summary.js';

export interface DerivedData {
  /** Totals over every tree in the journals. */
  trees: TreeTotals;
  /** Of the given problem ids, those with a tree. */
  problemsWithTree: number;
  sft: number;
  pairs: { step: number; final: number };
}

/**
 * Writes `sft.jsonl` (top trajectories per problem, grouped over all trees of a problem) and
 * `pairs.jsonl` into `outDir` from `treeFiles`, and counts the trees.
 *
 * @example const derived = await deriveTrainingData(['round1/trees.jsonl'], 'round1', config, ids);
 */
export async function deriveTrainingData(
  treeFiles: readonly string[],
  outDir: string,
  config: Pick<RstarConfig, 'extract' | 'prompts'>,
  problemIds: ReadonlySet<string> = new Set(),
): Promise<DerivedData> {
  const totals = emptyTotals();
  let problemsWithTree = 0;
  const counts = await extractTreesFile(treeFiles, outDir, config, (tree) => {
    addTree(totals, tree);
    if (problemIds.has(tree.id)) problemsWithTree += 1;
  });
  return { trees: totals, problemsWithTree, sft: counts.sft, pairs: { step: counts.stepPairs, final: counts.finalPairs } };
}
