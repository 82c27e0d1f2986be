/**
 * Pulling the final answer out of text: the last `\boxed{...}` of a generated solution, and the gold
 * answers of the benchmark files (GSM8K's `#### N` line).
 *
 * Brace matching skips escaped characters, so `\boxed{\{1,2\}}` yields `\{1,2\}`. Left out on purpose:
 * answers that are not boxed at all. rStar-Math's policy always boxes its answer (an answer step is
 * recognised by the substring `boxed`), so a missing box means "no answer", never "guess the last number".
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
