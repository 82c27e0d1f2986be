/** How every CLI command talks to the terminal: results on stdout, progress and errors on stderr. */
import { RstarError } from '../errors.js';

/** Prints `value` as the one JSON object on the last line of stdout (the `--json` contract). */
export function printJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Milliseconds between plain progress lines off a terminal: `RSTAR_PROGRESS_MS`, else 5000. */
function plainProgressInterval(): number {
  const v = Number(process.env.RSTAR_PROGRESS_MS);
  return Number.isFinite(v) && v >= 0 ? v : 5000;
}

/**
 * Progress lines on stderr. On a terminal the line is rewritten in place at most every 100 ms;
 * elsewhere (CI, pipes) a plain line is printed at most every `plainEveryMs` (`RSTAR_PROGRESS_MS`).
 */
export class Progress {
  private last = 0;
  private readonly tty = Boolean(process.stderr.isTTY);
  constructor(private readonly label: string, private readonly quiet = false, private readonly plainEveryMs = plainProgressInterval()) {}
  update(text: string, force = false): void {
    if (this.quiet) return;
    const now = Date.now();
    if (!force && now - this.last < (this.tty ? 100 : this.plainEveryMs)) return;
    this.last = now;
    if (this.tty) process.stderr.write(`\r\x1b[2K${this.label}: ${text}`);
    else process.stderr.write(`${this.label}: ${text}\n`);
  }
  /** A whole line that --quiet does not silence (warnings). */
  warn(text: string): void {
    process.stderr.write(this.tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
  }
  done(text: string): void {
    if (this.quiet) return;
    if (this.tty) process.stderr.write(`\r\x1b[2K${this.label}: ${text}\n`);
    else process.stderr.write(`${this.label}: ${text}\n`);
  }
}

/** Formats seconds as "1h02m", "3m05s" or "12s" for ETAs. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** The last stop for errors: a one-line actionable message, exit code 2 for bad input, 1 otherwise. */
export function reportFatal(err: unknown): never {
  if (err instanceof RstarError) {
    process.stderr.write(`error: ${err.message}\n`);
    if (process.env.RSTAR_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exit(err.code === 'INVALID_ARGUMENT' || err.code === 'DATA' ? 2 : 1);
  }
  process.stderr.write(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
