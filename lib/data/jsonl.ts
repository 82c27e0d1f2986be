/** Small JSONL helpers: stream records from a file, and write a whole file atomically. */
import { createReadStream } from 'node:fs';
import { open, rename, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { DataError } from '../errors.js';

/** Yields every non-empty line of a JSONL file parsed as JSON; a bad line throws DataError naming it. */
export async function* readJsonl<T = unknown>(path: string): AsyncGenerator<T> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber += 1;
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line) as T;
    } catch (err) {
      throw new DataError(`${path}:${lineNumber} is not valid JSON: ${(err as Error).message}`);
    }
  }
}

/**
 * Writes records as JSONL through a temporary file renamed into place, so readers never see half a
 * file and an interrupted write leaves the previous version. Returns the number of records.
 */
export async function writeJsonlAtomic(path: string, records: Iterable<unknown> | AsyncIterable<unknown>): Promise<number> {
  const tmp = `${path}.tmp-${process.pid}`;
  const file = await open(tmp, 'w');
  let count = 0;
  try {
    let chunk = '';
    for await (const record of records) {
      chunk += `${JSON.stringify(record)}\n`;
      count += 1;
      if (chunk.length >= 1 << 20) {
        await file.write(chunk);
        chunk = '';
      }
    }
    if (chunk) await file.write(chunk);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  return count;
}

/** Writes one JSON document atomically (pretty-printed). */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, 'utf8');
  await rename(tmp, path);
}
