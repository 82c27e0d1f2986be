/**
 * The data a report page is made of: what lib/report's loaders build from run directories in Node and
 * what the page's script (./client/report.js) renders in the browser, embedded in the page as JSON.
 * Everything with meaning (which figures, which charts, how a run is read) is decided here in Node; the
 * page only draws: it embeds each chart's Vega-Lite spec, fills tables and runs the tree viewer.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { NodeKind, TerminalReason } from '../mcts/node.js';

export type RunKind = 'evolve' | 'eval' | 'generate';

/** One figure in a section's header row ("solve rate 87.5%"). */
export interface Figure {
  label: string;
  value: string;
  /** What it means, shown on hover. */
  hint?: string;
}

export interface Chart {
  /** Unique in the page (DOM id of its container). */
  id: string;
  title: string;
  /** One sentence under the title: what is plotted and how to read it. */
  description: string;
  spec: TopLevelSpec;
  /** Takes a whole row of the page (faceted charts, many series). */
  wide?: boolean;
}

export interface Table {
  title: string;
  columns: string[];
  rows: Array<Array<string | number | null>>;
}

/** One section of the page: the report of one evolve or generate directory, or of every eval directory together. */
export interface Section {
  id: string;
  kind: RunKind;
  title: string;
  /** The directories shown, relative to the current directory when below it. */
  dirs: string[];
  figures: Figure[];
  charts: Chart[];
  tables: Table[];
  /** What the reader should know: missing files, trees left out, partial runs. */
  notes: string[];
}

/**
 * A group of search trees the viewer can show ("round 1 search", a generate directory). Each tree's
 * nodes are packed apart (`TreeEntry.packed`), so the page parses only the tree being looked at.
 */
export interface TreeSet {
  id: string;
  label: string;
  /** The section this set belongs to. */
  section: string;
  trees: TreeEntry[];
  /** Trees in the run that were not embedded (the `maxTrees` limit). */
  omitted: number;
}

/** One problem's tree in the picker, with its nodes packed. */
export interface TreeEntry {
  id: string;
  question: string;
  /** The reference answer, when the search knew it. */
  gold: string | null;
  nodes: number;
  answers: number;
  correct: number;
  solved: boolean;
  annotation: 'terminal-guided' | 'ppm-augmented';
  /** `ViewerNode[]` as JSON, gzip-compressed, base64 (the page inflates it with DecompressionStream). */
  packed: string;
}

/** A tree node as the viewer shows it: the record's fields (lib/mcts/tree-record.ts) plus the step's code. */
export interface ViewerNode {
  tag: string;
  depth: number;
  kind: NodeKind;
  /** The node's full text (generated step, then any appended `<output>` block). */
  text: string;
  /** The Python of this step alone (lib/exec `codeOfStepText`); '' for answer steps and the root. */
  code: string;
  /** What the step's program printed, or its error. */
  observation: string | null;
  stop: string | null;
  q: number;
  visits: number;
  valueSum: number;
  value: number | null;
  ppm: number | null;
  reward: number | null;
  terminal: boolean;
  reason: TerminalReason | null;
  answer: string | null;
  correct: boolean | null;
  execOk: boolean | null;
  timedOut: boolean;
  consecutiveErrors: number;
  rollout: number;
  tokens: number;
}

/** Everything the page shows, embedded as JSON. */
export interface ReportData {
  title: string;
  /** ISO time the page was written. */
  generatedAt: string;
  /** rstar-math's version. */
  version: string;
  sections: Section[];
  treeSets: TreeSet[];
}
