/**
 * The one error family of rstar-math. Every error the library throws on purpose is an
 * `RstarError` with a stable `code` that callers (and the CLI's exit path) can switch on.
 * Failures of user-written Python are never thrown: they are results (see lib/exec).
 */
export type RstarErrorCode =
  | 'INVALID_ARGUMENT'
  | 'DISPOSED'
  | 'NATIVE_NOT_BUILT'
  | 'MODEL_LOAD'
  | 'KV_CACHE_FULL'
  | 'CONTEXT_OVERFLOW'
  | 'DECODE'
  | 'NATIVE'
  | 'IO'
  | 'DATA'
  | 'EXEC'
  | 'TRAIN'
  /** A stage ended with work it could not do (problems whose search failed); rerunning retries it. */
  | 'INCOMPLETE'
  | 'ABORTED';

export class RstarError extends Error {
  readonly code: RstarErrorCode;
  constructor(code: RstarErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A bad value passed by the caller; the message follows "Expected X for Y but received Z". */
export class InvalidArgumentError extends RstarError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** A method was called on an object after `dispose()`. */
export class DisposedError extends RstarError {
  constructor(what: string) {
    super('DISPOSED', `${what} is disposed`);
  }
}

/** The KV cache has no free cells left for a decode, and nothing could be evicted. */
export class KvCacheFullError extends RstarError {
  constructor(message: string) {
    super('KV_CACHE_FULL', message);
  }
}

/** Input longer than the context can ever hold. */
export class ContextOverflowError extends RstarError {
  constructor(message: string) {
    super('CONTEXT_OVERFLOW', message);
  }
}

/** Bad data in an input file (JSONL, GGUF metadata, ...). */
export class DataError extends RstarError {
  constructor(message: string) {
    super('DATA', message);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return `a value of type ${typeof value}`;
}

/** The one message template for argument validation. */
export function invalidArgument(expected: string, name: string, actual: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`Expected ${expected} for ${name} but received ${describe(actual)}`);
}

export function assertInteger(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`an integer between ${min} and ${max}`, name, value);
  }
  return value;
}

export function assertNumber(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalidArgument(`a number between ${min} and ${max}`, name, value);
  }
  return value;
}

/**
 * Errors from the addon arrive as plain `Error`s whose message starts with a bracketed code,
 * e.g. "[KV_CACHE_FULL] no free KV cells ...". This maps them onto the family and re-attaches
 * the JavaScript stack captured before the native call (native stacks are useless to users).
 */
export function fromNative(err: unknown, callSite?: Error): RstarError {
  if (err instanceof RstarError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const m = /^\[([A-Z_]+)\]\s*(.*)$/s.exec(message);
  const code = (m?.[1] ?? 'NATIVE') as RstarErrorCode;
  const text = m?.[2] ?? message;
  let out: RstarError;
  switch (code) {
    case 'INVALID_ARGUMENT':
      out = new InvalidArgumentError(text);
      break;
    case 'KV_CACHE_FULL':
      out = new KvCacheFullError(text);
      break;
    case 'CONTEXT_OVERFLOW':
      out = new ContextOverflowError(text);
      break;
    default:
      out = new RstarError(code, text, { cause: err });
  }
  if (callSite?.stack) out.stack = `${out.name}: ${out.message}\n${callSite.stack.split('\n').slice(1).join('\n')}`;
  return out;
}
