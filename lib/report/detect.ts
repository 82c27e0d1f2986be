/**
 * What kind of run a directory holds, by the files each stage writes:
 *
 *   evolve    state.json                                   (lib/evolve/run.ts)
 *   generate  trees.jsonl                                  (lib/generate/run.ts)
 *   eval      results.jsonl                                (`rstar eval`, issue #8: one line per problem and policy)
 *             metrics.json with records.jsonl              (lib/eval/evaluate.ts: one method per directory)
 *             subdirectories that are eval runs            (an evolve round's eval/, one subdirectory per method)
 *
 * Checked in that order; the first match wins (an evolve run's directory also holds generate and eval
 * runs below it, never beside state.json).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import type { RunKind } from './types.js';

/** A directory holding one eval run's files (not a group of them). */
export function isEvalRunDir(dir: string): boolean {
  return existsSync(join(dir, 'results.jsonl')) || (existsSync(join(dir, 'metrics.json')) && existsSync(join(dir, 'records.jsonl')));
}

/** The eval runs directly below `dir` (its method subdirectories), sorted by name. */
export function evalRunSubdirs(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .sort()
    .map((name) => join(dir, name))
    .filter((path) => {
      try {
        return statSync(path).isDirectory() && isEvalRunDir(path);
      } catch {
        return false;
      }
    });
}

/**
 * The kind of run in `dir`; a DataError that says what was looked for when it is none.
 *
 * @example detectRun('rstar-evolve'); // 'evolve'
 */
export function detectRun(dir: string): RunKind {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new DataError(`${dir} does not exist; expected a run directory (of rstar evolve, rstar generate or an evaluation)`);
  }
  if (!isDir) throw new DataError(`${dir} is not a directory; expected a run directory (of rstar evolve, rstar generate or an evaluation)`);
  if (existsSync(join(dir, 'state.json'))) return 'evolve';
  if (existsSync(join(dir, 'trees.jsonl'))) return 'generate';
  if (isEvalRunDir(dir) || evalRunSubdirs(dir).length > 0) return 'eval';
  throw new DataError(
    `${dir} is not a run directory: found none of state.json (an evolve run), trees.jsonl (a generate run), ` +
      'results.jsonl or metrics.json with records.jsonl (an eval run), nor subdirectories holding eval runs',
  );
}
