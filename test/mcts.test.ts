/**
 * MCTS arithmetic on small trees driven by a scripted policy, checked against values computed by hand
 * (the comments show the arithmetic). The executor here is a fake that fails a program iff it contains
 * `raise`, so the numbers stay hand-checkable; test/mcts-generate.test.ts runs the real Python executor.
 */
import test from 'ava';
import { resolveConfig, type ConfigOverrides, type SearchConfig } from '../lib/config/index.js';
import { extractBoxed, isEquivalent } from '../lib/grade/index.js';
import { chooseAnswer } from '../lib/mcts/choose.js';
import { searchProblems } from '../lib/mcts/driver.js';
import { MctsNode } from '../lib/mcts/node.js';
import { ScriptedPolicy, ScriptedScorer, textTokens } from '../lib/mcts/scripted-policy.js';
import { ProblemSearch, type SearchTree } from '../lib/mcts/search.js';
import { treeToRecord } from '../lib/mcts/tree-record.js';
import type { ExecResult, Grader, StepExecutor, StepRequest } from '../lib/mcts/types.js';

const grader: Grader = { extractBoxed, isEquivalent };

class FakeExecutor implements StepExecutor {
  readonly programs: string[] = [];
  async run(program: string): Promise<ExecResult> {
    this.programs.push(program);
    if (program.includes('raise')) return { ok: false, stdout: '', error: 'ValueError: boom', timedOut: false, ms: 1 };
    return { ok: true, stdout: 'out\n', error: null, timedOut: false, ms: 1 };
  }
}

/** Step texts labelled "# <label>" so the script can tell which node is being expanded. */
const first = (label: string, code = 'x = 1'): string => `<code>\n# ${label}\n${code}\n<end_of_step>`;
const step = (label: string, code = 'y = 2'): string => `\n# ${label}\n${code}\n<end_of_step>`;
const final = (label: string): string => `\n# ${label}\nprint(x)\n<end_of_code>`;
const answer = (label: string, value: string): string => `\n<answer>${label}: \\boxed{${value}}<end_of_answer>`;

function labelOf(request: StepRequest): string {
  const last = request.path[request.path.length - 1];
  if (!last) return 'root';
  return /# (\w+)/.exec(last.text)?.[1] ?? /<answer>(\w+)/.exec(last.text)?.[1] ?? '?';
}

function byLabel(script: Record<string, string[]>): ScriptedPolicy {
  return new ScriptedPolicy((request) => {
    const label = labelOf(request);
    const out = script[label];
    if (!out) throw new Error(`no script for node ${label}`);
    return out;
  });
}

function config(search: Partial<SearchConfig>): ReturnType<typeof resolveConfig> {
  return resolveConfig({ search } as ConfigOverrides);
}

/** Finds a node by the label of its step. */
function node(root: MctsNode, label: string): MctsNode {
  const stack = [root];
  while (stack.length) {
    const n = stack.pop() as MctsNode;
    if (new RegExp(`# ${label}\\n|<answer>${label}:`).test(n.stepText)) return n;
    stack.push(...n.children);
  }
  throw new Error(`no node ${label}`);
}

const close = (t: { true: (v: boolean, m?: string) => void }, actual: number, expected: number, what: string): void =>
  t.true(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} != ${expected}`);

test('UCT arithmetic: Q + c·sqrt(ln N_parent / N), unvisited 0 or +inf, no exploration under an unvisited parent', (t) => {
  const root = new MctsNode(null, null);
  const a = new MctsNode(root, { kind: 'code', stepText: 'a', stepTokens: [], stop: null });
  const b = new MctsNode(root, { kind: 'code', stepText: 'b', stepTokens: [], stop: null });
  t.is(a.tag, '0.1');
  t.is(b.tag, '0.2');
  t.is(a.uct(2, 'zero'), 0);
  t.is(a.uct(2, 'infinity'), Number.POSITIVE_INFINITY);
  a.update(0.5); // N=1, Q=0.5, parent N=0 -> exploration term 0
  t.is(a.uct(2, 'zero'), 0.5);
  t.is(a.initialValue, 0.5);
  a.updateRecursive(1); // a: N=2, sum 1.5; root: N=1, sum 1
  t.is(a.visits, 2);
  t.is(a.q, 0.75);
  t.is(root.visits, 1);
  t.is(a.uct(2, 'zero'), 0.75, 'ln 1 = 0');
  root.update(1);
  root.update(1);
  root.update(1);
  root.update(1); // root N=5
  close(t, a.uct(2, 'zero'), 0.75 + 2 * Math.sqrt(Math.log(5) / 2), 'uct(a)');
  t.is(a.initialValue, 0.5, 'the first value sticks');
  // selection: b unvisited scores 0 (< a's 2.54); with +inf it wins
  t.is(root.selectChild(2, 'zero'), a);
  t.is(root.selectChild(2, 'infinity'), b);
  b.update(-1);
  close(t, b.uct(2, 'zero'), -1 + 2 * Math.sqrt(Math.log(5)), 'uct(b)');
  // ties go to the earlier child; terminal children are never selected
  const root2 = new MctsNode(null, null);
  const c1 = new MctsNode(root2, { kind: 'code', stepText: '', stepTokens: [], stop: null });
  const c2 = new MctsNode(root2, { kind: 'code', stepText: '', stepTokens: [], stop: null });
  t.is(root2.selectChild(2, 'zero'), c1);
  c1.markTerminal('code_error');
  t.is(root2.selectChild(2, 'zero'), c2);
  c2.markTerminal('answer');
  t.is(root2.selectChild(2, 'zero'), null);
});

test('terminal-guided search: rollouts, back-propagation and UCT choices match the hand computation', async (t) => {
  // root -> A, B; A -> A1, A2; A1 -> wrong answer; A2 -> right answer; B -> right answer. Gold = 4.
  const policy = byLabel({
    root: [first('A'), first('B')],
    A: [step('A1'), step('A2')],
    A1: [answer('WA1', '5')],
    A2: [answer('RA2', '4')],
    B: [answer('RB', '4')],
  });
  const exec = new FakeExecutor();
  const search = new ProblemSearch({ id: 'p', question: 'What is 2+2?', answer: '4' }, config({ rollouts: 8, candidates: 2 }), { policy, executor: exec, grader });
  const tree = await search.run();
  const root = tree.root;
  const [A, B, A1, A2] = ['A', 'B', 'A1', 'A2'].map((l) => node(root, l));
  // Rollout 1: A (tie, first) -> A1 (tie, first) -> wrong answer: -1 up the path.
  // Rollout 2: root N=1 so ln 1 = 0: UCT(A) = Q = -1 < UCT(B) = 0 (unvisited): B -> right answer, +1.
  // Rollout 3: root N=2: UCT(A) = -1 + 2·sqrt(ln 2 / 1) = 0.665; B is exhausted. Under A, A1 is
  //            terminal, A2 unvisited -> right answer, +1.
  // Rollout 4: A has only terminal children -> A exhausted. Rollout 5: root exhausted. Search stops.
  t.is(tree.stats.rollouts, 5);
  t.true(root.terminal);
  t.is(root.terminalReason, 'exhausted');
  t.is(tree.stats.expansions, 5, 'root, A, A1, B, A2');
  t.deepEqual([root.visits, root.valueSum], [3, 1]);
  t.deepEqual([A.visits, A.valueSum, A.q], [2, 0, 0]);
  t.deepEqual([B.visits, B.q], [1, 1]);
  t.deepEqual([A1.visits, A1.q], [1, -1]);
  t.deepEqual([A2.visits, A2.q], [1, 1]);
  close(t, A.uct(2, 'zero'), 2 * Math.sqrt(Math.log(3) / 2), 'final UCT(A)');
  t.is(node(root, 'WA1').correct, false);
  t.is(node(root, 'WA1').answer, '5');
  t.is(node(root, 'RA2').reward, 1);
  t.is(node(root, 'RA2').tag, '0.1.2.1');
  t.is(node(root, 'RB').rollout, 1);
  t.deepEqual([tree.stats.answers, tree.stats.correct], [3, 2]);
  t.is(tree.annotation, 'terminal-guided');
  // The policy saw the right paths and seeds: expansion k starts at seed + k·n.
  t.deepEqual(policy.requests.map((r) => [labelOf(r), r.seed, r.n]), [['root', 0, 2], ['A', 2, 2], ['A1', 4, 2], ['B', 6, 2], ['A2', 8, 2]]);
});

test('PPM-augmented search: new nodes start at N=1, Q=PPM score; terminals keep their ±1 grade', async (t) => {
  const raw: Record<string, number> = { A: 0.2, B: 0.6, B1: 0.5, B2: -0.3 };
  const scorer = new ScriptedScorer((r) => raw[/# (\w+)/.exec(r.path[r.path.length - 1].text)?.[1] ?? ''] ?? Number.NaN);
  const policy = byLabel({
    root: [first('A'), first('B')],
    B: [step('B1'), step('B2')],
    B1: [answer('RB1', '4')],
    B2: [answer('WB2', '3')],
    A: [answer('RA', '4')],
  });
  const tree = await new ProblemSearch(
    { id: 'p', question: 'What is 2+2?', answer: '4' },
    config({ rollouts: 3, candidates: 2 }),
    { policy, executor: new FakeExecutor(), grader, scorer },
  ).run();
  const root = tree.root;
  const [A, B, B1, B2] = ['A', 'B', 'B1', 'B2'].map((l) => node(root, l));
  // Rollout 1: A (N1, 0.2), B (N1, 0.6); root N=0 -> scores are Q -> B. B1 (N1, 0.5), B2 (N1, -0.3);
  //   B N=1 -> ln 1 = 0 -> B1. B1 -> right answer: B1 (N2, 1.5), B (N2, 1.6), root (N1, 1); B1 has
  //   nothing selectable left -> exhausted.
  // Rollout 2: root N=1 -> scores are Q: A 0.2, B 0.8 -> B -> B2 (B1 is terminal) -> wrong answer:
  //   B2 (N2, -1.3), B (N3, 0.6), root (N2, 0).
  // Rollout 3: root N=2: UCT(A) = 0.2 + 2·sqrt(ln 2 / 1) = 1.8651 beats UCT(B) = 0.2 + 2·sqrt(ln 2 / 3)
  //   = 1.1614 -> A -> right answer: A (N2, 1.2), root (N3, 1).
  t.deepEqual(policy.requests.map(labelOf), ['root', 'B', 'B1', 'B2', 'A']);
  t.deepEqual([A.visits, A.valueSum, A.initialValue], [2, 1.2, 0.2]);
  t.deepEqual([B.visits, B.initialValue], [3, 0.6]);
  close(t, B.valueSum, 0.6, 'sum(B)');
  t.deepEqual([B1.visits, B1.valueSum], [2, 1.5]);
  t.is(B2.visits, 2);
  close(t, B2.valueSum, -1.3, 'sum(B2)');
  t.deepEqual([root.visits, root.valueSum], [3, 1]);
  close(t, A.uct(2, 'zero'), 0.6 + 2 * Math.sqrt(Math.log(3) / 2), 'UCT(A) after the search');
  t.is(B1.ppmScore, 0.5);
  t.is(node(root, 'RB1').ppmScore, null, 'answers are graded, not scored, when generating data');
  t.is(node(root, 'RB1').initialValue, 1);
  t.is(tree.annotation, 'ppm-augmented');
  // One PPM call per expansion that created non-terminal children, scored in one batch each.
  t.deepEqual(scorer.calls.map((c) => c.length), [2, 2]);
  t.is(scorer.calls[0][0].prompt, "<|user|>:\nWhat is 2+2?\n<|assistant|>: Let's think step by step and solve the problem with code.");
  t.deepEqual(scorer.calls[1][1].path.map((s) => s.text), [first('B'), step('B2')]);
  t.is(tree.stats.ppmScored, 4);
});

test("the scorer's step scores are used as they come (the PPM owns its transform), even under a config override", async (t) => {
  const scorer = new ScriptedScorer(() => 0.4);
  const policy = byLabel({ root: [first('A')], A: [answer('R', '1')] });
  // search.ppmTransform is applied when the scorer is built (lib/policy/engine.ts), never again here.
  const tree = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 1, candidates: 1, ppmTransform: 'tanh_div5' }), {
    policy, executor: new FakeExecutor(), grader, scorer,
  }).run();
  const A = node(tree.root, 'A');
  t.is(A.ppmScore, 0.4);
  close(t, A.valueSum, 0.4 + 1, 'sum(A) = PPM init + the +1 of its answer');
  // usePpm false: the same scorer is ignored (terminal-guided).
  const off = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 1, candidates: 1, usePpm: false }), {
    policy: byLabel({ root: [first('A')], A: [answer('R', '1')] }), executor: new FakeExecutor(), grader, scorer,
  }).run();
  t.is(off.annotation, 'terminal-guided');
  t.is(node(off.root, 'A').visits, 1);
});

test('invalid steps: kept as terminal -1 leaves that do not back-propagate, or discarded', async (t) => {
  const script = { root: [first('Good'), first('Bad', 'raise ValueError()')], Good: [answer('R', '1')] };
  const keep = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 1, candidates: 2 }), {
    policy: byLabel(script), executor: new FakeExecutor(), grader,
  }).run();
  const bad = node(keep.root, 'Bad');
  t.true(bad.terminal);
  t.is(bad.terminalReason, 'code_error');
  t.deepEqual([bad.visits, bad.q, bad.reward], [1, -1, -1]);
  t.false(bad.execOk);
  t.is(bad.observation, 'ValueError: boom');
  // As the reference: the dead step's code block is closed, then the error is shown as its output.
  t.is(bad.appendedText, '<end_of_code>\n<output>ValueError: boom<end_of_output>', 'the error shows in the trajectory');
  t.deepEqual(bad.appendedTokens, textTokens(bad.appendedText));
  t.deepEqual([keep.root.visits, keep.root.valueSum], [1, 1], 'only the +1 of the answer reached the root');

  const discard = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 1, candidates: 2, invalidSteps: 'discard' }), {
    policy: byLabel(script), executor: new FakeExecutor(), grader,
  }).run();
  t.is(discard.root.children.length, 1);
  t.is(discard.stats.discarded, 1);

  // All candidates invalid and discarded: the node is exhausted; nothing else is searched.
  const none = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 4, candidates: 1, invalidSteps: 'discard' }), {
    policy: byLabel({ root: [first('Bad', 'raise X')] }), executor: new FakeExecutor(), grader,
  }).run();
  t.is(none.root.terminalReason, 'exhausted');
  t.is(none.stats.rollouts, 1);
});

test('errors threshold 2: one failing step survives, the next failure in a row is fatal; programs are cumulative', async (t) => {
  const exec = new FakeExecutor();
  const tree = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 1, candidates: 1, errorsThreshold: 2 }), {
    policy: byLabel({ root: [first('S1', 'x = 3')], S1: [step('S2', 'raise ValueError()')], S2: [step('S3', 'y = x')] }),
    executor: exec,
    grader,
  }).run();
  const [S1, S2, S3] = ['S1', 'S2', 'S3'].map((l) => node(tree.root, l));
  t.deepEqual([S1.consecutiveErrors, S2.consecutiveErrors, S3.consecutiveErrors], [0, 1, 2]);
  t.is(S2.terminalReason, 'exhausted', 'below the threshold a failing step is a normal node (exhausted only because its one child died)');
  t.is(S2.appendedText, '', 'an intermediate failing step does not show its output');
  t.is(S3.terminalReason, 'code_error');
  // (blank lines between steps are lib/exec's business; compare with runs of them collapsed)
  t.deepEqual(exec.programs.map((p) => p.replace(/\n{2,}/g, '\n\n')), [
    '# S1\nx = 3',
    '# S1\nx = 3\n\n# S2\nraise ValueError()',
    '# S1\nx = 3\n\n# S2\nraise ValueError()\n\n# S3\ny = x',
  ]);
});

test('final code step gets its output block; its tokens continue the path the policy sees', async (t) => {
  const policy = byLabel({ root: [first('S1')], S1: [final('F')], F: [answer('R', '1')] });
  const tree = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 1, candidates: 1 }), {
    policy, executor: new FakeExecutor(), grader,
  }).run();
  const F = node(tree.root, 'F');
  t.is(F.kind, 'final_code');
  t.is(F.text, `${final('F')}\n<output>out<end_of_output>`);
  const last = policy.requests[2];
  t.deepEqual(last.path.map((s) => s.text), [first('S1'), F.text]);
  t.deepEqual([...last.path[1].tokens], textTokens(F.text));
  t.is(last.prompt, "<|user|>:\nq\n<|assistant|>: Let's think step by step and solve the problem with code.");
  t.deepEqual([...last.sampling.stopMarkers], ['<end_of_step>', '<end_of_code>', '<end_of_answer>']);
});

test('duplicates are removed and an answer candidate collapses the expansion to itself', async (t) => {
  const cands = [first('S1'), first('S1'), `<code>\n<answer>X: \\boxed{2}<end_of_answer>`, `<code>\n<answer>Y: \\boxed{1}<end_of_answer>`, first('S2')];
  const collapsed = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 1, candidates: 5 }), {
    policy: byLabel({ root: cands }), executor: new FakeExecutor(), grader,
  }).run();
  t.is(collapsed.root.children.length, 1);
  t.is(collapsed.root.children[0].answer, '2');
  t.deepEqual([collapsed.stats.duplicates, collapsed.stats.collapsed], [1, 3]);
  t.deepEqual([collapsed.root.visits, collapsed.root.valueSum], [1, -1]);

  const open = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 1, candidates: 5, answerCollapse: false, dedupe: false }), {
    policy: byLabel({ root: cands, S1: [answer('R', '1')], S2: [answer('R', '1')] }), executor: new FakeExecutor(), grader,
  }).run();
  t.deepEqual(open.root.children.map((c) => c.kind), ['code', 'code', 'answer', 'answer', 'code']);
  // both answers back-propagated at creation: -1 and +1; then the rollout went on to S1's answer (+1)
  t.deepEqual([open.root.visits, open.root.valueSum], [3, 1]);
});

test('steps without a box or marker are invalid leaves; depth is capped', async (t) => {
  const tree = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 1, candidates: 2, answerCollapse: false }), {
    policy: byLabel({ root: ['<code>\nx = ', '\n<answer>no box here<end_of_answer>'] }), executor: new FakeExecutor(), grader,
  }).run();
  t.deepEqual(tree.root.children.map((c) => c.terminalReason), ['unfinished', 'no_answer']);
  t.deepEqual(tree.root.children.map((c) => c.q), [-1, -1]);

  // maxDepth code steps plus the answer, as the reference (a node deeper than max_depth is terminal).
  const full = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 1, candidates: 1, maxDepth: 2 }), {
    policy: byLabel({ root: [first('S1')], S1: [step('S2')], S2: [answer('R', '1')] }), executor: new FakeExecutor(), grader,
  }).run();
  const R = node(full.root, 'R');
  t.deepEqual([R.depth, R.terminalReason, R.correct], [3, 'answer', true], 'two code steps, then the answer at depth 3');

  const deep = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 3, candidates: 1, maxDepth: 2 }), {
    policy: byLabel({ root: [first('S1')], S1: [step('S2')], S2: [step('S3')], S3: [answer('R', '1')] }), executor: new FakeExecutor(), grader,
  }).run();
  const S3 = node(deep.root, 'S3');
  t.is(S3.depth, 3);
  t.is(S3.terminalReason, 'too_deep');
  t.is(S3.visits, 0);
  t.true(deep.root.terminal);
  t.is(deep.stats.expansions, 3, 'no generation below the depth limit');
});

test('unvisitedScore infinity tries every sibling before revisiting one', async (t) => {
  const policy = byLabel({ root: [first('A'), first('B'), first('C')], A: [answer('RA', '1')], B: [answer('RB', '1')], C: [answer('RC', '1')] });
  const tree = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 3, candidates: 3, unvisitedScore: 'infinity' }), {
    policy, executor: new FakeExecutor(), grader,
  }).run();
  t.deepEqual(policy.requests.map(labelOf), ['root', 'A', 'B', 'C']);
  t.deepEqual(tree.root.children.map((c) => c.visits), [1, 1, 1]);
});

test('test mode: answers are scored by the PPM and back-propagated; the best-scored answer is chosen', async (t) => {
  const raw: Record<string, number> = { A: 0.1, B: 0.2, RA: 0.9, RB: -0.4 };
  const scorer = new ScriptedScorer((r) => {
    const text = r.path[r.path.length - 1].text;
    return raw[/# (\w+)/.exec(text)?.[1] ?? /<answer>(\w+)/.exec(text)?.[1] ?? ''];
  });
  const policy = byLabel({ root: [first('A'), first('B')], A: [answer('RA', '7')], B: [answer('RB', '8')] });
  const tree = await new ProblemSearch({ id: 'p', question: 'q' }, config({ mode: 'test', rollouts: 2, candidates: 2 }), {
    policy, executor: new FakeExecutor(), grader, scorer,
  }).run();
  // Rollout 1: root N=0 -> B (0.2 > 0.1) -> answer 8 scored -0.4: B (N2, -0.2), root (N1, -0.4).
  // Rollout 2: root N=1 -> A 0.1 vs B -0.1 -> A -> answer 7 scored 0.9: A (N2, 1.0), root (N2, 0.5).
  t.deepEqual([tree.root.visits, tree.root.valueSum], [2, 0.5]);
  t.is(node(tree.root, 'RA').correct, null, 'nothing is graded at test time');
  const choice = await chooseAnswer(tree.root, grader, 'score');
  t.is(choice.answer, '7');
  t.is(choice.score, 0.9);
  t.is(choice.node?.tag, '0.1.1');

  // Without a PPM, answers are worth 0 and the vote decides; ties go to the better score, then the earlier.
  const plain = await new ProblemSearch({ id: 'p', question: 'q' }, config({ mode: 'test', rollouts: 3, candidates: 3 }), {
    policy: byLabel({ root: [first('A'), first('B'), first('C')], A: [answer('RA', '8')], B: [answer('RB', '7')], C: [answer('RC', '8.0')] }),
    executor: new FakeExecutor(),
    grader,
  }).run();
  const vote = await chooseAnswer(plain.root, grader, 'vote');
  t.is(vote.answer, '8');
  t.is(vote.votes, 2);
  t.deepEqual(vote.clusters.map((c) => [c.answer, c.count]), [['8', 2], ['7', 1]]);
  t.throws(() => new ProblemSearch({ id: 'p', question: 'q' }, config({}), { policy, executor: new FakeExecutor(), grader }), { code: 'INVALID_ARGUMENT' });
});

test('many problems search concurrently: their policy calls overlap', async (t) => {
  let inFlight = 0;
  let maxInFlight = 0;
  const policy = new ScriptedPolicy(async (request) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight -= 1;
    return request.path.length === 0 ? [first('S')] : [answer('R', request.problem.answer as string)];
  });
  const problems = Array.from({ length: 10 }, (_, i) => ({ id: `p${i}`, question: `q${i}`, answer: String(i) }));
  const trees: SearchTree[] = [];
  const result = await searchProblems(problems, config({ rollouts: 2, candidates: 1 }), { policy, executor: new FakeExecutor(), grader }, {
    concurrency: 4,
    onTree: (tree) => {
      trees.push(tree);
    },
  });
  t.is(result.completed, 10);
  t.is(maxInFlight, 4);
  t.deepEqual(trees.map((tr) => tr.problem.id).sort(), problems.map((p) => p.id).sort());
  t.true(trees.every((tr) => tr.stats.correct === 1));

  // One problem's failure is reported and the run goes on (a resumed run retries it).
  const failing = new ScriptedPolicy(async (request) => {
    if (request.problem.id === 'p1') throw new Error('engine broke');
    await new Promise((r) => setTimeout(r, 5));
    return request.path.length === 0 ? [first('S')] : [answer('R', '0')];
  });
  const done: string[] = [];
  const errors: string[] = [];
  const partial = await searchProblems(problems, config({ rollouts: 1, candidates: 1 }), { policy: failing, executor: new FakeExecutor(), grader }, {
    concurrency: 2,
    onTree: (tree) => void done.push(tree.problem.id),
    onError: (error, problem) => void errors.push(`${problem.id}: ${(error as Error).message}`),
  });
  t.deepEqual([partial.completed, partial.failed, partial.aborted], [9, 1, false]);
  t.deepEqual(errors, ['p1: engine broke']);
  t.deepEqual(done.sort(), problems.map((p) => p.id).filter((id) => id !== 'p1').sort());

  // A systematic failure (every problem fails) stops the run after maxConsecutiveFailures, rethrown.
  let started = 0;
  const broken = new ScriptedPolicy(async () => {
    await new Promise((r) => setTimeout(r, 1));
    throw new Error('model gone');
  });
  await t.throwsAsync(
    searchProblems(problems, config({ rollouts: 1, candidates: 1 }), { policy: broken, executor: new FakeExecutor(), grader }, {
      concurrency: 2,
      maxConsecutiveFailures: 3,
      onStart: () => (started += 1),
    }),
    { message: 'model gone' },
  );
  t.true(started >= 3 && started <= 4, `stopped after ${started} starts, not all 10`);
});

test('the driver pulls problems from an async source only as slots free up', async (t) => {
  let pulled = 0;
  async function* source(): AsyncGenerator<{ id: string; question: string; answer: string }> {
    for (let i = 0; i < 6; i++) {
      pulled += 1;
      yield { id: `s${i}`, question: `q${i}`, answer: '1' };
    }
  }
  const maxAhead: number[] = [];
  let finished = 0;
  const policy = new ScriptedPolicy(async (request) => {
    maxAhead.push(pulled - finished);
    await new Promise((r) => setTimeout(r, 2));
    return request.path.length === 0 ? [first('S')] : [answer('R', '1')];
  });
  const result = await searchProblems(source(), config({ rollouts: 1, candidates: 1 }), { policy, executor: new FakeExecutor(), grader }, {
    concurrency: 2,
    onTree: () => void (finished += 1),
  });
  t.deepEqual([result.completed, result.failed, result.aborted], [6, 0, false]);
  t.true(Math.max(...maxAhead) <= 2, 'never more problems pulled than slots');
});

test('tree records list nodes in preorder with their statistics and tokens', async (t) => {
  // 4 rollouts: A's answer, then F and A found exhausted one rollout each, then B's answer.
  const tree = await new ProblemSearch({ id: 'p', question: 'q', answer: '1' }, config({ rollouts: 4, candidates: 2 }), {
    policy: byLabel({ root: [first('A'), first('B')], A: [final('F')], F: [answer('R', '1')], B: [answer('W', '2')] }),
    executor: new FakeExecutor(),
    grader,
  }).run();
  const record = treeToRecord(tree, 'generate', { source: 'fixture' });
  t.deepEqual(record.nodes.map((n) => n.tag), ['0', '0.1', '0.1.1', '0.1.1.1', '0.2', '0.2.1']);
  t.is(record.source, 'fixture');
  const f = record.nodes[2];
  t.is(f.appended, '\n<output>out<end_of_output>');
  t.deepEqual(f.tokens, textTokens(f.text));
  t.deepEqual([record.nodes[3].reason, record.nodes[3].correct, record.nodes[3].q], ['answer', true, 1]);
  t.deepEqual(JSON.parse(JSON.stringify(record)), record, 'the record survives JSON');
});
