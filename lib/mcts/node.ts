/**
 * One node of a search tree: data plus the UCT and back-propagation arithmetic (spec §3.2-3.3, §3.5).
 *
 * Q(s) = valueSum / visits (0 while unvisited). `update(v)` adds one visit and v; `updateRecursive(v)`
 * does so from the node up to and including the root. A node's `initialValue` is the first value it
 * ever received (its PPM initialisation or its terminal reward), as the reference's `value` field.
 */
import type { StepKind } from '../steps/parse.js';
import type { PathStep } from './types.js';

/** Why a node is terminal. */
export type TerminalReason =
  /** An answer step (graded in generate mode, scored in test mode). */
  | 'answer'
  /** Its program failed `errorsThreshold` times in a row (the reference's "Too many consecutive steps have code errors."). */
  | 'code_error'
  /** Generation stopped without a step marker and without an answer. */
  | 'unfinished'
  /** An answer step with no `\boxed{}` answer in it. */
  | 'no_answer'
  /** It sits at the maximum depth without an answer (the reference's "Fail to solve the problem within limited steps."). */
  | 'too_deep'
  /** Every child is terminal (or, with invalidSteps 'discard', no candidate survived): nothing left to search below. */
  | 'exhausted';

/** Terminal reasons of dead ends created by the search, which get value -1 on themselves only. */
export const INVALID_REASONS: readonly TerminalReason[] = ['code_error', 'unfinished', 'no_answer'];

export type NodeKind = 'root' | StepKind;

export interface NodeStep {
  kind: StepKind;
  /** Generated text, up to and including its stop marker. */
  stepText: string;
  stepTokens: readonly number[];
  stop: string | null;
}

export class MctsNode {
  readonly tag: string;
  readonly parent: MctsNode | null;
  readonly children: MctsNode[] = [];
  readonly depth: number;
  readonly kind: NodeKind;
  readonly stepText: string;
  readonly stepTokens: readonly number[];
  readonly stop: string | null;
  /** Text the search appended after the generated step (the `<output>` block), '' if none. */
  appendedText = '';
  appendedTokens: readonly number[] = [];
  /** Output (or error) of this step's program; null for steps that were not executed. */
  observation: string | null = null;
  /** Whether this step's program ran without error; null when not executed. */
  execOk: boolean | null = null;
  timedOut = false;
  /** Failing code steps in a row ending at this node. */
  consecutiveErrors = 0;
  /** Extracted final answer of an answer node. */
  answer: string | null = null;
  /** Grade of an answer node in generate mode; null when not graded. */
  correct: boolean | null = null;
  /** Transformed PPM score, when the PPM scored this node. */
  ppmScore: number | null = null;
  /** The value a terminal node received (±1 grade, PPM score at test time, -1 for an invalid step). */
  reward: number | null = null;
  terminal = false;
  terminalReason: TerminalReason | null = null;
  visits = 0;
  valueSum = 0;
  initialValue: number | null = null;
  /** Index of the rollout that created this node (0-based; -1 for the root). */
  readonly rollout: number;

  constructor(parent: MctsNode | null, step: NodeStep | null, rollout = -1) {
    this.parent = parent;
    this.depth = parent ? parent.depth + 1 : 0;
    this.tag = parent ? `${parent.tag}.${parent.children.length + 1}` : '0';
    this.kind = step ? step.kind : 'root';
    this.stepText = step?.stepText ?? '';
    this.stepTokens = step?.stepTokens ?? [];
    this.stop = step?.stop ?? null;
    this.rollout = rollout;
    parent?.children.push(this);
  }

  /** The node's text in the trajectory: the generated step followed by any appended output block. */
  get text(): string {
    return this.stepText + this.appendedText;
  }

  get tokens(): number[] {
    return [...this.stepTokens, ...this.appendedTokens];
  }

  /** Mean value, 0 while unvisited. */
  get q(): number {
    return this.visits === 0 ? 0 : this.valueSum / this.visits;
  }

  update(value: number): void {
    if (this.initialValue === null) this.initialValue = value;
    this.visits += 1;
    this.valueSum += value;
  }

  /** `update(value)` on this node and every ancestor up to the root (back-propagation). */
  updateRecursive(value: number): void {
    for (let node: MctsNode | null = this; node; node = node.parent) node.update(value);
  }

  /**
   * UCT(s) = Q(s) + c·sqrt(ln N_parent / N(s)). With N(s) = 0 the score is `unvisitedScore`'s: Q (= 0)
   * for 'zero' (reference) or +Infinity (textbook). With N_parent = 0 the exploration term is 0 (the
   * reference's guard; ln 1 = 0 gives the same at N_parent = 1).
   */
  uct(explorationConstant: number, unvisitedScore: 'zero' | 'infinity'): number {
    if (this.visits === 0) return unvisitedScore === 'infinity' ? Number.POSITIVE_INFINITY : this.q;
    const parentVisits = this.parent?.visits ?? 0;
    if (parentVisits === 0) return this.q;
    return this.q + explorationConstant * Math.sqrt(Math.log(parentVisits) / this.visits);
  }

  markTerminal(reason: TerminalReason): void {
    this.terminal = true;
    this.terminalReason = reason;
  }

  /** Nodes from depth 1 down to this one (empty for the root). */
  pathFromRoot(): MctsNode[] {
    const path: MctsNode[] = [];
    for (let node: MctsNode | null = this; node && node.parent; node = node.parent) path.unshift(node);
    return path;
  }

  /** The path as the policy and the PPM see it. */
  pathSteps(): PathStep[] {
    return this.pathFromRoot().map((node) => ({ text: node.text, tokens: node.tokens }));
  }

  /**
   * The child to descend into: highest UCT among non-terminal children, ties to the earliest created;
   * null when every child is terminal.
   */
  selectChild(explorationConstant: number, unvisitedScore: 'zero' | 'infinity'): MctsNode | null {
    let best: MctsNode | null = null;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const child of this.children) {
      if (child.terminal) continue;
      const score = child.uct(explorationConstant, unvisitedScore);
      if (best === null || score > bestScore) {
        best = child;
        bestScore = score;
      }
    }
    return best;
  }
}
