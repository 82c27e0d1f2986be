/** Public types of the Python verification layer (lib/exec). */

/**
 * What running one program produced. A program that raises, loops, or is killed is a result, never an
 * exception: `ok` is false and `error` says why. Structurally a superset of lib/mcts's `ExecResult`.
 */
export interface ExecResult {
  /** The program ran to its end (or exited with status 0) without an uncaught exception. */
  ok: boolean;
  /** What it wrote to stdout, at most `maxOutputBytes` bytes. */
  stdout: string;
  /** What it wrote to stderr (the traceback of an uncaught exception ends up here), at most 64 KiB. */
  stderr: string;
  /**
   * Null when `ok`. Otherwise one line, "<ExceptionType>: <message>" for an uncaught exception as the
   * reference interpreter reports it (e.g. "NameError: name 'x' is not defined"), and for what the
   * sandbox did: "TimeoutError: ...", "OutputLimitError: ...", "KilledError: ...", "SystemExit: 3",
   * "WorkerError: ..." (the worker itself failed; never cached).
   */
  error: string | null;
  /** Killed at the wall-time limit (or its CPU-time backstop). */
  timedOut: boolean;
  /** It raised MemoryError: it hit the address-space limit. */
  memoryExceeded: boolean;
  /** It wrote more than `maxOutputBytes` to stdout and stderr together and was killed for it. */
  outputTruncated: boolean;
  /** Exit status: 0 on success, 1 for an uncaught exception, N for sys.exit(N)/os._exit(N); null when killed. */
  exitCode: number | null;
  /** The signal that ended it ("SIGKILL", ...), or null. */
  signal: string | null;
  /** Wall time of the run in milliseconds as seen by the pool, queueing excluded (the original run's for a cache hit). */
  ms: number;
  /** Served from the result cache (the same program ran before with the same limits). */
  cached: boolean;
  /**
   * Answered by the worker's evaluator of plain arithmetic without a fork (a program of number
   * assignments, arithmetic and prints that ran without error; zygote.py lists what qualifies);
   * false for a run in the sandbox.
   */
  inProcess: boolean;
}

/** Limits for one run; each defaults to the pool's setting. */
export interface RunOptions {
  /** Wall-time limit in milliseconds. The reference allows 30 s per program. */
  timeoutMs?: number;
  /** How much each process of the program may grow its address space beyond the warm interpreter, in bytes. */
  memoryLimitBytes?: number;
}

export type IsolationRequest = 'auto' | 'namespaces' | 'rlimits';

export interface PythonPoolOptions {
  /** Worker processes, each running one program at a time. Default: the number of CPU cores. */
  size?: number;
  /** Interpreter; default `RSTAR_PYTHON`, else `python3`. It must import numpy and sympy. */
  python?: string;
  /** Default wall-time limit per run in ms (default 10 000). */
  timeoutMs?: number;
  /** Default address-space growth allowed per process above the warm interpreter, bytes (default 1 GiB). */
  memoryLimitBytes?: number;
  /** Most processes and threads one program may have at once (RLIMIT_NPROC; default 64). */
  processLimit?: number;
  /** Most bytes of stdout plus stderr; a program writing more is killed (default 1 MiB). */
  maxOutputBytes?: number;
  /** Size of the throwaway file system a program may write to, and of any one file, bytes (default 64 MiB). */
  diskLimitBytes?: number;
  /**
   * 'auto' (default): Linux namespaces where the machine allows them, else rlimits only (logged).
   * 'namespaces': refuse to start without them. 'rlimits': do not try them.
   * Default from `RSTAR_EXEC_ISOLATION` when set.
   */
  isolation?: IsolationRequest;
  /** Results kept by program text and limits (LRU). 0 disables the cache. Default 20 000. */
  cacheEntries?: number;
  /** Total size of the cached texts (programs and outputs), bytes. Default 64 MiB. */
  cacheBytes?: number;
  /** Pre-touch, in each idle standby child, what a sympy step touches (default true; costs idle CPU). */
  prewarm?: boolean;
  /**
   * Answer plain-arithmetic programs in the worker without a fork (default true): the worker walks
   * their syntax tree with Python's operators, and runs anything else, including every program that
   * raises, in the sandbox. False: every program forks (the A/B of `rstar bench exec`).
   */
  inProcessArithmetic?: boolean;
  /** First uid of the sandbox uids (one per slot) when running as root. Default 4 000 000 000. */
  sandboxUidBase?: number;
  /** Deadline for a worker to import numpy and sympy and pass its self-test, ms (default 60 000). */
  startTimeoutMs?: number;
  /** Where the one start-up line (and worker restarts) go; default stderr; null for silence. */
  log?: ((line: string) => void) | null;
}

/** Which isolation layer the workers run under, as they report it. */
export interface IsolationInfo {
  layer: 'namespaces' | 'rlimits';
  pidNamespace: boolean;
  networkNamespace: boolean;
  mountNamespace: boolean;
  readOnlyRoot: boolean;
  /** Who the program runs as, in words. */
  privileges: string;
  /** Why namespaces are not in use (rlimits layer only). */
  reason?: string;
  /** Directories hidden behind empty mounts, and the interpreter directories bound back inside them. */
  hidden?: string[];
  boundBack?: string[];
}

export interface PythonInfo {
  executable: string;
  version: string;
  numpy: string;
  sympy: string;
}

export interface PoolInfo {
  size: number;
  python: PythonInfo;
  isolation: IsolationInfo;
}
