/**
 * A byte-level BPE vocabulary learned from a corpus (minbpe's algorithm, on gpt2's pre-tokenizer
 * chunks), for the small models that the embedded default trains from scratch.
 *
 * Why: with one token per byte a 2-layer model must copy a question's number digit by digit into its
 * code, finding each digit by content ("the second digit of the number after `collected`"), which a
 * model of that size does not learn in minutes (measured in #7: template learned, numbers wrong). With
 * every integer 0…999 one token and the curriculum's words whole, a number is copied as one token and
 * a solution is about a quarter as many tokens, so training and search are both cheaper.
 *
 * What it learns: the merges of every 1–3 digit number (rank order: digit pairs, then both ways of
 * making each 3-digit number, so any 3-digit chunk ends as one token whichever pair merges first), then
 * word merges learned by BPE from the digit-free chunks of the corpus. A leading space stays its own
 * token before a number (" 749" is " " + "749"), so a number is the same token in a question, in code
 * and in `\boxed{}`. Non-ASCII chunks are left to bytes.
 */

import type { Problem } from '../data/problems.js';
import { ALL_MARKERS } from '../steps/markers.js';
import { defaultPromptTemplates, renderPolicyPrompt } from '../steps/prompts.js';

/** gpt2's pre-tokenizer (llama.cpp's LLAMA_VOCAB_PRE_TYPE_GPT2), which the byte vocabulary uses with merges. */
const GPT2_CHUNKS = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
/** Special tokens (the markers and roles) are split out before pre-tokenization: never part of a merge. */
const SPECIAL = new RegExp(ALL_MARKERS.map((m) => m.replace(/[|]/g, '\\|')).join('|'), 'g');

export interface TrainMergesOptions {
  /** Word merges to learn at most (default 800); learning stops earlier when no pair occurs twice. */
  wordMerges?: number;
  /** Make every integer 0…999 a single token (default true). */
  numbers?: boolean;
}

/** Every 1–3 digit number as one token: digit pairs first, then each 3-digit string from both sides. */
export function numberMerges(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let a = 0; a < 10; a++) for (let b = 0; b < 10; b++) out.push([`${a}`, `${b}`]);
  for (let a = 0; a < 10; a++) {
    for (let b = 0; b < 10; b++) {
      for (let c = 0; c < 10; c++) {
        out.push([`${a}${b}`, `${c}`]);
        out.push([`${a}`, `${b}${c}`]);
      }
    }
  }
  return out;
}

/**
 * Learns merges from `texts`: numbers first (see the module comment), then up to `wordMerges` BPE merges
 * of the most frequent adjacent pair in the digit-free ASCII chunks, ties broken by the pair's text so
 * the result depends only on the corpus.
 *
 * @example const merges = trainMerges(['Tom has 12 apples.', 'Tom gives 3 apples away.'], { wordMerges: 50 });
 */
export function trainMerges(texts: Iterable<string>, options: TrainMergesOptions = {}): Array<[string, string]> {
  const maxWordMerges = options.wordMerges ?? 800;
  const merges: Array<[string, string]> = options.numbers === false ? [] : numberMerges();
  const chunkCounts = new Map<string, number>();
  for (const text of texts) {
    for (const part of text.split(SPECIAL)) {
      for (const m of part.matchAll(GPT2_CHUNKS)) {
        const chunk = m[0];
        if (chunk.length < 2 || /\p{N}/u.test(chunk) || !/^[\x20-\x7e\n\t]+$/.test(chunk)) continue;
        chunkCounts.set(chunk, (chunkCounts.get(chunk) ?? 0) + 1);
      }
    }
  }
  // Each chunk as its current sequence of tokens (strings), with its count.
  const words = [...chunkCounts.entries()].map(([chunk, count]) => ({ parts: [...chunk], count }));
  for (let k = 0; k < maxWordMerges; k++) {
    const pairCounts = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.parts.length; i++) {
        const key = `${w.parts[i]}\u0000${w.parts[i + 1]}`;
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + w.count);
      }
    }
    let best: string | null = null;
    let bestCount = 1;
    for (const [key, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && best !== null && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    if (best === null) break;
    const [left, right] = best.split('\u0000') as [string, string];
    merges.push([left, right]);
    for (const w of words) {
      if (w.parts.length < 2) continue;
      const next: string[] = [];
      for (let i = 0; i < w.parts.length; i++) {
        if (i + 1 < w.parts.length && w.parts[i] === left && w.parts[i + 1] === right) {
          next.push(left + right);
          i++;
        } else {
          next.push(w.parts[i]!);
        }
      }
      w.parts = next;
    }
  }
  return merges;
}

/** What a problem file gives the corpus: the question, and the reference program where there is one. */
export interface CorpusProblem {
  question: string;
  program?: string;
}

/**
 * The texts to learn merges from: each problem's question in the policy prompt, its reference program
 * (the synthetic curriculum has one) and the answer sentences of our step format, so the words that
 * solutions repeat become tokens too. Answers are never part of it (the number in the answer sentence is
 * a placeholder; numbers are merged whole anyway).
 */
export function curriculumCorpus(problems: Iterable<CorpusProblem>): string[] {
  const out: string[] = [];
  for (const p of problems) {
    out.push(renderPolicyPrompt(defaultPromptTemplates, p.question));
    if (p.program) out.push(p.program);
    out.push('# Now print the final answer\nprint(x)\n', 'The program prints 1, so the answer is \\boxed{1}.');
  }
  return out;
}

/** `curriculumCorpus` of problems as `loadProblems` returns them (a curriculum file's `program` is in `meta`). */
export function loadedProblemsCorpus(problems: Iterable<Pick<Problem, 'question' | 'meta'>>): string[] {
  const corpus: CorpusProblem[] = [];
  for (const p of problems) corpus.push({ question: p.question, program: typeof p.meta.program === 'string' ? p.meta.program : undefined });
  return curriculumCorpus(corpus);
}
