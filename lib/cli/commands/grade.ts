/**
 * `rstar grade`: are two final answers equivalent? One pair from flags, or a JSONL file of pairs.
 *
 *   rstar grade --gold '\frac{1}{2}' --pred 0.5
 *   rstar grade --jsonl pairs.jsonl            (lines {"gold": ..., "pred": ...}; --jsonl=- reads stdin)
 *
 * Every pair prints one line {"gold", "pred", "equal"} on stdout, in input order; blank input lines are
 * skipped. With --boxed, `pred` is a whole generated solution and its last `\boxed{}` is graded (the
 * extracted answer is printed as "extracted"). With --extract, `pred` is free text from any model and
 * its final answer is found as lib/grade/free-text.ts says (boxes, "the final answer is", the last
 * `$…$` / `\[…\]` / `\(…\)`, the last number). A malformed line stops the run with its file:line.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { DataError, invalidArgument, RstarError } from '../../errors.js';
import { AnswerKey, extractBoxed, extractFinalAnswer, isEquivalent } from '../../grade/index.js';
import { printJsonLine } from '../output.js';

interface GradeArgs {
  gold?: string;
  pred?: string;
  jsonl?: string;
  boxed: boolean;
  extract: boolean;
}

/** How `pred` is read: as a final answer, as a solution whose last box is graded, or as free text. */
export type PredMode = 'answer' | 'boxed' | 'extract';

function extractAnswer(pred: string, mode: PredMode): string | null {
  return mode === 'extract' ? extractFinalAnswer(pred) : extractBoxed(pred);
}

/** One graded pair, as printed. */
export interface GradeLine {
  gold: string | number;
  /** As given; null when the line had no string or number answer (null, missing, other), graded unequal. */
  pred: string | number | null;
  equal: boolean;
  /** With --boxed: the content of the last `\boxed{}` of `pred`; with --extract: its final answer; null when none. */
  extracted?: string | null;
}

/**
 * Grades one pair. `mode` true or 'boxed': `pred` is a generated solution whose last `\boxed{}` is
 * compared; 'extract': `pred` is free text whose final answer is found by {@link extractFinalAnswer}.
 */
export function gradePair(gold: string | number, pred: string | number, mode: boolean | PredMode = false): GradeLine {
  const how: PredMode = mode === true ? 'boxed' : mode === false ? 'answer' : mode;
  if (how === 'answer') return { gold, pred, equal: isEquivalent(gold, pred) };
  const extracted = extractAnswer(String(pred), how);
  return { gold, pred, equal: extracted !== null && isEquivalent(gold, extracted), extracted };
}

export interface GradeJsonlOptions {
  /** A file path, or "-" for stdin. */
  input: string;
  boxed?: boolean;
  /** Read `pred` as free text (see {@link extractFinalAnswer}); takes precedence over `boxed`. */
  extract?: boolean;
  /** Where output goes (default: stdout, respecting back-pressure). */
  write?: (chunk: string) => void | Promise<void>;
}

/** Grades every line of a JSONL file of {gold, pred}; returns how many pairs and how many were equal. */
export async function gradeJsonl(options: GradeJsonlOptions): Promise<{ pairs: number; equal: number }> {
  const name = options.input === '-' ? '<stdin>' : options.input;
  const stream = options.input === '-' ? process.stdin : createReadStream(options.input, { encoding: 'utf8' });
  const write = options.write ?? writeStdout;
  const mode: PredMode = options.extract ? 'extract' : options.boxed ? 'boxed' : 'answer';
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNumber = 0;
  let pairs = 0;
  let equal = 0;
  let chunk = '';
  // Consecutive lines often share a gold answer (many samples of one problem): parse it once.
  let lastGold: string | number | undefined;
  let lastKey: AnswerKey | undefined;
  try {
    for await (const line of lines) {
      lineNumber++;
      if (line.trim() === '') continue;
      const where = `${name}:${lineNumber}`;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch (err) {
        throw new DataError(`${where} is not valid JSON (${(err as Error).message}); expected {"gold": ..., "pred": ...}`);
      }
      if (record === null || typeof record !== 'object' || Array.isArray(record)) {
        throw new DataError(`${where}: expected an object {"gold": ..., "pred": ...} but found ${line.slice(0, 60)}`);
      }
      const { gold, pred } = record as { gold?: unknown; pred?: unknown };
      if (typeof gold !== 'string' && typeof gold !== 'number') throw new DataError(`${where}: expected "gold" to be a string or number but found ${JSON.stringify(gold) ?? 'nothing'}`);
      if (gold !== lastGold || lastKey === undefined) {
        lastGold = gold;
        lastKey = new AnswerKey(gold);
      }
      let out: GradeLine;
      if (typeof pred !== 'string' && typeof pred !== 'number') {
        // A model that produced no answer (null, a missing field, something else): graded unequal,
        // never a reason to stop grading the rest of the file.
        out = { gold, pred: null, equal: false, ...(mode !== 'answer' ? { extracted: null } : {}) };
      } else if (mode !== 'answer') {
        const extracted = extractAnswer(String(pred), mode);
        out = { gold, pred, equal: extracted !== null && lastKey.matches(extracted), extracted };
      } else {
        out = { gold, pred, equal: lastKey.matches(pred) };
      }
      pairs++;
      if (out.equal) equal++;
      chunk += `${JSON.stringify(out)}\n`;
      if (chunk.length >= 1 << 16) {
        await write(chunk);
        chunk = '';
      }
    }
  } catch (err) {
    if (err instanceof RstarError) throw err;
    throw new RstarError('IO', `Cannot read ${name}: ${(err as Error).message}`, { cause: err });
  } finally {
    if (chunk) await write(chunk);
  }
  return { pairs, equal };
}

function writeStdout(chunk: string): Promise<void> | void {
  if (process.stdout.write(chunk)) return;
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}

export async function runGrade(args: GradeArgs): Promise<void> {
  // Checked here, not with yargs' conflicts(): both flags default to false, which yargs counts as given.
  if (args.boxed && args.extract) throw invalidArgument('one of --boxed or --extract', 'rstar grade', 'both');
  if (args.jsonl !== undefined) {
    await gradeJsonl({ input: args.jsonl, boxed: args.boxed, extract: args.extract });
    return;
  }
  if (args.gold === undefined || args.pred === undefined) {
    const given = args.gold !== undefined ? 'only --gold' : args.pred !== undefined ? 'only --pred' : 'neither';
    throw invalidArgument('--gold G --pred P, or --jsonl FILE', 'rstar grade', given);
  }
  printJsonLine(gradePair(args.gold, args.pred, args.extract ? 'extract' : args.boxed));
}

export const gradeCommand: CommandModule<object, GradeArgs> = {
  command: 'grade',
  describe: 'decide whether predicted final answers are equivalent to gold answers (one pair, or JSONL)',
  builder: (y) =>
    y
      .usage(
        '$0 grade --gold G --pred P\n$0 grade --jsonl FILE\n\n' +
          'Prints one JSON line {gold, pred, equal} per pair. Answers are LaTeX or plain text (\\frac{1}{2}, 0.5, ' +
          '(3,4], \\{1,2\\}, x = 5, 52_8, \\text{(E)}). Use --pred=-5 for values that start with a dash.',
      )
      .option('gold', { type: 'string', describe: 'the reference answer' })
      .option('pred', { type: 'string', describe: 'the predicted answer (a whole solution with --boxed or --extract)' })
      .option('jsonl', { type: 'string', describe: 'file of {"gold", "pred"} lines to grade in order (--jsonl=- reads stdin)' })
      .option('boxed', { type: 'boolean', default: false, describe: 'pred is generated text: grade its last \\boxed{}' })
      .option('extract', {
        type: 'boolean',
        default: false,
        describe: 'pred is free text from any model: grade its final answer (boxes, "the final answer is", the last $...$, \\[...\\] or \\(...\\), the last number)',
      })
      .conflicts('jsonl', ['gold', 'pred'])
      .example('$0 grade --gold "\\frac{1}{2}" --pred 0.5', '{"gold":"\\\\frac{1}{2}","pred":"0.5","equal":true}')
      .example('$0 grade --jsonl pairs.jsonl > graded.jsonl', 'grade a file of pairs')
      .example('$0 grade --extract --gold 18 --pred "So she pays $18$ in total."', 'grade a free-text solution'),
  handler: async (args: ArgumentsCamelCase<GradeArgs>) => {
    await runGrade(args);
  },
};
