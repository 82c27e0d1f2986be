/** Small helpers the report's loaders share: reading optional JSON files, labels and number formats. */
import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';
import { DataError } from '../errors.js';
import type { TopLevelSpec } from 'vega-lite';
import type { Chart } from './types.js';

/** A JSON file's content, or null when it does not exist; a DataError when it cannot be parsed. */
export async function readJsonIfExists<T>(path: string): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new DataError(`Cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new DataError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

const GENERIC = new Set(['eval', 'search', 'greedy', 'majority', 'mcts', 'best-of-n']);

/**
 * Short names for directories: the last path component, or as many trailing components as it takes to
 * tell them apart ("round-1/eval", "round-2/eval").
 *
 * @example labelDirs(['/r/round-1/eval', '/r/round-2/eval']); // ['round-1/eval', 'round-2/eval']
 */
export function labelDirs(dirs: readonly string[]): string[] {
  const parts = dirs.map((d) => d.split(sep).filter(Boolean));
  // The stage directories of an evolve run say little alone ("eval", "search"): their round goes with them.
  const labels = parts.map((p) => p.slice(GENERIC.has(p.at(-1) ?? '') ? -2 : -1).join('/'));
  for (let depth = 2; depth <= Math.max(1, ...parts.map((p) => p.length)); depth++) {
    const counts = new Map<string, number>();
    for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    let clash = false;
    labels.forEach((l, i) => {
      if ((counts.get(l) ?? 0) > 1) {
        clash = true;
        labels[i] = parts[i].slice(-depth).join('/');
      }
    });
    if (!clash) break;
  }
  return labels.map((l) => l || '/');
}

/** A directory as the page names it: relative to the current directory when below it, else absolute. */
export function displayPath(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? dir : rel;
}

export function pct(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : `${(x * 100).toFixed(digits)}%`;
}

/** 12345 -> "12,345"; 0.5 -> "0.5". */
export function num(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  return Number.isInteger(x) ? x.toLocaleString('en-US') : x.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** Seconds as "42 s", "3.5 min" or "1.2 h". */
export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return 'n/a';
  if (s < 120) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** A chart id unique in the page: the section id and a name. */
export function chartId(section: string, name: string): string {
  return `${section}-${name}`.replace(/[^A-Za-z0-9_-]/g, '-');
}

/** Shared look of every chart: fills its container's width, a fixed height, tooltips on marks. */
export function chart(section: string, name: string, title: string, description: string, spec: TopLevelSpec, options: { height?: number; wide?: boolean } = {}): Chart {
  const height = options.height ?? 220;
  // A faceted chart cannot fill its container (Vega-Lite sizes each panel): fixed-width panels, a whole row.
  const encoding = (spec as { encoding?: Record<string, unknown> }).encoding ?? {};
  const faceted = 'column' in encoding || 'row' in encoding;
  const size = faceted ? { width: 240, height } : { width: 'container', height, autosize: { type: 'fit-x', contains: 'padding' } };
  return { id: chartId(section, name), title, description, spec: { ...size, ...spec } as TopLevelSpec, ...(faceted || options.wide ? { wide: true } : {}) };
}
