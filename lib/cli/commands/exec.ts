/**
 * `rstar exec`: run one Python program from stdin exactly as a step is verified during the search:
 * a warm worker of the same pool, the same sandbox, the same limits.
 *
 *   rstar exec < program.py                   program stdout on stdout; its stderr and error on stderr
 *   rstar exec --json --timeout-ms 2000 < p.py last line {ok, stdout, stderr, error, timed_out, ms, ...}
 *
 * The exit code is 0 whenever the program was run, whatever it did (raised, timed out, was killed):
 * that is the result, and it is in the output. Non-zero means it could not be run (1: no usable
 * Python, 2: bad arguments). The result cache is off: every call runs the program.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { assertInteger, invalidArgument } from '../../errors.js';
import { PythonPool } from '../../exec/PythonPool.js';
import type { ExecResult, IsolationInfo } from '../../exec/types.js';
import { printJsonLine } from '../output.js';

interface ExecArgs {
  timeoutMs: number;
  memoryMb: number;
  json: boolean;
  quiet: boolean;
}

/** The `--json` line: ExecResult in snake_case, plus the isolation layer it ran under. */
export interface ExecJsonLine {
  ok: boolean;
  stdout: string;
  stderr: string;
  error: string | null;
  timed_out: boolean;
  memory_exceeded: boolean;
  output_truncated: boolean;
  exit_code: number | null;
  signal: string | null;
  ms: number;
  /** Evaluated without a fork (plain arithmetic that ran without error); `isolation` then did not apply. */
  in_process: boolean;
  isolation: IsolationInfo['layer'];
}

export function toJsonLine(r: ExecResult, isolation: IsolationInfo['layer']): ExecJsonLine {
  return {
    ok: r.ok,
    stdout: r.stdout,
    stderr: r.stderr,
    error: r.error,
    timed_out: r.timedOut,
    memory_exceeded: r.memoryExceeded,
    output_truncated: r.outputTruncated,
    exit_code: r.exitCode,
    signal: r.signal,
    ms: Math.round(r.ms * 1000) / 1000,
    in_process: r.inProcess,
    isolation,
  };
}

/** Runs `program` in a one-worker pool with the cache off, then disposes it. */
export async function runExec(
  program: string,
  options: { timeoutMs: number; memoryMb: number; log?: ((line: string) => void) | null },
): Promise<{ result: ExecResult; isolation: IsolationInfo }> {
  const timeoutMs = assertInteger(options.timeoutMs, '--timeout-ms', 1, 86_400_000);
  const memoryMb = assertInteger(options.memoryMb, '--memory-mb', 16, 1 << 20);
  const pool = new PythonPool({ size: 1, cacheEntries: 0, prewarm: false, log: options.log ?? null });
  try {
    const info = await pool.start();
    const result = await pool.run(program, { timeoutMs, memoryLimitBytes: memoryMb * 1024 * 1024 });
    return { result, isolation: info.isolation };
  } finally {
    await pool.dispose();
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw invalidArgument('a program on stdin (rstar exec < program.py)', 'stdin', 'a terminal');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const execCommand: CommandModule<object, ExecArgs> = {
  command: 'exec',
  describe: 'run one Python program from stdin exactly as a step is verified (warm sandboxed worker)',
  builder: (y) =>
    y
      .usage('$0 exec [--timeout-ms N] [--json] < program.py')
      .option('timeout-ms', { type: 'number', default: 10_000, describe: 'wall-time limit of the program' })
      .option('memory-mb', { type: 'number', default: 1024, describe: 'address space each process may add to the warm interpreter' })
      .option('json', { type: 'boolean', default: false, describe: 'print only one JSON line {ok, stdout, error, timed_out, ms, ...}' })
      .option('quiet', { type: 'boolean', default: false, describe: 'do not print the isolation line on stderr' })
      .example('$0 exec < step.py', 'the program\'s output, and its error on stderr')
      .example('echo "print(2**10)" | $0 exec --json', '{"ok":true,"stdout":"1024\\n",...}') as unknown as Argv<ExecArgs>,
  handler: async (args: ArgumentsCamelCase<ExecArgs>) => {
    const program = await readStdin();
    const log = args.quiet ? null : (line: string) => process.stderr.write(`${line}\n`);
    const { result, isolation } = await runExec(program, { timeoutMs: args.timeoutMs, memoryMb: args.memoryMb, log });
    if (args.json) {
      printJsonLine(toJsonLine(result, isolation.layer));
      return;
    }
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    if (!result.ok && !result.stderr.includes(result.error ?? '\0')) process.stderr.write(`${result.error}\n`);
  },
};
