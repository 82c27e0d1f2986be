/**
 * A finished tree rebuilt from its record (lib/mcts/tree-record.ts) for extraction: parent/child links
 * plus, for every node, how many correct and wrong answer leaves lie below it (spec §4.3 step 1).
 */
import { DataError } from '../errors.js';
import type { NodeRecord, TreeRecord } from '../mcts/tree-record.js';

/** How a leaf ended, for extraction. Leaves that are none of these (too deep, unfinished) are ignored. */
export type LeafOutcome = 'correct' | 'wrong' | 'code_error';

export interface TreeViewNode {
  record: NodeRecord;
  /** Position in the record's preorder list: creation order among siblings, used to break ties. */
  index: number;
  parent: TreeViewNode | null;
  children: TreeViewNode[];
  /** Graded-correct answer leaves in the subtree (the node itself included). */
  correctLeaves: number;
  /** Graded-wrong answer leaves in the subtree. Code-error leaves are not counted (as in the reference). */
  wrongLeaves: number;
  /** Leaves that died of code errors in the subtree. */
  codeErrorLeaves: number;
}

export function leafOutcome(record: NodeRecord): LeafOutcome | null {
  if (record.reason === 'answer' && record.correct === true) return 'correct';
  if (record.reason === 'answer' && record.correct === false) return 'wrong';
  if (record.reason === 'code_error') return 'code_error';
  return null;
}

/** Rebuilds the tree of a record; throws DataError when the node list is not a consistent preorder. */
export function buildTreeView(tree: TreeRecord): TreeViewNode {
  const byTag = new Map<string, TreeViewNode>();
  let root: TreeViewNode | null = null;
  tree.nodes.forEach((record, index) => {
    const node: TreeViewNode = { record, index, parent: null, children: [], correctLeaves: 0, wrongLeaves: 0, codeErrorLeaves: 0 };
    const dot = record.tag.lastIndexOf('.');
    if (dot < 0) {
      if (root) throw new DataError(`Tree ${tree.id} has two roots (${root.record.tag}, ${record.tag})`);
      root = node;
    } else {
      const parent = byTag.get(record.tag.slice(0, dot));
      if (!parent) throw new DataError(`Tree ${tree.id}: node ${record.tag} comes before its parent`);
      node.parent = parent;
      parent.children.push(node);
    }
    byTag.set(record.tag, node);
  });
  if (!root) throw new DataError(`Tree ${tree.id} has no nodes`);
  const count = (node: TreeViewNode): void => {
    const outcome = node.children.length === 0 ? leafOutcome(node.record) : null;
    node.correctLeaves = outcome === 'correct' ? 1 : 0;
    node.wrongLeaves = outcome === 'wrong' ? 1 : 0;
    node.codeErrorLeaves = outcome === 'code_error' ? 1 : 0;
    for (const child of node.children) {
      count(child);
      node.correctLeaves += child.correctLeaves;
      node.wrongLeaves += child.wrongLeaves;
      node.codeErrorLeaves += child.codeErrorLeaves;
    }
  };
  count(root);
  return root;
}

/** Nodes from depth 1 down to `node`. */
export function pathTo(node: TreeViewNode): TreeViewNode[] {
  const path: TreeViewNode[] = [];
  for (let n: TreeViewNode | null = node; n && n.parent; n = n.parent) path.unshift(n);
  return path;
}

/** Every node of the tree in preorder. */
export function allNodes(root: TreeViewNode): TreeViewNode[] {
  const out: TreeViewNode[] = [];
  const visit = (n: TreeViewNode): void => {
    out.push(n);
    n.children.forEach(visit);
  };
  visit(root);
  return out;
}
