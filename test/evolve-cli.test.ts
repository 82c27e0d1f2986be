/**
 * `rstar evolve` as a user runs it, killed with SIGKILL in the middle of every stage and started
 * again with the same command: the run ends as an uninterrupted one would, no problem is searched or
 * evaluated twice, and no stage that was recorded as done is run again. A seconds-long configuration:
 * a tiny base model, 8 curriculum problems, the bootstrap program, two rounds.
 */
import anyTest from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../lib/paths.js';
import { testDir, testModel } from './helpers/models.js';

const test = anyTest.serial;
const cli = join(packageRoot, 'dist', 'lib', 'cli', 'main.js');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; when `killWhen` matches a stderr line, the process is killed with SIGKILL. */
function rstar(args: string[], killWhen?: RegExp): Promise<Run & { killedAt: string | null }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, RSTAR_PROGRESS_MS: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killedAt: string | null = null;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!killWhen || killedAt !== null) return;
      const line = stderr.split('\n').find((l) => killWhen.test(l));
      if (line) {
        killedAt = line;
        child.kill('SIGKILL');
      }
    });
    child.on('error', fail);
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr, killedAt }));
  });
}

const config = {
  engine: { threads: 1, contextSize: 4096 },
  search: { candidates: 3, maxStepTokens: 160, stepTimeoutMs: 10_000 },
  train: {
    sft: { epochs: 2, lr: 1e-3, batch: 2, ctx: 1024, evalFraction: 0.25, checkpointEvery: 1 },
    ppm: { epochs: 2, lr: 1e-3, batch: 2, ctx: 1024, evalFraction: 0.25, checkpointEvery: 1 },
    threads: 1,
  },
  evolve: {
    rounds: [{ rollouts: 4 }, { policy: 'bootstrap', usePpm: true, rollouts: 2, temperature: 1, promptStyle: 'policy', errorsThreshold: 1, extraStopMarkers: [] }],
    eval: { majorityN: 2, mctsCandidates: 2, mctsRollouts: 2, mctsRuns: 1, baseGreedy: true },
  },
};

test('SIGKILL in every stage, then the same command: the run completes with nothing lost, duplicated or redone', async (t) => {
  const dir = await mkdtemp(join(testDir, 'evolve-kill-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const base = await testModel('tiny-bytes-f32');
  const data = join(dir, 'data');
  const synth = await rstar(['data', 'synth', '--out', data, '--train', '8', '--test', '4', '--seed', '5']);
  t.is(synth.code, 0, synth.stderr);
  const cfg = join(dir, 'config.json');
  await writeFile(cfg, JSON.stringify(config));
  const out = join(dir, 'run');
  const args = ['evolve', '--base', base, '--bootstrap-policy', 'synth', '--problems', join(data, 'train.jsonl'), '--eval-problems', join(data, 'test.jsonl'), '--out', out, '--config', cfg, '--concurrency', '2', '--json'];

  // Kill points: inside each stage, once it has made some progress.
  const killPoints = [
    /base model base: greedy [1-3]\/4/,
    /round 1 search: search [1-7]\/8/,
    /round 1 sft: step [1-9]\d*\//,
    /round 1 ppm: step [1-9]\d*\//,
    /round 1 eval: (greedy|majority) [1-3]\/4/,
    /round 2 search: search [1-7]\/8/,
    /round 2 eval: mcts [1-3]\/4/,
  ];
  const doneBefore = new Map<string, string>(); // stage -> its completion time, once recorded
  let kills = 0;
  for (const point of killPoints) {
    const run = await rstar(args, point);
    t.log(`${point}: ${run.killedAt === null ? `not reached (exit ${run.code})` : `killed at "${run.killedAt}"`}`);
    if (run.killedAt === null) {
      t.log(run.stderr.split('\n').slice(-6).join('\n'));
      continue; // the run got past this point without printing it (fast stage)
    }
    t.is(run.signal, 'SIGKILL');
    kills += 1;
    // Stages recorded as done must never be recorded again (their completion time never changes).
    const state = JSON.parse(await readFile(join(out, 'state.json'), 'utf8'));
    const stages: Array<[string, { at: string }]> = [];
    if (state.base) stages.push(['base', state.base]);
    for (const [k, r] of Object.entries(state.rounds as Record<string, Record<string, { at: string }>>)) for (const [s, rec] of Object.entries(r)) stages.push([`${k}:${s}`, rec]);
    for (const [name, rec] of stages) {
      if (doneBefore.has(name)) t.is(rec.at, doneBefore.get(name)!, `${name} was redone`);
      else doneBefore.set(name, rec.at);
    }
  }
  t.true(kills >= 5, `killed in ${kills} stages`);

  const final = await rstar(args);
  t.is(final.code, 0, final.stderr.slice(-2000));
  const result = JSON.parse(final.stdout.trim().split('\n').pop()!);
  t.deepEqual(result.rounds.map((r: { round: number }) => r.round), [1, 2]);
  t.true(result.complete);
  for (const key of ['base_greedy_accuracy', 'wall_s']) t.true(key in result, key);
  for (const key of ['round', 'coverage', 'greedy_accuracy', 'majority_accuracy', 'mcts_ppm_accuracy', 'ppm_pair_accuracy', 'sft_rows', 'pairs', 'wall_s']) {
    t.true(key in result.rounds[0], key);
  }
  const state = JSON.parse(await readFile(join(out, 'state.json'), 'utf8'));
  for (const [name, at] of doneBefore) {
    const [k, s] = name.includes(':') ? name.split(':') : [null, name];
    const rec = k === null ? state.base : state.rounds[k][s!];
    t.is(rec.at, at, `${name} was redone after a later kill`);
  }
  // No problem journaled twice, none missing: the search journals and every evaluation record.
  const ids = async (path: string): Promise<string[]> => (await readFile(path, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
  for (const k of [1, 2]) {
    const trees = await ids(join(out, `round-${k}`, 'search', 'trees.jsonl'));
    t.is(trees.length, 8);
    t.is(new Set(trees).size, 8, `round ${k}: a problem was searched twice`);
    for (const method of ['greedy', 'majority', 'mcts']) {
      const records = await ids(join(out, `round-${k}`, 'eval', method, 'results.jsonl'));
      t.deepEqual([records.length, new Set(records).size], [4, 4], `round ${k} ${method}`);
    }
  }
  const base2 = await ids(join(out, 'base-eval', 'greedy', 'results.jsonl'));
  t.deepEqual([base2.length, new Set(base2).size], [4, 4]);
  t.regex(final.stdout, /round {2}coverage {2}greedy/);
});
