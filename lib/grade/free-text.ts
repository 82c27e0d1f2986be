/**
 * The final answer of a model that does not write our step format (a base model, another project's
 * outputs): free text, with or without a box. Tried in order, the first that finds something wins:
 *
 * 1. boxes: the last `\boxed{}`, joined with the boxes right before it when only separators stand
 *    between them (`\boxed{1}, \boxed{2}` is the one answer `1, 2`), unless they all hold the same
 *    value (`\boxed{0.5}, or \boxed{\frac12}`: the last);
 * 2. a final-answer phrase: the last "final answer is …", "the answer is …", "answer: …" or GSM8K's
 *    "#### …", up to the end of its sentence (a math span right after the phrase is taken whole);
 * 3. the last math span: `$…$`, `$$…$$`, `\[…\]`, `\(…\)` or a display environment (`align*`,
 *    `equation`, …; its last line). A chain `a = b = c` gives its last member, `2 + 3 = 5` gives `5`;
 *    an assignment (`x = 5`) and an equation with variables on the left (`x^2 + y^2 = 1`) stay whole;
 * 4. the last number in the text (`-1,600`, `3.5`, `2/3`, `15%`).
 *
 * Left out on purpose: words as answers without a phrase, box or span ("so the shape is a circle"),
 * and choosing among several candidate answers by how often they occur. Every step is linear in the
 * length of the text, so a 100 kB output costs about a millisecond; input that is not a string gives null.
 * As in Math-Verify's documented order (box first, then an answer phrase, then the last LaTeX, then the
 * last expression), but written from that description, not from its code.
 */
import { answersEqual, parseAnswer } from './answer.js';
import { boxedAnswerParts, matchBrace } from './extract.js';
import { evaluateMath } from './math.js';

/** Longest answer a phrase or a span may yield; longer ones are prose, not answers. */
const MAX_PHRASE_ANSWER = 300;

/**
 * The final answer of a free-form solution, or null when it has none (see the file header for the order).
 *
 * @example
 * extractFinalAnswer('... so $\\boxed{1}$ and $\\boxed{2}$.')        // '1, 2'
 * extractFinalAnswer('The final answer is $\\frac{1}{2}$. I hope') // '\\frac{1}{2}'
 * extractFinalAnswer('Thus \\[x = \\frac{3}{4}\\]')                 // 'x = \\frac{3}{4}'
 * extractFinalAnswer('so we get $2 + 3 = 5$')                     // '5'
 * extractFinalAnswer('She pays 1,600 dollars in total.')          // '1,600'
 */
export function extractFinalAnswer(text: unknown): string | null {
  if (typeof text !== 'string' || text.trim() === '') return null;
  const parts = boxedAnswerParts(text);
  if (parts !== null && parts.join('') !== '') {
    // `\boxed{15\frac{39}{40}}, or \boxed{\frac{639}{40}}` is one answer written twice: keep the last.
    const last = parseAnswer(parts[parts.length - 1]);
    if (parts.length === 1 || parts.every((p) => answersEqual(parseAnswer(p), last))) return parts[parts.length - 1];
    return parts.join(', ');
  }
  const phrased = afterAnswerPhrase(text);
  if (phrased !== null) return phrased;
  const span = lastMathSpan(text);
  if (span !== null) return finalMember(lastLine(span));
  return lastNumber(text);
}

const PHRASE = /(?:final\s+answer|the\s+answer|answer)\s*(?:is|:|=)\s*(?:[:=]\s*)?|####\s*/gi;

/** The answer after the last final-answer phrase, up to the end of its sentence; null when none. */
function afterAnswerPhrase(text: string): string | null {
  let at = -1;
  PHRASE.lastIndex = 0;
  for (let m = PHRASE.exec(text); m; m = PHRASE.exec(text)) at = m.index + m[0].length;
  if (at < 0) return null;
  const rest = text.slice(at, at + 4 * MAX_PHRASE_ANSWER);
  // A math span right after the phrase is the answer, even when it holds a "." or a newline.
  const span = spanAt(rest, 0);
  if (span !== null) return span.content.trim() === '' ? null : span.content.trim();
  // Otherwise up to the end of the sentence: a newline, or a "." / "!" / "?" not inside a number.
  const end = /\n|[.!?](?!\d)/.exec(rest);
  let answer = (end ? rest.slice(0, end.index) : rest).trim();
  // Inline math inside the sentence ("is $5$ cm") is kept: the normaliser removes the dollars.
  answer = answer.replace(/^(?:that\s+|approximately\s+|about\s+)/i, '').replace(/[\s,;:]+$/, '');
  if (answer === '' || answer.length > MAX_PHRASE_ANSWER) return null;
  // "The answer is not obvious, so we compute ..." is prose, not an answer: at most two plain words
  // (units, "even", "Navin", "(C) north") besides the math.
  const words = answer.match(/(?<![\\a-zA-Z])[a-zA-Z]{3,}/g);
  if (words !== null && words.length > 2) return null;
  return answer;
}

interface Span {
  content: string;
  end: number;
}

/** The math span opening at `i` (`$$`, `$`, `\[`, `\(`), or null when none opens or it never closes. */
function spanAt(s: string, i: number): Span | null {
  let open: string;
  let close: string;
  const env = s.startsWith('\\begin{', i) ? /^\\begin\{(align\*?|equation\*?|eqnarray\*?|gather\*?|multline\*?)\}/.exec(s.slice(i, i + 30)) : null;
  if (env) [open, close] = [env[0], `\\end{${env[1]}}`];
  else if (s.startsWith('$$', i)) [open, close] = ['$$', '$$'];
  else if (s[i] === '$') [open, close] = ['$', '$'];
  else if (s.startsWith('\\[', i)) [open, close] = ['\\[', '\\]'];
  else if (s.startsWith('\\(', i)) [open, close] = ['\\(', '\\)'];
  else return null;
  let j = i + open.length;
  for (; j < s.length; j++) {
    if (s.startsWith(close, j)) return { content: s.slice(i + open.length, j), end: j + close.length };
    if (s[j] === '\\') j++; // `\$` inside math is a dollar sign, not a delimiter
  }
  return null;
}

/** The content of the last non-empty math span of `text`, scanning once from the start. */
function lastMathSpan(text: string): string | null {
  if (!text.includes('$') && !text.includes('\\[') && !text.includes('\\(') && !text.includes('\\begin{')) return null;
  let last: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && text[i + 1] !== '[' && text[i + 1] !== '(' && !text.startsWith('\\begin{', i)) {
      i++; // `\$` is money in prose, and `\\` a line break
      continue;
    }
    if (c !== '$' && c !== '\\') continue;
    const span = spanAt(text, i);
    if (span === null) {
      if (c === '$') break; // an unclosed `$`: nothing after it is math we can delimit
      continue;
    }
    const content = span.content.trim();
    if (content !== '') last = content;
    i = span.end - 1;
  }
  return last !== null && last.length <= MAX_PHRASE_ANSWER * 4 ? last : null;
}

/** The last line of a multi-line display (`a &= b \\\\ &= c` gives `= c`), without alignment marks. */
function lastLine(span: string): string {
  let s = span;
  if (s.includes('\\\\')) {
    const lines = s.split('\\\\').map((l) => l.trim()).filter((l) => l !== '');
    s = lines.length > 0 ? lines[lines.length - 1] : s;
  }
  if (s.includes('&')) s = s.replace(/&/g, '');
  s = s.replace(/[\s.,;]+$/, '').replace(/^=\s*/, '');
  // An answer wrapped in a brace group, `{3\sqrt{13}}`, as some solutions write it.
  if (s.startsWith('{') && s.endsWith('}') && matchBrace(s, 0) === s.length - 1) s = s.slice(1, -1).trim();
  return s;
}

/**
 * `2 + 3 = 5` gives `5`, `x = \frac{3}{4}` stays as is (the grader reads assignments), and an equation
 * such as `x^2 + y^2 = 1` stays whole: the last member of an `=` chain is the answer only when every
 * member before it is a number or a lone variable.
 */
function finalMember(span: string): string {
  if (!span.includes('=') || span.length > MAX_PHRASE_ANSWER) return span;
  if (/[<>!]=|\\[lg]eq?=/.test(span)) return span;
  const parts = span.split('=').map((p) => p.trim());
  if (parts.length < 2 || parts.some((p) => p === '')) return span;
  let last = parts[parts.length - 1];
  if (last.startsWith('{') && last.endsWith('}') && matchBrace(last, 0) === last.length - 1) last = last.slice(1, -1).trim();
  // A chain `a = b = c` is a computation: its last member is the result.
  if (parts.length >= 3) return last;
  // One `=`: `x = 5` is left whole (the grader reads assignments); `x^2 + y^2 = 1`, an equation whose
  // left side has variables, is an answer in itself; `2 + 3 = 5` and `2(21 \text{ in}) = 42` give the right side.
  const lhs = parts[0];
  if (/^(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?\w+\}?)?$/.test(lhs)) return span;
  const value = evaluateMath(lhs);
  return value === null || typeof value === 'number' ? last : span;
}

// Thousands groups, a decimal part, a fraction, a percent sign: "-1,600", "3.5", "2/3", "15%".
const NUMBER = /-?\d+(?:,\d{3})*(?:\.\d+)?(?:\s*\/\s*\d+)?%?/g;

/** The last number of `text`, or null. */
function lastNumber(text: string): string | null {
  let last: string | null = null;
  NUMBER.lastIndex = 0;
  for (let m = NUMBER.exec(text); m; m = NUMBER.exec(text)) last = m[0];
  return last;
}
