/**
 * Small real GGUF models for tests, made with `rstar model make`'s own code on first use and
 * shared by every test file (test/.tmp/models, ignored by git). Random weights: these models test
 * mechanics and speed paths, never accuracy.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { makeModel, type MakeModelOptions } from '../../lib/engine/model-files.js';
import { packageRoot } from '../../lib/paths.js';

export const testDir = join(packageRoot, 'test', '.tmp');
const modelDir = join(testDir, 'models');

const specs = {
  /** Real Qwen2 tokenizer, tiny qwen2 body, F32 weights. */
  'tiny-qwen2-f32': { preset: 'tiny', vocab: 'qwen2', type: 'f32' },
  /** Byte-level vocabulary: a 0.4 MB model. */
  'tiny-bytes-f32': { preset: 'tiny', vocab: 'bytes', type: 'f32' },
  /** A random PPM: the byte model plus a random value head. */
  'tiny-bytes-ppm-f32': { preset: 'tiny', vocab: 'bytes', type: 'f32', valueHead: true },
  /** llama architecture (no biases), byte vocabulary. */
  'tiny-llama-bytes-f32': { preset: 'tiny', vocab: 'bytes', type: 'f32', arch: 'llama' },
} satisfies Record<string, Omit<MakeModelOptions, 'out'>>;

export type TestModel = keyof typeof specs;

const pending = new Map<TestModel, Promise<string>>();

export function testModel(name: TestModel): Promise<string> {
  let p = pending.get(name);
  if (!p) {
    p = make(name);
    pending.set(name, p);
  }
  return p;
}

async function make(name: TestModel): Promise<string> {
  const path = join(modelDir, `${name}.gguf`);
  if (existsSync(path)) return path;
  mkdirSync(modelDir, { recursive: true });
  // Each process writes its own file and renames it into place: concurrent test files never see
  // a half-written model.
  const own = join(modelDir, `${name}.${process.pid}.gguf`);
  await makeModel({ ...(specs[name] as Omit<MakeModelOptions, 'out'>), out: own, seed: 7 });
  renameSync(own, path);
  return path;
}
