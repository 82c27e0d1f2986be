/**
 * Pulling the final answer out of text: the last `\boxed{...}` of a generated solution, the gold
 * answers of the benchmark files (GSM8K's `#### N` line), and (lib/grade/free-text.ts) the answer of a
 * model that does not write our step format.
 *
 * Brace matching skips escaped characters, so `\boxed{\{1,2\}}` yields `\{1,2\}`. {@link extractBoxed}
 * keeps the reference's rule: rStar-Math's policy always boxes its answer (an answer step is recognised
 * by the substring `boxed`), so for it a missing box means "no answer", never "guess the last number".
 * Guessing is {@link extractFinalAnswer}'s job, and only where the caller asks for it.
 */

/** Options of {@link extractBoxed}. */
export interface ExtractOptions {
  /**
   * Search only the text before the first `".\n"` and drop one trailing `.`, as the reference does
   * (`rstar_deepthink/agents/utils.py`, spec §1.5). Default false: the whole text is searched, so an answer
   * step that writes a sentence ending in ".\n" before its box is still graded. The reference's other quirk
   * (returning the searched prefix itself when it holds no box) is not reproduced: we return null.
   */
  stopAtFirstSentenceEnd?: boolean;
}

// The box commands we recognise, longest first so `\fbox` does not shadow `\framebox`.
const BOX_COMMANDS = ['\\boxed', '\\framebox', '\\fbox'] as const;

/**
 * The content of the last `\boxed{...}` (or `\fbox{...}` / `\framebox{...}`) in `text`, with braces matched,
 * or null when there is none or its braces never close. A `\text{...}` wrapping the whole content is
 * unwrapped (the reference does the same); all other normalisation is left to the grader.
 *
 * @example
 * extractBoxed('so the answer is $\\boxed{\\frac{1}{2}}$.') // '\\frac{1}{2}'
 * extractBoxed('\\boxed{\\text{(E)}}')                      // '(E)'
 * extractBoxed('no box here')                              // null
 */
export function extractBoxed(text: string, options: ExtractOptions = {}): string | null {
  let haystack = text;
  if (options.stopAtFirstSentenceEnd) {
    const cut = haystack.indexOf('.\n');
    if (cut >= 0) haystack = haystack.slice(0, cut);
    if (haystack.endsWith('.')) haystack = haystack.slice(0, -1);
  }
  // Walk backwards over box commands: the last one whose argument is well formed wins.
  let searchFrom = haystack.length;
  while (searchFrom > 0) {
    let start = -1;
    let command = '';
    for (const c of BOX_COMMANDS) {
      const at = haystack.lastIndexOf(c, searchFrom - 1);
      if (at > start) {
        start = at;
        command = c;
      }
    }
    if (start < 0) return null;
    const content = boxArgument(haystack, start + command.length);
    if (content !== null) return unwrapText(content.trim());
    searchFrom = start;
  }
  return null;
}

/** At most this many boxes are joined into one answer by {@link extractBoxedAnswer}. */
const MAX_JOINED_BOXES = 64;

// What may stand between two boxes that form one answer: spaces, math delimiters, commas and
// semicolons, `and` / `or` (plain or in \text{}), spacing commands, and a variable being assigned
// (`x = \boxed{1} \text{ or } x = \boxed{2}`). Anything else (a word such as "then") separates answers.
const BOX_JOINER =
  /^(?:\s|\$|\\[()[\]]|[,;&]|\\\\|\\q?quad(?![a-zA-Z])|\\[,;:! ]|~|\b(?:and|or)\b|\\(?:text|mbox|textrm)\s*\{\s*(?:and|or|,)?\s*\}|(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?\w+\}?)?\s*=)*$/;

/**
 * The final answer in the boxes of `text`: the last box, together with the boxes right before it when
 * only separators stand between them (`\boxed{1}, \boxed{2}` and `x=\boxed{1} or x=\boxed{2}` give
 * `1, 2`: one answer spread over several boxes). Null when there is no well-formed box.
 *
 * @example
 * extractBoxedAnswer('$\\boxed{1}$ and $\\boxed{2}$')      // '1, 2'
 * extractBoxedAnswer('first \\boxed{1} then \\boxed{2}')   // '2'
 */
export function extractBoxedAnswer(text: string): string | null {
  return boxedAnswerParts(text)?.join(', ') ?? null;
}

/**
 * The contents of the boxes {@link extractBoxedAnswer} joins, in order; null when there is no box. The
 * grader collapses parts that are all the same value (`\boxed{15\frac{39}{40}}, or \boxed{\frac{639}{40}}`
 * writes one answer twice, not a list of two).
 */
export function boxedAnswerParts(text: string): string[] | null {
  const boxes = findBoxes(text);
  if (boxes.length === 0) return null;
  let first = boxes.length - 1;
  while (first > 0 && boxes.length - first < MAX_JOINED_BOXES && joins(text, boxes[first - 1].end, boxes[first].start)) first--;
  return boxes.slice(first).map((b) => b.content);
}

function joins(text: string, from: number, to: number): boolean {
  // A long stretch between two boxes is prose, whatever it holds; the bound also keeps the test linear.
  return to - from <= 200 && BOX_JOINER.test(text.slice(from, to));
}

interface Box {
  start: number;
  end: number;
  content: string;
}

/** Every well-formed box of `text` in order (boxes nested in a box are part of its content). */
function findBoxes(text: string): Box[] {
  const out: Box[] = [];
  if (!text.includes('box')) return out;
  const re = /\\(?:boxed|framebox|fbox)(?![a-zA-Z])/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const argStart = m.index + m[0].length;
    const content = boxArgument(text, argStart);
    if (content === null) continue;
    // The end of the argument: a braced group ends at its brace, a bare one after its token.
    let end = argStart;
    while (text[end] === ' ' || text[end] === '\t') end++;
    end = text[end] === '{' ? matchBrace(text, end) + 1 : end + content.length;
    out.push({ start: m.index, end, content: unwrapText(content.trim()) });
    re.lastIndex = end;
  }
  return out;
}

/** The argument after a box command starting at `from`: a braced group, or `\boxed 5` up to a space or `$`. */
function boxArgument(s: string, from: number): string | null {
  let i = from;
  // `\boxedfoo` is another command, not a box.
  if (i < s.length && /[A-Za-z]/.test(s[i])) return null;
  while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  if (i >= s.length) return null;
  if (s[i] === '{') {
    const end = matchBrace(s, i);
    return end < 0 ? null : s.slice(i + 1, end);
  }
  if (i === from) return null; // `\boxed5` is not LaTeX; `\boxed 5` is
  const m = /^[^\s$]+/.exec(s.slice(i));
  return m ? m[0] : null;
}

/**
 * Index of the `}` closing the `{` at `open`, or -1. A backslash escapes the next character, so `\{`, `\}`
 * and `\\` never count as braces.
 */
export function matchBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch === 92 /* \ */) {
      i++;
      continue;
    }
    if (ch === 123 /* { */) depth++;
    else if (ch === 125 /* } */) {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** `\text{X}` (or `\textbf`, `\mbox`, `\mathrm`) spanning the whole string becomes X. */
function unwrapText(s: string): string {
  const m = /^\\(?:text|textbf|textrm|mbox|mathrm)\s*\{/.exec(s);
  if (m && matchBrace(s, m[0].length - 1) === s.length - 1) return s.slice(m[0].length, -1).trim();
  return s;
}

/**
 * The final answer of a GSM8K `answer` field: the text after the last `####`, with thousands commas
 * removed ("#### 1,600" gives "1600"). Null when the field has no `####` line.
 *
 * @example
 * extractGsm8kAnswer('She makes 9 * 2 = $<<9*2=18>>18.\n#### 18') // '18'
 */
export function extractGsm8kAnswer(field: string): string | null {
  const at = field.lastIndexOf('####');
  if (at < 0) return null;
  const answer = field.slice(at + 4).trim();
  if (answer === '') return null;
  return /^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(answer) ? answer.replace(/,/g, '') : answer;
}
