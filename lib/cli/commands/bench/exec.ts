/**
 * `rstar bench exec`: verification on warm sandboxed workers, against a fresh `python3` per program
 * measured in the same run: latency of one program at a time, and throughput with many in flight
 * (the search submits every candidate of an expansion at once, and many problems expand together).
 *
 * Typical programs: the synthetic curriculum's reference solutions (lib/synth), five levels in turn
 * (arithmetic steps; level 5 solves with sympy), as the search's step programs look. Measured:
 * - typical.p50_ms / p95_ms: one at a time, `--gap-ms` apart;
 * - typical.programs_per_s: `--in-flight` distinct programs submitted at once, over the wall time;
 * - typical.spawn_programs_per_s (the anchor): the same kind of programs, each in a fresh
 *   `python3 -c`, as many at once as there are cores; throughput_ratio = ours / that;
 * - typical.in_process_share: the share of those programs the workers answered without a fork (plain
 *   arithmetic, lib/exec/zygote.py); `--no-in-process` forks for every program (the A/B).
 *
 * Workload: a three-step trajectory (define a quadratic with sympy, solve it, add a rational and
 * print), built with `buildStepProgram` from step texts as the search builds it; the coefficients
 * differ per run, so neither our result cache (off here) nor sympy's own cache can answer. Measured:
 * - p50_ms / p90_ms: one step at a time with `--gap-ms` between steps (the search verifies a batch of
 *   candidates, then waits for the model; default 50 ms): warm workers with a standby child ready;
 * - back_to_back_p50_ms: one step at a time with no gap (the standby child is still being forked);
 * - batch_ms_per_step: `--runs` steps submitted at once, wall time divided by their number;
 * - spawn_p50_ms (the anchor): `python3 -c <program>` per step, sequentially, from the interpreter's
 *   resolved path (no shim); ratio = spawn_p50_ms / p50_ms.
 * Every output is checked against the expected sum, so a fast but wrong run cannot pass.
 */
import { execFile } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { RstarError, assertInteger } from '../../../errors.js';
import { buildStepProgram } from '../../../exec/program.js';
import { PythonPool, defaultPoolSize } from '../../../exec/PythonPool.js';
import { generateCurriculum } from '../../../synth/index.js';
import { printJsonLine, Progress } from '../../output.js';

/** The bar for a sympy step on warm workers (issue #3). */
export const TARGET_P50_MS = 15;
/** The bars for typical step programs (issue #9): throughput with many in flight, and latency at a quiet moment. */
export const TARGET_PROGRAMS_PER_S = 200;
export const TARGET_TYPICAL_P50_MS = 5;

interface BenchExecArgs {
  json: boolean;
  runs: number;
  spawnRuns: number;
  gapMs: number;
  inFlight: number;
  inProcess: boolean;
  size?: number;
}

export interface BenchExecResult {
  bench: 'exec';
  /** Typical step programs (the curriculum's reference solutions). */
  typical: {
    p50_ms: number;
    p95_ms: number;
    programs_per_s: number;
    in_flight: number;
    spawn_programs_per_s: number;
    /** programs_per_s / spawn_programs_per_s. */
    throughput_ratio: number;
    /** spawn p50 / our p50 (fresh python3 one at a time). */
    latency_ratio: number;
    spawn_p50_ms: number;
    /** Share of the in-flight programs answered without a fork (0 with --no-in-process). */
    in_process_share: number;
    target_programs_per_s: number;
    target_p50_ms: number;
    meets_target: boolean;
  };
  /** typical.programs_per_s, at the top level for scripts. */
  programs_per_s: number;
  /** The sympy step (below): one at a time. */
  p50_ms: number;
  p90_ms: number;
  p95_ms: number;
  back_to_back_p50_ms: number;
  batch_ms_per_step: number;
  spawn_p50_ms: number;
  /** spawn_p50_ms / p50_ms: how many warm verifications fit in one fresh interpreter. */
  ratio: number;
  target_p50_ms: number;
  meets_target: boolean;
  all_correct: boolean;
  runs: number;
  spawn_runs: number;
  gap_ms: number;
  pool_size: number;
  pool_start_ms: number;
  isolation: string;
  python: string;
  cores: number;
  /** 1-minute load average at the end: on a shared machine, read the milliseconds with it. */
  load_avg_1m: number;
}

/** The step texts of run `i`, and what its program must print. */
export function benchTrajectory(i: number): { ancestors: string[]; step: string; expected: string } {
  const r1 = i + 2;
  const r2 = i + 5;
  const ancestors = [
    `<code>\n# Step 1: Define the variable and the equation\nfrom sympy import symbols, Eq, solve, Rational\nx = symbols('x')\nequation = Eq(x**2 - ${r1 + r2}*x + ${r1 * r2}, 0)\n<end_of_step>`,
    `\n# Step 2: Solve the equation\nsolutions = solve(equation, x)\n<end_of_step>`,
  ];
  const step = `\n# Step 3: Add one seventh of ${i} to the sum of the roots\ntotal = sum(solutions) + Rational(${i}, 7)\n# Now print the final answer\nprint(total)\n<end_of_code>`;
  const num = 7 * (r1 + r2) + i;
  const g = gcd(num, 7);
  const expected = g === 7 ? String(num / 7) : `${num}/7`;
  return { ancestors, step, expected };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `n` typical step programs (distinct: the curriculum's numbers differ), each with what it must print. */
export function typicalPrograms(n: number, seed: number): Array<{ program: string; expected: string }> {
  return generateCurriculum({ train: n, test: 1, seed }).train.map((p) => ({ program: p.program, expected: p.answer }));
}

function spawnOnce(executable: string, program: string): Promise<{ ms: number; stdout: string }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    execFile(executable, ['-c', program], { timeout: 60_000, env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } }, (err, stdout) => {
      if (err) reject(new RstarError('EXEC', `the anchor python3 run failed: ${err.message}`));
      else resolve({ ms: performance.now() - start, stdout });
    });
  });
}

export async function runBenchExec(args: BenchExecArgs): Promise<BenchExecResult> {
  const runs = assertInteger(args.runs, '--runs', 5, 10_000);
  const spawnRuns = assertInteger(args.spawnRuns, '--spawn-runs', 1, 1000);
  const gapMs = assertInteger(args.gapMs, '--gap-ms', 0, 10_000);
  const inFlight = assertInteger(args.inFlight, '--in-flight', 1, 100_000);
  const size = assertInteger(args.size ?? defaultPoolSize(), '--size', 1, 1024);
  const progress = new Progress('bench exec', args.json);
  let correct = true;
  let serial = 0;
  const nextProgram = (): { program: string; expected: string } => {
    const t = benchTrajectory(serial++);
    return { program: buildStepProgram(t.ancestors, t.step), expected: t.expected };
  };
  const check = (stdout: string, expected: string): void => {
    if (stdout.trim() !== expected) correct = false;
  };

  progress.update(`starting ${size} workers`, true);
  const startedAt = performance.now();
  const pool = new PythonPool({ size, cacheEntries: 0, inProcessArithmetic: args.inProcess, log: null });
  try {
    const info = await pool.start();
    const poolStartMs = performance.now() - startedAt;
    for (let i = 0; i < 5; i++) {
      const { program, expected } = nextProgram();
      check((await pool.run(program)).stdout, expected);
    }

    // Typical programs: one at a time, then many at once. Distinct seeds per phase: nothing repeats.
    const typicalOne = typicalPrograms(runs, 901);
    progress.update(`${runs} typical programs one at a time, ${gapMs} ms apart`, true);
    const typicalLatency: number[] = [];
    for (const t of typicalOne) {
      await sleep(gapMs);
      const start = performance.now();
      const r = await pool.run(t.program);
      typicalLatency.push(performance.now() - start);
      check(r.stdout, t.expected);
    }
    const typicalMany = typicalPrograms(inFlight, 902);
    progress.update(`${inFlight} typical programs at once`, true);
    const manyStart = performance.now();
    const manyResults = await Promise.all(typicalMany.map((t) => pool.run(t.program)));
    const manyS = (performance.now() - manyStart) / 1000;
    manyResults.forEach((r, i) => check(r.stdout, typicalMany[i].expected));

    progress.update(`${runs} sympy steps one at a time, ${gapMs} ms apart`, true);
    const warm: number[] = [];
    // Timed around the call, as the search sees it (r.ms leaves out the pool's own bookkeeping).
    for (let i = 0; i < runs; i++) {
      await sleep(gapMs);
      const { program, expected } = nextProgram();
      const start = performance.now();
      const r = await pool.run(program);
      warm.push(performance.now() - start);
      check(r.stdout, expected);
    }

    progress.update(`${runs} steps back to back`, true);
    const dense: number[] = [];
    for (let i = 0; i < runs; i++) {
      const { program, expected } = nextProgram();
      const start = performance.now();
      const r = await pool.run(program);
      dense.push(performance.now() - start);
      check(r.stdout, expected);
    }

    progress.update(`${runs} steps at once`, true);
    const batch = Array.from({ length: runs }, () => nextProgram());
    const batchStart = performance.now();
    const results = await Promise.all(batch.map((b) => pool.run(b.program)));
    const batchMs = performance.now() - batchStart;
    results.forEach((r, i) => check(r.stdout, batch[i].expected));

    progress.update(`anchor: ${spawnRuns} fresh python3 processes`, true);
    const spawned: number[] = [];
    for (let i = 0; i < spawnRuns; i++) {
      const { program, expected } = nextProgram();
      const r = await spawnOnce(info.python.executable, program);
      check(r.stdout, expected);
      spawned.push(r.ms);
    }
    const typicalSpawn = typicalPrograms(spawnRuns, 903);
    const spawnedTypical: number[] = [];
    for (const t of typicalSpawn.slice(0, Math.ceil(spawnRuns / 2))) {
      const r = await spawnOnce(info.python.executable, t.program);
      check(r.stdout, t.expected);
      spawnedTypical.push(r.ms);
    }
    // Throughput of fresh interpreters: as many at once as there are cores.
    const cores = availableParallelism();
    const spawnStart = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: cores }, async () => {
        while (next < typicalSpawn.length) {
          const t = typicalSpawn[next++];
          check((await spawnOnce(info.python.executable, t.program)).stdout, t.expected);
        }
      }),
    );
    const spawnTps = typicalSpawn.length / ((performance.now() - spawnStart) / 1000);
    progress.done('done');

    warm.sort((a, b) => a - b);
    dense.sort((a, b) => a - b);
    spawned.sort((a, b) => a - b);
    typicalLatency.sort((a, b) => a - b);
    spawnedTypical.sort((a, b) => a - b);
    const p50 = percentile(warm, 0.5);
    const spawnP50 = percentile(spawned, 0.5);
    const tP50 = percentile(typicalLatency, 0.5);
    const tps = inFlight / manyS;
    const result: BenchExecResult = {
      bench: 'exec',
      typical: {
        p50_ms: round2(tP50),
        p95_ms: round2(percentile(typicalLatency, 0.95)),
        programs_per_s: round2(tps),
        in_flight: inFlight,
        spawn_programs_per_s: round2(spawnTps),
        throughput_ratio: round2(tps / spawnTps),
        latency_ratio: round2(percentile(spawnedTypical, 0.5) / tP50),
        spawn_p50_ms: round2(percentile(spawnedTypical, 0.5)),
        in_process_share: round2(manyResults.filter((r) => r.inProcess).length / manyResults.length),
        target_programs_per_s: TARGET_PROGRAMS_PER_S,
        target_p50_ms: TARGET_TYPICAL_P50_MS,
        meets_target: tps >= TARGET_PROGRAMS_PER_S && tP50 <= TARGET_TYPICAL_P50_MS && correct,
      },
      programs_per_s: round2(tps),
      p50_ms: round2(p50),
      p90_ms: round2(percentile(warm, 0.9)),
      p95_ms: round2(percentile(warm, 0.95)),
      back_to_back_p50_ms: round2(percentile(dense, 0.5)),
      batch_ms_per_step: round2(batchMs / runs),
      spawn_p50_ms: round2(spawnP50),
      ratio: round2(spawnP50 / p50),
      target_p50_ms: TARGET_P50_MS,
      meets_target: p50 <= TARGET_P50_MS && correct,
      all_correct: correct,
      runs,
      spawn_runs: spawnRuns,
      gap_ms: gapMs,
      pool_size: size,
      pool_start_ms: Math.round(poolStartMs),
      isolation: info.isolation.layer,
      python: `${info.python.version} (numpy ${info.python.numpy}, sympy ${info.python.sympy})`,
      cores: availableParallelism(),
      load_avg_1m: round2(loadavg()[0]),
    };
    const lines = [
      `typical step programs (the curriculum's solutions), ${size} warm workers (${result.isolation} isolation), Python ${result.python}; ${Math.round(result.typical.in_process_share * 100)} % answered without a fork${args.inProcess ? '' : ' (--no-in-process)'}`,
      `  one at a time, ${gapMs} ms apart  p50 ${result.typical.p50_ms} ms, p95 ${result.typical.p95_ms} ms (target p50 <= ${TARGET_TYPICAL_P50_MS} ms); fresh python3 p50 ${result.typical.spawn_p50_ms} ms, ratio ${result.typical.latency_ratio}x`,
      `  ${inFlight} in flight            ${result.typical.programs_per_s} programs/s (target >= ${TARGET_PROGRAMS_PER_S}); fresh python3, ${cores} at once: ${result.typical.spawn_programs_per_s}/s; ratio ${result.typical.throughput_ratio}x; targets ${result.typical.meets_target ? 'met' : 'NOT met'}`,
      `a sympy step (three-step trajectory)`,
      `  one at a time, ${gapMs} ms apart  p50 ${result.p50_ms} ms, p90 ${result.p90_ms} ms, p95 ${result.p95_ms} ms (target p50 <= ${TARGET_P50_MS} ms: ${result.meets_target ? 'met' : 'NOT met'})`,
      `  back to back            p50 ${result.back_to_back_p50_ms} ms`,
      `  ${runs} at once             ${result.batch_ms_per_step} ms per step`,
      `  anchor: fresh python3   p50 ${result.spawn_p50_ms} ms; ratio ${result.ratio}x`,
      `  outputs ${correct ? 'all correct' : 'NOT all correct'}; pool start ${result.pool_start_ms} ms; load average ${result.load_avg_1m} on ${result.cores} cores`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (args.json) printJsonLine(result);
    return result;
  } finally {
    await pool.dispose();
  }
}

export const benchExecCommand: CommandModule<object, BenchExecArgs> = {
  command: 'exec',
  describe: 'verification on warm sandboxed workers: latency, and programs/s with many in flight, against fresh python3 processes',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'end with one JSON line (p50_ms, spawn_p50_ms, ratio, ...)' })
      .option('runs', { type: 'number', default: 60, describe: 'steps per measurement on the pool' })
      .option('spawn-runs', { type: 'number', default: 10, describe: 'fresh python3 runs for the anchor' })
      .option('gap-ms', { type: 'number', default: 50, describe: 'pause between steps in the one-at-a-time measurement' })
      .option('in-flight', { type: 'number', default: 256, describe: 'typical programs submitted at once for the throughput measurement' })
      .option('in-process', { type: 'boolean', default: true, describe: 'answer plain-arithmetic programs without a fork, as the search does; --no-in-process forks for every program' })
      .option('size', { type: 'number', describe: 'workers (default: the pool default, cores + 2)' }) as unknown as Argv<BenchExecArgs>,
  handler: async (args: ArgumentsCamelCase<BenchExecArgs>) => {
    await runBenchExec(args);
  },
};
