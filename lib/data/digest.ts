/**
 * Files identified by content: a run records the SHA-256 of every model and data file it used, so a
 * resumed or repeated run can tell that an input changed even when its path did not (and that a moved
 * file is still the same input). Hashing streams the file on libuv's pool, never blocking the event
 * loop; a multi-GB GGUF costs a few seconds, once per process (results are memoised by path, size
 * and modification time).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { RstarError } from '../errors.js';

export interface FileDigest {
  /** Absolute path when recorded (informative: identity is the hash). */
  path: string;
  bytes: number;
  sha256: string;
}

const memo = new Map<string, Promise<FileDigest>>();

/** The SHA-256 and size of a file. */
export async function fileDigest(path: string): Promise<FileDigest> {
  const absolute = resolve(path);
  let info;
  try {
    info = await stat(absolute);
  } catch (err) {
    throw new RstarError('IO', `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const key = `${absolute}\u0000${info.size}\u0000${info.mtimeMs}`;
  let digest = memo.get(key);
  if (!digest) {
    digest = new Promise<FileDigest>((ok, fail) => {
      const hash = createHash('sha256');
      createReadStream(absolute, { highWaterMark: 1 << 20 })
        .on('data', (chunk) => hash.update(chunk))
        .on('error', (err) => fail(new RstarError('IO', `Cannot read ${path}: ${err.message}`, { cause: err })))
        .on('end', () => ok({ path: absolute, bytes: info.size, sha256: hash.digest('hex') }));
    });
    memo.set(key, digest);
    digest.catch(() => memo.delete(key));
  }
  return digest;
}

/** Named inputs of a run (`policy`, `ppm`, ...); null for an input the run does not use. */
export type RunInputs = Record<string, FileDigest | null>;

/** Digests of named files (null stays null). */
export async function digestInputs(files: Record<string, string | null | undefined>): Promise<RunInputs> {
  const entries = await Promise.all(Object.entries(files).map(async ([name, path]) => [name, path ? await fileDigest(path) : null] as const));
  return Object.fromEntries(entries);
}

/**
 * What differs between the inputs a run recorded and the ones given now, one phrase per input
 * (empty when they agree). Inputs the earlier run did not record are not compared.
 *
 * @example differingInputs(before, now); // ['--policy (sha256 3f2a… then, 9bc1… now: other.gguf)']
 */
export function differingInputs(before: RunInputs, now: RunInputs, flags: Record<string, string> = {}): string[] {
  const out: string[] = [];
  for (const [name, then] of Object.entries(before)) {
    if (!(name in now)) continue;
    const current = now[name];
    const flag = flags[name] ?? name;
    if (then === null && current === null) continue;
    if (then === null) out.push(`${flag} (none then, ${current!.path} now)`);
    else if (current === null) out.push(`${flag} (${then.path} then, none now)`);
    else if (then.sha256 !== current.sha256) {
      out.push(`${flag} (sha256 ${then.sha256.slice(0, 12)}… of ${then.path} then, ${current.sha256.slice(0, 12)}… of ${current.path} now)`);
    }
  }
  return out;
}
