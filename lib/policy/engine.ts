/**
 * The bridge from the search's interfaces (lib/mcts/types.ts) to the engine (lib/engine): the policy
 * and the PPM as local llama.cpp models. A remote policy (a queue of workers) would sit beside this
 * module and implement the same `StepPolicy` / `PpmScorer`.
 *
 * - The policy: a node's prefix is the tokenized prompt followed by the stored tokens of every step on
 *   its path (generated text is never re-tokenized), expanded with `TreeContext.expand`, which shares
 *   the prefix's KV cells among the n candidates and merges every concurrent problem's decodes into
 *   the same batches.
 * - The PPM (`EnginePpm`): the PPM model's own tokenization of prompt + step texts, exactly what the
 *   trainer saw, scored in one batch per call, and turned into step scores by the one transform that
 *   owns them (`valueTransformOf`): the PPM file's, unless the configuration overrides it.
 *
 * One tokenization rule (`promptTokens`): text that starts a sequence gets the model's
 * beginning-of-sequence token exactly when its GGUF asks for one (`tokenizer.ggml.add_bos_token`);
 * the trainer's packing (native/train/packing.cpp) tokenizes prompts the same way, so training,
 * generation and scoring see the same tokens.
 */
import { availableParallelism } from 'node:os';
import type { EngineConfig, SearchConfig } from '../config/index.js';
import { contextCells } from '../config/index.js';
import { InvalidArgumentError } from '../errors.js';
import { Model } from '../engine/model.js';
import type { TreeContext } from '../engine/tree-context.js';
import type { PpmScorer, StepPolicy } from '../mcts/types.js';

/** Token ids of text that starts a sequence (a prompt, or prompt + steps for the PPM). */
export function promptTokens(model: Model, text: string): number[] {
  return model.tokenize(text, { addBos: true });
}

/** How a raw value-head output becomes a step score. */
export type ValueTransform = 'tanh_div5' | 'tanh' | 'raw';

/** The transform a PPM file stores (`rstar.value_head.transform`), `tanh_div5` when it has none. */
export function storedValueTransform(model: Model): ValueTransform {
  const t = model.info.valueHeadTransform ?? model.info.metadata['rstar.value_head.transform'];
  return t === 'tanh' || t === 'raw' ? t : 'tanh_div5';
}

/** The transform in force: the file's, unless `search.ppmTransform` names one explicitly. */
export function valueTransformOf(model: Model, setting: SearchConfig['ppmTransform'] = 'model'): ValueTransform {
  return setting === 'model' ? storedValueTransform(model) : setting;
}

export function applyValueTransform(raw: number, transform: ValueTransform): number {
  switch (transform) {
    case 'tanh_div5':
      return Math.tanh(raw / 5);
    case 'tanh':
      return Math.tanh(raw);
    default:
      return raw;
  }
}

/** A PPM loaded in the engine: raw head outputs and transformed step scores of whole texts. */
export class EnginePpm {
  readonly transform: ValueTransform;

  private constructor(
    readonly model: Model,
    readonly context: TreeContext,
    transform: ValueTransform,
  ) {
    this.transform = transform;
  }

  /**
   * Loads a PPM (a GGUF with a value head) with its own context.
   * @example const ppm = await EnginePpm.open('ppm.gguf', config.engine, { contextSize: 8192 });
   */
  static async open(path: string, engine: EngineConfig, options: { contextSize: number; transform?: SearchConfig['ppmTransform'] }): Promise<EnginePpm> {
    const model = await Model.load(path, { gpuLayers: engine.gpuLayers });
    try {
      if (!model.info.hasValueHead) {
        throw new InvalidArgumentError(`${path} has no value head (rstar.value_head.weight): it is not a PPM; train one with \`rstar train ppm\``);
      }
      const context = await model.createContext(contextOptions(engine, options.contextSize));
      return new EnginePpm(model, context, valueTransformOf(model, options.transform));
    } catch (err) {
      await model.dispose();
      throw err;
    }
  }

  /** Raw value-head outputs of `texts` (each a prompt followed by steps), scored together. */
  rawScores(texts: readonly string[]): Promise<number[]> {
    return this.context.score(texts.map((t) => promptTokens(this.model, t)));
  }

  /** Step scores: the raw outputs under `transform`. */
  async scores(texts: readonly string[]): Promise<number[]> {
    return (await this.rawScores(texts)).map((r) => applyValueTransform(r, this.transform));
  }

  /** The search's view of this PPM. */
  scorer(): PpmScorer {
    return { score: (requests) => this.scores(requests.map((r) => r.prompt + r.path.map((p) => p.text).join(''))) };
  }

  dispose(): Promise<void> {
    return this.model.dispose();
  }
}

export function contextOptions(engine: EngineConfig, contextSize: number): { contextSize: number; threads: number; batchSize: number; kvType: EngineConfig['kvType']; idleCacheCells?: number } {
  return {
    contextSize,
    threads: engine.threads > 0 ? engine.threads : availableParallelism(),
    batchSize: engine.batchSize,
    kvType: engine.kvType,
    ...(engine.idleCacheCells >= 0 ? { idleCacheCells: engine.idleCacheCells } : {}),
  };
}

export interface EnginePolicyOptions {
  /** GGUF of the policy model. */
  policyPath: string;
  /** GGUF of the PPM (a model with an rStar value head); omit for terminal-guided search. */
  ppmPath?: string;
  engine: EngineConfig;
  /** `search.ppmTransform`: 'model' (the PPM file's transform) or an explicit override. */
  ppmTransform?: SearchConfig['ppmTransform'];
  /** Problems searched at once (sizes the KV cache when `engine.contextSize` is 0). */
  concurrency: number;
}

/** What was loaded, for summaries and records. */
export interface LoadedModelReport {
  path: string;
  gpuLayers: number;
  offloadedLayers: number;
  contextSize: number;
  threads: number;
  batchSize: number;
}

export interface EnginePolicy {
  policy: StepPolicy;
  /** Null when no PPM was given. */
  scorer: PpmScorer | null;
  /** The loaded PPM, null without one. */
  ppm: EnginePpm | null;
  /** The policy's context (statistics and step probes: `rstar bench search`). */
  context: TreeContext;
  models: { policy: LoadedModelReport; ppm: LoadedModelReport | null };
  dispose(): Promise<void>;
}

function report(model: Model, ctx: TreeContext): LoadedModelReport {
  return {
    path: model.info.path,
    gpuLayers: model.offload.requestedLayers,
    offloadedLayers: model.offload.offloadedLayers,
    contextSize: ctx.contextSize,
    threads: ctx.threads,
    batchSize: ctx.batchSize,
  };
}

/**
 * Loads the policy (and PPM) models and wraps them for the search. Both contexts get the same number
 * of cells, so whatever the policy can hold the PPM can score.
 */
export async function createEnginePolicy(options: EnginePolicyOptions): Promise<EnginePolicy> {
  const contextSize = contextCells(options.engine, options.concurrency);
  const policyModel = await Model.load(options.policyPath, { gpuLayers: options.engine.gpuLayers });
  let ppm: EnginePpm | null = null;
  try {
    const ctx = await policyModel.createContext(contextOptions(options.engine, contextSize));
    if (options.ppmPath) ppm = await EnginePpm.open(options.ppmPath, options.engine, { contextSize, transform: options.ppmTransform });
    const promptCache = new Map<string, number[]>();
    const tokenizePrompt = (prompt: string): number[] => {
      let t = promptCache.get(prompt);
      if (!t) {
        t = promptTokens(policyModel, prompt);
        if (promptCache.size > 10000) promptCache.clear();
        promptCache.set(prompt, t);
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
    const loadedPpm = ppm;
    return {
      policy,
      scorer: loadedPpm ? loadedPpm.scorer() : null,
      ppm: loadedPpm,
      context: ctx,
      models: { policy: report(policyModel, ctx), ppm: loadedPpm ? report(loadedPpm.model, loadedPpm.context) : null },
      async dispose() {
        await policyModel.dispose();
        await loadedPpm?.dispose();
      },
    };
  } catch (err) {
    await policyModel.dispose();
    await ppm?.dispose();
    throw err;
  }
}
