/**
 * A worker's model files, found by content. A job names each model by SHA-256 and size, plus the path
 * it has on the coordinator's machine. The worker uses, in order: a file it already matched; that
 * path, when it exists here with the same bytes (one machine, or a shared file system mounted at the
 * same place); a file of the same size and hash anywhere under its `--models-dir` directories
 * (searched again when a job names a model not seen yet, so files copied in later are found). A
 * worker that has none refuses the job with an error saying which file it needs; it never runs a
 * search on other bytes than the coordinator's.
 *
 * Hashing streams the file (lib/data/digest.ts, memoised by path, size and mtime), so finding a
 * multi-GB model never blocks the event loop that renews the worker's job locks.
 */
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileDigest } from '../data/digest.js';
import { RstarError } from '../errors.js';
import type { ModelRef } from './protocol.js';

/** Directory levels searched below each models directory. */
const MAX_DEPTH = 4;

async function ggufFiles(dir: string, depth = 0): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isFile() && e.name.endsWith('.gguf')) out.push(path);
    else if (e.isDirectory() && depth < MAX_DEPTH) out.push(...(await ggufFiles(path, depth + 1)));
  }
  return out;
}

export class ModelFiles {
  private readonly known = new Map<string, string>();

  constructor(private readonly dirs: readonly string[], private readonly workerName: string) {}

  /** The local path of a model file with the reference's bytes; throws an IO error naming what is missing. */
  async find(ref: Extract<ModelRef, { kind: 'file' }>, role: string): Promise<string> {
    const matches = async (path: string): Promise<boolean> => {
      try {
        if ((await stat(path)).size !== ref.bytes) return false;
        return (await fileDigest(path)).sha256 === ref.sha256;
      } catch {
        return false;
      }
    };
    const cached = this.known.get(ref.sha256);
    if (cached !== undefined && (await matches(cached))) return cached;
    if (existsSync(ref.path) && (await matches(ref.path))) {
      this.known.set(ref.sha256, ref.path);
      return ref.path;
    }
    for (const dir of this.dirs) {
      for (const path of await ggufFiles(dir)) {
        if (await matches(path)) {
          this.known.set(ref.sha256, path);
          return path;
        }
      }
    }
    const where = this.dirs.length > 0 ? `neither at that path nor under --models-dir ${this.dirs.join(', ')}` : 'not at that path, and no --models-dir was given';
    throw new RstarError(
      'IO',
      `worker ${this.workerName} has no ${role} model with sha256 ${ref.sha256} (${ref.bytes} bytes, ${ref.path} on the coordinator's machine): ${where}. Copy the file into a directory given to this worker with --models-dir, or make it readable at the same path`,
    );
  }
}
