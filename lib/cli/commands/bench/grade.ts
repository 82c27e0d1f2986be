/**
 * `rstar bench grade`: how many answer comparisons per second the grader does on typical MATH500 answers.
 *
 * Workload: the 500 MATH500 gold answers, each paired once with an equivalent rewrite (`\frac` to
 * `\dfrac`, wrapped in `$...$`, as models write them) and once with another problem's gold (usually a
 * different answer). Measured in the same run, each for `--seconds`:
 * - pairs_per_s: `isEquivalent` with no memo, so every comparison parses both answers from scratch
 *   (the worst case: every terminal node graded against a gold it has never seen);
 * - cached_pairs_per_s: comparisons of answers parsed once (AnswerKey; what all-pairs majority voting does);
 * - anchors: plain string equality of the same pairs, and parsing alone (answers per second);
 * - extract_per_s: free-text extraction (`extractFinalAnswer`, what `rstar grade --extract` runs) on the
 *   problems' reference solutions (MATH500's `solution` field, with its boxes unwrapped so the phrase,
 *   span and number rules do the work), when the file has one.
 * The ratios against the anchors are what to compare across machines. The run also checks that every
 * rewrite pair was judged equal (variant_agreement), so a fast but broken grader cannot pass.
 */
import { basename, join } from 'node:path';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { assertNumber } from '../../../errors.js';
import { loadProblems, resolveProblemFile } from '../../../data/problems.js';
import { answersEqual, extractFinalAnswer, parseAnswer, type ParsedAnswer } from '../../../grade/index.js';
import { printJsonLine, Progress } from '../../output.js';

/** The bar for uncached comparisons on typical MATH500 answers (issue #8; was 20,000 in #1). */
export const TARGET_PAIRS_PER_S = 100_000;

interface BenchGradeArgs {
  json: boolean;
  seconds: number;
  data?: string;
}

export interface BenchGradeResult {
  bench: 'grade';
  data: string;
  answers: number;
  pairs: number;
  pairs_per_s: number;
  cached_pairs_per_s: number;
  parse_per_s: number;
  string_eq_pairs_per_s: number;
  /** pairs_per_s / parse_per_s; 0.5 would mean the comparison itself is free next to parsing two answers. */
  ratio_pairs_to_parse: number;
  /** pairs_per_s / string_eq_pairs_per_s: the price of grading over `===`. */
  ratio_pairs_to_string_eq: number;
  variant_agreement: number;
  distinct_equal_fraction: number;
  target_pairs_per_s: number;
  /** pairs_per_s / target_pairs_per_s: above 1 meets the bar. */
  ratio_pairs_to_target: number;
  meets_target: boolean;
  /** Free-text extractions per second on the file's solutions; null when it has none. */
  extract_per_s: number | null;
  seconds_per_measure: number;
  node: string;
}

/** Calls `pass` (which does `unit` operations) until `seconds` have passed; returns operations per second. */
function rate(seconds: number, unit: number, pass: () => void): number {
  pass(); // warm-up: JIT and caches
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  let elapsed = 0n;
  do {
    pass();
    ops += unit;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limit);
  return ops / (Number(elapsed) / 1e9);
}

export async function runBenchGrade(args: BenchGradeArgs): Promise<BenchGradeResult> {
  const seconds = assertNumber(args.seconds, '--seconds', 0.05, 60);
  const path = resolveProblemFile(args.data ?? 'math500', '--data');
  const problems = await loadProblems(path);
  const golds = problems.map((p) => p.answer);
  // Solutions without their boxes: "\boxed{5}" becomes "5", so extraction falls through to the free-text rules.
  const solutions = problems
    .map((p) => p.meta.solution)
    .filter((x): x is string => typeof x === 'string')
    .map((x) => x.replace(/\\boxed\s*\{/g, '{'));
  const pairs: [string, string][] = [];
  for (let i = 0; i < golds.length; i++) pairs.push([golds[i], `$${golds[i].replace(/\\frac/g, '\\dfrac')}$`]);
  // A fixed stride, not a random draw, so every run measures the same pairs.
  for (let i = 0; i < golds.length; i++) pairs.push([golds[i], golds[(i * 7 + 3) % golds.length]]);
  const progress = new Progress('bench grade', args.json);

  let sink = 0;
  progress.update('string equality (anchor)', true);
  const stringEq = rate(seconds, pairs.length, () => {
    for (const [a, b] of pairs) if (a === b) sink++;
  });
  progress.update('parsing alone (anchor)', true);
  const parse = rate(seconds, pairs.length * 2, () => {
    for (const [a, b] of pairs) {
      sink += parseAnswer(a, { cache: false }).canon.length;
      sink += parseAnswer(b, { cache: false }).canon.length;
    }
  });
  progress.update('uncached comparisons', true);
  const uncached = rate(seconds, pairs.length, () => {
    for (const [a, b] of pairs) if (answersEqual(parseAnswer(a, { cache: false }), parseAnswer(b, { cache: false }))) sink++;
  });
  let extract: number | null = null;
  if (solutions.length > 0) {
    progress.update('free-text extraction', true);
    extract = rate(seconds, solutions.length, () => {
      for (const text of solutions) sink += extractFinalAnswer(text)?.length ?? 0;
    });
  }
  const parsed: [ParsedAnswer, ParsedAnswer][] = pairs.map(([a, b]) => [parseAnswer(a, { cache: false }), parseAnswer(b, { cache: false })]);
  progress.update('comparisons of parsed answers', true);
  const cached = rate(seconds, parsed.length, () => {
    for (const [a, b] of parsed) if (answersEqual(a, b)) sink++;
  });
  // `sink` keeps every measured loop observable, so none of them can be optimised away.
  progress.done(`done (${sink} results)`);

  let variantsEqual = 0;
  let distinctEqual = 0;
  for (let i = 0; i < parsed.length; i++) {
    const equal = answersEqual(parsed[i][0], parsed[i][1]);
    if (i < golds.length) variantsEqual += equal ? 1 : 0;
    else distinctEqual += equal ? 1 : 0;
  }

  const round = (x: number): number => Math.round(x);
  const result: BenchGradeResult = {
    bench: 'grade',
    data: basename(path),
    answers: golds.length,
    pairs: pairs.length,
    pairs_per_s: round(uncached),
    cached_pairs_per_s: round(cached),
    parse_per_s: round(parse),
    string_eq_pairs_per_s: round(stringEq),
    ratio_pairs_to_parse: Number((uncached / parse).toFixed(3)),
    ratio_pairs_to_string_eq: Number((uncached / stringEq).toExponential(2)),
    variant_agreement: variantsEqual / golds.length,
    distinct_equal_fraction: Number((distinctEqual / golds.length).toFixed(4)),
    target_pairs_per_s: TARGET_PAIRS_PER_S,
    ratio_pairs_to_target: Number((uncached / TARGET_PAIRS_PER_S).toFixed(3)),
    meets_target: uncached >= TARGET_PAIRS_PER_S && variantsEqual === golds.length,
    seconds_per_measure: seconds,
    extract_per_s: extract === null ? null : round(extract),
    node: process.version,
  };
  const lines = [
    `grader on ${golds.length} gold answers of ${basename(path)}, ${pairs.length} pairs (${seconds}s per measurement)`,
    `  uncached comparisons  ${result.pairs_per_s.toLocaleString('en-US')} pairs/s (target ${TARGET_PAIRS_PER_S.toLocaleString('en-US')}: ${result.meets_target ? 'met' : 'NOT met'}, ratio ${result.ratio_pairs_to_target})`,
    `  parsed comparisons    ${result.cached_pairs_per_s.toLocaleString('en-US')} pairs/s`,
    `  anchor: parsing       ${result.parse_per_s.toLocaleString('en-US')} answers/s (ratio pairs/parse ${result.ratio_pairs_to_parse})`,
    `  anchor: string ===    ${result.string_eq_pairs_per_s.toLocaleString('en-US')} pairs/s (ratio ${result.ratio_pairs_to_string_eq})`,
    ...(extract === null ? [] : [`  free-text extraction ${Math.round(extract).toLocaleString('en-US')} solutions/s`]),
    `  rewrites judged equal ${(result.variant_agreement * 100).toFixed(1)}%, distinct golds judged equal ${(result.distinct_equal_fraction * 100).toFixed(1)}%`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.json) printJsonLine(result);
  return result;
}

export const benchGradeCommand: CommandModule<object, BenchGradeArgs> = {
  command: 'grade',
  describe: 'answer comparisons per second on MATH500 answers, against string equality and parsing alone',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'end with one JSON line (pairs_per_s, ratios, ...)' })
      .option('seconds', { type: 'number', default: 1, describe: 'duration of each measurement' })
      .option('data', { type: 'string', describe: 'problem file to take answers from (a file, or a benchmark name; default: math500)' }),
  handler: async (args: ArgumentsCamelCase<BenchGradeArgs>) => {
    await runBenchGrade(args);
  },
};
