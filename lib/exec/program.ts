/**
 * The two text transformations around running a step (spec §2.2): building the program that verifies
 * a step, and turning what the program printed into the observation the reference writes back into
 * the trajectory after an `<end_of_code>` step.
 *
 * Left out from the reference interpreter on purpose: evaluating the last expression when a program
 * prints at most once (we report real stdout, as `python3 program.py` would), and its "<print args>:
 * <output>" echo when a program prints more than once. Both are artefacts of its in-process `exec`.
 */
import { MARKERS } from '../steps/markers.js';
import type { ExecResult } from './types.js';

/** Separator the reference puts between two `<code>` blocks found in one text. */
export const CODE_BLOCK_SEPARATOR = '\n# ========\n';

/** An ancestor step: its text, and whether its own run timed out (such steps are left out, as in the reference). */
export type AncestorStep = string | { text: string; timedOut?: boolean };

/**
 * The program that verifies `newStep`: the code of the ancestor steps of the current `<code>` block,
 * oldest first, followed by the step itself (paper: s_1 ⊕ … ⊕ s_{i-1} ⊕ s_{i,j}).
 *
 * `ancestorStepTexts` are the texts of the steps from the root down to the new step's parent. The walk
 * goes up from the parent and stops at the first ancestor that closed a block (its text holds
 * `<end_of_code>` or `<end_of_output>`); ancestors marked `timedOut` are skipped. In the joined text
 * every `<end_of_step>` is removed, and only what lies between `<code>` and `<end_of_code>` is kept
 * (several blocks are joined by `# ========`; a text without `<code>` is used whole). Lines that are
 * only a Markdown fence (```` ```python ````) are dropped, as the reference strips backticks.
 *
 * @example
 * buildStepProgram(['<code>\n# Step 1\nx = 2\n<end_of_step>'], '\n# Step 2\nprint(x * 3)\n<end_of_code>')
 * // => '# Step 1\nx = 2\n\n\n\n# Step 2\nprint(x * 3)'
 */
export function buildStepProgram(ancestorStepTexts: readonly AncestorStep[], newStep: string): string {
  const texts = [newStep];
  for (let i = ancestorStepTexts.length - 1; i >= 0; i--) {
    const a = ancestorStepTexts[i];
    const text = typeof a === 'string' ? a : a.text;
    if (text.includes(MARKERS.endOfCode) || text.includes(MARKERS.endOfOutput)) break;
    if (typeof a !== 'string' && a.timedOut) continue;
    texts.unshift(text);
  }
  return codeOfStepText(texts.join('\n'));
}

/** The Python source inside a text made of step texts (see `buildStepProgram`). */
export function codeOfStepText(text: string): string {
  const flat = text.split(MARKERS.endOfStep).join('\n');
  const cut = (s: string): string => {
    let end = s.length;
    for (const m of [MARKERS.endOfCode, MARKERS.output, MARKERS.answer]) {
      const at = s.indexOf(m);
      if (at >= 0 && at < end) end = at;
    }
    return s.slice(0, end);
  };
  const blocks = flat.includes(MARKERS.code) ? flat.split(MARKERS.code).slice(1).map(cut) : [cut(flat)];
  return blocks
    .map((block) =>
      block
        .split('\n')
        .filter((line) => !/^\s*```\s*(python|py)?\s*$/i.test(line))
        .join('\n')
        .replace(/^(\s*\n)+/, '')
        .trimEnd(),
    )
    .join(CODE_BLOCK_SEPARATOR);
}

/** Most characters of an observation; a longer one keeps its first and last half around '...'. */
export const MAX_OBSERVATION_CHARS = 1024;

/**
 * The reference's observation of a program's output: stripped; if the whole of it parses as a Python
 * float and `str(round(value, 4))` is shorter, that; if longer than 1024 characters, the first 512 +
 * '...' + the last 512. Python's own rules are reproduced exactly: `float()` syntax (underscores,
 * inf/nan), `round` half-to-even on the exact binary value, `repr` switching to exponent notation
 * below 1e-4 and from 1e16, and lengths in code points.
 *
 * @example
 * formatObservation('8.94427190999916\n') // => '8.9443'
 * formatObservation('42\n')               // => '42'  ("42.0" would be longer)
 */
export function formatObservation(stdout: string): string {
  let text = pythonStrip(stdout);
  const value = parsePythonFloat(text);
  if (value !== null) {
    const rounded = pythonFloatRepr(pythonRound4(value));
    if (rounded.length < [...text].length) text = rounded;
  }
  const chars = [...text];
  if (chars.length > MAX_OBSERVATION_CHARS) {
    const half = MAX_OBSERVATION_CHARS / 2;
    text = `${chars.slice(0, half).join('')}...${chars.slice(chars.length - half).join('')}`;
  }
  return text;
}

/**
 * The observation of a run: the formatted stdout when it succeeded, otherwise the formatted error line
 * (the reference returns "<ExceptionType>: <message>" instead of the output).
 */
export function observationOf(result: Pick<ExecResult, 'ok' | 'stdout' | 'error'>): string {
  return formatObservation(result.ok ? result.stdout : (result.error ?? 'Error: the program failed'));
}

// Python's str.strip() whitespace (str.isspace), which differs from JavaScript's trim() at \x1c-\x1f and U+FEFF.
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

function pythonStrip(s: string): string {
  return s.replace(PY_STRIP, '');
}

const DIGITS = '\\d(?:_?\\d)*';
const PY_FLOAT = new RegExp(`^[+-]?(?:(?:(?:${DIGITS})?\\.${DIGITS}|${DIGITS}\\.?)(?:[eE][+-]?${DIGITS})?|inf|infinity|nan)$`, 'i');

/** `float(s)` for an already stripped string, or null where Python would raise ValueError. */
export function parsePythonFloat(s: string): number | null {
  if (!PY_FLOAT.test(s)) return null;
  const body = s.replace(/_/g, '').toLowerCase();
  const negative = body.startsWith('-');
  const unsigned = body.replace(/^[+-]/, '');
  if (unsigned === 'nan') return NaN;
  if (unsigned === 'inf' || unsigned === 'infinity') return negative ? -Infinity : Infinity;
  return Number(body);
}

/** Python's `round(x, 4)`: the exact binary value rounded half-to-even at 4 decimals. */
export function pythonRound4(x: number): number {
  if (!Number.isFinite(x) || Math.abs(x) >= 1e21) return x;
  const scaled = x * 32;
  // x·10^4 ends in exactly .5 only when x = odd/32; everywhere else toFixed's nearest is the answer.
  if (Number.isInteger(scaled) && scaled % 2 !== 0) {
    const sign = x < 0 ? '-' : '';
    const fifth = BigInt(Math.abs(x).toFixed(5).replace('.', ''));
    let q = fifth / 10n;
    if (q % 2n === 1n) q += 1n;
    const s = q.toString().padStart(5, '0');
    return Number(`${sign}${s.slice(0, -4)}.${s.slice(-4)}`);
  }
  return Number(x.toFixed(4));
}

/** Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function pythonFloatRepr(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const sign = v < 0 ? '-' : '';
  const [mantissa, expText] = Math.abs(v).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exp = Number(expText);
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const whole = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const fraction = digits.length > exp + 1 ? digits.slice(exp + 1) : '0';
  return `${sign}${whole}.${fraction}`;
}
