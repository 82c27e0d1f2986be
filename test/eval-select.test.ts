/**
 * The selection rules of `rstar eval` (lib/eval/select.ts) on candidates small enough to check by hand:
 * clustering by equivalence, majority vote and its tie rule, maj@k by subsampling (exact and sampled),
 * the best-of-N aggregations, the PPM-weighted vote, the top-K majority over searches, pass@N; and how a
 * chain of thought is cut into the paragraphs the PPM scores.
 */
import test from 'ava';
import { paragraphs } from '../lib/eval/sample.js';
import {
  aggregations,
  argmaxAnswered,
  clusterIndices,
  majorityAtK,
  majorityVote,
  MAX_SUBSETS,
  passAtN,
  scoreWeight,
  subsampleSizes,
  topKMajority,
  weightedVote,
  type Scored,
} from '../lib/eval/select.js';
import { isEquivalent } from '../lib/grade/index.js';

const of = (clusters: number[], scores: Array<number | null> = clusters.map(() => null)): Scored[] => clusters.map((cluster, i) => ({ cluster, score: scores[i] }));

test('answers cluster by equivalence, not by spelling; a missing answer is in no cluster', async (t) => {
  const { cluster, representatives } = await clusterIndices(['1/2', '0.5', '\\frac{1}{2}', null, '3', '3.0', '-3'], isEquivalent);
  t.deepEqual(cluster, [0, 0, 0, -1, 1, 1, 2]);
  t.deepEqual(representatives, ['1/2', '3', '-3']);
});

test('majority vote: the largest cluster; a tie goes to the higher best score, then to the first', (t) => {
  t.is(majorityVote(of([0, 1, 1, 2])), 1);
  t.is(majorityVote(of([0, 1, 1, 0])), 0, 'tie, no scores: the cluster seen first');
  t.is(majorityVote(of([0, 1, 1, 0], [0.1, 0.2, 0.9, 0.3])), 1, 'tie: the higher best score');
  t.is(majorityVote(of([-1, -1, 2, -1])), 2, 'unanswered candidates do not vote');
  t.is(majorityVote(of([-1, -1])), -1);
});

test('maj@k is the expected accuracy of a vote over k random samples, ties split evenly', (t) => {
  // Candidates: right, right, wrong. maj@1: 2/3. maj@2: {0,1} right; {0,2} and {1,2} tie, 1/2 each: (1 + 1/2 + 1/2) / 3.
  const c = of([0, 0, 1]);
  const right = [true, false];
  t.is(majorityAtK(c, right, 1, 'p'), 2 / 3);
  t.is(majorityAtK(c, right, 2, 'p'), 2 / 3);
  t.is(majorityAtK(c, right, 3, 'p'), 1);
  // An unanswered sample does not vote: {right, none} is right, {right, wrong} a tie, {none, wrong} wrong.
  t.is(majorityAtK(of([0, -1, 1]), right, 2, 'p'), (1 + 0.5 + 0) / 3);
  t.deepEqual(subsampleSizes(8), [1, 2, 4]);
  t.deepEqual(subsampleSizes(6), [1, 2, 4]);
  t.deepEqual(subsampleSizes(1), []);
  t.throws(() => majorityAtK(c, right, 4, 'p'), { instanceOf: RangeError });
});

test('maj@k over more subsets than it enumerates: a seeded estimate close to the exact value', (t) => {
  // 16 samples, 7 right (cluster 0) and 9 wrong spread over clusters 1..3: C(16, 8) = 12,870 subsets.
  const clusters = [0, 1, 0, 2, 0, 3, 1, 0, 2, 0, 1, 3, 0, 2, 0, 1];
  const c = of(clusters);
  const right = [true, false, false, false];
  let exact = 0;
  let count = 0;
  for (let mask = 0; mask < 1 << 16; mask++) {
    let bits = 0;
    for (let m = mask; m; m &= m - 1) bits++;
    if (bits !== 8) continue;
    const counts = new Map<number, number>();
    for (let i = 0; i < 16; i++) if (mask & (1 << i)) counts.set(clusters[i], (counts.get(clusters[i]) ?? 0) + 1);
    const top = Math.max(...counts.values());
    const tied = [...counts].filter(([, n]) => n === top);
    exact += tied.some(([k]) => k === 0) ? 1 / tied.length : 0;
    count++;
  }
  exact /= count;
  t.true(count > MAX_SUBSETS);
  const estimate = majorityAtK(c, right, 8, 'problem-7');
  t.is(majorityAtK(c, right, 8, 'problem-7'), estimate, 'the same seed gives the same estimate');
  t.true(Math.abs(estimate - exact) < 0.06, `estimate ${estimate}, exact ${exact}`);
});

test('best-of-N: last step, minimum and product of step scores each pick their own winner', (t) => {
  const c: Scored[] = [
    { cluster: 0, score: 0.9, stepScores: [-0.5, 0.9] }, // best last step
    { cluster: 1, score: 0.6, stepScores: [0.6, 0.6] }, // best minimum
    { cluster: 2, score: 0.4, stepScores: [0.95, 0.95, 0.95, 0.4] }, // best product of (s+1)/2: 0.975³ × 0.7 = 0.649 > 0.8² = 0.64
    { cluster: -1, score: 0.99, stepScores: [0.99, 0.99] }, // the best of all, but no answer: never chosen
  ];
  t.is(argmaxAnswered(c, aggregations.last), 0);
  t.is(argmaxAnswered(c, aggregations.min), 1);
  t.is(argmaxAnswered(c, aggregations.product), 2);
  t.is(scoreWeight(-1), 0);
  t.is(scoreWeight(null), 0.5);
});

test('PPM-weighted vote: one confident answer outweighs two doubtful ones that a plain vote prefers', (t) => {
  const c = of([0, 1, 1], [0.9, -0.2, -0.2]); // weights 0.95 against 0.4 + 0.4
  t.is(weightedVote(c), 0);
  t.is(majorityVote(c), 1);
  t.is(weightedVote(of([0, 1, 1], [0.9, 0, 0])), 1, '0.95 against 0.5 + 0.5');
});

test('top-K majority over searches: a vote among the K best-scored, ties to the higher summed score', (t) => {
  const c = of([0, 1, 1, 2, 0], [0.9, 0.8, 0.7, 0.95, -0.9]);
  // Top 3: 0.95 (cluster 2), 0.9 (cluster 0), 0.8 (cluster 1): one vote each, cluster 2 weighs most.
  t.is(topKMajority(c, 3), 3);
  // Top 4 adds 0.7 (cluster 1): two votes.
  t.is(topKMajority(c, 4), 1);
  t.is(topKMajority(c, 1), 3, 'K = 1 is the best-scored search');
  t.is(topKMajority(c, 5), 1, 'all five: clusters 0 and 1 have two votes each, cluster 1 sums more');
  t.is(passAtN(c, [false, false, true]), 1);
  t.is(passAtN(c, [false, false, false]), 0);
});

test('a chain of thought is scored paragraph by paragraph; the paragraphs rebuild the text', (t) => {
  const text = 'First add.\n\n12 + 30 = 42\n \n\nSo the answer is 42.';
  const parts = paragraphs(text);
  t.deepEqual(parts, ['First add.\n\n', '12 + 30 = 42\n \n\n', 'So the answer is 42.']);
  t.is(parts.join(''), text);
  t.deepEqual(paragraphs('one line'), ['one line']);
  t.deepEqual(paragraphs(''), []);
});
