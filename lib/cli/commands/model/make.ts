/** `rstar model make`: a random-weight GGUF of a real architecture (for speed tests, never accuracy). */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { loadProblems } from '../../../data/problems.js';
import { MODEL_TYPES, PRESETS, makeModel, type MadeModel, type ModelType, type Preset } from '../../../engine/model-files.js';
import { invalidArgument } from '../../../errors.js';
import { loadedProblemsCorpus, trainMerges } from '../../../synth/tokenizer.js';
import { printJsonLine } from '../../output.js';

interface MakeArgs {
  preset: Preset;
  vocab: 'qwen2' | 'bytes';
  type: ModelType;
  seed: number;
  out: string;
  arch: 'qwen2' | 'llama';
  layers?: number;
  embd?: number;
  heads?: number;
  kvHeads?: number;
  ff?: number;
  ctx?: number;
  valueHead?: boolean;
  markers: boolean;
  addBos: boolean;
  initStd?: number;
  bpeFrom?: string;
  bpeMerges: number;
  json: boolean;
}

export async function runMake(args: MakeArgs): Promise<MadeModel> {
  let merges: Array<[string, string]> | undefined;
  if (args.bpeFrom !== undefined) {
    if (args.vocab !== 'bytes') throw invalidArgument('--vocab bytes (merges extend the byte vocabulary)', '--bpe-from with --vocab', args.vocab);
    const problems = await loadProblems(args.bpeFrom);
    merges = trainMerges(loadedProblemsCorpus(problems), { wordMerges: args.bpeMerges });
  }
  const made = await makeModel({
    merges,
    preset: args.preset,
    vocab: args.vocab,
    type: args.type,
    seed: args.seed,
    out: args.out,
    arch: args.arch,
    valueHead: args.valueHead,
    markers: args.markers,
    addBos: args.addBos,
    initStd: args.initStd,
    overrides: { layers: args.layers, embd: args.embd, heads: args.heads, kvHeads: args.kvHeads, ff: args.ff, ctx: args.ctx },
  });
  if (args.json) printJsonLine(made);
  else {
    const s = made.shape;
    process.stdout.write(
      `${made.path}: ${made.preset} (random weights), ${made.type}, vocab ${made.vocab} (${made.nVocab} tokens), ` +
        `${s.layers} layers, embd ${s.embd}, heads ${s.heads}/${s.kvHeads}, ff ${s.ff}, ctx ${s.ctx}, ` +
        `${(made.nParams / 1e6).toFixed(1)}M params, ${(made.bytes / 1048576).toFixed(1)} MiB\n`,
    );
  }
  return made;
}

export const makeCommand: CommandModule<object, MakeArgs> = {
  command: 'make',
  describe: 'write a random-weight GGUF (qwen2 architecture: biases, GQA, tied embeddings like the real models)',
  builder: (y) =>
    y
      .option('preset', { choices: PRESETS, demandOption: true, describe: 'shape: tiny (a few MB, millisecond loads) or a real model\'s dimensions' })
      .option('vocab', { choices: ['qwen2', 'bytes'] as const, default: 'qwen2' as const, describe: 'qwen2: the real Qwen2 tokenizer (151,936 tokens); bytes: a 268-token byte-level vocabulary' })
      .option('type', { choices: MODEL_TYPES, default: 'f16' as ModelType, describe: 'weight type; q8_0 and q4_k_m are quantized by llama.cpp from f16' })
      .option('seed', { type: 'number', default: 42, describe: 'weight RNG seed (the same seed gives the same file)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output GGUF path' })
      .option('arch', { choices: ['qwen2', 'llama'] as const, default: 'qwen2' as const, describe: 'architecture (llama: no q/k/v biases)' })
      .option('layers', { type: 'number', describe: 'override: transformer blocks' })
      .option('embd', { type: 'number', describe: 'override: hidden size' })
      .option('heads', { type: 'number', describe: 'override: attention heads' })
      .option('kv-heads', { type: 'number', describe: 'override: key/value heads (GQA)' })
      .option('ff', { type: 'number', describe: 'override: feed-forward size' })
      .option('ctx', { type: 'number', describe: 'override: trained context length written to the file' })
      .option('value-head', { type: 'boolean', default: false, describe: 'add a random PPM value head (scoring tests and benchmarks)' })
      .option('markers', { type: 'boolean', default: true, describe: 'step markers and roles as single tokens (--no-markers: a vocabulary without them, like a downloaded base model)' })
      .option('add-bos', { type: 'boolean', default: false, describe: 'the tokenizer starts every sequence with BOS (llama-family convention)' })
      .option('init-std', { type: 'number', describe: 'standard deviation of the random weights (default 0.02; ~0.08 trains faster from scratch)' })
      .option('bpe-from', { type: 'string', describe: 'with --vocab bytes: learn BPE merges from this problem file (questions, and reference programs where present); every integer 0-999 becomes one token' })
      .option('bpe-merges', { type: 'number', default: 800, describe: 'with --bpe-from: word merges to learn at most' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' })
      .example('$0 model make --preset tiny --vocab bytes --bpe-from train.jsonl --type f32 --init-std 0.08 --out base.gguf', 'the embedded evolve default\'s kind of base model')
      .example('$0 model make --preset tiny --vocab bytes --type f32 --out tiny.gguf', 'a 0.2 MB model for tests')
      .example('$0 model make --preset qwen2.5-0.5b --type q8_0 --out q05.gguf', 'the engine benchmark model') as never,
  handler: async (args: ArgumentsCamelCase<MakeArgs>) => {
    await runMake(args);
  },
};
