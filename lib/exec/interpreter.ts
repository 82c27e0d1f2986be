/**
 * Finding the Python interpreter the workers run, and checking it before any worker starts.
 *
 * The check runs with the caller's environment (a pyenv or conda shim needs it to find its
 * interpreter) and resolves `sys.executable`; the workers are then started from that absolute path
 * with a scrubbed environment, so no variable of the parent reaches a program.
 */
import { execFile } from 'node:child_process';
import { RstarError } from '../errors.js';
import type { PythonInfo } from './types.js';

/** The interpreter to use: the option, else `RSTAR_PYTHON`, else `python3`. */
export function pythonCommand(option?: string): string {
  return option ?? process.env.RSTAR_PYTHON ?? 'python3';
}

const PROBE = [
  'import json, sys',
  'info = {"executable": sys.executable, "version": sys.version.split()[0], "ok_version": sys.version_info >= (3, 8)}',
  'try:',
  '    import numpy, sympy',
  '    info.update(numpy=numpy.__version__, sympy=sympy.__version__)',
  'except ImportError as e:',
  '    info["missing"] = e.name or str(e)',
  'print(json.dumps(info))',
].join('\n');

const checked = new Map<string, Promise<PythonInfo>>();

/**
 * Resolves `command` to an interpreter that imports numpy and sympy, or throws an RstarError ('EXEC')
 * that says how to get one. Memoised per command for the life of the process.
 */
export function checkPython(command: string): Promise<PythonInfo> {
  let p = checked.get(command);
  if (!p) {
    p = probe(command);
    checked.set(command, p);
    p.catch(() => checked.delete(command));
  }
  return p;
}

function probe(command: string): Promise<PythonInfo> {
  const fix =
    'Install them for it (Debian/Ubuntu: apt-get install python3-numpy python3-sympy; or: ' +
    `${command} -m pip install numpy sympy), or point RSTAR_PYTHON at an interpreter that has them.`;
  return new Promise((resolve, reject) => {
    execFile(command, ['-c', PROBE], { timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new RstarError('EXEC', `Python interpreter "${command}" was not found. Install Python 3 (apt-get install python3) or set RSTAR_PYTHON to an interpreter's path.`));
        return;
      }
      let info: Record<string, unknown> | null = null;
      try {
        info = JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
      } catch {
        info = null;
      }
      if (!info) {
        const why = err ? err.message : 'it printed no answer';
        reject(new RstarError('EXEC', `Python interpreter "${command}" could not be checked (${why}). ${stderr.slice(-500)}`.trim()));
        return;
      }
      if (!info.ok_version) {
        reject(new RstarError('EXEC', `Python ${String(info.version)} at ${String(info.executable)} is too old; rstar needs Python 3.8 or newer (set RSTAR_PYTHON).`));
        return;
      }
      if (info.missing) {
        reject(new RstarError('EXEC', `Python ${String(info.version)} at ${String(info.executable)} cannot import ${String(info.missing)}, and step programs need numpy and sympy. ${fix}`));
        return;
      }
      resolve({ executable: String(info.executable), version: String(info.version), numpy: String(info.numpy), sympy: String(info.sympy) });
    });
  });
}
