/**
 * Choosing one answer from a problem's candidates (spec §5.4, §8.2): the rules of every evaluation
 * method, as pure functions of the candidates' answer clusters and PPM scores. Nothing here sees the
 * gold answer; grading happens afterwards, once per cluster.
 *
 * - Majority vote: the largest cluster of equivalent answers wins; a tie goes to the cluster with the
 *   higher best score, then to the one that appeared first (the rule `chooseAnswer` uses for one tree).
 * - maj@k for k < N, from one run of N samples: the expected accuracy of a vote over k of the N samples
 *   drawn at random, every subset when there are at most `MAX_SUBSETS` of them, else that many drawn
 *   with a seeded generator; a tie between t clusters counts 1/t for each (the expectation of breaking
 *   it at random), so the estimate carries no order bias.
 * - Best-of-N by the PPM, three aggregations of a sample's step scores: the last step's score (the
 *   paper's rule: the PPM scores the whole trajectory at its last step), the minimum, and the product.
 *   Scores are tanh-like values in (-1, 1); the product and the weighted votes use (s + 1) / 2, a value
 *   in (0, 1), so a negative score can never flip the sign of a product or subtract from a vote.
 * - PPM-weighted vote: each cluster's weight is the sum of its candidates' (s + 1) / 2.
 * - Over independent searches (the reference's eval_maj.py): each search answers with its best-scored
 *   answer; `top1` takes the best-scored search, `top_k_majority` a majority vote over the K best-scored
 *   searches (ties: higher summed score, then first), `weighted_vote` the PPM-weighted vote over all.
 * - `pass@N`: whether any candidate is right (an oracle, the ceiling of every rule above).
 *
 * Candidates without an answer never win; a rule with nothing to choose from chooses nothing (null).
 */
import { hashString, Rng } from '../synth/random.js';

/** At most this many subsets are enumerated (or drawn) for one maj@k estimate. */
export const MAX_SUBSETS = 512;

/** What the rules read of a candidate. */
export interface Scored {
  /** Index of the candidate's answer cluster; -1 when it has no answer. */
  cluster: number;
  /** The PPM's score of the whole candidate (its last step), or null without a PPM. */
  score: number | null;
  /** Scores of every step the PPM scored, in order (best-of-N); empty without a PPM. */
  stepScores?: readonly number[];
}

/** A PPM score as a weight in (0, 1); a candidate without a score weighs 1/2. */
export function scoreWeight(score: number | null): number {
  return score === null ? 0.5 : (score + 1) / 2;
}

/**
 * Cluster indices of `answers` by equivalence (each answer joins the first cluster whose first answer
 * it equals), -1 for a missing answer; `equal` is the grader's comparison.
 */
export async function clusterIndices(answers: ReadonlyArray<string | null>, equal: (a: string, b: string) => boolean | Promise<boolean>): Promise<{ cluster: number[]; representatives: string[] }> {
  const representatives: string[] = [];
  const cluster: number[] = [];
  for (const answer of answers) {
    if (answer === null) {
      cluster.push(-1);
      continue;
    }
    let found = -1;
    for (let c = 0; c < representatives.length; c++) {
      if (representatives[c] === answer || (await equal(representatives[c], answer))) {
        found = c;
        break;
      }
    }
    if (found < 0) {
      found = representatives.length;
      representatives.push(answer);
    }
    cluster.push(found);
  }
  return { cluster, representatives };
}

/** Index of the winning candidate (the first of the winning cluster) among `members`, or -1. */
function vote(candidates: readonly Scored[], members: readonly number[], weightOf: (c: Scored) => number): number {
  const totals = new Map<number, { weight: number; best: number; first: number }>();
  for (const i of members) {
    const c = candidates[i];
    if (c.cluster < 0) continue;
    const t = totals.get(c.cluster);
    const best = c.score ?? 0;
    if (!t) totals.set(c.cluster, { weight: weightOf(c), best, first: i });
    else {
      t.weight += weightOf(c);
      t.best = Math.max(t.best, best);
    }
  }
  let winner: { weight: number; best: number; first: number } | null = null;
  for (const t of totals.values()) {
    // Exact comparisons of sums of the same terms; a relative epsilon keeps float noise from deciding.
    const eps = 1e-12 * Math.max(1, Math.abs(t.weight));
    if (
      !winner ||
      t.weight > winner.weight + eps ||
      (Math.abs(t.weight - winner.weight) <= eps && (t.best > winner.best || (t.best === winner.best && t.first < winner.first)))
    ) {
      winner = t;
    }
  }
  return winner ? winner.first : -1;
}

/** Majority vote over all candidates: the index of the chosen candidate, or -1. */
export function majorityVote(candidates: readonly Scored[]): number {
  return vote(candidates, candidates.map((_, i) => i), () => 1);
}

/** PPM-weighted vote over all candidates: the index of the chosen candidate, or -1. */
export function weightedVote(candidates: readonly Scored[]): number {
  return vote(candidates, candidates.map((_, i) => i), (c) => scoreWeight(c.score));
}

/** The answered candidate with the highest `key` (ties: the first), or -1. */
export function argmaxAnswered(candidates: readonly Scored[], key: (c: Scored) => number | null): number {
  let best = -1;
  let bestKey = Number.NEGATIVE_INFINITY;
  candidates.forEach((c, i) => {
    if (c.cluster < 0) return;
    const k = key(c);
    if (k === null || Number.isNaN(k)) return;
    if (best < 0 || k > bestKey) {
      best = i;
      bestKey = k;
    }
  });
  return best;
}

/** Step-score aggregations of best-of-N. */
export const aggregations = {
  last: (c: Scored): number | null => c.score,
  min: (c: Scored): number | null => (c.stepScores && c.stepScores.length > 0 ? Math.min(...c.stepScores) : c.score),
  product: (c: Scored): number | null => (c.stepScores && c.stepScores.length > 0 ? c.stepScores.reduce((p, s) => p * scoreWeight(s), 1) : c.score === null ? null : scoreWeight(c.score)),
} as const;

/** Majority vote over the `k` best-scored candidates with an answer (the reference's top-K majority). */
export function topKMajority(candidates: readonly Scored[], k: number): number {
  const answered = candidates.map((c, i) => ({ c, i })).filter(({ c }) => c.cluster >= 0);
  // Stable: equal scores keep their order.
  answered.sort((x, y) => (y.c.score ?? 0) - (x.c.score ?? 0));
  const top = answered.slice(0, k).map(({ i }) => i);
  // Ties between clusters of equal size go to the higher summed score, as a weighted vote would.
  return vote(candidates, top, (c) => 1 + 1e-6 * scoreWeight(c.score));
}

/** Whether any candidate is right: 1 or 0. */
export function passAtN(candidates: readonly Scored[], correctCluster: readonly boolean[]): number {
  return candidates.some((c) => c.cluster >= 0 && correctCluster[c.cluster]) ? 1 : 0;
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

/** Credit of a vote over `members`: 1/t when the right cluster is among the t tied largest, else 0. */
function voteCredit(candidates: readonly Scored[], members: readonly number[], correctCluster: readonly boolean[]): number {
  const counts = new Map<number, number>();
  for (const i of members) {
    const c = candidates[i].cluster;
    if (c >= 0) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let top = 0;
  for (const n of counts.values()) top = Math.max(top, n);
  if (top === 0) return 0;
  let tied = 0;
  let right = 0;
  for (const [c, n] of counts) {
    if (n !== top) continue;
    tied += 1;
    if (correctCluster[c]) right += 1;
  }
  return right / tied;
}

/**
 * Expected accuracy of a majority vote over `k` of the candidates drawn at random (see the file
 * header). `seed` names the subset stream, so the same problem gives the same estimate everywhere.
 */
export function majorityAtK(candidates: readonly Scored[], correctCluster: readonly boolean[], k: number, seed: string): number {
  const n = candidates.length;
  if (k < 1 || k > n) throw new RangeError(`maj@${k} needs 1 ≤ k ≤ ${n}`);
  if (binomial(n, k) <= MAX_SUBSETS) {
    let total = 0;
    let count = 0;
    const subset: number[] = [];
    const visit = (start: number): void => {
      if (subset.length === k) {
        total += voteCredit(candidates, subset, correctCluster);
        count += 1;
        return;
      }
      for (let i = start; i <= n - (k - subset.length); i++) {
        subset.push(i);
        visit(i + 1);
        subset.pop();
      }
    };
    visit(0);
    return total / count;
  }
  const rng = new Rng('maj@k', seed, hashString(String(k)));
  const indices = candidates.map((_, i) => i);
  let total = 0;
  for (let s = 0; s < MAX_SUBSETS; s++) {
    // A partial Fisher–Yates shuffle: the first k indices are a uniform random subset.
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(rng.next() * (n - i));
      [indices[i], indices[j]] = [indices[j], indices[i]];
    }
    total += voteCredit(candidates, indices.slice(0, k), correctCluster);
  }
  return total / MAX_SUBSETS;
}

/** k = 1, 2, 4, … up to n (n itself excluded: maj@n is the method's own answer). */
export function subsampleSizes(n: number): number[] {
  const out: number[] = [];
  for (let k = 1; k < n; k *= 2) out.push(k);
  return out;
}
