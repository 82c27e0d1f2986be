/** Where the package's own files live, resolved once from this module's location. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The package root: lib/ compiles to dist/lib/, so walk up until package.json is found. */
export const packageRoot: string = (() => {
  let dir = here;
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts', 'install.mjs'))) return dir;
    dir = dirname(dir);
  }
  return resolve(here, '..', '..');
})();

export const llamaSourceDir = join(packageRoot, 'native', 'llama.cpp');
export const llamaBuildDir = join(packageRoot, 'build', 'llama');
/** The real Qwen2 tokenizer, shipped inside the vendored llama.cpp tree (never committed here). */
export const qwen2VocabPath = join(llamaSourceDir, 'models', 'ggml-vocab-qwen2.gguf');
/** The four public benchmark files shipped with the package (lib/data/benchmarks/README.md). */
export const benchmarkDataDir = join(packageRoot, 'lib', 'data', 'benchmarks');

/** A llama.cpp program built by scripts/install.mjs (benchmarks compare against these). */
export function llamaTool(name: 'llama-batched-bench' | 'llama-finetune'): string {
  return join(llamaBuildDir, 'bin', name);
}
