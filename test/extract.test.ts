/**
 * Extraction rules on hand-written fixture trees (test/fixtures/trees). The expected rows are worked
 * out by hand in the comments from the fixture's Q values.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig, type RstarConfig } from '../lib/config/index.js';
import { editDistance } from '../lib/data/edit-distance.js';
import { extractFinalPairs, extractPairs, extractSft, extractSftByProblem, extractStepPairs, type SftRow } from '../lib/data/extract.js';
import { buildTreeView } from '../lib/data/tree-view.js';
import type { NodeRecord, TreeRecord } from '../lib/mcts/tree-record.js';
import { packageRoot } from '../lib/paths.js';

function fixture(name: string): TreeRecord {
  const raw = JSON.parse(readFileSync(join(packageRoot, 'test', 'fixtures', 'trees', `${name}.json`), 'utf8')) as {
    id: string; question: string; answer: string; nodes: Array<Partial<NodeRecord> & { tag: string; text: string; q: number; visits: number }>;
  };
  return {
    id: raw.id,
    question: raw.question,
    answer: raw.answer,
    annotation: 'terminal-guided',
    mode: 'generate',
    stats: {} as TreeRecord['stats'],
    nodes: raw.nodes.map((n) => ({
      depth: n.tag.split('.').length - 1, kind: 'code', appended: '', tokens: [], stop: null, valueSum: n.q * n.visits, value: null,
      ppm: null, reward: null, terminal: n.reason !== undefined, reason: null, answer: null, correct: null, observation: null,
      execOk: null, timedOut: false, consecutiveErrors: 0, rollout: 0, ...n,
    })),
  };
}

const prompt = (q: string): string => `<|user|>:\n${q}\n<|assistant|>: Let's think step by step and solve the problem with code.`;
const text = (tree: TreeRecord, ...tags: string[]): string => tags.map((tag) => tree.nodes.find((n) => n.tag === tag)!.text).join('');
const settings = (extract: Partial<RstarConfig['extract']> = {}): RstarConfig => resolveConfig({ extract });

test('the tree view counts correct, wrong and code-error leaves below every node', (t) => {
  const root = buildTreeView(fixture('mixed'));
  t.deepEqual([root.correctLeaves, root.wrongLeaves, root.codeErrorLeaves], [3, 3, 1]);
  t.deepEqual(root.children.map((c) => [c.record.tag, c.correctLeaves, c.wrongLeaves]), [
    ['0.1', 1, 0], ['0.2', 1, 0], ['0.3', 0, 1], ['0.4', 0, 1], ['0.5', 1, 1], ['0.6', 0, 0],
  ]);
  const broken = fixture('mixed');
  broken.nodes.splice(1, 1); // drop 0.1: its child now precedes a missing parent
  t.throws(() => buildTreeView(broken), { code: 'DATA', message: /0\.1\.1/ });
});

test('SFT: correct trajectories by mean Q then min Q, top 2, as {prompt, completion}', (t) => {
  const tree = fixture('mixed');
  // correct: 0.1→0.1.1 mean (0.8+1)/2 = 0.9; 0.2→0.2.1 mean 0.75; 0.5→0.5.1 mean 0.65.
  const rows = extractSft(tree, settings());
  t.deepEqual(rows.map((r) => r.completion), [text(tree, '0.1', '0.1.1'), text(tree, '0.2', '0.2.1')]);
  t.is(rows[0].prompt, prompt('What is 6 times 7?'));
  t.deepEqual([rows[0].meanQ, rows[0].minQ, rows[0].steps, rows[0].answer, rows[0].id], [0.9, 0.8, 2, '42', 'mixed']);
  t.true(rows[0].completion.startsWith('<code>') && rows[0].completion.endsWith('<end_of_answer>'));
  t.is(extractSft(tree, settings({ sftPerProblem: 5 })).length, 3);

  // A failed step on the best trajectory removes it (status filter) and lets the third one in.
  const failed = fixture('mixed');
  failed.nodes.find((n) => n.tag === '0.1')!.execOk = false;
  t.deepEqual(extractSft(failed, settings()).map((r) => r.completion), [text(tree, '0.2', '0.2.1'), text(tree, '0.5', '0.5.1')]);
  t.is(extractSft(failed, settings({ sftErrorFilter: 'off' })).length, 2);
  t.is(extractSft(failed, settings({ sftErrorFilter: 'off' }))[0].completion, text(tree, '0.1', '0.1.1'));
  // The reference's substring filter drops any text mentioning "error".
  const wordy = fixture('mixed');
  wordy.nodes.find((n) => n.tag === '0.1')!.text = '<code>\n# Step 1: no rounding error here\nproduct = 6 * 7\n<end_of_step>';
  t.is(extractSft(wordy, settings({ sftErrorFilter: 'substring' }))[0].completion, text(tree, '0.2', '0.2.1'));
  t.is(extractSft(wordy, settings())[0].completion.includes('rounding error'), true);
});

test('SFT ties: equal mean Q goes to the higher min Q, then to the earlier trajectory', (t) => {
  const tied = fixture('mixed');
  tied.nodes.find((n) => n.tag === '0.2')!.q = 0.8; // 0.2→0.2.1 now equals 0.1→0.1.1 in mean and min
  t.deepEqual(extractSft(tied, settings({ sftPerProblem: 1 })).map((r) => r.completion), [text(tied, '0.1', '0.1.1')]);
  // Long path [0.25, 1, 1, 1] and short path [0.625, 1]: both mean 0.8125; min 0.25 < 0.625.
  const base = fixture('continuation');
  const long = base.nodes.filter((n) => n.tag === '0' || n.tag.startsWith('0.1'));
  for (const [tag, q] of [['0.1', 0.25], ['0.1.1', 1], ['0.1.1.1', 1]] as const) long.find((n) => n.tag === tag)!.q = q;
  const short = [
    { ...long[1], tag: '0.2', q: 0.625, text: '<code>\n# Step 1: ask Python for the power directly\nprint(2 ** 10)\n<end_of_code>' },
    { ...long[4], tag: '0.2.1', q: 1 },
  ];
  const rows = extractSft({ ...base, nodes: [...long, ...short] }, settings());
  t.deepEqual(rows.map((r) => [r.meanQ, r.minQ, r.steps]), [[0.8125, 0.625, 2], [0.8125, 0.25, 4]]);
});

test('step pairs: 2 best positives × 2 worst negatives at each shared prefix, margin ≥ 0.5, then into mixed children', (t) => {
  const tree = fixture('mixed');
  // Root: positives by Q desc 0.1 (0.8), 0.2 (0.5), 0.5 (0.3); negatives by Q asc 0.4 (-0.6), 0.3 (0.1), 0.5 (0.3).
  // Pairs of [0.1, 0.2] × [0.4, 0.3]: margins 1.4, 0.7, 1.1, 0.4 -> the last is below 0.5.
  // The code-error child 0.6 is not a step-level negative. Then into 0.5 (correct and wrong below):
  // 0.5.1 (1) vs 0.5.2 (-1), one of each side.
  const rows = extractStepPairs(tree, settings());
  t.deepEqual(rows.map((r) => [r.chosen, r.rejected, r.margin]).map(([c, r, m]) => [
    tree.nodes.find((n) => n.text === c)!.tag, tree.nodes.find((n) => n.text === r)!.tag, Math.round((m as number) * 1e9) / 1e9,
  ]), [['0.1', '0.4', 1.4], ['0.1', '0.3', 0.7], ['0.2', '0.4', 1.1], ['0.5.1', '0.5.2', 2]]);
  t.is(rows[0].prompt, prompt('What is 6 times 7?'), 'at the root the prefix is the prompt alone');
  t.is(rows[3].prompt, prompt('What is 6 times 7?') + text(tree, '0.5'), 'deeper, the shared steps follow the prompt');
  t.deepEqual(rows.map((r) => [r.kind, r.depth, r.posCount, r.negCount]), [['step', 1, 2, 2], ['step', 1, 2, 2], ['step', 1, 2, 2], ['step', 2, 1, 1]]);
  t.deepEqual([rows[0].chosenQ, rows[0].rejectedQ], [0.8, -0.6]);
  // A stricter margin keeps fewer; margin 0 keeps (0.2, 0.3) too.
  t.is(extractStepPairs(tree, settings({ minStepMargin: 1.2 })).length, 2);
  t.is(extractStepPairs(tree, settings({ minStepMargin: 0 })).length, 5);
  // Descending only into the most-visited mixed child changes nothing here (there is one).
  t.is(extractStepPairs(tree, settings({ descend: 'most_visited' })).length, 4);
});

test('step pairs: a single positive takes up to 4 negatives, ties by creation order, near-duplicates dropped', (t) => {
  const tree = fixture('ties');
  // One positive 0.1 -> up to 4 negatives by Q asc: 0.5 (-0.7), then the tie 0.2, 0.3, 0.4 (-0.5) in order.
  // 0.5's step differs from 0.1's by a few characters ("three"->"two", 3->2): edit distance < 20, dropped.
  const rows = extractStepPairs(tree, settings());
  const tagOf = (s: string): string => tree.nodes.find((n) => n.text === s)!.tag;
  t.deepEqual(rows.map((r) => [tagOf(r.chosen), tagOf(r.rejected)]), [['0.1', '0.2'], ['0.1', '0.3'], ['0.1', '0.4']]);
  t.deepEqual([rows[0].posCount, rows[0].negCount], [1, 4]);
  t.true(editDistance(text(tree, '0.1'), text(tree, '0.5')) < 20);
  // With 3 per side the tie is cut by creation order: 0.4 goes.
  const three = extractStepPairs(tree, settings({ pairsWhenOneSide: 3 }));
  t.deepEqual(three.map((r) => tagOf(r.rejected)), ['0.2', '0.3']);
  t.is(three[0].negCount, 3);
  t.is(extractStepPairs(tree, settings({ minEditDistance: 0 })).length, 4);
});

test('step pairs: the greedy continuation check drops a pair whose positive continues worse', (t) => {
  const tree = fixture('continuation');
  // margin 0.6 - 0.0 = 0.6 passes, but the best continuation of 0.1 has mean (0.6-0.9-0.9+1)/4 = -0.05
  // and the worst continuation of 0.2 has mean (0+0.95+0.95-1)/4 = 0.225: dropped.
  t.deepEqual(extractStepPairs(tree, settings()), []);
  const kept = extractStepPairs(tree, settings({ continuationCheck: false }));
  t.is(kept.length, 1);
  t.is(kept[0].margin, 0.6);
});

test('final-step pairs: 2 best correct trajectories against 2 worst wrong ones, code-error deaths included', (t) => {
  const tree = fixture('mixed');
  // Correct by mean Q: 0.1.1 (0.9), 0.2.1 (0.75), 0.5.1 (0.65). Wrong by mean Q ascending: 0.6 (-1,
  // code error), 0.4.1 (-0.8), 0.3.1 (-0.45), 0.5.2 (-0.35).
  const rows = extractFinalPairs(tree, settings());
  const full = (leaf: string): string => {
    const tags: string[] = [];
    for (let tag = leaf; tag !== '0'; tag = tag.slice(0, tag.lastIndexOf('.'))) tags.unshift(tag);
    return text(tree, ...tags);
  };
  t.deepEqual(rows.map((r) => [r.chosen, r.rejected]), [
    [full('0.1.1'), full('0.6')], [full('0.1.1'), full('0.4.1')], [full('0.2.1'), full('0.6')], [full('0.2.1'), full('0.4.1')],
  ]);
  t.true(rows[0].rejected.includes('NameError'), 'the code-error trajectory shows its error');
  t.deepEqual(rows.map((r) => [r.kind, r.depth, r.posCount, r.negCount]), Array(4).fill(['final', 0, 2, 2]));
  t.is(rows[0].prompt, prompt('What is 6 times 7?'));
  t.deepEqual([rows[1].chosenQ, rows[1].rejectedQ], [0.9, -0.8]);
  const graded = extractFinalPairs(tree, settings({ finalPairsIncludeCodeErrors: false }));
  t.deepEqual(graded.map((r) => r.rejected), [full('0.4.1'), full('0.3.1'), full('0.4.1'), full('0.3.1')]);
  // extractPairs = step pairs, then final pairs (unless switched off).
  t.is(extractPairs(tree, settings()).length, 8);
  t.is(extractPairs(tree, settings({ finalPairs: false })).length, 4);
  // A tree with no wrong trajectory yields no final pairs; one with no correct yields nothing at all.
  const allRight = { ...tree, nodes: tree.nodes.filter((n) => /^0(\.[125](\.1)?)?$/.test(n.tag)) };
  t.deepEqual(extractFinalPairs(allRight, settings()), []);
  const allWrong = { ...tree, nodes: tree.nodes.filter((n) => /^0(\.[346](\.1)?)?$/.test(n.tag)) };
  t.deepEqual(extractPairs(allWrong, settings()), []);
  t.deepEqual(extractSft(allWrong, settings()), []);
});

test('edit distance: matches the textbook DP, and the capped version agrees below the cap', (t) => {
  const naive = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    return d[a.length][b.length];
  };
  t.is(editDistance('kitten', 'sitting'), 3);
  t.is(editDistance('', 'abc'), 3);
  t.is(editDistance('same', 'same'), 0);
  let seed = 7;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const word = (): string => Array.from({ length: Math.floor(rand() * 30) }, () => 'abc'[Math.floor(rand() * 3)]).join('');
  for (let i = 0; i < 300; i++) {
    const a = word();
    const b = word();
    const exact = naive(a, b);
    t.is(editDistance(a, b), exact);
    for (const cap of [1, 5, 20]) t.is(editDistance(a, b, cap), Math.min(exact, cap), `${a} ${b} cap ${cap}`);
  }
});

test('SFT groups by problem over every tree of a run: two searches of one problem give 2 rows, the best of both', async (t) => {
  const first = fixture('mixed');
  // A second search of the same problem (another seed) whose best trajectory beats the first tree's.
  const second = fixture('mixed');
  for (const n of second.nodes) if (n.tag === '0.5' || n.tag === '0.5.1') n.q = 0.99;
  const other = { ...fixture('mixed'), id: 'another problem' };
  const rows: SftRow[] = [];
  for await (const row of extractSftByProblem([first, other, second], settings())) rows.push(row);
  // mixed: 0.5→0.5.1 of the second tree (mean 0.99) then 0.1→0.1.1 of the first (0.9, earlier tree
  // wins the tie with the second tree's copy); then the other problem's own top 2.
  t.deepEqual(rows.map((r) => [r.id, r.completion]), [
    ['mixed', text(second, '0.5', '0.5.1')],
    ['mixed', text(first, '0.1', '0.1.1')],
    ['another problem', text(other, '0.1', '0.1.1')],
    ['another problem', text(other, '0.2', '0.2.1')],
  ]);
  t.deepEqual(extractSft([first, second], settings()).map((r) => r.completion), rows.slice(0, 2).map((r) => r.completion));
  t.throws(() => extractSft([first, other], settings()), { code: 'DATA', message: /one problem/ });
});
