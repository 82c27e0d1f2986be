/**
 * Character edit distance (Levenshtein: insert, delete, substitute, each cost 1), capped.
 *
 * Pair filtering only asks "are these two texts at least k edits apart?", so the distance is computed
 * in a diagonal band of width 2k+1 (any alignment leaving the band already costs more than k) and the
 * result is min(distance, cap). That keeps long full-trajectory pairs cheap.
 */

/** min(Levenshtein distance of a and b, cap). */
export function editDistance(a: string, b: string, cap = Number.POSITIVE_INFINITY): number {
  if (a === b) return 0;
  const n = a.length;
  const m = b.length;
  if (Math.abs(n - m) >= cap) return cap;
  const band = Number.isFinite(cap) ? Math.min(Math.max(n, m), cap) : Math.max(n, m);
  const big = Number.MAX_SAFE_INTEGER;
  let previous = new Array<number>(m + 1);
  let current = new Array<number>(m + 1);
  for (let j = 0; j <= m; j++) previous[j] = j <= band ? j : big;
  for (let i = 1; i <= n; i++) {
    const from = Math.max(1, i - band);
    const to = Math.min(m, i + band);
    current.fill(big);
    current[0] = i <= band ? i : big;
    let rowMin = current[0];
    for (let j = from; j <= to; j++) {
      const substitute = previous[j - 1] + (a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1);
      const remove = previous[j] + 1;
      const insert = current[j - 1] + 1;
      current[j] = Math.min(substitute, remove, insert);
      if (current[j] < rowMin) rowMin = current[j];
    }
    if (rowMin >= cap) return cap;
    [previous, current] = [current, previous];
  }
  return Math.min(previous[m], cap);
}
