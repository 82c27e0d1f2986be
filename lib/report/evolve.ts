/**
 * The report of an evolve run (lib/evolve/run.ts), from its state.json (the one file that says what is
 * done, read through the loop's own `roundResult`): coverage of the training problems per round and by
 * level (paper Table 2), held-out accuracy per round of greedy, majority vote and MCTS with the PPM
 * (Tables 3, 6, 8), held-out PPM pair accuracy, data sizes and time per stage. A run in progress shows
 * what is done. Each round's search trees go to the viewer.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { roundResult, type EvolveState, type RoundState } from '../evolve/run.js';
import { DataError } from '../errors.js';
import { readTrees } from './generate.js';
import type { Figure, Section, TreeSet } from './types.js';
import { chart, displayPath, pct, readJsonIfExists, seconds } from './util.js';

const STAGES = ['search', 'data', 'sft', 'ppm', 'eval'] as const;
const STAGE_COLORS = ['#2c7bb6', '#abd9e9', '#fdae61', '#d7191c', '#1a9641'];

export interface EvolveReport {
  section: Section;
  treeSets: TreeSet[];
}

/** The search directories of a round: its search, then the extra passes over unsolved problems. */
function searchDirs(roundDir: string): Array<{ dir: string; label: string }> {
  const out = [{ dir: join(roundDir, 'search'), label: 'search' }];
  for (let p = 1; existsSync(join(roundDir, `search-extra-${p}`)); p++) out.push({ dir: join(roundDir, `search-extra-${p}`), label: `extra pass ${p}` });
  return out;
}

export async function loadEvolve(dir: string, id: string, label: string, maxTrees: number): Promise<EvolveReport> {
  const state = await readJsonIfExists<EvolveState>(join(dir, 'state.json'));
  if (!state || typeof state.rounds !== 'object' || state.rounds === null) throw new DataError(`${join(dir, 'state.json')} is not the state of an evolve run (no "rounds")`);
  const configured = state.settings?.evolve?.rounds?.length ?? null;
  const majorityN = state.settings?.evolve?.eval?.majorityN ?? null;
  const maj = majorityN === null ? 'majority' : `maj@${majorityN}`;
  const ks = Object.keys(state.rounds)
    .map(Number)
    .filter((k) => Number.isInteger(k))
    .sort((a, b) => a - b);
  const states = new Map<number, RoundState>(ks.map((k) => [k, state.rounds[String(k)]]));
  const results = ks.map((k) => roundResult(k, states.get(k)!));
  const searched = results.filter((r) => states.get(r.round)!.search);
  const evaluated = results.filter((r) => states.get(r.round)!.eval);
  const base = state.base?.result ?? null;

  const accuracy: Array<{ round: string; method: string; accuracy: number }> = [];
  if (base) accuracy.push({ round: 'base', method: 'greedy', accuracy: base.accuracy });
  for (const r of evaluated) {
    if (r.greedyAccuracy !== null) accuracy.push({ round: String(r.round), method: 'greedy', accuracy: r.greedyAccuracy });
    if (r.majorityAccuracy !== null) accuracy.push({ round: String(r.round), method: maj, accuracy: r.majorityAccuracy });
    if (r.mctsPpmAccuracy !== null) accuracy.push({ round: String(r.round), method: 'MCTS + PPM', accuracy: r.mctsPpmAccuracy });
  }
  const greedyByLevel: Array<{ round: string; level: string; accuracy: number }> = [];
  if (base) for (const [l, v] of Object.entries(base.byLevel)) greedyByLevel.push({ round: 'base', level: `level ${l}`, accuracy: v.accuracy });
  for (const r of evaluated) for (const [l, v] of Object.entries(r.eval.greedy?.byLevel ?? {})) greedyByLevel.push({ round: String(r.round), level: `level ${l}`, accuracy: v.accuracy });
  const coverage = searched.flatMap((r) => [
    { round: String(r.round), level: 'all', coverage: r.coverage },
    ...Object.entries(r.coverageByLevel).map(([l, c]) => ({ round: String(r.round), level: `level ${l}`, coverage: c.fraction })),
  ]);
  const rounds = ['base', ...ks.map(String)];
  const roundAxis = { field: 'round', type: 'ordinal' as const, sort: rounds, title: 'round', axis: { labelAngle: 0 } };
  const stageTimes = ks.flatMap((k) => STAGES.filter((s) => states.get(k)![s]).map((s) => ({ round: String(k), stage: s, step: STAGES.indexOf(s), seconds: states.get(k)![s]!.wallMs / 1000 })));
  if (state.base) stageTimes.unshift({ round: 'base', stage: 'eval', step: STAGES.indexOf('eval'), seconds: state.base.wallMs / 1000 });

  const charts: Section['charts'] = [
    chart(id, 'coverage', 'Coverage of the training problems', 'Share of training problems with at least one correct trajectory in the round\'s search, overall and by level (paper Table 2).', {
      data: { values: coverage },
      mark: { type: 'line', point: true, tooltip: true },
      encoding: {
        x: { ...roundAxis, sort: ks.map(String) },
        y: { field: 'coverage', type: 'quantitative', axis: { format: '.0%' }, scale: { domain: [0, 1] }, title: 'coverage' },
        color: { field: 'level', type: 'nominal', title: null },
        strokeWidth: { condition: { test: "datum.level === 'all'", value: 3.5 }, value: 1.5 },
      },
    }),
    chart(id, 'accuracy', 'Held-out accuracy per round', `Greedy pass@1 of each round's policy, majority vote over ${majorityN ?? 'n'} samples, and the test-time MCTS with the round's PPM (paper Tables 3, 6, 8); "base" is the base model.`, {
      data: { values: accuracy },
      mark: { type: 'line', point: { size: 60 }, tooltip: true },
      encoding: {
        x: roundAxis,
        y: { field: 'accuracy', type: 'quantitative', axis: { format: '.0%' }, scale: { domain: [0, 1] }, title: 'accuracy' },
        color: { field: 'method', type: 'nominal', scale: { domain: ['greedy', maj, 'MCTS + PPM'], range: ['#2c7bb6', '#fdae61', '#1a9641'] }, title: null },
      },
    }),
    chart(id, 'greedy-levels', 'Greedy pass@1 by level', 'Held-out greedy accuracy of each round\'s policy per difficulty level.', {
      data: { values: greedyByLevel },
      mark: { type: 'line', point: true, tooltip: true },
      encoding: {
        x: roundAxis,
        y: { field: 'accuracy', type: 'quantitative', axis: { format: '.0%' }, scale: { domain: [0, 1] }, title: 'accuracy' },
        color: { field: 'level', type: 'nominal', title: null },
      },
    }),
    chart(id, 'ppm', 'PPM pair accuracy', 'Share of held-out preference pairs the round\'s PPM ranks right (pairs of problems it was not trained on).', {
      data: { values: results.filter((r) => r.ppmPairAccuracy !== null).map((r) => ({ round: String(r.round), accuracy: r.ppmPairAccuracy })) },
      mark: { type: 'bar', tooltip: true, color: '#d7191c' },
      encoding: {
        x: { ...roundAxis, sort: ks.map(String) },
        y: { field: 'accuracy', type: 'quantitative', axis: { format: '.0%' }, scale: { domain: [0, 1] }, title: 'pair accuracy' },
      },
    }, { height: 160 }),
    chart(id, 'data', 'Training data per round', 'SFT rows (top trajectories per problem) and PPM preference pairs derived from the round\'s trees.', {
      data: { values: searched.flatMap((r) => (states.get(r.round)!.data ? [{ round: String(r.round), what: 'SFT rows', count: r.sftRows }, { round: String(r.round), what: 'PPM pairs', count: r.pairs }] : [])) },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { ...roundAxis, sort: ks.map(String) },
        xOffset: { field: 'what' },
        y: { field: 'count', type: 'quantitative', title: 'rows', axis: { tickMinStep: 1, format: 'd' } },
        color: { field: 'what', type: 'nominal', scale: { domain: ['SFT rows', 'PPM pairs'], range: ['#fdae61', '#d7191c'] }, title: null },
      },
    }, { height: 160 }),
    chart(id, 'time', 'Time per stage', 'Wall time of each finished stage, stacked per round.', {
      data: { values: stageTimes },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: roundAxis,
        y: { field: 'seconds', type: 'quantitative', stack: 'zero', title: 'seconds' },
        color: { field: 'stage', type: 'nominal', scale: { domain: [...STAGES], range: STAGE_COLORS }, sort: [...STAGES], title: null },
        order: { field: 'step', sort: 'ascending' },
      },
    }, { height: 180 }),
  ];

  const last = evaluated.at(-1);
  const totalS = stageTimes.reduce((a, s) => a + s.seconds, 0);
  const figures: Figure[] = [
    { label: 'rounds evaluated', value: configured === null ? String(evaluated.length) : `${evaluated.length} / ${configured}` },
    { label: 'base greedy', value: pct(base?.accuracy), hint: 'greedy pass@1 of the base model on the held-out problems' },
    ...(last
      ? [
          { label: `round ${last.round} greedy`, value: pct(last.greedyAccuracy) },
          { label: `round ${last.round} ${maj}`, value: pct(last.majorityAccuracy) },
          { label: `round ${last.round} MCTS + PPM`, value: pct(last.mctsPpmAccuracy) },
        ]
      : []),
    ...(searched.length > 0 ? [{ label: `round ${searched.at(-1)!.round} coverage`, value: pct(searched.at(-1)!.coverage) }] : []),
    { label: 'time so far', value: seconds(totalS), hint: 'the sum of every finished stage' },
  ];
  const tables: Section['tables'] = [
    {
      title: 'Rounds',
      columns: ['round', 'coverage', 'greedy', maj, 'MCTS + PPM', 'PPM pairs', 'SFT rows', 'pairs', 'time'],
      rows: [
        ...(base ? [['base', null, pct(base.accuracy), null, null, null, null, null, seconds(state.base!.wallMs / 1000)]] : []),
        ...results.map((r) => {
          const rs = states.get(r.round)!;
          return [r.round, rs.search ? pct(r.coverage) : null, pct(r.greedyAccuracy), pct(r.majorityAccuracy), pct(r.mctsPpmAccuracy), pct(r.ppmPairAccuracy), rs.data ? r.sftRows : null, rs.data ? r.pairs : null, seconds(r.wallS)];
        }),
      ],
    },
    {
      title: 'Stages done',
      columns: ['round', ...STAGES],
      rows: ks.map((k) => [k, ...STAGES.map((s) => (states.get(k)![s] ? `${seconds(states.get(k)![s]!.wallMs / 1000)}` : '—'))]),
    },
  ];
  const inputs = state.inputs ? Object.entries(state.inputs).filter(([, v]) => v) : [];
  if (inputs.length > 0 || state.bootstrap) {
    tables.push({ title: 'Inputs', columns: ['input', 'file'], rows: [...inputs.map(([k, v]) => [k, `${v!.path} (sha256 ${v!.sha256.slice(0, 12)}…)`]), ['bootstrap policy', state.bootstrap]] });
  }

  const notes: string[] = [];
  if (configured !== null && evaluated.length < configured) notes.push(`${evaluated.length} of ${configured} rounds are evaluated: the run is in progress or stopped (rerun rstar evolve with the same flags to resume).`);
  const treeSets: TreeSet[] = [];
  for (const k of ks) {
    for (const s of searchDirs(join(dir, `round-${k}`))) {
      const r = await readTrees([join(s.dir, 'trees.jsonl')], maxTrees);
      if (r.unreadable) notes.push(`round ${k} ${s.label}: ${r.unreadable}`);
      if (r.entries.length === 0) continue;
      treeSets.push({ id: `${id}-r${k}-${s.label.replace(/\W+/g, '-')}`, label: `${label}: round ${k} ${s.label}`, section: id, trees: r.entries, omitted: r.count - r.entries.length });
      if (r.count > r.entries.length) notes.push(`The tree viewer holds the first ${r.entries.length} of round ${k}'s ${r.count} ${s.label} trees (rstar report --max-trees N to embed more).`);
    }
  }
  return { section: { id, kind: 'evolve', title: `Evolve: ${label}`, dirs: [displayPath(dir)], figures, charts, tables, notes }, treeSets };
}

