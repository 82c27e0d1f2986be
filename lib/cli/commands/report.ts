/**
 * `rstar report DIR... [--out FILE.html]`: evolve, eval and generate run directories as one
 * self-contained HTML page with charts and a search-tree viewer, for any browser, offline
 * (lib/report). `rstar evolve` writes the same page into its run directory after every round.
 */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { DEFAULT_MAX_TREES, writeReport, type ReportResult } from '../../report/index.js';
import { printJsonLine } from '../output.js';

export interface ReportArgs {
  dirs: string[];
  out?: string;
  maxTrees: number;
  title?: string;
  json: boolean;
}

function describe(r: ReportResult): string {
  const kb = (r.bytes / 1024).toFixed(0);
  const sections = r.sections.map((s) => `  ${s.kind.padEnd(8)} ${s.title}${s.kind === 'eval' ? ` (${s.dirs.length} director${s.dirs.length === 1 ? 'y' : 'ies'})` : ''}`);
  const trees = r.trees.embedded + r.trees.omitted === 0 ? [] : [`  trees    ${r.trees.embedded} in the viewer${r.trees.omitted > 0 ? `, ${r.trees.omitted} left out (--max-trees)` : ''}`];
  return [`wrote ${r.out} (${kb} KB)`, ...sections, ...trees].join('\n');
}

/** The handler of `rstar report`, callable from scripts and tests. */
export async function runReportCommand(args: ReportArgs): Promise<ReportResult> {
  const result = await writeReport({ dirs: args.dirs, out: args.out, maxTrees: args.maxTrees, title: args.title });
  process.stdout.write(`${describe(result)}\n`);
  if (args.json) printJsonLine(result);
  return result;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <dirs..>',
  describe: 'one self-contained HTML page (charts, search-tree viewer; works offline) of evolve, eval and generate run directories',
  builder: (y) =>
    y
      .positional('dirs', { type: 'string', array: true, demandOption: true, describe: 'run directories: rstar evolve --out, rstar generate --out, eval directories (several are shown side by side)' })
      .option('out', { type: 'string', describe: 'the HTML file (default: DIR/report.html for one directory, ./report.html for several)' })
      .option('max-trees', { type: 'number', default: DEFAULT_MAX_TREES, describe: 'search trees embedded per tree set (a generate run, an evolve round); the first N of each' })
      .option('title', { type: 'string', describe: 'page title' })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as one JSON object on the last line' })
      .example('$0 report rstar-evolve', 'the run of `rstar evolve` (rewritten by it after every round)')
      .example('$0 report eval-f16 eval-q8_0 eval-q4_k_m --out quant.html', 'eval runs side by side') as never,
  handler: async (args: ArgumentsCamelCase<ReportArgs>) => {
    await runReportCommand(args);
  },
};
