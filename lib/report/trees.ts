/**
 * Search trees for the viewer: a tree record (lib/mcts/tree-record.ts) becomes a picker entry with its
 * nodes packed (JSON, gzip, base64). Packing keeps the page small (step texts compress ~10x) and lets
 * the page inflate only the tree a reader opens, so a run with hundreds of trees still loads at once.
 *
 * Left out of a packed node: token ids (only their count is kept).
 */
import { gzipSync } from 'node:zlib';
import { codeOfStepText } from '../exec/program.js';
import type { TreeRecord } from '../mcts/tree-record.js';
import type { TreeEntry, ViewerNode } from './types.js';

/** Trees embedded per tree set unless told otherwise. */
export const DEFAULT_MAX_TREES = 200;

function viewerNode(n: TreeRecord['nodes'][number]): ViewerNode {
  const executable = n.kind === 'code' || n.kind === 'final_code';
  return {
    tag: n.tag,
    depth: n.depth,
    kind: n.kind,
    text: n.text,
    code: executable ? codeOfStepText(n.text) : '',
    observation: n.observation,
    stop: n.stop,
    q: n.q,
    visits: n.visits,
    valueSum: n.valueSum,
    value: n.value,
    ppm: n.ppm,
    reward: n.reward,
    terminal: n.terminal,
    reason: n.reason,
    answer: n.answer,
    correct: n.correct,
    execOk: n.execOk,
    timedOut: n.timedOut,
    consecutiveErrors: n.consecutiveErrors,
    rollout: n.rollout,
    tokens: n.tokens.length,
  };
}

/** A tree as the viewer's picker lists it, nodes packed. */
export function packTree(tree: TreeRecord): TreeEntry {
  let answers = 0;
  let correct = 0;
  for (const n of tree.nodes) {
    if (n.reason !== 'answer') continue;
    answers += 1;
    if (n.correct === true) correct += 1;
  }
  const json = JSON.stringify(tree.nodes.map(viewerNode));
  return {
    id: tree.id,
    question: tree.question,
    gold: tree.answer,
    nodes: tree.nodes.length,
    answers,
    correct,
    solved: correct > 0,
    annotation: tree.annotation,
    packed: gzipSync(json, { level: 6 }).toString('base64'),
  };
}
