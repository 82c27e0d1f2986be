/**
 * Choosing the answer of one test-time search (spec §3.1, §5.4): the answer node with the highest
 * terminal PPM score ('score', the paper's rule), or a majority vote over all answer nodes with
 * equivalent answers clustered by the grader ('vote', used when no PPM is loaded and every answer
 * scores 0). Aggregating many independent runs (the reference's eval_maj.py) is the caller's business.
 */
import type { MctsNode } from './node.js';
import type { Grader } from './types.js';

export interface AnswerCluster {
  answer: string;
  /** Answer nodes in the cluster. */
  count: number;
  /** Highest terminal reward (PPM score) in the cluster. */
  bestScore: number;
  /** Tag of the cluster's best node. */
  tag: string;
}

export interface AnswerChoice {
  answer: string | null;
  /** The chosen answer node (its path is the solution); null when the search found no answer. */
  node: MctsNode | null;
  /** Terminal reward of the chosen node. */
  score: number | null;
  /** Answer nodes that agree with the chosen answer. */
  votes: number;
  clusters: AnswerCluster[];
}

/** Every answer node of a tree, in creation (preorder) order. */
export function answerNodes(root: MctsNode): MctsNode[] {
  const out: MctsNode[] = [];
  const visit = (node: MctsNode): void => {
    if (node.terminalReason === 'answer' && node.answer !== null) out.push(node);
    node.children.forEach(visit);
  };
  visit(root);
  return out;
}

/** Picks the run's answer by terminal score or by vote (ties: higher best score, then earliest). */
export async function chooseAnswer(root: MctsNode, grader: Grader, method: 'score' | 'vote'): Promise<AnswerChoice> {
  const nodes = answerNodes(root);
  const clusters: Array<AnswerCluster & { best: MctsNode }> = [];
  for (const node of nodes) {
    const score = node.reward ?? 0;
    let cluster: (typeof clusters)[number] | undefined;
    for (const c of clusters) {
      if (c.answer === node.answer || (await grader.isEquivalent(c.answer, node.answer as string))) {
        cluster = c;
        break;
      }
    }
    if (!cluster) clusters.push({ answer: node.answer as string, count: 1, bestScore: score, tag: node.tag, best: node });
    else {
      cluster.count += 1;
      if (score > cluster.bestScore) Object.assign(cluster, { bestScore: score, tag: node.tag, best: node });
    }
  }
  if (clusters.length === 0) return { answer: null, node: null, score: null, votes: 0, clusters: [] };
  let chosen = clusters[0];
  for (const c of clusters) {
    const better =
      method === 'score'
        ? c.bestScore > chosen.bestScore
        : c.count > chosen.count || (c.count === chosen.count && c.bestScore > chosen.bestScore);
    if (better) chosen = c;
  }
  return {
    answer: chosen.answer,
    node: chosen.best,
    score: chosen.best.reward,
    votes: chosen.count,
    clusters: clusters.map(({ best: _best, ...rest }) => rest),
  };
}
