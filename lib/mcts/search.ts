/**
 * MCTS over code-augmented reasoning steps for one problem (spec §3).
 *
 * A rollout starts at the root and descends one level per step: a node with children just selects the
 * child of highest UCT; a leaf is expanded first. Expansion is one policy call for n candidates, then
 * the programs of all code candidates run concurrently, then (optionally) one PPM call scores the new
 * children. The rollout ends when it reaches a node with no selectable child, which is then terminal.
 * Answer children are valued the moment they are created: graded ±1 against the reference answer
 * (generate mode) or scored by the PPM (test mode), and back-propagated to the root. Rollouts of one
 * problem run one after another; many problems run concurrently (lib/mcts/driver.ts), and every await
 * here is a point where the engine can batch this problem's decode with the others'.
 *
 * Differences from the reference (small, deliberate):
 * - A non-answer child created below the maximum depth is terminal ('too_deep') at once, as in the
 *   reference (depth > max_depth), so a trajectory holds up to maxDepth code steps plus its answer.
 * - A step is classified by its stop marker (lib/steps/parse.ts), not by the substring "boxed".
 * Kept from the reference, worth knowing: a rollout that only finds that a node has no selectable
 * child marks it terminal ('exhausted', no value change) and still counts as a rollout; the search
 * stops early once the root is exhausted. Every other paper-vs-code choice is a SearchConfig switch.
 */
import type { RstarConfig, SearchConfig } from '../config/index.js';
import { invalidArgument } from '../errors.js';
import { buildStepProgram, observationOf } from '../exec/program.js';
import { MARKERS } from '../steps/markers.js';
import { outputBlock } from '../steps/output.js';
import { parseStep, type ParsedStep } from '../steps/parse.js';
import { renderPolicyPrompt, renderPrompt } from '../steps/prompts.js';
import { MctsNode, type TerminalReason } from './node.js';
import type { CandidateStep, ExecResult, SearchDeps, SearchProblem } from './types.js';

/** Counters of one problem's search. */
export interface SearchStats {
  /** Rollouts run (fewer than configured when the root became exhausted). */
  rollouts: number;
  /** Policy calls (one per expansion). */
  expansions: number;
  /** Candidates sampled, before de-duplication and answer collapse. */
  candidates: number;
  duplicates: number;
  /** Candidates dropped because a sibling was an answer step. */
  collapsed: number;
  /** Invalid candidates dropped (invalidSteps 'discard'). */
  discarded: number;
  /** Nodes in the tree, root excluded. */
  nodes: number;
  generatedTokens: number;
  execRuns: number;
  execFailures: number;
  execTimeouts: number;
  execMs: number;
  ppmCalls: number;
  ppmScored: number;
  /** Answer nodes created, and how many were graded correct (generate mode). */
  answers: number;
  correct: number;
  wallMs: number;
}

/** A finished search: the tree, its problem and counters. */
export interface SearchTree {
  problem: SearchProblem;
  root: MctsNode;
  stats: SearchStats;
  /** 'ppm-augmented' when a PPM initialised Q, else 'terminal-guided'. */
  annotation: 'terminal-guided' | 'ppm-augmented';
}

/** Whether a run counts as a failure under `SearchConfig.errorDetection`. */
export function stepFailed(result: ExecResult, detection: SearchConfig['errorDetection']): boolean {
  if (detection === 'status') return !result.ok || result.timedOut;
  // The reference's test: the observation mentions "error" in any case.
  return /error/i.test(observationOf(result));
}

function emptyStats(): SearchStats {
  return {
    rollouts: 0, expansions: 0, candidates: 0, duplicates: 0, collapsed: 0, discarded: 0, nodes: 0,
    generatedTokens: 0, execRuns: 0, execFailures: 0, execTimeouts: 0, execMs: 0, ppmCalls: 0,
    ppmScored: 0, answers: 0, correct: 0, wallMs: 0,
  };
}

interface Prepared {
  candidate: CandidateStep;
  parsed: ParsedStep;
  exec: ExecResult | null;
  answer: string | null;
  correct: boolean | null;
}

/** The search of one problem. Use `searchProblem` unless you need to drive rollouts yourself. */
export class ProblemSearch {
  readonly root = new MctsNode(null, null);
  readonly stats = emptyStats();
  private readonly search: SearchConfig;
  private readonly prompt: string;
  private readonly ppmPrompt: string;
  private readonly ppmActive: boolean;

  constructor(
    readonly problem: SearchProblem,
    config: Pick<RstarConfig, 'search' | 'prompts'>,
    private readonly deps: SearchDeps,
  ) {
    this.search = config.search;
    if (this.search.mode === 'generate' && (typeof problem.answer !== 'string' || problem.answer === '')) {
      throw invalidArgument('a reference answer (search.mode "generate" grades answers)', `the answer of problem ${problem.id}`, problem.answer);
    }
    this.prompt = renderPrompt(config.prompts, this.search.promptStyle, problem.question);
    this.ppmPrompt = renderPolicyPrompt(config.prompts, problem.question);
    this.ppmActive = this.search.usePpm && Boolean(deps.scorer);
  }

  get annotation(): SearchTree['annotation'] {
    return this.ppmActive ? 'ppm-augmented' : 'terminal-guided';
  }

  /** Runs all configured rollouts (or until the root is exhausted). */
  async run(): Promise<SearchTree> {
    const started = Date.now();
    for (let r = 0; r < this.search.rollouts && !this.root.terminal; r++) await this.rollout(r);
    this.stats.wallMs += Date.now() - started;
    return { problem: this.problem, root: this.root, stats: this.stats, annotation: this.annotation };
  }

  /** One rollout: descend from the root, expanding leaves, until no child can be selected. */
  async rollout(index: number): Promise<void> {
    const { explorationConstant, unvisitedScore } = this.search;
    this.stats.rollouts += 1;
    let node = this.root;
    while (!node.terminal) {
      if (node.children.length === 0) await this.expand(node, index);
      const next = node.selectChild(explorationConstant, unvisitedScore);
      if (next === null) {
        node.markTerminal('exhausted');
        return;
      }
      node = next;
    }
  }

  /** Expands a leaf: one policy call, concurrent verification, children, optional PPM scoring. */
  async expand(node: MctsNode, rollout: number): Promise<void> {
    const s = this.search;
    const seed = s.seed + this.stats.expansions * s.candidates;
    this.stats.expansions += 1;
    const generated = await this.deps.policy.generateSteps({
      problem: this.problem,
      prompt: this.prompt,
      path: node.pathSteps(),
      n: s.candidates,
      seed,
      sampling: { temperature: s.temperature, maxTokens: s.maxStepTokens, stopMarkers: s.stopMarkers },
    });
    this.stats.candidates += generated.length;
    for (const c of generated) this.stats.generatedTokens += c.tokens.length;

    let kept = generated.map((candidate) => ({ candidate, parsed: parseStep(candidate.text, candidate.stop) }));
    if (s.dedupe) {
      const seen = new Set<string>();
      kept = kept.filter(({ candidate }) => {
        if (seen.has(candidate.text)) return false;
        seen.add(candidate.text);
        return true;
      });
      this.stats.duplicates += generated.length - kept.length;
    }
    if (s.answerCollapse) {
      const firstAnswer = kept.find(({ parsed }) => parsed.kind === 'answer');
      if (firstAnswer) {
        this.stats.collapsed += kept.length - 1;
        kept = [firstAnswer];
      }
    }

    const prepared = await Promise.all(kept.map((k) => this.prepare(node, k.candidate, k.parsed)));
    const fresh: MctsNode[] = [];
    for (const p of prepared) {
      const child = this.createChild(node, p, rollout);
      if (child) fresh.push(child);
    }
    await this.scoreFresh(fresh);
  }

  /** Runs a code candidate's cumulative program, or extracts and grades an answer candidate. */
  private async prepare(parent: MctsNode, candidate: CandidateStep, parsed: ParsedStep): Promise<Prepared> {
    const out: Prepared = { candidate, parsed, exec: null, answer: null, correct: null };
    if (parsed.kind === 'code' || parsed.kind === 'final_code') {
      // Full node texts: a final code step's output block marks the end of its <code> block.
      const ancestors = parent.pathFromRoot().map((n) => ({ text: n.text, timedOut: n.timedOut }));
      const program = buildStepProgram(ancestors, candidate.text);
      out.exec = await this.deps.executor.run(program, { timeoutMs: this.search.stepTimeoutMs });
    } else if (parsed.kind === 'answer') {
      out.answer = this.deps.grader.extractBoxed(parsed.answerText ?? candidate.text);
      if (out.answer !== null && this.search.mode === 'generate') {
        out.correct = await this.deps.grader.isEquivalent(this.problem.answer as string, out.answer);
      }
    }
    return out;
  }

  /** Adds the child for one prepared candidate; null when it is discarded. */
  private createChild(parent: MctsNode, p: Prepared, rollout: number): MctsNode | null {
    const s = this.search;
    const { candidate, parsed } = p;
    const step = { kind: parsed.kind, stepText: candidate.text, stepTokens: candidate.tokens, stop: candidate.stop };
    let invalid: TerminalReason | null = null;
    let failed = false;
    let observation: string | null = null;
    if (p.exec) {
      this.stats.execRuns += 1;
      this.stats.execMs += p.exec.ms;
      if (p.exec.timedOut) this.stats.execTimeouts += 1;
      failed = stepFailed(p.exec, s.errorDetection);
      if (failed) this.stats.execFailures += 1;
      observation = observationOf(p.exec);
      if (failed && parent.consecutiveErrors + 1 >= s.errorsThreshold) invalid = 'code_error';
    } else if (parsed.kind === 'answer' && p.answer === null) {
      invalid = 'no_answer';
    } else if (parsed.kind === 'unfinished') {
      invalid = 'unfinished';
    }
    if (invalid && s.invalidSteps === 'discard') {
      this.stats.discarded += 1;
      return null;
    }

    const child = new MctsNode(parent, step, rollout);
    this.stats.nodes += 1;
    if (p.exec) {
      child.observation = observation;
      child.execOk = !failed;
      child.timedOut = p.exec.timedOut;
      child.consecutiveErrors = failed ? parent.consecutiveErrors + 1 : 0;
      // The output block enters the trajectory after the final code step, and after a step that died
      // of its error (so full-trajectory negatives show the error, as in the reference's examples).
      if (parsed.kind === 'final_code' || invalid === 'code_error') {
        this.appendOutput(child, observation ?? '', parsed.end === MARKERS.output, invalid === 'code_error');
      }
    }
    if (invalid) {
      child.markTerminal(invalid);
      child.reward = -1;
      child.update(-1);
      return child;
    }
    if (parsed.kind === 'answer') {
      child.markTerminal('answer');
      child.answer = p.answer;
      this.stats.answers += 1;
      if (s.mode === 'generate') {
        child.correct = p.correct;
        if (p.correct) this.stats.correct += 1;
        child.reward = p.correct ? 1 : -1;
        child.updateRecursive(child.reward);
      }
      return child;
    }
    if (child.depth > s.maxDepth) child.markTerminal('too_deep');
    return child;
  }

  /**
   * The output block after a final code step, or after a step that died of its error: the reference
   * then closes the code block first (`<end_of_code>` appended when the step lacks it), so the dead
   * trajectory reads as a whole program with its error.
   */
  private appendOutput(child: MctsNode, observation: string, stepEndsWithOutputMarker: boolean, diedOfError: boolean): void {
    const closeCode = diedOfError && !child.stepText.includes(MARKERS.endOfCode) ? MARKERS.endOfCode : '';
    child.appendedText = closeCode + outputBlock(observation, stepEndsWithOutputMarker);
    child.appendedTokens = this.deps.policy.tokenize(child.appendedText);
  }

  /**
   * PPM scoring of new children in one call: non-terminal ones get `update(score)` (PPM-initialised Q);
   * at test time answer children get the score as their reward, back-propagated to the root (0 when no
   * PPM is active). Terminal children graded in generate mode keep their ground-truth value.
   */
  private async scoreFresh(fresh: readonly MctsNode[]): Promise<void> {
    const testAnswers = this.search.mode === 'test' ? fresh.filter((n) => n.terminalReason === 'answer') : [];
    const toScore = this.ppmActive ? fresh.filter((n) => !n.terminal || testAnswers.includes(n)) : [];
    if (toScore.length > 0) {
      const scorer = this.deps.scorer!;
      const scores = await scorer.score(toScore.map((n) => ({ problem: this.problem, prompt: this.ppmPrompt, path: n.pathSteps() })));
      if (scores.length !== toScore.length) {
        throw invalidArgument(`${toScore.length} scores from the PPM scorer`, 'PpmScorer.score()', scores);
      }
      this.stats.ppmCalls += 1;
      this.stats.ppmScored += toScore.length;
      toScore.forEach((node, i) => {
        node.ppmScore = scores[i];
      });
    }
    for (const node of fresh) {
      if (testAnswers.includes(node)) {
        node.reward = node.ppmScore ?? 0;
        node.updateRecursive(node.reward);
      } else if (!node.terminal && node.ppmScore !== null) {
        node.update(node.ppmScore);
      }
    }
  }
}

/** Searches one problem with the given configuration. */
export async function searchProblem(problem: SearchProblem, config: Pick<RstarConfig, 'search' | 'prompts'>, deps: SearchDeps): Promise<SearchTree> {
  return new ProblemSearch(problem, config, deps).run();
}
