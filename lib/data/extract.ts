/**
 * Training data from finished search trees (spec §4): SFT trajectories for the policy and preference
 * pairs for the PPM, as JSONL rows that the trainers read directly.
 *
 * SFT (paper §3.4.1, code `sample_sft_data.py`): per problem, over every tree of that problem in the
 * run (other seeds, extra rollouts), the correct trajectories ranked by mean step Q, then min step Q
 * (both descending; remaining ties: earlier tree, then earlier-created first), top `sftPerProblem`. Rows: {prompt, completion, ...}: prompt = the zero-shot policy prompt, completion =
 * the node texts from `<code>` to `<end_of_answer>`. Error filtering happens before the top-k cut, so a
 * filtered trajectory makes room for the next one.
 *
 * Step pairs (paper §3.3, code `extra_rm_file.py` + `sample_rm_data.py`): breadth-first from the root;
 * at every node, positives = children with a correct answer below, by Q descending; negatives =
 * children with a graded-wrong answer below, by Q ascending (ties: earlier-created first); 2 of each
 * (4 of one side when the other has a single candidate); every positive×negative combination with
 * Q margin > 0 and ≥ minStepMargin, a better greedy continuation (optional) and an edit distance of at
 * least minEditDistance becomes {prompt = policy prompt + the shared prefix, chosen, rejected, ...}.
 * The search descends into children that have both correct and wrong answers below.
 *
 * Final-step pairs (paper §3.3; not in the reference code): the 2 correct full trajectories with the
 * highest mean Q against the 2 wrong ones (graded wrong, plus code-error deaths when configured) with
 * the lowest, as {prompt = policy prompt, chosen, rejected} of whole solutions. No Q margin is
 * required here: the outcome already separates them; the edit-distance filter still applies.
 */
import { join } from 'node:path';
import type { ExtractConfig, RstarConfig } from '../config/index.js';
import type { TreeRecord } from '../mcts/tree-record.js';
import { DataError } from '../errors.js';
import { renderPolicyPrompt } from '../steps/prompts.js';
import { editDistance } from './edit-distance.js';
import { readJsonl, writeJsonlAtomic } from './jsonl.js';
import { allNodes, buildTreeView, leafOutcome, pathTo, type TreeViewNode } from './tree-view.js';

export interface SftRow {
  prompt: string;
  completion: string;
  /** Problem id. */
  id: string;
  /** The trajectory's (correct) final answer. */
  answer: string;
  meanQ: number;
  minQ: number;
  /** Number of steps (nodes) in the trajectory. */
  steps: number;
}

export interface PairRow {
  prompt: string;
  chosen: string;
  rejected: string;
  /** 'step': two next steps after a shared prefix; 'final': two whole trajectories. */
  kind: 'step' | 'final';
  id: string;
  /** Depth of the chosen/rejected step (steps before it = depth - 1); 0 for final pairs. */
  depth: number;
  /** Q of the two steps (step pairs) or mean Q of the two trajectories (final pairs). */
  chosenQ: number;
  rejectedQ: number;
  margin: number;
  /** Positives and negatives selected at this prefix; the PPM loss weighs each pair 1/(posCount·negCount). */
  posCount: number;
  negCount: number;
}

type ExtractSettings = Pick<RstarConfig, 'extract' | 'prompts'>;

interface Trajectory {
  leaf: TreeViewNode;
  path: TreeViewNode[];
  meanQ: number;
  minQ: number;
  text: string;
}

function trajectory(leaf: TreeViewNode): Trajectory {
  const path = pathTo(leaf);
  const qs = path.map((n) => n.record.q);
  return {
    leaf,
    path,
    meanQ: qs.reduce((a, b) => a + b, 0) / qs.length,
    minQ: Math.min(...qs),
    text: path.map((n) => n.record.text).join(''),
  };
}

/** Best first: mean Q, then min Q, descending; then earlier-created. */
function bestFirst(a: Trajectory, b: Trajectory): number {
  return b.meanQ - a.meanQ || b.minQ - a.minQ || a.leaf.index - b.leaf.index;
}

/** Worst first: mean Q, then min Q, ascending; then earlier-created. */
function worstFirst(a: Trajectory, b: Trajectory): number {
  return a.meanQ - b.meanQ || a.minQ - b.minQ || a.leaf.index - b.leaf.index;
}

function leavesOf(root: TreeViewNode, keep: (leaf: TreeViewNode) => boolean): Trajectory[] {
  return allNodes(root)
    .filter((n) => n.children.length === 0 && n.parent !== null && keep(n))
    .map(trajectory);
}

function passesSftFilter(t: Trajectory, filter: ExtractConfig['sftErrorFilter']): boolean {
  if (filter === 'status') return t.path.every((n) => n.record.execOk !== false);
  if (filter === 'substring') return !/error/i.test(t.text);
  return true;
}

interface SftCandidate {
  trajectory: Trajectory;
  /** Position of the trajectory's tree among the problem's trees (ties go to the earlier tree). */
  treeOrder: number;
  tree: TreeRecord;
}

function bestCandidateFirst(a: SftCandidate, b: SftCandidate): number {
  const t = a.trajectory;
  const u = b.trajectory;
  return u.meanQ - t.meanQ || u.minQ - t.minQ || a.treeOrder - b.treeOrder || t.leaf.index - u.leaf.index;
}

function sftCandidates(tree: TreeRecord, treeOrder: number, settings: ExtractSettings): SftCandidate[] {
  return leavesOf(buildTreeView(tree), (n) => leafOutcome(n.record) === 'correct')
    .filter((t) => passesSftFilter(t, settings.extract.sftErrorFilter))
    .map((trajectory) => ({ trajectory, treeOrder, tree }));
}

function sftRow(c: SftCandidate, settings: ExtractSettings): SftRow {
  const t = c.trajectory;
  return {
    prompt: renderPolicyPrompt(settings.prompts, c.tree.question),
    completion: t.text,
    id: c.tree.id,
    answer: t.leaf.record.answer ?? '',
    meanQ: t.meanQ,
    minQ: t.minQ,
    steps: t.path.length,
  };
}

/**
 * SFT rows of one problem: the top `sftPerProblem` correct trajectories over all its trees (one tree,
 * or several searches of the same problem).
 */
export function extractSft(trees: TreeRecord | readonly TreeRecord[], settings: ExtractSettings): SftRow[] {
  const list = Array.isArray(trees) ? (trees as readonly TreeRecord[]) : [trees as TreeRecord];
  const ids = new Set(list.map((t) => t.id));
  if (ids.size > 1) throw new DataError(`extractSft takes the trees of one problem, not of ${[...ids].join(', ')}: use extractSftByProblem`);
  return list
    .flatMap((tree, order) => sftCandidates(tree, order, settings))
    .sort(bestCandidateFirst)
    .slice(0, settings.extract.sftPerProblem)
    .map((c) => sftRow(c, settings));
}

/**
 * SFT rows of a whole run: trees grouped by problem id over every tree given (as the reference groups
 * by question), the best `sftPerProblem` per problem, problems in order of first appearance. Only the
 * current best candidates of each problem are held, so a large run streams through.
 */
export async function* extractSftByProblem(trees: AsyncIterable<TreeRecord> | Iterable<TreeRecord>, settings: ExtractSettings): AsyncGenerator<SftRow> {
  const best = new Map<string, { candidates: SftCandidate[]; trees: number }>();
  const k = settings.extract.sftPerProblem;
  for await (const tree of trees) {
    let entry = best.get(tree.id);
    if (!entry) best.set(tree.id, (entry = { candidates: [], trees: 0 }));
    const merged = entry.candidates.concat(sftCandidates(tree, entry.trees, settings)).sort(bestCandidateFirst).slice(0, k);
    entry.candidates = merged; // only the winners (and the trees they come from) stay referenced
    entry.trees += 1;
  }
  for (const { candidates } of best.values()) for (const c of candidates) yield sftRow(c, settings);
}

/** How many of each side to take: `perSide`, or `whenOneSide` opposite a side of exactly one. */
function sideSizes(positives: number, negatives: number, e: ExtractConfig): [number, number] {
  if (positives === 1) return [1, e.pairsWhenOneSide];
  if (negatives === 1) return [e.pairsWhenOneSide, 1];
  return [e.pairsPerSide, e.pairsPerSide];
}

/** Mean Q of the greedy continuation from `start` to a leaf, following `pick` among eligible children. */
function greedyContinuationMeanQ(start: TreeViewNode, eligible: (n: TreeViewNode) => boolean, better: (a: number, b: number) => boolean): number {
  const qs = [start.record.q];
  let node = start;
  for (;;) {
    let next: TreeViewNode | null = null;
    for (const child of node.children) {
      if (eligible(child) && (next === null || better(child.record.q, next.record.q))) next = child;
    }
    if (!next) break;
    qs.push(next.record.q);
    node = next;
  }
  return qs.reduce((a, b) => a + b, 0) / qs.length;
}

/** Step-level pairs of one tree (see the file header). */
export function extractStepPairs(tree: TreeRecord, settings: ExtractSettings): PairRow[] {
  const e = settings.extract;
  const root = buildTreeView(tree);
  const basePrompt = renderPolicyPrompt(settings.prompts, tree.question);
  const byIndex = (a: TreeViewNode, b: TreeViewNode): number => a.index - b.index;
  const rows: PairRow[] = [];
  const queue: TreeViewNode[] = [root];
  while (queue.length > 0) {
    const node = queue.shift() as TreeViewNode;
    const positives = node.children.filter((c) => c.correctLeaves > 0).sort((a, b) => b.record.q - a.record.q || byIndex(a, b));
    const negatives = node.children.filter((c) => c.wrongLeaves > 0).sort((a, b) => a.record.q - b.record.q || byIndex(a, b));
    if (positives.length === 0 || negatives.length === 0) continue;
    const [nPos, nNeg] = sideSizes(positives.length, negatives.length, e);
    const chosen = positives.slice(0, nPos);
    const rejected = negatives.slice(0, nNeg);
    const prompt = basePrompt + pathTo(node).map((n) => n.record.text).join('');
    for (const pos of chosen) {
      for (const neg of rejected) {
        if (pos === neg) continue;
        const margin = pos.record.q - neg.record.q;
        if (!(margin > 0) || margin < e.minStepMargin) continue;
        if (e.continuationCheck) {
          const best = greedyContinuationMeanQ(pos, (c) => c.correctLeaves > 0, (a, b) => a > b);
          const worst = greedyContinuationMeanQ(neg, (c) => c.wrongLeaves > 0, (a, b) => a < b);
          if (!(best > worst)) continue;
        }
        if (editDistance(pos.record.text, neg.record.text, e.minEditDistance) < e.minEditDistance) continue;
        rows.push({
          prompt,
          chosen: pos.record.text,
          rejected: neg.record.text,
          kind: 'step',
          id: tree.id,
          depth: pos.record.depth,
          chosenQ: pos.record.q,
          rejectedQ: neg.record.q,
          margin,
          posCount: chosen.length,
          negCount: rejected.length,
        });
      }
    }
    const mixed = node.children.filter((c) => c.correctLeaves > 0 && c.wrongLeaves > 0);
    if (e.descend === 'all') queue.push(...mixed);
    else if (mixed.length > 0) queue.push(mixed.reduce((a, b) => (b.record.visits > a.record.visits ? b : a)));
  }
  return rows;
}

/** Final-answer-step pairs of whole trajectories (see the file header). */
export function extractFinalPairs(tree: TreeRecord, settings: ExtractSettings): PairRow[] {
  const e = settings.extract;
  const root = buildTreeView(tree);
  const correct = leavesOf(root, (n) => leafOutcome(n.record) === 'correct').sort(bestFirst);
  const wrong = leavesOf(root, (n) => {
    const outcome = leafOutcome(n.record);
    return outcome === 'wrong' || (outcome === 'code_error' && e.finalPairsIncludeCodeErrors);
  }).sort(worstFirst);
  if (correct.length === 0 || wrong.length === 0) return [];
  const [nPos, nNeg] = sideSizes(correct.length, wrong.length, e);
  const chosen = correct.slice(0, nPos);
  const rejected = wrong.slice(0, nNeg);
  const prompt = renderPolicyPrompt(settings.prompts, tree.question);
  const rows: PairRow[] = [];
  for (const pos of chosen) {
    for (const neg of rejected) {
      if (editDistance(pos.text, neg.text, e.minEditDistance) < e.minEditDistance) continue;
      rows.push({
        prompt,
        chosen: pos.text,
        rejected: neg.text,
        kind: 'final',
        id: tree.id,
        depth: 0,
        chosenQ: pos.meanQ,
        rejectedQ: neg.meanQ,
        margin: pos.meanQ - neg.meanQ,
        posCount: chosen.length,
        negCount: rejected.length,
      });
    }
  }
  return rows;
}

/** Step pairs, then (when enabled) final-step pairs, of one tree. */
export function extractPairs(tree: TreeRecord, settings: ExtractSettings): PairRow[] {
  const rows = extractStepPairs(tree, settings);
  if (settings.extract.finalPairs) rows.push(...extractFinalPairs(tree, settings));
  return rows;
}

export interface ExtractCounts {
  trees: number;
  /** Trees with at least one correct trajectory (the only ones that can yield training data). */
  solved: number;
  sft: number;
  stepPairs: number;
  finalPairs: number;
}

/** Every tree of several trees.jsonl files, in order. */
async function* readTrees(treeFiles: readonly string[], onTree?: (tree: TreeRecord) => void): AsyncGenerator<TreeRecord> {
  for (const file of treeFiles) {
    for await (const tree of readJsonl<TreeRecord>(file)) {
      onTree?.(tree);
      yield tree;
    }
  }
}

/**
 * Streams trees.jsonl files (one run may hold several: other seeds, extra rollouts) and writes
 * `sft.jsonl` and `pairs.jsonl` into `outDir`, each replaced atomically, so re-running extraction
 * (after a resumed generation, or with other filters) never duplicates rows. SFT groups trees by
 * problem across all files; pairs are per tree (each tree's prefixes are its own).
 */
export async function extractTreesFile(
  treeFiles: string | readonly string[],
  outDir: string,
  settings: ExtractSettings,
  onTree?: (tree: TreeRecord) => void,
): Promise<ExtractCounts> {
  const files = typeof treeFiles === 'string' ? [treeFiles] : treeFiles;
  const counts: ExtractCounts = { trees: 0, solved: 0, sft: 0, stepPairs: 0, finalPairs: 0 };
  // Called once per tree, in the first pass, so callers can total trees without reading them again.
  const countTree = (tree: TreeRecord): void => {
    counts.trees += 1;
    if (tree.nodes.some((n) => leafOutcome(n) === 'correct')) counts.solved += 1;
    onTree?.(tree);
  };
  // One streaming pass per output file, so large rounds never sit in memory.
  counts.sft = await writeJsonlAtomic(join(outDir, 'sft.jsonl'), extractSftByProblem(readTrees(files, countTree), settings));
  await writeJsonlAtomic(
    join(outDir, 'pairs.jsonl'),
    (async function* () {
      for await (const tree of readTrees(files)) {
        for (const row of extractPairs(tree, settings)) {
          if (row.kind === 'step') counts.stepPairs += 1;
          else counts.finalPairs += 1;
          yield row;
        }
      }
    })(),
  );
  return counts;
}
