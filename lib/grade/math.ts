/**
 * A small LaTeX / plain-text math parser that evaluates while it parses. There is no expression tree:
 * each sub-expression's value is computed at once, either as one number (no free variable) or as its
 * values at {@link SAMPLE_POINTS} fixed points, where every free variable takes a value that depends only
 * on its name. Two expressions are then symbolically equal (with high probability) when their value
 * vectors agree, and the vectors of a parsed answer can be cached and compared in O(points).
 *
 * Covered: numbers (decimal, `.5`, scientific `6.72e-5`), `+ - * / ^ **`, `\cdot \times \div`, implicit
 * multiplication (`2x`, `3\sqrt{2}`, `(a+5)(b+2)`), mixed numbers (`1\frac{4}{5}` = 9/5), `\frac \binom`,
 * `\sqrt{x}` / `\sqrt[n]{x}`, `|x|`, `\lfloor \rceil`, `n!`, `\pi e \infty`, single-letter and Greek
 * variables with subscripts (`x_1`, `\theta`), and the functions sin cos tan cot sec csc (with `^{-1}`
 * inverses), arcsin arccos arctan, sinh cosh tanh, exp, ln, log (base 10, or `\log_b`).
 *
 * Left out on purpose: complex arithmetic (`i` is an ordinary variable, so `6+9i` equals `9i+6` but
 * `i^2` does not equal -1), sums, integrals, limits, derivatives, relations (`=`, `<` are handled, or
 * not, by the caller), and words: a run of three or more letters that is not a known function name
 * makes the text "not math", so the caller grades it as plain text.
 */
import { GREEK } from './normalize.js';

/** Values at the sample points. A plain number means the expression has no free variable. */
export type Val = number | Float64Array;

/** How many points a symbolic comparison evaluates at. */
export const SAMPLE_POINTS = 5;

/** Thrown (one shared instance, so no stack is captured) when the text is not an expression we read. */
class NotMath {
  readonly reason = 'not a math expression';
}
const NOT_MATH = new NotMath();

const enum Tok {
  Num,
  Var,
  Cmd,
  Op,
}

interface Token {
  t: Tok;
  s: string;
  v: number;
  int: boolean;
}

// Letter runs that are names, not products of single-letter variables.
const WORDS = new Set([
  'sin', 'cos', 'tan', 'cot', 'sec', 'csc', 'arcsin', 'arccos', 'arctan', 'sinh', 'cosh', 'tanh', 'log',
  'ln', 'exp', 'sqrt', 'pi', 'inf', 'infty', 'abs', 'floor', 'ceil',
]);
const FUNCTIONS = new Set([
  'sin', 'cos', 'tan', 'cot', 'sec', 'csc', 'arcsin', 'arccos', 'arctan', 'sinh', 'cosh', 'tanh', 'log',
  'ln', 'lg', 'exp', 'abs', 'floor', 'ceil',
]);
const MUL_COMMANDS = new Set(['cdot', 'times', 'ast']);

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 32) {
      i++;
      continue;
    }
    if (isDigit(c) || (c === 46 && i + 1 < n && isDigit(s.charCodeAt(i + 1)))) {
      let j = i;
      while (j < n && isDigit(s.charCodeAt(j))) j++;
      let int = true;
      if (j < n && s.charCodeAt(j) === 46) {
        int = false;
        j++;
        while (j < n && isDigit(s.charCodeAt(j))) j++;
      }
      // Scientific notation only when digits follow the e: "2e" is 2 times Euler's number.
      const e = s.charCodeAt(j);
      if (e === 101 || e === 69) {
        let k = j + 1;
        const sign = s.charCodeAt(k);
        if (sign === 43 || sign === 45) k++;
        if (k < n && isDigit(s.charCodeAt(k))) {
          while (k < n && isDigit(s.charCodeAt(k))) k++;
          j = k;
          int = false;
        }
      }
      const text = s.slice(i, j);
      out.push({ t: Tok.Num, s: text, v: Number(text), int });
      i = j;
      continue;
    }
    if (isLetter(c)) {
      let j = i + 1;
      while (j < n && isLetter(s.charCodeAt(j))) j++;
      const run = s.slice(i, j);
      if (WORDS.has(run)) {
        out.push({ t: Tok.Cmd, s: run, v: 0, int: false });
      } else if (run.length >= 3) {
        throw NOT_MATH;
      } else {
        for (const letter of run) out.push({ t: Tok.Var, s: letter, v: 0, int: false });
        j = readSubscript(s, j, out);
      }
      i = j;
      continue;
    }
    if (c === 92 /* \ */) {
      let j = i + 1;
      while (j < n && isLetter(s.charCodeAt(j))) j++;
      if (j === i + 1) throw NOT_MATH; // \{ \} \\ and friends belong to the structure, not to expressions
      const name = s.slice(i + 1, j);
      if (GREEK.has(name)) {
        out.push({ t: Tok.Var, s: name, v: 0, int: false });
        j = readSubscript(s, j, out);
      } else {
        out.push({ t: Tok.Cmd, s: name, v: 0, int: false });
      }
      i = j;
      continue;
    }
    if (c === 42 && s.charCodeAt(i + 1) === 42) {
      out.push({ t: Tok.Op, s: '^', v: 0, int: false });
      i += 2;
      continue;
    }
    const ch = s[i];
    if ('+-*/^()[]{}|!_'.includes(ch)) {
      out.push({ t: Tok.Op, s: ch, v: 0, int: false });
      i++;
      continue;
    }
    throw NOT_MATH;
  }
  return out;
}

/** A subscript right after a variable becomes part of its name: `x_1`, `a_{n}`. */
function readSubscript(s: string, j: number, out: Token[]): number {
  if (s.charCodeAt(j) !== 95 /* _ */) return j;
  const last = out[out.length - 1];
  if (s[j + 1] === '{') {
    const close = s.indexOf('}', j + 2);
    if (close < 0) throw NOT_MATH;
    last.s += `_${s.slice(j + 2, close).trim()}`;
    return close + 1;
  }
  if (j + 1 >= s.length) throw NOT_MATH;
  last.s += `_${s[j + 1]}`;
  return j + 2;
}

// Literal kinds, for mixed numbers: an integer literal directly followed by \frac{int}{int}.
const NONE = 0;
const INT = 1;
const NEG_INT = 2;
const FRAC = 3;

interface Term {
  v: Val;
  lit: number;
}

const sampleCache = new Map<string, Float64Array>();

/**
 * The values a free variable takes at the sample points: deterministic in its name, in [0.3, 1.7], away
 * from 0, 1 and the special angles, so the same name gets the same values in every answer.
 */
export function sampleValues(name: string): Float64Array {
  let cached = sampleCache.get(name);
  if (cached) return cached;
  let hash = 2166136261;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 16777619) >>> 0;
  cached = new Float64Array(SAMPLE_POINTS);
  for (let k = 0; k < SAMPLE_POINTS; k++) {
    const x = Math.sin((hash % 100003) * 12.9898 + (k + 1) * 78.233) * 43758.5453;
    cached[k] = 0.3 + 1.4 * (x - Math.floor(x));
  }
  sampleCache.set(name, cached);
  return cached;
}

function at(v: Val, k: number): number {
  return typeof v === 'number' ? v : v[k];
}

function lift1(a: Val, f: (x: number) => number): Val {
  if (typeof a === 'number') return f(a);
  const out = new Float64Array(SAMPLE_POINTS);
  for (let k = 0; k < SAMPLE_POINTS; k++) out[k] = f(a[k]);
  return out;
}

function lift2(a: Val, b: Val, f: (x: number, y: number) => number): Val {
  if (typeof a === 'number' && typeof b === 'number') return f(a, b);
  const out = new Float64Array(SAMPLE_POINTS);
  for (let k = 0; k < SAMPLE_POINTS; k++) out[k] = f(at(a, k), at(b, k));
  return out;
}

const add = (x: number, y: number): number => x + y;
const sub = (x: number, y: number): number => x - y;
const mul = (x: number, y: number): number => x * y;
const div = (x: number, y: number): number => x / y;
const neg = (x: number): number => -x;

function power(x: number, y: number): number {
  if (x < 0 && !Number.isInteger(y)) {
    // Odd roots of negatives are real: (-8)^(1/3) = -2.
    const inverse = 1 / y;
    if (Math.abs(inverse - Math.round(inverse)) < 1e-9 && Math.round(inverse) % 2 !== 0) return -Math.pow(-x, y);
  }
  return Math.pow(x, y);
}

function nthRoot(x: number, n: number): number {
  if (x < 0 && Number.isInteger(n) && n % 2 === 1) return -Math.pow(-x, 1 / n);
  return Math.pow(x, 1 / n);
}

function factorial(x: number): number {
  if (!Number.isInteger(x) || x < 0) return NaN;
  if (x > 170) return Infinity;
  let r = 1;
  for (let i = 2; i <= x; i++) r *= i;
  return r;
}

function binomial(n: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(k)) return NaN;
  if (k < 0 || k > n) return 0;
  let r = 1;
  for (let i = 1; i <= Math.min(k, n - k); i++) r = (r * (n - Math.min(k, n - k) + i)) / i;
  return Math.round(r);
}

const UNARY: Record<string, (x: number) => number> = {
  sin: Math.sin,
  cos: Math.cos,
  tan: Math.tan,
  cot: (x) => 1 / Math.tan(x),
  sec: (x) => 1 / Math.cos(x),
  csc: (x) => 1 / Math.sin(x),
  arcsin: Math.asin,
  arccos: Math.acos,
  arctan: Math.atan,
  sinh: Math.sinh,
  cosh: Math.cosh,
  tanh: Math.tanh,
  exp: Math.exp,
  ln: Math.log,
  log: Math.log10,
  lg: Math.log10,
  abs: Math.abs,
  floor: Math.floor,
  ceil: Math.ceil,
};
// `\sin^{-1} x` is arcsin.
const INVERSE: Record<string, string> = { sin: 'arcsin', cos: 'arccos', tan: 'arctan' };

class Parser {
  private p = 0;
  constructor(private readonly toks: Token[]) {}

  parseAll(): Val {
    if (this.toks.length === 0) throw NOT_MATH;
    const e = this.expression();
    if (this.p !== this.toks.length) throw NOT_MATH;
    return e.v;
  }

  private peek(): Token | undefined {
    return this.toks[this.p];
  }
  private isOp(s: string): boolean {
    const t = this.toks[this.p];
    return t !== undefined && t.t === Tok.Op && t.s === s;
  }
  private expect(s: string): void {
    if (!this.isOp(s)) throw NOT_MATH;
    this.p++;
  }

  private expression(): Term {
    let left = this.term();
    for (;;) {
      if (this.isOp('+')) {
        this.p++;
        left = { v: lift2(left.v, this.term().v, add), lit: NONE };
      } else if (this.isOp('-')) {
        this.p++;
        left = { v: lift2(left.v, this.term().v, sub), lit: NONE };
      } else return left;
    }
  }

  private term(): Term {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (t === undefined) return left;
      if (t.t === Tok.Op && (t.s === '*' || t.s === '/')) {
        this.p++;
        left = { v: lift2(left.v, this.unary().v, t.s === '*' ? mul : div), lit: NONE };
      } else if (t.t === Tok.Cmd && (MUL_COMMANDS.has(t.s) || t.s === 'div')) {
        this.p++;
        left = { v: lift2(left.v, this.unary().v, t.s === 'div' ? div : mul), lit: NONE };
      } else if (this.startsFactor(t)) {
        const right = this.power();
        if ((left.lit === INT || left.lit === NEG_INT) && right.lit === FRAC) {
          // 1\frac{4}{5} is one and four fifths; -1\frac{1}{2} is -(1 + 1/2).
          left = { v: lift2(left.v, right.v, left.lit === INT ? add : sub), lit: NONE };
        } else {
          left = { v: lift2(left.v, right.v, mul), lit: NONE };
        }
      } else return left;
    }
  }

  /** Whether `t` can begin an implicitly multiplied factor (`|` cannot: it may be a closing bar). */
  private startsFactor(t: Token): boolean {
    if (t.t === Tok.Num || t.t === Tok.Var) return true;
    if (t.t === Tok.Op) return t.s === '(' || t.s === '{' || t.s === '[';
    return !MUL_COMMANDS.has(t.s) && t.s !== 'div' && t.s !== 'rfloor' && t.s !== 'rceil';
  }

  private unary(): Term {
    if (this.isOp('-')) {
      this.p++;
      const x = this.unary();
      return { v: lift1(x.v, neg), lit: x.lit === INT ? NEG_INT : NONE };
    }
    if (this.isOp('+')) {
      this.p++;
      return this.unary();
    }
    return this.power();
  }

  private power(): Term {
    const base = this.postfix();
    if (!this.isOp('^')) return base;
    this.p++;
    const exponent = this.exponent();
    return { v: lift2(base.v, exponent.v, power), lit: NONE };
  }

  private exponent(): Term {
    if (this.isOp('-')) {
      this.p++;
      return { v: lift1(this.exponent().v, neg), lit: NONE };
    }
    if (this.isOp('+')) {
      this.p++;
      return this.exponent();
    }
    return this.postfix();
  }

  private postfix(): Term {
    let x = this.primary();
    while (this.isOp('!')) {
      this.p++;
      x = { v: lift1(x.v, factorial), lit: NONE };
    }
    return x;
  }

  private group(): Term {
    this.expect('{');
    const e = this.expression();
    this.expect('}');
    return e;
  }

  private primary(): Term {
    const t = this.toks[this.p++];
    if (t === undefined) throw NOT_MATH;
    switch (t.t) {
      case Tok.Num:
        return { v: t.v, lit: t.int ? INT : NONE };
      case Tok.Var:
        return { v: t.s === 'e' ? Math.E : sampleValues(t.s), lit: NONE };
      case Tok.Op:
        if (t.s === '(' || t.s === '[' || t.s === '{') {
          const e = this.expression();
          this.expect(t.s === '(' ? ')' : t.s === '[' ? ']' : '}');
          return { v: e.v, lit: t.s === '{' ? e.lit : NONE };
        }
        if (t.s === '|') {
          const e = this.expression();
          this.expect('|');
          return { v: lift1(e.v, Math.abs), lit: NONE };
        }
        throw NOT_MATH;
      case Tok.Cmd:
        return this.command(t.s);
    }
    throw NOT_MATH;
  }

  private command(name: string): Term {
    switch (name) {
      case 'frac': {
        const a = this.group();
        const b = this.group();
        return { v: lift2(a.v, b.v, div), lit: a.lit === INT && b.lit === INT ? FRAC : NONE };
      }
      case 'binom': {
        const a = this.group();
        const b = this.group();
        return { v: lift2(a.v, b.v, binomial), lit: NONE };
      }
      case 'sqrt': {
        let degree: Val = 2;
        if (this.isOp('[')) {
          this.p++;
          degree = this.expression().v;
          this.expect(']');
        }
        const x = this.isOp('{') ? this.group() : this.isOp('(') ? this.primary() : this.power();
        return { v: lift2(x.v, degree, nthRoot), lit: NONE };
      }
      case 'pi':
        return { v: Math.PI, lit: NONE };
      case 'infty':
      case 'inf':
        return { v: Infinity, lit: NONE };
      case 'lfloor':
      case 'lceil': {
        const e = this.expression();
        const close = this.toks[this.p++];
        if (close === undefined || close.t !== Tok.Cmd || close.s !== (name === 'lfloor' ? 'rfloor' : 'rceil')) throw NOT_MATH;
        return { v: lift1(e.v, name === 'lfloor' ? Math.floor : Math.ceil), lit: NONE };
      }
      case 'operatorname': {
        // \operatorname{lcm}(...) and friends are not evaluated; \operatorname{sin} is.
        this.expect('{');
        const inner = this.toks[this.p++];
        this.expect('}');
        if (inner === undefined || inner.t !== Tok.Cmd || !FUNCTIONS.has(inner.s)) throw NOT_MATH;
        return this.applyFunction(inner.s);
      }
      default:
        if (FUNCTIONS.has(name)) return this.applyFunction(name);
        throw NOT_MATH;
    }
  }

  /** `\sin x`, `\sin(x)`, `\sin^2 x`, `\sin^{-1} x`, `\log_2 8`, `\sin 2\theta` (= sin(2θ)). */
  private applyFunction(name: string): Term {
    let exponent: Term | null = null;
    let base: Term | null = null;
    for (;;) {
      if (this.isOp('^') && exponent === null) {
        this.p++;
        exponent = this.exponent();
      } else if (this.isOp('_') && base === null && (name === 'log' || name === 'lg')) {
        this.p++;
        base = this.isOp('{') ? this.group() : this.primary();
      } else break;
    }
    let argument: Val;
    if (this.isOp('(')) {
      argument = this.primary().v;
    } else {
      // A bare argument is an implicit product that stops at the next function or operator.
      argument = this.power().v;
      for (let t = this.peek(); t !== undefined && this.startsFactor(t) && !(t.t === Tok.Cmd && FUNCTIONS.has(t.s)); t = this.peek()) {
        argument = lift2(argument, this.power().v, mul);
      }
    }
    let fn = name;
    if (exponent !== null && exponent.v === -1 && INVERSE[name]) {
      fn = INVERSE[name];
      exponent = null;
    }
    let v = base !== null ? lift2(argument, base.v, (x, b) => Math.log(x) / Math.log(b)) : lift1(argument, UNARY[fn]);
    if (exponent !== null) v = lift2(v, exponent.v, power);
    return { v, lit: NONE };
  }
}

/**
 * The value of a normalised math expression (see the file header), or null when the text is not one:
 * words, relations, commas, sets and anything else the parser does not read.
 *
 * @example
 * evaluateMath('\\frac{3\\sqrt{3}}{4}') // 1.299...
 * evaluateMath('x^2+1')                 // Float64Array of 5 values
 * evaluateMath('east')                  // null
 */
export function evaluateMath(s: string): Val | null {
  try {
    return new Parser(tokenize(s)).parseAll();
  } catch (err) {
    if (err === NOT_MATH) return null;
    throw err;
  }
}
