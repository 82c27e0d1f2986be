/**
 * A scripted policy and PPM for tests and demonstrations: a function decides the candidate steps of
 * every expansion, so a test can build exactly the tree it reasons about and check UCT, Q and
 * back-propagation values by hand. Tokens are the text's UTF-16 code units (markers included as plain
 * characters), which is all the search needs from them: it stores and concatenates tokens, never reads them.
 */
import { MARKERS } from '../steps/markers.js';
import type { CandidateStep, PpmScorer, ScoreRequest, StepPolicy, StepRequest } from './types.js';

/** Returns the candidate texts of one expansion; at most `request.n` are used. */
export type StepScript = (request: StepRequest) => string[] | Promise<string[]>;

const STOPS = [MARKERS.endOfStep, MARKERS.endOfCode, MARKERS.endOfAnswer, MARKERS.output];

export function textTokens(text: string): number[] {
  return Array.from({ length: text.length }, (_, i) => text.charCodeAt(i));
}

export class ScriptedPolicy implements StepPolicy {
  /** Every request received, in order. */
  readonly requests: StepRequest[] = [];
  constructor(private readonly script: StepScript) {}

  async generateSteps(request: StepRequest): Promise<CandidateStep[]> {
    this.requests.push(request);
    const texts = (await this.script(request)).slice(0, request.n);
    return texts.map((text) => ({
      text,
      tokens: textTokens(text),
      stop: STOPS.find((m) => text.endsWith(m) && request.sampling.stopMarkers.includes(m)) ?? null,
    }));
  }

  tokenize(text: string): number[] {
    return textTokens(text);
  }
}

/** A scripted PPM: `score` maps a partial trajectory (its steps' texts) to a raw head output. */
export class ScriptedScorer implements PpmScorer {
  readonly calls: ScoreRequest[][] = [];
  constructor(private readonly rawScore: (request: ScoreRequest) => number) {}

  async score(requests: readonly ScoreRequest[]): Promise<number[]> {
    this.calls.push([...requests]);
    return requests.map((r) => this.rawScore(r));
  }
}
