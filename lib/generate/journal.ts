/**
 * The resume journal of `rstar generate` is trees.jsonl itself: a problem is done iff its tree line is
 * fully written (terminated by "\n"). Each tree is appended with one write, so an interruption can only
 * leave a partial last line; `openJournal` cuts that off and reports the ids already done, and the run
 * appends the rest. No problem is lost or written twice.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { DataError } from '../errors.js';

/** Bytes of a line's start kept to read its id (the id is the first key of a tree record). */
const HEAD_BYTES = 64 * 1024;

export interface JournalScan {
  /** Ids of complete lines, in file order. */
  ids: string[];
  /** Bytes up to and including the last "\n". */
  validBytes: number;
  /** Bytes of an unterminated last line that were cut off (0 when the file ended cleanly). */
  truncatedBytes: number;
}

function idOfLine(head: string, path: string, lineNumber: number): string {
  const m = /^\s*\{\s*"id"\s*:\s*("(?:[^"\\]|\\.)*")/.exec(head);
  if (m) return JSON.parse(m[1]) as string;
  try {
    const record = JSON.parse(head) as { id?: unknown };
    if (typeof record.id === 'string') return record.id;
  } catch {
    // fall through to the error below
  }
  throw new DataError(`${path}:${lineNumber} is not a tree record starting with its "id"`);
}

/** Reads the ids of complete lines without parsing whole trees (which can be megabytes each). */
export async function scanJournal(path: string): Promise<JournalScan> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ids: [], validBytes: 0, truncatedBytes: 0 };
    throw err;
  }
  const ids: string[] = [];
  let offset = 0;
  let validBytes = 0;
  let head: Buffer[] = [];
  let headLength = 0;
  let lineNumber = 0;
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (;;) {
      const { bytesRead } = await file.read(chunk, 0, chunk.length, offset);
      if (bytesRead === 0) break;
      let start = 0;
      while (start < bytesRead) {
        const newline = chunk.indexOf(10, start);
        const end = newline >= 0 && newline < bytesRead ? newline : bytesRead;
        if (headLength < HEAD_BYTES) {
          const piece = chunk.subarray(start, Math.min(end, start + HEAD_BYTES - headLength));
          head.push(Buffer.from(piece));
          headLength += piece.length;
        }
        if (end === bytesRead) break;
        lineNumber += 1;
        const text = Buffer.concat(head).toString('utf8');
        if (text.trim() !== '') ids.push(idOfLine(text, path, lineNumber));
        head = [];
        headLength = 0;
        validBytes = offset + newline + 1;
        start = newline + 1;
      }
      offset += bytesRead;
    }
  } finally {
    await file.close();
  }
  return { ids, validBytes, truncatedBytes: offset - validBytes };
}

/** Scans the journal and cuts off a partial last line, so appending continues on a clean line. */
export async function openJournal(path: string): Promise<JournalScan> {
  const scan = await scanJournal(path);
  if (scan.truncatedBytes > 0) {
    const file = await open(path, 'r+');
    try {
      await file.truncate(scan.validBytes);
    } finally {
      await file.close();
    }
  }
  return scan;
}

/** Appends whole lines one at a time (callers may call `append` concurrently). */
export class JournalWriter {
  private chain: Promise<void> = Promise.resolve();
  private constructor(private readonly file: FileHandle) {}

  static async open(path: string): Promise<JournalWriter> {
    return new JournalWriter(await open(path, 'a'));
  }

  /** Appends `line` + "\n" in one write; resolves once it is written. */
  append(line: string): Promise<void> {
    const next = this.chain.then(() => this.file.appendFile(`${line}\n`, 'utf8'));
    this.chain = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.file.close();
  }
}
