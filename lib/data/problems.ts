/**
 * Loading problem sets: the four benchmark files shipped in lib/data/benchmarks exactly as published
 * (found by name: `gsm8k`, `math500`, `aime24`, `amc23`), and plain `{question, answer}` records, from
 * JSONL or from a JSON array.
 *
 * The files disagree on field names and answer formats, so each record is read by what it holds:
 * - the question is `problem` (MATH500, AIME, AMC) or `question` (GSM8K, plain records);
 * - a string answer containing `####` is a GSM8K rationale: the gold is the text after `####`, thousands
 *   commas removed ("#### 1,600" gives "1600"); the rationale goes to `meta.rationale`;
 * - a numeric answer (AMC's `27.0`, which JSON reads as 27) becomes its shortest decimal string ("27");
 * - an all-digit string with leading zeros (AIME's "025") loses them ("25");
 * - any other string (MATH500's LaTeX) is kept verbatim: the grader normalises at comparison time, and
 *   the published text stays readable in reports.
 * Whenever the answer was rewritten, the original value is kept in `meta.rawAnswer`. The id is the
 * record's `unique_id` (MATH500) or `id` (AIME, AMC), else `<source>-<ordinal>` (GSM8K, 1-based).
 * Every other field (`solution`, `subject`, `level`, `url`, ...) is copied into `meta` untouched.
 *
 * Left out: other benchmark layouts (OlympiadBench, Omni-Math lists of answers); add them here when used.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { assertInteger, DataError, RstarError, invalidArgument } from '../errors.js';
import { extractGsm8kAnswer } from '../grade/extract.js';
import { benchmarkDataDir } from '../paths.js';

/** The benchmarks shipped with the package, by the name commands accept in place of a path. */
export const BENCHMARKS = ['gsm8k', 'math500', 'aime24', 'amc23'] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

/** The shipped file of a benchmark. */
export function benchmarkPath(name: BenchmarkName): string {
  return join(benchmarkDataDir, `${name}_test.jsonl`);
}

/**
 * A problem-set argument as a file path: a benchmark name (`math500`) names its shipped file, anything
 * else is a path that must exist. `flag` names the option in the error.
 *
 * @example resolveProblemFile('aime24'); // '<package>/lib/data/benchmarks/aime24_test.jsonl'
 */
export function resolveProblemFile(nameOrPath: string, flag = '--problems'): string {
  if ((BENCHMARKS as readonly string[]).includes(nameOrPath)) return benchmarkPath(nameOrPath as BenchmarkName);
  if (typeof nameOrPath !== 'string' || !existsSync(nameOrPath)) {
    throw invalidArgument(`a problem file or one of the benchmark names ${BENCHMARKS.join(', ')}`, flag, nameOrPath);
  }
  return nameOrPath;
}

/** One problem of a benchmark or training set. */
export interface Problem {
  /** Unique within its file (checked on load). */
  id: string;
  /** The problem statement, as published. */
  question: string;
  /** The gold final answer, in the form the grader takes (see the file header for the rewrites). */
  answer: string;
  /** The dataset: the file name without extension and without a `_test` / `-test` suffix ("math500"). */
  source: string;
  /** The record's other fields, plus `rawAnswer` when the answer was rewritten, `rationale` for GSM8K. */
  meta: Record<string, unknown>;
}

export interface LoadProblemsOptions {
  /** Read at most this many problems (from the start of the file). */
  limit?: number;
  /** Overrides the source name derived from the file name. */
  source?: string;
}

/**
 * Reads a problem file (JSONL, or a JSON array when the file starts with `[`). Bad records throw a
 * DataError naming `file:line` (JSONL) or `file: record N` (JSON array) and what was expected.
 *
 * @example
 * const problems = await loadProblems(benchmarkPath('aime24'));
 * problems[7]; // { id: '67', question: '...', answer: '25', source: 'aime24', meta: { rawAnswer: '025', ... } }
 */
export async function loadProblems(path: string, options: LoadProblemsOptions = {}): Promise<Problem[]> {
  const limit = options.limit === undefined ? Infinity : assertInteger(options.limit, 'options.limit', 0);
  const source = options.source ?? sourceName(path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RstarError('IO', `Cannot read the problem file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  const records: { value: unknown; where: string }[] = [];
  if (text.trimStart().startsWith('[')) {
    let array: unknown[];
    try {
      array = JSON.parse(text) as unknown[];
    } catch (err) {
      throw new DataError(`${path} starts with "[" but is not a valid JSON array: ${(err as Error).message}`);
    }
    for (let i = 0; i < array.length && records.length < limit; i++) records.push({ value: array[i], where: `${path}: record ${i + 1}` });
  } else {
    const lines = text.split('\n');
    for (let i = 0; i < lines.length && records.length < limit; i++) {
      const line = lines[i].trim();
      if (line === '') continue;
      const where = `${path}:${i + 1}`;
      try {
        records.push({ value: JSON.parse(line), where });
      } catch (err) {
        throw new DataError(`${where} is not valid JSON (${(err as Error).message}); expected one problem object per line`);
      }
    }
  }
  if (records.length === 0 && limit > 0) throw new DataError(`${path} holds no problems`);

  const problems: Problem[] = [];
  const seen = new Map<string, string>();
  for (const { value, where } of records) {
    const problem = toProblem(value, where, source, problems.length + 1);
    const earlier = seen.get(problem.id);
    if (earlier !== undefined) throw new DataError(`${where} repeats the id ${JSON.stringify(problem.id)} of ${earlier}`);
    seen.set(problem.id, where);
    problems.push(problem);
  }
  return problems;
}

/** "…/math500_test.jsonl" -> "math500". */
function sourceName(path: string): string {
  return basename(path)
    .replace(/\.(jsonl|json|ndjson)$/i, '')
    .replace(/[_-]test$/i, '');
}

function describeFields(record: Record<string, unknown>): string {
  const keys = Object.keys(record);
  return keys.length === 0 ? 'no fields' : `the fields ${keys.join(', ')}`;
}

function toProblem(value: unknown, where: string, source: string, ordinal: number): Problem {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DataError(`${where}: expected a JSON object with a question and an answer but found ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
  }
  const record = value as Record<string, unknown>;
  const question = typeof record.problem === 'string' ? record.problem : record.question;
  if (typeof question !== 'string' || question.trim() === '') {
    throw new DataError(`${where}: expected a non-empty "problem" or "question" string but the record has ${describeFields(record)}`);
  }

  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) {
    if (k !== 'problem' && k !== 'question' && k !== 'answer' && k !== 'id' && k !== 'unique_id') meta[k] = v;
  }
  // AIME and AMC carry the statement twice, as `problem` and `question`; keep a differing copy.
  if (typeof record.problem === 'string' && typeof record.question === 'string' && record.question !== record.problem) {
    meta.question = record.question;
  }

  const raw = record.answer;
  let answer: string;
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw)) throw new DataError(`${where}: expected a finite "answer" but found ${raw}`);
    answer = String(raw);
    meta.rawAnswer = raw;
  } else if (typeof raw === 'string' && raw.trim() !== '') {
    answer = raw.trim();
    if (answer.includes('####')) {
      const final = extractGsm8kAnswer(answer);
      if (final === null) throw new DataError(`${where}: the "answer" has "####" but no final answer after it`);
      meta.rationale = answer.slice(0, answer.lastIndexOf('####')).trim();
      meta.rawAnswer = raw;
      answer = final;
    } else if (/^-?0\d+$/.test(answer)) {
      meta.rawAnswer = raw;
      answer = answer.replace(/^(-?)0+(?=\d)/, '$1');
    }
  } else {
    throw new DataError(`${where}: expected an "answer" string or number but found ${raw === undefined ? 'no "answer" field' : JSON.stringify(raw)}`);
  }

  const rawId = record.unique_id ?? record.id;
  let id: string;
  if (typeof rawId === 'string' && rawId !== '') id = rawId;
  else if (typeof rawId === 'number' && Number.isFinite(rawId)) id = String(rawId);
  else if (rawId === undefined || rawId === null) id = `${source}-${ordinal}`;
  else throw new DataError(`${where}: expected "id" to be a string or number but found ${JSON.stringify(rawId)}`);

  return { id, question, answer, source, meta };
}
