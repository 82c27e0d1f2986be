/**
 * Self-evolution (spec §7, `rstar evolve`): rounds of search → SFT → PPM → evaluation, each round's
 * verified search data training the next round's policy and PPM.
 *
 * Per round k (settings: `evolve.rounds[k-1]`, saved in `round-k/settings.json`):
 *   search   MCTS over the training problems (lib/generate) with the bootstrap policy (round 1) or
 *            policy-(k-1), PPM-augmented with ppm-(k-1) when the round says so; then, when configured
 *            (round 4), passes over the still-unsolved problems with new seeds (`search-extra-p/`);
 *            here, or on queue workers (`runner`)
 *   data     SFT rows and PPM pairs derived from every tree of the round (`data/`), SFT grouped by problem;
 *            with `evolve.trainingData: 'all-rounds'` from every tree of rounds 1..k
 *   sft      the BASE model fine-tuned on the round's SFT rows → `policy.gguf` (policy-k)
 *   ppm      a PPM initialised from policy-k, trained on the round's pairs → `ppm.gguf` (PPM-k)
 *   eval     on the held-out problems: greedy pass@1 of policy-k, majority vote over n samples, and
 *            the test-time MCTS with PPM-k (`eval/<method>/`); coverage of the training problems;
 *            here, or on queue workers (`runner`: they make the candidates, this process grades)
 *
 * Resumable and traceable: `state.json` (written atomically after every stage) says what is done; a
 * stage recorded there is never redone, and each stage resumes itself (the search journal, training
 * checkpoints, evaluation records), so `kill -9` at any moment loses and duplicates nothing. The run's
 * inputs (model and problem files by SHA-256) and its configuration are recorded; a resume with other
 * inputs or settings is refused with what differs.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RoundSettings, RstarConfig } from '../config/index.js';
import { digestInputs, differingInputs, type RunInputs } from '../data/digest.js';
import { readJsonl, writeJsonAtomic } from '../data/jsonl.js';
import { loadProblems, type Problem } from '../data/problems.js';
import { inspectModel } from '../engine/model-files.js';
import { DataError, RstarError, invalidArgument } from '../errors.js';
import { evaluate, type EvalMethod, type EvalMetrics } from '../eval/evaluate.js';
import { deriveTrainingData } from '../generate/derive.js';
import { runGenerate, type GenerateSummary } from '../generate/run.js';
import type { SearchDeps, StepPolicy } from '../mcts/types.js';
import type { TreeRecord } from '../mcts/tree-record.js';
import { openSearchDeps } from '../policy/deps.js';
import type { ProblemRunner } from '../runner/index.js';
import { runTrainStage, trainMetadata, TRAIN_METADATA_KEY, type TrainStageResult } from '../train/stage.js';

/** Round 1's policy: a stronger model (a GGUF, prompted few-shot) or a program. */
export type BootstrapPolicy = { kind: 'model'; path: string } | { kind: 'program'; name: string; create(): StepPolicy };

export interface EvolveOptions {
  outDir: string;
  /** The base model: every round's SFT starts from it. */
  base: string;
  bootstrap: BootstrapPolicy;
  /** Training problems, searched every round. */
  problems: string;
  /** Held-out problems: evaluation only, never searched for training data. */
  evalProblems: string;
  config: RstarConfig;
  /** Problems searched (or evaluated) at once. */
  concurrency: number;
  /** Use only the first N problems of each file. */
  limit?: { train?: number; eval?: number };
  /** Stop after this round (default: every configured round); a later run with a higher value goes on. */
  lastRound?: number;
  /** Once aborted, the current stage stops at its next safe point and the run returns, resumable. */
  signal?: AbortSignal;
  /**
   * Where the search and evaluation stages' problems run: by default in this process (their models
   * loaded here); given this, on the runner it returns for the stage's models (`QueueRunner`: queue
   * workers, lib/queue). Training always runs here.
   */
  runner?: (models: { policy: string | { program: string }; ppm: string | null }) => ProblemRunner;
  onProgress?: (p: EvolveProgress) => void;
}

export type EvolveStage = 'base' | 'search' | 'data' | 'sft' | 'ppm' | 'eval';

export interface EvolveProgress {
  round: number;
  stage: EvolveStage;
  /** What is happening, in words ("greedy 12/50", "step 30/120 loss 0.41"). */
  detail: string;
  done?: number;
  total?: number;
  etaMs?: number | null;
}

export interface LevelCounts {
  problems: number;
  solved: number;
  fraction: number;
}

/** One round's outcome (the `--json` contract's per-round object, camelCase here). */
export interface RoundResult {
  round: number;
  /** Training problems with at least one correct trajectory (paper Table 2). */
  coverage: number;
  coverageByLevel: Record<string, LevelCounts>;
  greedyAccuracy: number | null;
  majorityAccuracy: number | null;
  mctsPpmAccuracy: number | null;
  /** Held-out PPM pair accuracy (pairs of problems the PPM was not trained on). */
  ppmPairAccuracy: number | null;
  sftRows: number;
  pairs: number;
  eval: Partial<Record<EvalMethod, EvalMetrics>>;
  wallS: number;
}

export interface EvolveResult {
  outDir: string;
  baseGreedyAccuracy: number | null;
  baseGreedy: EvalMetrics | null;
  rounds: RoundResult[];
  /** Every round finished (false when the signal stopped the run). */
  complete: boolean;
  wallS: number;
}

export interface StageRecord<T> {
  result: T;
  wallMs: number;
  at: string;
}

export interface RoundState {
  search?: StageRecord<{ summaries: GenerateSummary[]; coverage: number; coverageByLevel: Record<string, LevelCounts> }>;
  data?: StageRecord<{ sft: number; pairs: number }>;
  sft?: StageRecord<{ out: string; evalLossAfter: number | null }>;
  ppm?: StageRecord<{ out: string | null; pairAccuracy: number | null; skipped?: string }>;
  eval?: StageRecord<Partial<Record<EvalMethod, EvalMetrics>>>;
}

/** `state.json`: the one file that says what is done. */
export interface EvolveState {
  version: 1;
  inputs: RunInputs;
  /** The settings that shape results (every section but `engine`, which only changes speed). */
  settings: Omit<RstarConfig, 'engine'>;
  bootstrap: string;
  base?: StageRecord<EvalMetrics>;
  rounds: Record<string, RoundState>;
}

const INPUT_FLAGS = { base: '--base', bootstrap: '--bootstrap-policy', problems: '--problems', evalProblems: '--eval-problems' };

function settingsOf(config: RstarConfig): Omit<RstarConfig, 'engine'> {
  const { engine: _engine, ...rest } = config;
  return rest;
}

function describeSettingsChange(before: Omit<RstarConfig, 'engine'>, now: Omit<RstarConfig, 'engine'>): string[] {
  const out: string[] = [];
  for (const section of Object.keys(now) as Array<keyof typeof now>) {
    if (JSON.stringify(before[section]) === JSON.stringify(now[section])) continue;
    const a = (before[section] ?? {}) as unknown as Record<string, unknown>;
    const b = now[section] as unknown as Record<string, unknown>;
    const keys = Object.keys(b).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    out.push(keys.length > 0 ? keys.map((k) => `${section}.${k}`).join(', ') : section);
  }
  return out;
}

/** The search settings of one round, over the configured search section. */
export function roundSearchConfig(config: RstarConfig, r: RoundSettings, round: number, seedOffset = 0): RstarConfig {
  return {
    ...config,
    search: {
      ...config.search,
      mode: 'generate',
      rollouts: r.rollouts,
      temperature: r.temperature,
      promptStyle: r.promptStyle,
      errorsThreshold: r.errorsThreshold,
      stopMarkers: [...new Set([...config.search.stopMarkers, ...r.extraStopMarkers])],
      usePpm: r.usePpm,
      seed: (config.search.seed + round * 1_000_003 + seedOffset * 7_919) % 2 ** 32,
    },
  };
}

function levelOf(p: Problem): string {
  const l = p.meta.level;
  return typeof l === 'string' || typeof l === 'number' ? String(l) : 'none';
}

async function solvedIds(treeFiles: readonly string[]): Promise<Set<string>> {
  const solved = new Set<string>();
  for (const f of treeFiles) {
    if (!existsSync(f)) continue;
    for await (const t of readJsonl<TreeRecord>(f)) if (t.nodes.some((n) => n.reason === 'answer' && n.correct === true)) solved.add(t.id);
  }
  return solved;
}

function coverageOf(problems: readonly Problem[], solved: ReadonlySet<string>): { coverage: number; byLevel: Record<string, LevelCounts> } {
  const byLevel: Record<string, LevelCounts> = {};
  for (const p of problems) {
    const l = (byLevel[levelOf(p)] ??= { problems: 0, solved: 0, fraction: 0 });
    l.problems += 1;
    if (solved.has(p.id)) l.solved += 1;
  }
  for (const l of Object.values(byLevel)) l.fraction = l.solved / l.problems;
  const n = problems.filter((p) => solved.has(p.id)).length;
  return { coverage: problems.length === 0 ? 0 : n / problems.length, byLevel: Object.fromEntries(Object.entries(byLevel).sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))) };
}

/** A trained output is reused only when its metadata shows it came from exactly this training. */
async function alreadyTrained(out: string, expected: string): Promise<boolean> {
  if (!existsSync(out)) return false;
  try {
    return (await inspectModel(out)).metadata[TRAIN_METADATA_KEY] === expected;
  } catch {
    return false;
  }
}

class Aborted extends Error {}

/**
 * Runs (or resumes) self-evolution into `options.outDir`.
 *
 * @example
 * const result = await runEvolve({ outDir: 'evolve', base: 'base.gguf', bootstrap: { kind: 'model', path: 'big.gguf' },
 *   problems: 'train.jsonl', evalProblems: 'math500', config: resolveConfig(), concurrency: 16 });
 */
export async function runEvolve(options: EvolveOptions): Promise<EvolveResult> {
  const started = Date.now();
  const { config } = options;
  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const statePath = join(outDir, 'state.json');
  const rounds = config.evolve.rounds;
  const progress = (p: EvolveProgress): void => options.onProgress?.(p);
  const checkAbort = (): void => {
    if (options.signal?.aborted) throw new Aborted();
  };

  const trainProblems = await loadProblems(options.problems, options.limit?.train === undefined ? {} : { limit: options.limit.train });
  const evalProblems = await loadProblems(options.evalProblems, options.limit?.eval === undefined ? {} : { limit: options.limit.eval });
  const heldOutQuestions = new Set(evalProblems.map((p) => p.question.trim()));
  const leaked = trainProblems.filter((p) => heldOutQuestions.has(p.question.trim()));
  if (leaked.length > 0) {
    throw new DataError(`${leaked.length} training problems also appear in the held-out set (first: ${leaked[0].id}); the held-out set must never be trained on`);
  }

  const inputs = await digestInputs({
    base: options.base,
    bootstrap: options.bootstrap.kind === 'model' ? options.bootstrap.path : null,
    problems: options.problems,
    evalProblems: options.evalProblems,
  });
  const bootstrapName = options.bootstrap.kind === 'model' ? 'model' : `program:${options.bootstrap.name}`;
  let state: EvolveState;
  if (existsSync(statePath)) {
    let before: EvolveState;
    try {
      before = JSON.parse(await readFile(statePath, 'utf8')) as EvolveState;
    } catch (err) {
      throw new DataError(`${statePath} is unreadable (${(err as Error).message}); remove ${outDir} or choose another --out`);
    }
    const differences = [
      ...differingInputs(before.inputs, inputs, INPUT_FLAGS),
      ...(before.bootstrap !== bootstrapName ? [`the bootstrap policy (${before.bootstrap} then, ${bootstrapName} now)`] : []),
      ...describeSettingsChange(before.settings, settingsOf(config)),
    ];
    if (differences.length > 0) {
      throw invalidArgument(`the inputs and settings of the run in ${outDir} (these differ: ${[...new Set(differences)].join('; ')})`, 'this run', 'other inputs; use a new --out, or the same files and settings');
    }
    state = before;
  } else {
    state = { version: 1, inputs, settings: settingsOf(config), bootstrap: bootstrapName, rounds: {} };
    await writeJsonAtomic(statePath, state);
  }
  const save = (): Promise<void> => writeJsonAtomic(statePath, state);
  const stage = async <T>(record: (r: StageRecord<T>) => void, work: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const result = await work();
    record({ result, wallMs: Date.now() - t0, at: new Date().toISOString() });
    await save();
    return result;
  };

  /** The journals of round k's searches: the main search and its extra passes over unsolved problems. */
  const roundTreeFiles = (k: number): string[] => {
    const dir = join(outDir, `round-${k}`);
    const files = [join(dir, 'search', 'trees.jsonl')];
    for (let p = 1; existsSync(join(dir, `search-extra-${p}`)); p++) files.push(join(dir, `search-extra-${p}`, 'trees.jsonl'));
    return files;
  };
  const evalAll = async (round: number, dir: string, depsOrRunner: SearchDeps | ProblemRunner, methods: EvalMethod[], roundConfig: RstarConfig): Promise<Partial<Record<EvalMethod, EvalMetrics>>> => {
    const out: Partial<Record<EvalMethod, EvalMetrics>> = {};
    for (const method of methods) {
      checkAbort();
      const searchConfig =
        method === 'mcts'
          ? { ...roundConfig.search, mode: 'test' as const, candidates: config.evolve.eval.mctsCandidates, rollouts: config.evolve.eval.mctsRollouts, usePpm: true, temperature: config.evolve.eval.temperature }
          : { ...roundConfig.search, mode: 'test' as const, temperature: config.evolve.eval.temperature };
      const t0 = Date.now();
      out[method] = await evaluate(
        {
          problems: evalProblems,
          method,
          n: config.evolve.eval.majorityN,
          runs: config.evolve.eval.mctsRuns,
          topK: config.evolve.eval.mctsTopK,
          config: { search: searchConfig, prompts: config.prompts },
          outDir: join(dir, method),
          // The records name the round's models, so eval directories of several rounds compare side by side.
          policy: round === 0 ? 'base' : `policy-${round}`,
          ppm: method === 'mcts' && round > 0 ? `ppm-${round}` : undefined,
          concurrency: options.concurrency,
          signal: options.signal,
          onProgress: (p) => {
            const elapsed = Date.now() - t0;
            progress({ round, stage: round === 0 ? 'base' : 'eval', detail: `${method} ${p.done}/${p.total} (${p.correct} right)`, done: p.done, total: p.total, etaMs: p.done > 0 ? (elapsed / p.done) * (p.total - p.done) : null });
          },
        },
        depsOrRunner,
      );
      checkAbort();
    }
    return out;
  };
  /**
   * The policy's evaluation models, here or on the runner: the same models for every method, as a
   * local evaluation opens them (greedy and majority use no PPM, mcts its PPM when there is one).
   */
  const withEvalModels = async <T>(policyPath: string, ppmPath: string | undefined, work: (depsOrRunner: SearchDeps | ProblemRunner) => Promise<T>): Promise<T> => {
    if (options.runner) return work(options.runner({ policy: policyPath, ppm: ppmPath ?? null }));
    const session = await openSearchDeps({ policyPath, ppmPath, config: policyConfig(), concurrency: options.concurrency, log: null });
    try {
      return await work(session.deps);
    } finally {
      await session.dispose();
    }
  };
  const policyConfig = (): RstarConfig => ({ ...config, search: { ...config.search, promptStyle: 'policy' } });
  // The run's report (report.html, lib/report) follows the rounds, so a long run can be watched in a
  // browser: rewritten after a round when state.json is newer; failing to write it never stops the run.
  const refreshReport = async (round: number): Promise<void> => {
    const out = join(outDir, 'report.html');
    try {
      if (existsSync(out) && (await stat(out)).mtimeMs >= (await stat(statePath)).mtimeMs) return;
      const { writeReport } = await import('../report/index.js');
      await writeReport({ dirs: [outDir], out });
      progress({ round, stage: 'eval', detail: `report: ${out}` });
    } catch (err) {
      progress({ round, stage: 'eval', detail: `report not written (${(err as Error).message}); the run goes on` });
    }
  };

  try {
    // The base model's greedy pass@1: the baseline every round is compared with.
    if (config.evolve.eval.baseGreedy && !state.base) {
      progress({ round: 0, stage: 'base', detail: 'greedy pass@1 of the base model' });
      await withEvalModels(options.base, undefined, (depsOrRunner) =>
        stage<EvalMetrics>(
          (r) => (state.base = r),
          async () => (await evalAll(0, join(outDir, 'base-eval'), depsOrRunner, ['greedy'], policyConfig())).greedy!,
        ),
      );
    }

    const last = Math.min(options.lastRound ?? rounds.length, rounds.length);
    for (let k = 1; k <= last; k++) {
      const r = rounds[k - 1];
      const dir = join(outDir, `round-${k}`);
      await mkdir(dir, { recursive: true });
      const rs = (state.rounds[String(k)] ??= {});
      const previous = k > 1 ? state.rounds[String(k - 1)] : undefined;
      const searchConfig = roundSearchConfig(config, r, k);
      await writeJsonAtomic(join(dir, 'settings.json'), { round: k, settings: r, search: searchConfig.search, extract: config.extract, trainingData: config.evolve.trainingData, train: config.train, eval: config.evolve.eval });

      // ---- search ----
      if (!rs.search) {
        checkAbort();
        const ppmPath = r.usePpm ? (previous?.ppm?.result.out ?? null) : null;
        if (r.usePpm && !ppmPath) progress({ round: k, stage: 'search', detail: 'no PPM from the previous round (it had no pairs): terminal-guided search' });
        const policyPath = r.policy === 'previous' ? previous?.sft?.result.out : options.bootstrap.kind === 'model' ? options.bootstrap.path : undefined;
        const program = r.policy === 'bootstrap' && options.bootstrap.kind === 'program' ? options.bootstrap : null;
        const runner = options.runner && (program || policyPath) ? options.runner({ policy: program ? { program: program.name } : policyPath!, ppm: ppmPath }) : null;
        const session = runner
          ? null
          : await openSearchDeps({
              ...(program ? { policy: program.create() } : { policyPath }),
              ppmPath: ppmPath ?? undefined,
              config: searchConfig,
              concurrency: options.concurrency,
              log: null,
            });
        try {
          await stage<NonNullable<RoundState['search']>['result']>(
            (rec) => (rs.search = rec),
            async () => {
              const summaries: GenerateSummary[] = [];
              const t0 = Date.now();
              const search = async (outName: string, problems: readonly Problem[], cfg: RstarConfig, label: string): Promise<void> => {
                const summary = await runGenerate(
                  {
                    problems,
                    outDir: join(dir, outName),
                    config: cfg,
                    concurrency: options.concurrency,
                    models: { policy: policyPath ?? null, ppm: ppmPath },
                    signal: options.signal,
                    onProgress: (p) => progress({ round: k, stage: 'search', detail: `${label} ${p.done}/${p.total} problems, ${p.solvedThisRun} solved this run`, done: p.done, total: p.total, etaMs: p.etaMs }),
                  },
                  runner ?? session!.deps,
                );
                summaries.push(summary);
                if (!summary.complete) throw summary.interrupted ? new Aborted() : new RstarError('INCOMPLETE', `round ${k}: ${summary.problems.failed} problems could not be searched (see ${join(dir, outName, 'failures.jsonl')}); run the same command again to retry them`);
              };
              await search('search', trainProblems, searchConfig, 'search');
              // Still-unsolved problems get more rollouts with new seeds (paper, round 4).
              for (let pass = 1, done = r.rollouts; r.unsolvedRolloutsUpTo > done; pass++) {
                const solved = await solvedIds(roundTreeFiles(k).filter((f) => !f.includes(`search-extra-${pass}`)));
                const unsolved = trainProblems.filter((p) => !solved.has(p.id));
                if (unsolved.length === 0) break;
                const rollouts = Math.min(r.unsolvedRolloutsPerPass, r.unsolvedRolloutsUpTo - done);
                const cfg = roundSearchConfig(config, { ...r, rollouts }, k, pass);
                await search(`search-extra-${pass}`, unsolved, cfg, `extra pass ${pass} (${rollouts} rollouts)`);
                done += rollouts;
              }
              const cov = coverageOf(trainProblems, await solvedIds(roundTreeFiles(k)));
              progress({ round: k, stage: 'search', detail: `coverage ${(cov.coverage * 100).toFixed(1)}% in ${Math.round((Date.now() - t0) / 1000)} s` });
              return { summaries, coverage: cov.coverage, coverageByLevel: cov.byLevel };
            },
          );
        } finally {
          await session?.dispose();
        }
      }

      // ---- data ----
      const dataDir = join(dir, 'data');
      if (!rs.data) {
        checkAbort();
        progress({ round: k, stage: 'data', detail: 'SFT rows and PPM pairs from every tree of the round' });
        await mkdir(dataDir, { recursive: true });
        await stage<{ sft: number; pairs: number }>(
          (rec) => (rs.data = rec),
          async () => {
            const trees = config.evolve.trainingData === 'all-rounds' ? Array.from({ length: k }, (_, j) => roundTreeFiles(j + 1)).flat() : roundTreeFiles(k);
            const d = await deriveTrainingData(trees, dataDir, config, new Set(trainProblems.map((p) => p.id)));
            return { sft: d.sft, pairs: d.pairs.step + d.pairs.final };
          },
        );
      }

      // ---- sft: the base model on this round's trajectories ----
      const trainProgress = (mode: 'sft' | 'ppm') => (p: Parameters<NonNullable<Parameters<typeof runTrainStage>[0]['onProgress']>>[0]): void => {
        if (p.trainer === 'external') progress({ round: k, stage: mode, detail: `external trainer: ${p.command}` });
        else {
          const t = p.progress;
          progress({ round: k, stage: mode, detail: t.phase === 'train' ? `step ${t.step}/${t.totalSteps} loss ${t.loss.toFixed(4)}` : t.phase, done: t.step, total: t.totalSteps, etaMs: t.etaSeconds * 1000 });
        }
      };
      const train = async (mode: 'sft' | 'ppm', model: string, data: string, out: string): Promise<TrainStageResult | 'reused'> => {
        const expected = trainMetadata({ mode, data, config });
        if (await alreadyTrained(out, expected)) return 'reused'; // written just before a crash that kept it out of state.json
        const result = await runTrainStage({ mode, model, data, out, config, signal: options.signal, onProgress: trainProgress(mode) });
        if (result.report?.cancelled) throw new Aborted();
        return result;
      };
      if (!rs.sft) {
        checkAbort();
        const data = join(dataDir, 'sft.jsonl');
        progress({ round: k, stage: 'sft', detail: `fine-tuning the base model on ${rs.data!.result.sft} trajectories` });
        if (rs.data!.result.sft === 0) {
          throw new DataError(`round ${k} found no correct trajectory, so there is nothing to fine-tune on: ${r.policy === 'bootstrap' ? 'the bootstrap policy solved no training problem' : `policy-${k - 1} solved none`} (see ${join(dir, 'search', 'summary.json')})`);
        }
        const out = join(dir, 'policy.gguf');
        await stage<{ out: string; evalLossAfter: number | null }>(
          (rec) => (rs.sft = rec),
          async () => {
            const t = await train('sft', options.base, data, out);
            return { out, evalLossAfter: t === 'reused' ? null : (t.report?.evalLossAfter ?? null) };
          },
        );
      }

      // ---- ppm: initialised from this round's policy ----
      if (!rs.ppm) {
        checkAbort();
        const out = join(dir, 'ppm.gguf');
        progress({ round: k, stage: 'ppm', detail: `training PPM-${k} from policy-${k} on ${rs.data!.result.pairs} pairs` });
        await stage<{ out: string | null; pairAccuracy: number | null; skipped?: string }>(
          (rec) => (rs.ppm = rec),
          async () => {
            if (rs.data!.result.pairs === 0) return { out: null, pairAccuracy: null, skipped: 'no preference pairs (every problem was solved on every path, or none)' };
            const t = await train('ppm', rs.sft!.result.out, join(dataDir, 'pairs.jsonl'), out);
            return { out, pairAccuracy: t === 'reused' ? null : (t.report?.evalPairAccuracyAfter ?? null) };
          },
        );
      }

      // ---- eval on the held-out problems ----
      if (!rs.eval) {
        checkAbort();
        const ppmPath = rs.ppm!.result.out ?? undefined;
        await withEvalModels(rs.sft!.result.out, ppmPath, (depsOrRunner) =>
          stage<Partial<Record<EvalMethod, EvalMetrics>>>(
            (rec) => (rs.eval = rec),
            () => evalAll(k, join(dir, 'eval'), depsOrRunner, ['greedy', 'majority', 'mcts'], policyConfig()),
          ),
        );
      }
      await writeJsonAtomic(join(dir, 'result.json'), roundResult(k, rs));
      await refreshReport(k);
    }
  } catch (err) {
    if (!(err instanceof Aborted)) throw err;
    return result(false);
  }
  return result(true);

  function result(complete: boolean): EvolveResult {
    const out: EvolveResult = {
      outDir,
      baseGreedyAccuracy: state.base?.result.accuracy ?? null,
      baseGreedy: state.base?.result ?? null,
      rounds: Object.keys(state.rounds)
        .map(Number)
        .sort((a, b) => a - b)
        .filter((k) => state.rounds[String(k)].eval)
        .map((k) => roundResult(k, state.rounds[String(k)])),
      complete,
      wallS: (Date.now() - started) / 1000,
    };
    return out;
  }
}

/** A round's outcome from its state (also what lib/report shows). */
export function roundResult(k: number, rs: RoundState): RoundResult {
  const wallMs = [rs.search, rs.data, rs.sft, rs.ppm, rs.eval].reduce((a, s) => a + (s?.wallMs ?? 0), 0);
  const ev = rs.eval?.result ?? {};
  return {
    round: k,
    coverage: rs.search?.result.coverage ?? 0,
    coverageByLevel: rs.search?.result.coverageByLevel ?? {},
    greedyAccuracy: ev.greedy?.accuracy ?? null,
    majorityAccuracy: ev.majority?.accuracy ?? null,
    mctsPpmAccuracy: ev.mcts?.accuracy ?? null,
    ppmPairAccuracy: rs.ppm?.result.pairAccuracy ?? null,
    sftRows: rs.data?.result.sft ?? 0,
    pairs: rs.data?.result.pairs ?? 0,
    eval: ev,
    wallS: wallMs / 1000,
  };
}

