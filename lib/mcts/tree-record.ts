/**
 * The on-disk form of a finished search tree: one JSON object per problem (one line of trees.jsonl).
 * Nodes are listed in preorder, root first, each with its tag ("0", "0.1", "0.1.3": children numbered
 * from 1 in creation order), its text, tokens and statistics, so extraction and inspection need nothing
 * but the file. This is the reference's `{tag: state}` dump with Q and visit counts, as an array.
 */
import type { SearchConfig } from '../config/index.js';
import type { MctsNode, NodeKind, TerminalReason } from './node.js';
import type { SearchStats, SearchTree } from './search.js';

export interface NodeRecord {
  tag: string;
  depth: number;
  kind: NodeKind;
  /** Full node text: the generated step, then `appended`. '' for the root. */
  text: string;
  /** The part of `text` the search appended (the `<output>` block); '' if none. */
  appended: string;
  /** Token ids of `text` (generated tokens, then the appended block's). */
  tokens: number[];
  /** The stop marker that ended generation, or null. */
  stop: string | null;
  q: number;
  visits: number;
  valueSum: number;
  /** The first value the node received (PPM initialisation or terminal reward). */
  value: number | null;
  ppm: number | null;
  reward: number | null;
  terminal: boolean;
  reason: TerminalReason | null;
  answer: string | null;
  correct: boolean | null;
  observation: string | null;
  execOk: boolean | null;
  timedOut: boolean;
  consecutiveErrors: number;
  /** Rollout that created the node (-1 for the root). */
  rollout: number;
}

export interface TreeRecord {
  id: string;
  question: string;
  /** Reference answer (null at test time when none is known). */
  answer: string | null;
  source?: string;
  annotation: SearchTree['annotation'];
  mode: SearchConfig['mode'];
  stats: SearchStats;
  /** Preorder, root first. */
  nodes: NodeRecord[];
}

function nodeRecord(node: MctsNode): NodeRecord {
  return {
    tag: node.tag,
    depth: node.depth,
    kind: node.kind,
    text: node.text,
    appended: node.appendedText,
    tokens: node.tokens,
    stop: node.stop,
    q: node.q,
    visits: node.visits,
    valueSum: node.valueSum,
    value: node.initialValue,
    ppm: node.ppmScore,
    reward: node.reward,
    terminal: node.terminal,
    reason: node.terminalReason,
    answer: node.answer,
    correct: node.correct,
    observation: node.observation,
    execOk: node.execOk,
    timedOut: node.timedOut,
    consecutiveErrors: node.consecutiveErrors,
    rollout: node.rollout,
  };
}

/** Flattens a finished search into its record. */
export function treeToRecord(tree: SearchTree, mode: SearchConfig['mode'], extra: { source?: string } = {}): TreeRecord {
  const nodes: NodeRecord[] = [];
  const visit = (node: MctsNode): void => {
    nodes.push(nodeRecord(node));
    for (const child of node.children) visit(child);
  };
  visit(tree.root);
  return {
    id: tree.problem.id,
    question: tree.problem.question,
    answer: tree.problem.answer ?? null,
    ...(extra.source !== undefined ? { source: extra.source } : {}),
    annotation: tree.annotation,
    mode,
    stats: tree.stats,
    nodes,
  };
}
