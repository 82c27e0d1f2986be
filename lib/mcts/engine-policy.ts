/**
 * The bridge from the search's interfaces (lib/mcts/types.ts) to the engine (lib/engine).
 *
 * - The policy: a node's prefix is the tokenized prompt followed by the stored tokens of every step
 *   on its path (generated text is never re-tokenized), expanded with `TreeContext.expand`, which
 *   shares the prefix's KV cells among the n candidates and merges every concurrent problem's
 *   decodes into the same batches.
 * - The PPM scorer: the PPM model's own tokenization of prompt + step texts, exactly what the
 *   trainer saw (lib/train tokenizes `prompt + completion` the same way), scored in one batch per
 *   call; raw value-head outputs are returned and the search applies `search.ppmTransform`.
 */
import { availableParallelism } from 'node:os';
import type { RstarConfig } from '../config.js';
import { InvalidArgumentError } from '../errors.js';
import { Model } from '../engine/model.js';
import type { TreeContext } from '../engine/tree-context.js';
import type { PpmScorer, StepPolicy } from './types.js';

export interface EnginePolicyOptions {
  /** GGUF of the policy model. */
  policyPath: string;
  /** GGUF of the PPM (a model with an rStar value head); omit for terminal-guided search. */
  ppmPath?: string;
  config: RstarConfig;
  /** Problems searched at once (sizes the KV cache and decode batches). */
  concurrency: number;
  /** KV cells of each context; default 2048 per concurrent problem, between 4096 and 65536. */
  contextSize?: number;
  threads?: number;
  gpuLayers?: number;
}

export interface EnginePolicy {
  policy: StepPolicy;
  /** Null when no PPM was given. */
  scorer: PpmScorer | null;
  dispose(): Promise<void>;
}

/** Loads the policy (and PPM) models and wraps them for the search. */
export async function createEnginePolicy(options: EnginePolicyOptions): Promise<EnginePolicy> {
  const contextSize = options.contextSize ?? Math.min(65536, Math.max(4096, options.concurrency * 2048));
  const threads = options.threads ?? availableParallelism();
  const policyModel = await Model.load(options.policyPath, { gpuLayers: options.gpuLayers ?? 0 });
  let ppmModel: Model | null = null;
  try {
    const ctx = await policyModel.createContext({ contextSize, threads });
    let ppmCtx: TreeContext | null = null;
    if (options.ppmPath) {
      ppmModel = await Model.load(options.ppmPath, { gpuLayers: options.gpuLayers ?? 0 });
      if (!ppmModel.info.hasValueHead) {
        throw new InvalidArgumentError(`${options.ppmPath} has no value head (rstar.value_head.weight): train one with \`rstar train ppm\``);
      }
      ppmCtx = await ppmModel.createContext({ contextSize, threads });
    }
    const promptTokens = new Map<string, number[]>();
    const tokenizePrompt = (prompt: string): number[] => {
      let t = promptTokens.get(prompt);
      if (!t) {
        t = policyModel.tokenize(prompt);
        if (promptTokens.size > 10000) promptTokens.clear();
        promptTokens.set(prompt, t);
      }
      return t;
    };
    // Markers that are single tokens stop on tokens (exact and cheap); others as stop strings.
    const stopCache = new Map<string, { tokens: number[]; strings: string[] }>();
    const stops = (markers: readonly string[]): { tokens: number[]; strings: string[] } => {
      const key = markers.join('\u0000');
      let s = stopCache.get(key);
      if (!s) {
        s = { tokens: [], strings: [] };
        for (const m of markers) {
          const id = policyModel.tokenId(m);
          if (id !== null) s.tokens.push(id);
          else s.strings.push(m);
        }
        stopCache.set(key, s);
      }
      return s;
    };
    const policy: StepPolicy = {
      tokenize: (text) => policyModel.tokenize(text),
      async generateSteps(request) {
        const prefix = [...tokenizePrompt(request.prompt)];
        for (const step of request.path) for (const t of step.tokens) prefix.push(t);
        const stop = stops(request.sampling.stopMarkers);
        const room = ctx.contextSize - prefix.length - 1;
        if (room < 1) return Array.from({ length: request.n }, () => ({ text: '', tokens: [], stop: null }));
        const gens = await ctx.expand(prefix, request.n, {
          temperature: request.sampling.temperature,
          maxTokens: Math.min(request.sampling.maxTokens, room),
          seed: request.seed,
          stopTokens: stop.tokens,
          stopStrings: stop.strings,
        });
        return gens.map((g) => ({ text: g.text, tokens: g.tokens, stop: g.stopReason === 'stop_token' || g.stopReason === 'stop_string' ? g.stop : null }));
      },
    };
    const scorer: PpmScorer | null =
      ppmModel && ppmCtx
        ? {
            async score(requests) {
              const sequences = requests.map((r) => ppmModel!.tokenize(r.prompt + r.path.map((p) => p.text).join('')));
              return ppmCtx!.score(sequences);
            },
          }
        : null;
    return {
      policy,
      scorer,
      async dispose() {
        await policyModel.dispose();
        await ppmModel?.dispose();
      },
    };
  } catch (err) {
    await policyModel.dispose();
    await ppmModel?.dispose();
    throw err;
  }
}
