/**
 * String-level normalisation of a final answer, before it is parsed: the LaTeX that carries no value is
 * removed so that equal answers become equal strings as often as possible, and the rest of the grader
 * (lib/grade/answer.ts) sees a small, regular language.
 *
 * What is removed or rewritten, in order: a surrounding `\boxed{}`; a GSM8K rationale before `####`;
 * unicode math symbols; `$` and `\(...\)` delimiters; thousands separators written `,\!` or `{,}`; spacing
 * commands (`\,` `\!` `\;` `~` `\quad`), `\left` / `\right` and `\displaystyle`; `\dfrac` / `\tfrac` (to
 * `\frac`); degrees (`^\circ`, `°`); percent signs (remembered in `percent`); `\text{ or }` joiners (to
 * commas); `\text{...}` / `\mbox{...}` units after a value (or the wrapper alone when the text is the whole
 * answer); trailing plain-word units ("5 cm", "18 dollars"); an `x \in` prefix; trailing punctuation;
 * spaces (kept only between two letters or digits, so `\cot x` and `\log_2 8` survive); plain thousands
 * separators when the whole answer is one number ("1,600", "1 000 000"); one-character arguments of
 * `\frac` / `\sqrt` get braces (`\frac43`, `\sqrt2`); a leading single-variable assignment (`x = 5` gives
 * `5`) when it is the only `=`.
 *
 * Several boxes that form one answer (`\boxed{1}, \boxed{2}`) become one list. A comma decimal is
 * rewritten only where it cannot be anything else (`3{,}14`, LaTeX's decimal comma); a bare `1,5` is
 * left to the parser, which reads it as a list that also equals the number 1.5 (see `commaDecimal`).
 * Between relations (`x < 2 or x > 3`), "or" becomes a comma (a union) and "and" becomes `\land` (an
 * intersection). The unit and the assigned variable that were stripped are reported, for the rules of
 * lib/grade/answer.ts (units convert; `y = 2x + 1` equals the equation `2x + 1 - y = 0`).
 *
 * Deliberately not done here: anything that needs to know the structure (tuples, sets, `\pm`), which
 * the parser handles, and case folding, which would merge the variables `r` and `R`.
 */
import { boxedAnswerParts, extractGsm8kAnswer, matchBrace } from './extract.js';
import { lookupUnit, type Unit } from './units.js';

/** Longer answers are compared as text only: no model answer worth grading is this long. */
export const MAX_ANSWER_LENGTH = 1000;

/** A normalised answer and what normalisation removed that still matters for equivalence. */
export interface NormalizedAnswer {
  text: string;
  percent: boolean;
  /** The known unit or currency that was stripped (`5 cm`, `\$5`), or null. */
  unit?: Unit | null;
  /** The variable of a stripped lone assignment (`y` of `y = 2x + 1`; `x_1`, `theta`), or null. */
  assigned?: string | null;
  /** The value of a bare `a,b` read with a decimal comma (`1,5` gives 1.5), when that reading exists. */
  commaDecimal?: number | null;
  /** The answer was spread over several boxes (a list of their contents). */
  joinedBoxes?: boolean;
}

/**
 * The normalised form of a final answer (see the file header for the list of rules).
 *
 * @example
 * normalizeAnswer('\\$32,\\!348')            // '32348'
 * normalizeAnswer('864 \\mbox{ inches}^2')   // '864'
 * normalizeAnswer('\\left( 3, \\dfrac{\\pi}{2} \\right)') // '(3,\\frac{\\pi}{2})'
 * normalizeAnswer('x = 5')                   // '5'
 */
export function normalizeAnswer(answer: string): string {
  return normalizeDetailed(answer).text;
}

const PLAIN_NUMBER = /^-?(\d+(\.\d*)?|\.\d+)$/;

/** {@link normalizeAnswer} plus the percent flag the numeric comparison needs. */
export function normalizeDetailed(answer: string): NormalizedAnswer {
  let s = answer.trim();
  // Fast path: most answers of GSM8K, AIME and AMC, and a third of MATH500, are plain numbers.
  if (s.length < 40 && PLAIN_NUMBER.test(s)) return { text: s, percent: false, unit: null, assigned: null, commaDecimal: null };
  // Every rewrite below is guarded by a cheap test for the characters it needs: a regex replace that
  // finds nothing still scans and allocates, and this function runs on every answer graded.
  let joinedBoxes = false;
  if (s.includes('\\boxed') || s.includes('\\fbox') || s.includes('\\framebox')) {
    const parts = boxedAnswerParts(s);
    if (parts !== null) {
      joinedBoxes = parts.length > 1;
      s = parts.join(', ');
    }
  }
  // A whole GSM8K answer field: the answer is after "####".
  if (s.includes('####')) s = extractGsm8kAnswer(s) ?? s;
  if (s.length > MAX_ANSWER_LENGTH) return { text: s.slice(0, MAX_ANSWER_LENGTH + 1), percent: false };
  // Currency is a unit: `\$5` against `5 cents` must not agree.
  let unit: Unit | null = s.includes('\\$') ? lookupUnit('dollar', 1) : null;
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(s)) s = replaceUnicode(s);
  if (/\s\s|[^\S ]/.test(s)) s = s.replace(/\s+/g, ' ');
  const backslash = s.includes('\\');

  // Math delimiters and dollar signs (both "\$" for money and "$" for inline math).
  if (s.includes('$')) s = s.replace(/\\\$/g, '').replace(/\$/g, '');
  if (backslash) s = s.replace(/^\\\(([\s\S]*)\\\)$/, '$1').replace(/^\\\[([\s\S]*)\\\]$/, '$1');
  const commas = s.includes(',');
  // "1,5" (no space) may be a list or a decimal comma; "1,500" is thousands and "1, 5" a list.
  let commaDecimal: number | null = null;
  const comma = commas ? /^(-?\d+),(\d+)$/.exec(s) : null;
  if (comma && comma[2].length !== 3) commaDecimal = Number(`${comma[1]}.${comma[2]}`);

  if (commas) {
    // Thousands separators that can only mean thousands: ",\!" and "{,}" between digit groups.
    s = s.replace(/(\d)(?:,\\!|\{,\})\s*(?=\d{3}(?!\d))/g, '$1');
    // LaTeX's decimal comma: "{,}" before anything but a group of three digits.
    if (s.includes('{,}')) s = s.replace(/(\d)\{,\}(?=\d{1,2}(?!\d)|\d{4,})/g, '$1.');
  }
  if (backslash) {
    // Spacing and sizing commands. `\\` (a matrix row break) is matched first so its second backslash
    // is never mistaken for the start of `\,` or `\ `.
    s = s.replace(/\\\\|\\[,;:! ]/g, (m) => (m === '\\\\' ? m : ' '));
    s = s.replace(/\\q?quad(?![a-zA-Z])|\\displaystyle|\\(?:left|right)(?![a-zA-Z])\.?|\\[bB]ig{1,2}[lr]?(?![a-zA-Z])|~/g, ' ');
    if (s.includes('frac') || s.includes('binom')) s = s.replace(/\\[dt]frac(?![a-zA-Z])/g, '\\frac').replace(/\\[dt]binom(?![a-zA-Z])/g, '\\binom');
    // Degrees carry no value of their own ("30^\circ" is graded as 30).
    if (s.includes('circ') || s.includes('degree')) s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree/g, '');
  } else if (s.includes('~')) {
    s = s.replace(/~/g, ' ');
  }

  let percent = false;
  if (s.includes('%') || /percent/i.test(s)) {
    const without = s.replace(/\\?%|\\percent\b|\s*\bpercent\b/gi, '');
    if (without !== s) {
      percent = true;
      s = without;
    }
  }

  // "x = 1 \text{ or } x = 2" lists its solutions; between relations, "and" is an intersection.
  if (s.includes('or')) s = s.replace(/\\(?:text|mbox|textrm)\s*\{\s*or\s*\}|\s+or\s+/g, ',');
  if (s.includes('and')) {
    const joiner = /[<>]|\\(?:le|ge|lt|gt|ne)/.test(s) ? '\\land ' : ',';
    s = s.replace(/\\(?:text|mbox|textrm)\s*\{\s*and\s*\}|\s+and\s+/g, joiner);
  }
  if (backslash || s.includes(' ')) {
    const stripped: StrippedUnit = { word: null, power: 1 };
    if (backslash) s = stripTextBlocks(s, stripped);
    if (s.includes(' ')) s = stripUnitWords(s, stripped);
    if (stripped.word !== null) unit = lookupUnit(stripped.word, stripped.power) ?? unit;
  }
  if (backslash) s = s.replace(/^\s*[a-zA-Z]\s*\\in(?![a-zA-Z])\s*/, '');
  s = s.replace(/[\s.,;:]+$/, '');

  if (s.includes(' ')) {
    s = s.replace(/ {2,}/g, ' ').trim();
    if (/^-?\d{1,3}( \d{3})+(\.\d+)?$/.test(s)) s = s.replace(/ /g, '');
  }
  if (commas && /^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, '');
  // Spaces only matter between two letters or digits ("\cot x", "\log_2 8"); everywhere else they go.
  if (s.includes(' ')) s = s.replace(/ (?![a-zA-Z0-9])|(?<![a-zA-Z0-9]) /g, '');
  if (s.includes('\\frac') || s.includes('\\sqrt') || s.includes('\\binom')) s = braceShortArguments(s);
  const before = s;
  s = stripAssignment(s);
  let assigned = s === before ? null : variableName(before.slice(0, before.length - s.length - 1));
  if (assigned === null && s.includes('=')) {
    // `2 = x`, `2x + 1 = y`: the assignment written the other way round.
    const m = /=((?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?\w+\}?)?)$/.exec(s);
    const name = m && m[1];
    if (name && s.indexOf('=') === m.index && m.index > 0 && (!name.startsWith('\\') || GREEK.has(name.slice(1).replace(/_.*/, '')))) {
      s = s.slice(0, m.index);
      assigned = variableName(name);
    }
  }
  return { text: s, percent, unit, assigned, commaDecimal, joinedBoxes };
}

/** The variable name the math parser gives `x`, `x_1`, `x_{12}`, `\theta`. */
function variableName(lhs: string): string {
  return lhs.replace(/^\\/, '').replace(/[{}]/g, '');
}

/** The unit word normalisation removed, and its power (`cm^2`). */
interface StrippedUnit {
  word: string | null;
  power: number;
}

const UNICODE: Record<string, string> = {
  '\u2212': '-', '\u2012': '-', '\u2013': '-', '\u2014': '-', '\u00d7': '\\times ', '\u00f7': '/',
  '\u00b7': '\\cdot ', '\u22c5': '\\cdot ', '\u03c0': '\\pi ', '\u00b0': '^\\circ', '\u221a': '\\sqrt',
  '\u221e': '\\infty ', '\u00a0': ' ', '\u2009': ' ', '\u202f': ' ', '\u2264': '\\le ', '\u2265': '\\ge ',
  '\u222a': '\\cup ', '\u00b1': '\\pm ', '\uff0c': ',', '\u3002': '.',
};

function replaceUnicode(s: string): string {
  let out = '';
  for (const ch of s) out += UNICODE[ch] ?? ch;
  return out;
}

// Text-like wrappers. `\operatorname` is not one: its argument is a function name.
const TEXT_BLOCK = /\\(?:text|textbf|textit|textrm|textsf|texttt|mbox|mathrm|mathbf|mathit|mathsf|mathtt|hbox)\s*\{/g;

/**
 * `\text{...}` next to a value is a unit ("5.4 \text{ cents}", "15\mbox{ cm}^2"): drop it together with a
 * following `^2` / `^3`. When the text is all there is ("\text{even}", "\text{(E)}"), keep its content.
 */
function stripTextBlocks(s: string, stripped?: StrippedUnit): string {
  if (!s.includes('\\')) return s;
  TEXT_BLOCK.lastIndex = 0;
  if (!TEXT_BLOCK.test(s)) return s;
  const blocks: { start: number; open: number; end: number; power: number }[] = [];
  TEXT_BLOCK.lastIndex = 0;
  for (let m = TEXT_BLOCK.exec(s); m; m = TEXT_BLOCK.exec(s)) {
    const open = m.index + m[0].length - 1;
    const close = matchBrace(s, open);
    if (close < 0) break;
    let end = close + 1;
    const power = /^\s*\^\s*(?:\{\s*([23])\s*\}|([23]))/.exec(s.slice(end));
    if (power) end += power[0].length;
    blocks.push({ start: m.index, open, end, power: power ? Number(power[1] ?? power[2]) : 1 });
    TEXT_BLOCK.lastIndex = close + 1;
  }
  if (blocks.length === 0) return s;
  let removed = '';
  let unwrapped = '';
  let at = 0;
  for (const b of blocks) {
    removed += s.slice(at, b.start);
    unwrapped += s.slice(at, b.start) + stripTextBlocks(s.slice(b.open + 1, matchBrace(s, b.open)));
    at = b.end;
  }
  removed += s.slice(at);
  unwrapped += s.slice(at);
  // Units only follow something with a value: a digit, a closing brace or bracket, a letter or `\pi`.
  const isUnit = /[\w})\]]/.test(removed) && removed.trim() !== '' && !/^[\s(),]*$/.test(removed);
  if (isUnit && stripped && blocks.length === 1) {
    const b = blocks[0];
    const word = /^\s*([a-zA-Z]+)\s*(?:\^\s*\{?\s*([23])\s*\}?)?\s*$/.exec(s.slice(b.open + 1, matchBrace(s, b.open)));
    if (word) {
      stripped.word = word[1];
      stripped.power = word[2] ? Number(word[2]) : b.power;
    }
  }
  return isUnit ? removed : unwrapped;
}

// Short unit names that cannot be told from variables by length alone.
const SHORT_UNITS = new Set(['cm', 'mm', 'km', 'm', 'ft', 'in', 'kg', 'g', 'mg', 'lb', 'lbs', 'oz', 'mi', 'mph', 's', 'h', 'hr', 'hrs', 'min', 'ml', 'l', 'yd', 'sq', 'cc']);

/** "864 inches^2", "18 dollars", "5 cm": plain words after a value are units. */
function stripUnitWords(s: string, stripped?: StrippedUnit): string {
  const m = /^(.*?[\d}]) ([a-zA-Z][a-zA-Z. ]*?) ?(?:\^\{?([23])\}?)?$/.exec(s);
  if (!m) return s;
  const words = m[2].split(/[\s.]/).filter((w) => w !== '');
  const first = words[0];
  if (first.length >= 3 || SHORT_UNITS.has(first.toLowerCase())) {
    // "5 cm", "5 square cm" are units; "18 dollars in total" is not one unit word we can convert.
    if (stripped && words.length === 1) {
      stripped.word = first;
      stripped.power = m[3] ? Number(m[3]) : 1;
    }
    return m[1];
  }
  return s;
}

/** `\frac43` -> `\frac{4}{3}`, `\frac{270}7` -> `\frac{270}{7}`, `\sqrt2` -> `\sqrt{2}`, `\frac\pi2` -> `\frac{\pi}{2}`. */
function braceShortArguments(s: string): string {
  let out = '';
  let i = 0;
  const re = /\\(frac|binom|sqrt)(?![a-zA-Z])/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    out += s.slice(i, m.index + m[0].length);
    let j = m.index + m[0].length;
    let args = m[1] === 'sqrt' ? 1 : 2;
    if (m[1] === 'sqrt' && s[j] === '[') {
      const close = s.indexOf(']', j);
      if (close < 0) break;
      out += s.slice(j, close + 1);
      j = close + 1;
    }
    while (args-- > 0 && j < s.length) {
      while (s[j] === ' ') j++;
      if (j >= s.length) break;
      if (s[j] === '{') {
        const close = matchBrace(s, j);
        if (close < 0) break;
        out += s.slice(j, close + 1);
        j = close + 1;
      } else if (s[j] === '\\') {
        const cmd = /^\\[a-zA-Z]+/.exec(s.slice(j));
        const arg = cmd ? cmd[0] : s.slice(j, j + 2);
        out += `{${arg}}`;
        j += arg.length;
      } else {
        out += `{${s[j]}}`;
        j += 1;
      }
    }
    i = j;
    re.lastIndex = j;
  }
  return out + s.slice(i);
}

/** `x=5` -> `5`, `y=2x+3` -> `2x+3`, `\theta=\frac{\pi}{2}` -> `\frac{\pi}{2}` when there is one `=` only. */
export function stripAssignment(s: string): string {
  const m = /^(?:[a-zA-Z](?:_\{?\w+\}?)?|\\[a-zA-Z]+)=/.exec(s);
  if (!m || s.indexOf('=', m[0].length) >= 0) return s;
  if (m[0].startsWith('\\') && !GREEK.has(m[0].slice(1, -1))) return s;
  return s.slice(m[0].length);
}

/** Greek letters used as variable names (`\pi` is the constant, not a variable). */
export const GREEK = new Set([
  'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'varepsilon', 'zeta', 'eta', 'theta', 'vartheta', 'iota',
  'kappa', 'lambda', 'mu', 'nu', 'xi', 'rho', 'sigma', 'tau', 'upsilon', 'phi', 'varphi', 'chi', 'psi',
  'omega', 'Gamma', 'Delta', 'Theta', 'Lambda', 'Xi', 'Sigma', 'Phi', 'Psi', 'Omega',
]);
