/**
 * `rstar report`: run directories as one self-contained HTML page that works offline (from file://,
 * with no network request): an evolve run's rounds, eval runs side by side, a generate run's search,
 * and a viewer for the search trees.
 *
 * Each directory's kind is found by its files (./detect.ts). Evolve and generate directories get a
 * section each; every eval directory goes into one section, so that models and methods compare. The
 * loaders (./evolve.ts, ./eval.ts, ./generate.ts) decide what is shown; ./html.ts writes the page;
 * ./client/report.js draws it in the browser.
 */
import { readFileSync } from 'node:fs';
import { rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { assertInteger, invalidArgument, RstarError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { detectRun } from './detect.js';
import { loadEval } from './eval.js';
import { loadEvolve } from './evolve.js';
import { loadGenerate } from './generate.js';
import { renderHtml } from './html.js';
import { DEFAULT_MAX_TREES } from './trees.js';
import type { ReportData, RunKind, Section, TreeSet } from './types.js';
import { labelDirs } from './util.js';

export { detectRun } from './detect.js';
export { DEFAULT_MAX_TREES } from './trees.js';
export type { ReportData, RunKind, Section, TreeSet, TreeEntry, ViewerNode } from './types.js';

export interface ReportOptions {
  /** Run directories: evolve, generate or eval, in the order the page shows them. */
  dirs: readonly string[];
  /** The HTML file (default: `report.html` in the directory when there is one, else in the current directory). */
  out?: string;
  /** Trees embedded per tree set (an evolve round's search, a generate run); default 200. */
  maxTrees?: number;
  title?: string;
}

export interface ReportResult {
  out: string;
  bytes: number;
  sections: Array<{ kind: RunKind; title: string; dirs: string[] }>;
  /** Trees embedded in the viewer, and trees left out by `maxTrees`. */
  trees: { embedded: number; omitted: number };
}

/** Where the report of `dirs` goes when no --out is given. */
export function defaultReportPath(dirs: readonly string[]): string {
  return dirs.length === 1 ? join(resolve(dirs[0]), 'report.html') : resolve('report.html');
}

/**
 * What the page shows, read from the directories.
 *
 * @example const data = await buildReport({ dirs: ['rstar-evolve'] }); data.sections[0].kind; // 'evolve'
 */
export async function buildReport(options: ReportOptions): Promise<ReportData> {
  if (options.dirs.length === 0) throw invalidArgument('at least one run directory', 'dirs', options.dirs);
  const maxTrees = assertInteger(options.maxTrees ?? DEFAULT_MAX_TREES, 'maxTrees', 0);
  const dirs = options.dirs.map((d) => resolve(d));
  const kinds = dirs.map((d) => detectRun(d));
  const labels = labelDirs(dirs);
  const sections: Section[] = [];
  const treeSets: TreeSet[] = [];
  const evalDirs = dirs.filter((_, i) => kinds[i] === 'eval');
  for (let i = 0; i < dirs.length; i++) {
    const id = `s${i + 1}`;
    if (kinds[i] === 'evolve') {
      const r = await loadEvolve(dirs[i], id, labels[i], maxTrees);
      sections.push(r.section);
      treeSets.push(...r.treeSets);
    } else if (kinds[i] === 'generate') {
      const r = await loadGenerate(dirs[i], id, labels[i], maxTrees);
      sections.push(r.section);
      if (r.treeSet.trees.length > 0) treeSets.push(r.treeSet);
    } else if (dirs[i] === evalDirs[0]) {
      sections.push(await loadEval(evalDirs, id));
    }
  }
  const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  return { title: options.title ?? `rstar report: ${labels.join(', ')}`, generatedAt: new Date().toISOString(), version, sections, treeSets };
}

/**
 * Writes the report of `dirs` (atomically: a reader never sees half a page) and says where.
 *
 * @example
 * const { out, bytes } = await writeReport({ dirs: ['rstar-evolve'] }); // rstar-evolve/report.html
 */
export async function writeReport(options: ReportOptions): Promise<ReportResult> {
  const data = await buildReport(options);
  const out = resolve(options.out ?? defaultReportPath(options.dirs));
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, renderHtml(data), 'utf8');
    await rename(tmp, out);
  } catch (err) {
    throw new RstarError('IO', `Cannot write the report to ${out}: ${(err as Error).message}`, { cause: err });
  }
  return {
    out,
    bytes: (await stat(out)).size,
    sections: data.sections.map((s) => ({ kind: s.kind, title: s.title, dirs: s.dirs })),
    trees: { embedded: data.treeSets.reduce((a, t) => a + t.trees.length, 0), omitted: data.treeSets.reduce((a, t) => a + t.omitted, 0) },
  };
}
