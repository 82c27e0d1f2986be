/**
 * The parsed form of a final answer and the equivalence of two parsed answers.
 *
 * An answer is parsed once into a {@link ParsedAnswer}: a value (numbers and expressions, evaluated by
 * lib/grade/math.ts), an equation, a tuple or interval (brackets kept), an unordered list (bare comma lists,
 * `\{...\}` sets, the two branches of `\pm`), a union of intervals, a matrix, a multiple-choice letter, a
 * numeral in another base (`52_8`), or plain text. Comparing two parsed answers does no parsing, which is
 * what makes the all-pairs comparisons of majority voting cheap.
 *
 * Numeric tolerance (stated, and different from the reference on purpose):
 * - when either value is an integer, the other must equal it up to float noise (relative 1e-9, absolute
 *   1e-12). The reference's `isclose(rel_tol=1e-4)` would accept 27646 for 27648, wrong for AIME and GSM8K;
 * - otherwise relative 1e-4, as in the reference (`\frac{14}{3}` accepts 4.667, `2\sqrt{5}` accepts 4.4721);
 * - expressions with free variables agree at every sample point up to relative 1e-6;
 * - a percent sign on either side also accepts the value divided by 100 (`15\%` equals 0.15 and 15). The
 *   reference tries x100 and /100 on every number, which makes 1 equal to 100; we only do it for a `%`.
 * Equations compare as their differences lhs - rhs up to a non-zero constant factor (`2y = 4x + 6` equals
 * `y = 2x + 3`), after a lone single-variable assignment (`x = 5`, `y = 2x + 3`) was reduced to its right
 * side by the normaliser, as the reference does. A numeral in a base equals another numeral of the same
 * value, or a plain integer written with the same digits (`52` for `52_8`, the base being implied).
 * A lone assignment kept its variable, so `y = 2x + 1` also equals the equation `2x + 1 - y = 0` (the same
 * solution set, as the same difference up to a factor) and `x = 5` equals `2x = 10`.
 *
 * Further rules (issue #8):
 * - inequalities are intervals: `x > 2` equals `(2, \infty)` and not `[2, \infty)`; `2 \le x < 5` is
 *   `[2, 5)`; `x \ne 3` is `(-\infty, 3) \cup (3, \infty)`; relations joined by "or" (or `\cup`) are a
 *   union, by "and" an intersection. The variable's name is not compared (an interval has none);
 * - units: a known unit on only one side is ignored (`5 cm` equals `5`); known units of one dimension are
 *   converted (`5 cm` equals `50 mm`, `1.5 hours` equals `90 minutes`); different dimensions or
 *   currencies never agree (`5 cm` is not `5 kg`, `\$5` is not `5 cents`). Units we do not know
 *   ("apples") are ignored. The table is lib/grade/units.ts;
 * - a bare `1,5` (no space, not three digits after the comma) is both the list {1, 5} and the decimal 1.5,
 *   so it equals either; `1,500` is 1500 and `1, 5` only a list;
 * - matrices in any environment (`pmatrix bmatrix Bmatrix vmatrix Vmatrix matrix smallmatrix`, their
 *   starred forms, `array` with its column spec, brackets around them) compare element-wise, also
 *   against a tuple of rows (`[[1,2],[3,4]]`);
 * - an empty answer, a missing one (null, undefined) and one longer than MAX_ANSWER_LENGTH are "no
 *   answer" and equal nothing, not even themselves.
 * Every rule is symmetric, so `isEquivalent(a, b) === isEquivalent(b, a)`, which majority voting needs.
 */
import { MAX_ANSWER_LENGTH, normalizeDetailed, stripAssignment } from './normalize.js';
import { SAMPLE_POINTS, evaluateMath, sampleValues, type Val } from './math.js';
import type { Unit } from './units.js';

interface Common {
  /** The normalised answer text; equal texts are equal answers. */
  canon: string;
}
export type ParsedAnswer = Common &
  (
    | { kind: 'value'; v: Val; percent: boolean; unit: Unit | null; assigned: string | null }
    | { kind: 'equation'; diff: Val }
    | { kind: 'tuple'; open: string; close: string; items: ParsedAnswer[]; relation?: boolean }
    | { kind: 'list'; bare: boolean; items: ParsedAnswer[]; decimal?: number | null }
    | { kind: 'union'; items: ParsedAnswer[]; relation?: boolean }
    | { kind: 'matrix'; rows: number; cols: number; items: ParsedAnswer[] }
    | { kind: 'choice'; letter: string; rest: ParsedAnswer | null }
    | { kind: 'based'; digits: string; value: number }
    | { kind: 'text'; folded: string }
    | { kind: 'none' }
  );

/** Options of {@link parseAnswer}. */
export interface ParseOptions {
  /** Reuse and remember parses in a bounded module-level memo (default true). */
  cache?: boolean;
}

const MEMO_LIMIT = 20_000;
const MEMO_KEY_LIMIT = 2_000;
/** No answer: null, empty, or too long to be one. Equal to nothing. */
const NONE: ParsedAnswer = { kind: 'none', canon: '' };
const memo = new Map<string, ParsedAnswer>();

/**
 * Parses a final answer (a `\boxed{}` content, a gold answer, a number) once, for repeated comparison
 * with {@link answersEqual}. Never throws: what cannot be read as math is plain text.
 *
 * @example
 * answersEqual(parseAnswer('\\frac{1}{2}'), parseAnswer('0.5')) // true
 */
export function parseAnswer(answer: string | number | null | undefined, options: ParseOptions = {}): ParsedAnswer {
  if (typeof answer !== 'string' && typeof answer !== 'number') return NONE;
  const raw = typeof answer === 'number' ? numberToString(answer) : answer;
  // Long inputs (whole solutions, garbage) are not remembered: the memo would hold megabytes of keys.
  if (options.cache === false || raw.length > MEMO_KEY_LIMIT) return parseRaw(raw);
  let parsed = memo.get(raw);
  if (parsed === undefined) {
    parsed = parseRaw(raw);
    // A full memo is dropped wholesale: simpler than LRU, and a re-parse costs microseconds.
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(raw, parsed);
  }
  return parsed;
}

function numberToString(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? '\\infty' : n < 0 ? '-\\infty' : 'NaN';
}

function parseRaw(raw: string): ParsedAnswer {
  const { text, percent, unit, assigned, commaDecimal, joinedBoxes } = normalizeDetailed(raw);
  if (text === '' || text.length > MAX_ANSWER_LENGTH) return NONE;
  const parsed = parseStructure(text, percent, 0);
  // Boxes that all hold the same value are one answer written several ways, not a list.
  if (joinedBoxes && parsed.kind === 'list' && parsed.items.length > 1 && parsed.items.every((i) => answersEqual(i, parsed.items[0]))) return parsed.items[0];
  if (parsed.kind === 'value' && (unit || assigned)) return value(parsed.canon, parsed.v, parsed.percent, unit ?? null, assigned ?? null);
  if (parsed.kind === 'list' && parsed.bare && commaDecimal != null) return { ...parsed, decimal: commaDecimal };
  return parsed;
}

function fold(s: string): string {
  return s.toLowerCase().replace(/\\(?:text|mathrm|textbf|mbox)\{([^{}]*)\}/g, '$1').replace(/[\s{}]/g, '');
}

const MAX_DEPTH = 8;
const MAX_ITEMS = 64;

function parseStructure(s: string, percent: boolean, depth: number): ParsedAnswer {
  const canon = s;
  const asText = (): ParsedAnswer => ({ kind: 'text', canon, folded: fold(s) });
  if (s === '' || depth > MAX_DEPTH) return asText();

  const first = s.charCodeAt(0);
  // Fast path for plain numbers, the common case.
  if (s.length < 16 && /^-?(\d+(\.\d*)?|\.\d+)$/.test(s)) return value(canon, Number(s), percent);

  // "(E)", "E", and "(C) 27" (a letter with the option's value, which numeric golds compare against).
  const choice = /^\(?([A-E])\)?$/.exec(s) ?? /^\(([A-E])\)/.exec(s);
  if (choice) {
    const rest = s.slice(choice[0].length);
    return { kind: 'choice', canon, letter: choice[1], rest: rest === '' ? null : parseStructure(rest, percent, depth + 1) };
  }

  const based = /^([0-9A-Z]+)_\{?(\d{1,2})\}?$/.exec(s);
  if (based) {
    const base = Number(based[2]);
    const digits = based[1].replace(/^0+(?=.)/, '');
    const value = base >= 2 && base <= 36 && [...digits].every((d) => parseInt(d, 36) < base) ? parseInt(digits, base) : NaN;
    if (!Number.isNaN(value)) return { kind: 'based', canon, digits, value };
  }

  if (s.includes('\\begin{')) {
    // `\left[ \begin{array}{cc} ... \end{array} \right]`: the brackets around a matrix are notation.
    const inner = first === 92 ? s : /^[([]\s*(\\begin\{[\s\S]*\\end\{[^{}]*\})\s*[)\]]$/.exec(s)?.[1];
    const matrix = inner === undefined ? null : parseMatrix(inner, s, depth);
    if (matrix) return matrix;
  }
  if (s === '\\mathbb{R}' || s === '\\mathbb R' || s === '\\R') return parseStructure('(-\\infty,\\infty)', false, depth + 1);

  if (s.includes('\\cup')) {
    const parts = splitTopLevel(s, '\\cup');
    if (parts.length > 1) return { kind: 'union', canon, items: parts.map((p) => parseStructure(p, false, depth + 1)) };
  }

  if (s === '\\emptyset' || s === '\\varnothing' || s === '\\{\\}') return { kind: 'list', canon, bare: false, items: [] };
  if (s.startsWith('\\{') && s.endsWith('\\}') && closesAtEnd(s)) {
    const items = parseItems(splitTopLevel(s.slice(2, -2), ','), depth);
    return items ? { kind: 'list', canon, bare: false, items } : asText();
  }

  if ((first === 40 /* ( */ || first === 91) /* [ */ && closesAtEnd(s)) {
    const last = s[s.length - 1];
    if (last === ')' || last === ']') {
      const parts = splitTopLevel(s.slice(1, -1), ',');
      if (parts.length > 1) {
        const items: ParsedAnswer[] = [];
        for (const p of parts) items.push(parseStructure(stripAssignment(p), false, depth + 1));
        return { kind: 'tuple', canon, open: s[0], close: last, items };
      }
    }
  }

  if (s.includes(',')) {
    const parts = splitTopLevel(s, ',');
    if (parts.length > 1) {
      const items = parseItems(parts, depth);
      if (items && items.every((i) => i.kind === 'tuple' && i.relation)) return { kind: 'union', canon, items, relation: true };
      return items ? { kind: 'list', canon, bare: true, items } : asText();
    }
  }

  if (s.includes('\\pm') || s.includes('\\mp')) {
    const items = parseItems([s], depth);
    return items ? { kind: 'list', canon, bare: true, items } : asText();
  }

  if (RELATION_HINT.test(s)) {
    const interval = parseRelation(s, depth);
    if (interval) return interval;
  }

  const eq = s.indexOf('=');
  if (eq >= 0) {
    if (s.indexOf('=', eq + 1) >= 0) return asText();
    const lhs = evaluateMath(s.slice(0, eq));
    const rhs = evaluateMath(s.slice(eq + 1));
    if (lhs === null || rhs === null) return asText();
    return { kind: 'equation', canon, diff: difference(lhs, rhs) };
  }

  const v = evaluateMath(s);
  if (v === null) return asText();
  return value(canon, v, percent);
}

/** Every value has the same fields in the same order, so comparisons see one object shape. */
function value(canon: string, v: Val, percent: boolean, unit: Unit | null = null, assigned: string | null = null): ParsedAnswer {
  return { kind: 'value', canon, v, percent, unit, assigned };
}

// ---------------------------------------------------------------------------------------------------
// Inequalities as intervals

const RELATION_HINT = /[<>]|\\(?:le|ge|lt|gt|ne)/;
const RELATION = /<=|>=|\\(?:leq?slant|geq?slant|leq?|geq?|lt|gt|neq?)(?![a-zA-Z])|<|>/g;
const LONE_VARIABLE = /^(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?\w+\}?)?$/;
const MINUS_INFINITY = value('-\\infty', -Infinity, false);
const PLUS_INFINITY = value('\\infty', Infinity, false);

type Relation = 'lt' | 'le' | 'gt' | 'ge' | 'ne';

function relationOf(op: string): Relation {
  if (op === '<' || op === '\\lt') return 'lt';
  if (op === '>' || op === '\\gt') return 'gt';
  if (op === '<=' || op.startsWith('\\le')) return 'le';
  if (op === '>=' || op.startsWith('\\ge')) return 'ge';
  return 'ne';
}

const FLIP: Record<Relation, Relation> = { lt: 'gt', le: 'ge', gt: 'lt', ge: 'le', ne: 'ne' };

function isVariable(s: string): boolean {
  return LONE_VARIABLE.test(s) && s !== '\\pi' && s !== '\\infty' && s !== 'e';
}

function interval(canon: string, lo: ParsedAnswer, loClosed: boolean, hi: ParsedAnswer, hiClosed: boolean): ParsedAnswer {
  return { kind: 'tuple', canon, open: loClosed ? '[' : '(', close: hiClosed ? ']' : ')', items: [lo, hi], relation: true };
}

/** The solution set of `x > 2`, `2 \le x < 5`, `3 > x`, `x \ne 1`, `x > 0 \land x < 2` as intervals; null otherwise. */
function parseRelation(s: string, depth: number): ParsedAnswer | null {
  if (s.includes('\\land')) {
    let acc: ParsedAnswer | null = null;
    for (const part of s.split('\\land')) {
      const next = parseRelation(part.trim(), depth + 1);
      if (next === null) return null;
      acc = acc === null ? next : intersect(s, acc, next);
      if (acc === null) return null;
    }
    return acc;
  }
  const operands: string[] = [];
  const ops: Relation[] = [];
  let at = 0;
  RELATION.lastIndex = 0;
  for (let m = RELATION.exec(s); m; m = RELATION.exec(s)) {
    operands.push(s.slice(at, m.index).trim());
    ops.push(relationOf(m[0]));
    at = m.index + m[0].length;
  }
  operands.push(s.slice(at).trim());
  const bound = (text: string): ParsedAnswer | null => {
    const b = parseStructure(text, false, depth + 1);
    return b.kind === 'value' ? b : null;
  };
  if (ops.length === 1) {
    let [left, right] = operands;
    let op = ops[0];
    if (!isVariable(left)) {
      if (!isVariable(right)) return null;
      [left, right] = [right, left];
      op = FLIP[op];
    }
    const c = bound(right);
    if (c === null) return null;
    switch (op) {
      case 'lt': return interval(s, MINUS_INFINITY, false, c, false);
      case 'le': return interval(s, MINUS_INFINITY, false, c, true);
      case 'gt': return interval(s, c, false, PLUS_INFINITY, false);
      case 'ge': return interval(s, c, true, PLUS_INFINITY, false);
      case 'ne': return { kind: 'union', canon: s, items: [interval(s, MINUS_INFINITY, false, c, false), interval(s, c, false, PLUS_INFINITY, false)], relation: true };
    }
  }
  if (ops.length === 2 && isVariable(operands[1]) && !ops.includes('ne')) {
    const rising = (op: Relation): boolean => op === 'lt' || op === 'le';
    if (rising(ops[0]) !== rising(ops[1])) return null;
    const a = bound(operands[0]);
    const b = bound(operands[2]);
    if (a === null || b === null) return null;
    // a < x <= b, or b > x >= a written downwards.
    return rising(ops[0]) ? interval(s, a, ops[0] === 'le', b, ops[1] === 'le') : interval(s, b, ops[1] === 'ge', a, ops[0] === 'ge');
  }
  return null;
}

/** The intersection of two numeric intervals (an empty one is the empty set); null when not both intervals. */
function intersect(canon: string, a: ParsedAnswer, b: ParsedAnswer): ParsedAnswer | null {
  if (a.kind !== 'tuple' || b.kind !== 'tuple') return null;
  const num = (p: ParsedAnswer): number | null => (p.kind === 'value' && typeof p.v === 'number' ? p.v : null);
  const [alo, ahi, blo, bhi] = [num(a.items[0]), num(a.items[1]), num(b.items[0]), num(b.items[1])];
  if (alo === null || ahi === null || blo === null || bhi === null) return null;
  let lo = a.items[0];
  let loClosed = a.open === '[';
  if (blo > alo || (blo === alo && b.open === '(')) [lo, loClosed] = [b.items[0], b.open === '['];
  let hi = a.items[1];
  let hiClosed = a.close === ']';
  if (bhi < ahi || (bhi === ahi && b.close === ')')) [hi, hiClosed] = [b.items[1], b.close === ']'];
  const l = num(lo) as number;
  const h = num(hi) as number;
  if (l > h || (l === h && !(loClosed && hiClosed))) return { kind: 'list', canon, bare: false, items: [] };
  return interval(canon, lo, loClosed, hi, hiClosed);
}

/** Parses list items, expanding `\pm` / `\mp` into both signs; null when there are too many. */
function parseItems(parts: string[], depth: number): ParsedAnswer[] | null {
  const items: ParsedAnswer[] = [];
  for (const part of parts) {
    for (const variant of expandPlusMinus(stripAssignment(part))) {
      if (items.length >= MAX_ITEMS) return null;
      items.push(parseStructure(variant, false, depth + 1));
    }
  }
  return items;
}

/** `3\pm2\sqrt{2}` -> [`3+2\sqrt{2}`, `3-2\sqrt{2}`]; at most two `\pm` are expanded (four variants). */
function expandPlusMinus(s: string): string[] {
  let variants = [s];
  for (let round = 0; round < 2; round++) {
    const next: string[] = [];
    let changed = false;
    for (const v of variants) {
      const m = /\\(pm|mp)(?![a-zA-Z])/.exec(v);
      if (!m) {
        next.push(v);
        continue;
      }
      changed = true;
      const before = v.slice(0, m.index);
      const after = v.slice(m.index + m[0].length);
      const signs = m[1] === 'pm' ? ['+', '-'] : ['-', '+'];
      // A leading \pm has nothing to add to: "\pm 3" is {3, -3}.
      for (const sign of signs) next.push(before === '' && sign === '+' ? after : before + sign + after);
    }
    variants = next;
    if (!changed) break;
  }
  return variants;
}

function difference(a: Val, b: Val): Val {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const out = new Float64Array(SAMPLE_POINTS);
  for (let k = 0; k < SAMPLE_POINTS; k++) out[k] = (typeof a === 'number' ? a : a[k]) - (typeof b === 'number' ? b : b[k]);
  return out;
}

/** Whether the bracket opening `s` closes at its very end (so `(a)(b)` is not one group). */
function closesAtEnd(s: string): boolean {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s[i];
    if (c === '\\') {
      c = s[++i];
      if (c !== '{' && c !== '}') continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) return i === s.length - 1;
    }
  }
  return false;
}

/** Splits at `sep` outside any brackets or braces (`\{`, `\}` count as braces). */
function splitTopLevel(s: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      if (depth === 0 && s.startsWith(sep, i) && sep.startsWith('\\')) {
        parts.push(s.slice(start, i));
        i += sep.length - 1;
        start = i + 1;
        continue;
      }
      i++;
      if (s[i] === '{') depth++;
      else if (s[i] === '}') depth--;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0 && c === sep) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts.map((p) => p.trim());
}

// Every matrix environment of amsmath and mathtools (starred forms take an alignment `[r]`), and
// array / tabular with their column spec.
const MATRIX = /^\\begin\{((?:[pbBvV]?matrix|smallmatrix)\*?|array|tabular)\}(?:\[[^\]]*\])?(?:\{[^{}]*\})?([\s\S]*)\\end\{\1\}$/;

function parseMatrix(s: string, canon: string, depth: number): ParsedAnswer | null {
  const m = MATRIX.exec(s);
  if (!m) return null;
  const rows = m[2]
    .replace(/\\hline|\\cline\{[^{}]*\}/g, '')
    .split('\\\\')
    .map((r) => r.replace(/^\[[^\]]*\]/, '').trim()) // `\\[2pt]` row spacing
    .filter((r) => r !== '');
  if (rows.length === 0) return null;
  const cells = rows.map((r) => r.split('&'));
  const cols = cells[0].length;
  if (cells.some((r) => r.length !== cols) || rows.length * cols > MAX_ITEMS) return null;
  const items = cells.flat().map((c) => parseStructure(c.trim(), false, depth + 1));
  return { kind: 'matrix', canon, rows: rows.length, cols, items };
}

// ---------------------------------------------------------------------------------------------------
// Equivalence

/** Relative tolerance between two non-integer numbers (the reference's rel_tol). */
export const NUMERIC_RELATIVE_TOLERANCE = 1e-4;
/** Relative tolerance when either number is an integer: float noise only. */
export const INTEGER_RELATIVE_TOLERANCE = 1e-9;
/** Relative tolerance per sample point for expressions with free variables. */
export const SYMBOLIC_RELATIVE_TOLERANCE = 1e-6;

/** Whether two numbers are equal under the stated tolerances. */
export function numbersClose(x: number, y: number): boolean {
  if (x === y) return true;
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  const diff = Math.abs(x - y);
  const scale = Math.max(Math.abs(x), Math.abs(y));
  if (Number.isInteger(x) || Number.isInteger(y)) return diff <= INTEGER_RELATIVE_TOLERANCE * scale + 1e-12;
  return diff <= NUMERIC_RELATIVE_TOLERANCE * scale;
}

function valuesEqual(a: Val, b: Val, percentA: boolean, percentB: boolean): boolean | null {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) || Number.isNaN(b)) return null;
    return numbersClose(a, b) || (percentA && numbersClose(a / 100, b)) || (percentB && numbersClose(a, b / 100));
  }
  let compared = 0;
  for (let k = 0; k < SAMPLE_POINTS; k++) {
    const x = typeof a === 'number' ? a : a[k];
    const y = typeof b === 'number' ? b : b[k];
    const nx = Number.isNaN(x);
    const ny = Number.isNaN(y);
    if (nx || ny) {
      if (nx && ny) continue;
      return false;
    }
    compared++;
    if (x === y) continue;
    if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
    if (Math.abs(x - y) > SYMBOLIC_RELATIVE_TOLERANCE * Math.max(Math.abs(x), Math.abs(y)) + 1e-12) return false;
  }
  return compared > 0 ? true : null;
}

/** lhs - rhs of two equations agree up to a non-zero constant factor at every sample point. */
function proportional(a: Val, b: Val): boolean {
  let factor = NaN;
  for (let k = 0; k < SAMPLE_POINTS; k++) {
    const x = typeof a === 'number' ? a : a[k];
    if (Number.isFinite(x) && Math.abs(x) > 1e-9) {
      factor = (typeof b === 'number' ? b : b[k]) / x;
      break;
    }
  }
  if (Number.isNaN(factor)) {
    // a vanishes everywhere (an identity such as 0 = 0): so must b.
    for (let k = 0; k < SAMPLE_POINTS; k++) if (!(Math.abs(typeof b === 'number' ? b : b[k]) <= 1e-9)) return false;
    return true;
  }
  if (!Number.isFinite(factor) || Math.abs(factor) < 1e-12) return false;
  for (let k = 0; k < SAMPLE_POINTS; k++) {
    const x = (typeof a === 'number' ? a : a[k]) * factor;
    const y = typeof b === 'number' ? b : b[k];
    if (!(Math.abs(x - y) <= SYMBOLIC_RELATIVE_TOLERANCE * (Math.abs(x) + Math.abs(y)) + 1e-9)) return false;
  }
  return true;
}

function sequencesEqual(a: ParsedAnswer[], b: ParsedAnswer[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!answersEqual(a[i], b[i])) return false;
  return true;
}

/** Multiset equality; greedy matching is exact because equivalence is (near enough) transitive. */
function unorderedEqual(a: ParsedAnswer[], b: ParsedAnswer[]): boolean {
  if (a.length !== b.length) return false;
  const used = new Uint8Array(b.length);
  outer: for (const x of a) {
    for (let j = 0; j < b.length; j++) {
      if (!used[j] && answersEqual(x, b[j])) {
        used[j] = 1;
        continue outer;
      }
    }
    return false;
  }
  return true;
}

/** A matrix with one row or one column, as a sequence. */
function vectorItems(m: ParsedAnswer & { kind: 'matrix' }): ParsedAnswer[] | null {
  return m.rows === 1 || m.cols === 1 ? m.items : null;
}

const KIND_ORDER = ['value', 'equation', 'based', 'choice', 'tuple', 'list', 'union', 'matrix', 'text', 'none'];

/** A tuple of equal-length tuples (`[[1,2],[3,4]]`) against a matrix, row by row. */
function rowsEqual(t: ParsedAnswer & { kind: 'tuple' }, m: ParsedAnswer & { kind: 'matrix' }): boolean {
  if (t.items.length !== m.rows) return false;
  for (let r = 0; r < m.rows; r++) {
    const row = t.items[r];
    if (row.kind !== 'tuple' || row.items.length !== m.cols) return false;
    if (!sequencesEqual(row.items, m.items.slice(r * m.cols, (r + 1) * m.cols))) return false;
  }
  return true;
}

/** Values with units: a unit on one side is ignored; two known units convert within one dimension. */
function unitsEqual(a: ParsedAnswer & { kind: 'value' }, b: ParsedAnswer & { kind: 'value' }): boolean | null {
  const ua = a.unit;
  const ub = b.unit;
  if (!ua || !ub || (ua.dim === ub.dim && ua.factor === ub.factor)) return null; // the plain comparison decides
  if (ua.dim !== ub.dim || typeof a.v !== 'number' || typeof b.v !== 'number') return false;
  return numbersClose(a.v * ua.factor, b.v * ub.factor) || numbersClose(a.v * (ua.factor / ub.factor), b.v);
}

/** `y = 2x + 1` (a value that kept its variable) against an equation: the same difference up to a factor. */
function assignmentEqualsEquation(a: ParsedAnswer & { kind: 'value' }, eq: ParsedAnswer & { kind: 'equation' }): boolean {
  if (!a.assigned) return false;
  return proportional(difference(sampleValues(a.assigned), a.v), eq.diff);
}

/**
 * Whether two parsed answers are equivalent under the rules in the file header. Symmetric; never throws.
 */
export function answersEqual(a: ParsedAnswer, b: ParsedAnswer): boolean {
  if (a.kind === 'none' || b.kind === 'none') return false;
  // Equal texts are equal answers, unless two different units were stripped from them ("5 cm", "5 mm").
  if (a.canon === b.canon) return a.kind !== 'value' || b.kind !== 'value' || a.unit === null || b.unit === null || unitsEqual(a, b) !== false;
  // Order the pair by kind so each mixed case is written once.
  if (KIND_ORDER.indexOf(a.kind) > KIND_ORDER.indexOf(b.kind)) [a, b] = [b, a];
  switch (a.kind) {
    case 'value':
      switch (b.kind) {
        case 'value': {
          const converted = unitsEqual(a, b);
          if (converted !== null) return converted;
          const r = valuesEqual(a.v, b.v, a.percent, b.percent);
          return r ?? false;
        }
        case 'equation':
          return assignmentEqualsEquation(a, b);
        case 'choice':
          return b.rest !== null && answersEqual(a, b.rest);
        case 'based':
          return /^\d+$/.test(a.canon) && a.canon.replace(/^0+(?=.)/, '') === b.digits;
        case 'list':
          if (b.decimal != null && typeof a.v === 'number' && numbersClose(a.v, b.decimal)) return true;
          return b.items.length === 1 && answersEqual(a, b.items[0]);
        case 'text':
          return fold(a.canon) === b.folded;
        default:
          return false;
      }
    case 'equation':
      if (b.kind === 'equation') return proportional(a.diff, b.diff);
      if (b.kind === 'text') return fold(a.canon) === b.folded;
      return false;
    case 'based':
      if (b.kind === 'based') return a.value === b.value;
      if (b.kind === 'text') return fold(a.canon) === b.folded;
      return false;
    case 'choice':
      if (b.kind === 'choice') return a.letter === b.letter;
      if (b.kind === 'text') return fold(a.canon) === b.folded;
      return false;
    case 'tuple':
      switch (b.kind) {
        case 'tuple':
          return a.open === b.open && a.close === b.close && sequencesEqual(a.items, b.items);
        case 'list':
          // "8, -2" for the point (8,-2): read in order. Intervals keep their brackets.
          return b.bare && a.open === '(' && a.close === ')' && sequencesEqual(a.items, b.items);
        case 'matrix': {
          const items = vectorItems(b);
          if (items !== null && sequencesEqual(a.items, items)) return true;
          return rowsEqual(a, b);
        }
        case 'text':
          return fold(a.canon) === b.folded;
        default:
          return false;
      }
    case 'list':
      if (b.kind === 'list') return unorderedEqual(a.items, b.items);
      if (b.kind === 'text') return fold(a.canon) === b.folded;
      return false;
    case 'union':
      if (b.kind === 'union') return unorderedEqual(a.items, b.items);
      if (b.kind === 'text') return fold(a.canon) === b.folded;
      return false;
    case 'matrix':
      if (b.kind === 'matrix') return a.rows === b.rows && a.cols === b.cols && sequencesEqual(a.items, b.items);
      if (b.kind === 'text') return fold(a.canon) === b.folded;
      return false;
    case 'text':
      return b.kind === 'text' && a.folded === b.folded;
  }
}
