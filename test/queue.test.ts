/**
 * Rollouts over a queue, as users run them: a real `redis-server` started here on a free loopback
 * port (BullMQ's Lua scripts need the real server; `.ci/run` installs it), real `rstar worker`,
 * `rstar generate --queue`, `rstar eval --queue` and `rstar queue` processes, real GSM8K problems and
 * tiny real models.
 *
 * The models have random weights: their trees and answers are never correct, and what is checked is
 * the plumbing. Each problem takes about a second on one thread (four 256-token candidates, or a
 * 400-token greedy solution, of a 151k-vocabulary model), so a worker killed right after it reports a
 * start is killed in the middle of that problem. What the evaluation's selection and grading do with
 * right and wrong answers when the candidates come back over the wire is checked in process, with a
 * scripted policy whose answers can be checked by hand.
 */
import anyTest, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { resolveConfig } from '../lib/config/index.js';
import { benchmarkPath, type Problem } from '../lib/data/problems.js';
import { evaluate, type EvalMethod } from '../lib/eval/evaluate.js';
import type { EvalRecord } from '../lib/eval/metrics.js';
import { PythonPool } from '../lib/exec/index.js';
import { ScriptedScorer } from '../lib/mcts/scripted-policy.js';
import { packageRoot } from '../lib/paths.js';
import { defaultGrader } from '../lib/policy/deps.js';
import { describeAddress, parseQueueUrl } from '../lib/queue/connection.js';
import { PROTOCOL_VERSION, QUEUE_PREFIX, fileRef, resultsQueueName, runId, type ResultMessage, type SearchJob } from '../lib/queue/protocol.js';
import { localRunner, type ProblemRunner } from '../lib/runner/index.js';
import { testDir, testModel } from './helpers/models.js';
import { seededAdditionPolicy } from './helpers/policies.js';

const test = anyTest.serial;
const cli = join(packageRoot, 'dist', 'lib', 'cli', 'main.js');

/** A CLI process whose output is watched line by line. */
class Proc {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly watchers: Array<() => void> = [];

  constructor(args: string[], readonly label: string) {
    this.child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, RSTAR_PROGRESS_MS: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => {
      this.stdout += d;
      this.notify();
    });
    this.child.stderr!.on('data', (d) => {
      this.stderr += d;
      this.notify();
    });
    this.exited = new Promise((done) => this.child.on('close', (code, signal) => done({ code, signal })));
    void this.exited.then(() => this.notify());
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }

  lines(): string[] {
    return this.stderr.split('\n').filter((l) => l !== '');
  }

  /** Resolves with the match of the `nth` stderr line (from line `from` on) matching `re`; rejects if the process exits first. */
  waitFor(re: RegExp, { nth = 1, from = 0 } = {}): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const matches = this.lines().slice(from).map((l) => re.exec(l)).filter((m): m is RegExpExecArray => m !== null);
        if (matches.length >= nth) {
          this.watchers.splice(this.watchers.indexOf(check), 1);
          resolve(matches[nth - 1]);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          this.watchers.splice(this.watchers.indexOf(check), 1);
          reject(new Error(`${this.label} exited before printing ${re}:\n${this.stderr.slice(-3000)}`));
        }
      };
      this.watchers.push(check);
      check();
    });
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

/** Starts CLI processes for one test; every one still running is SIGKILLed when the test ends. */
function starter(t: ExecutionContext): (args: string[], label: string) => Proc {
  const procs: Proc[] = [];
  t.teardown(() => Promise.all(procs.map((p) => p.kill('SIGKILL'))).then(() => undefined));
  return (args, label) => {
    const p = new Proc(args, label);
    procs.push(p);
    return p;
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A redis-server of this test's own, on a free loopback port; stopped at the test's end. */
async function startRedis(t: ExecutionContext, dir: string): Promise<{ url: string; client: Redis }> {
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  server.stdout!.on('data', (d) => (log += d));
  const started = await new Promise<boolean>((resolve) => {
    server.on('error', () => resolve(false)); // not installed
    server.stdout!.on('data', () => {
      if (/Ready to accept connections/.test(log)) resolve(true);
    });
    server.on('close', () => resolve(false));
  });
  if (!started) throw new Error(`redis-server did not start (install it: apt-get install redis-server; .ci/run does):\n${log}`);
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  await client.connect();
  t.teardown(async () => {
    client.disconnect();
    server.kill('SIGTERM');
  });
  return { url: `redis://127.0.0.1:${port}/0`, client };
}

const ids = (path: string): string[] => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { id: string }).id) : []);
const lastJson = (stdout: string): Record<string, any> => JSON.parse(stdout.trim().split('\n').pop()!); // eslint-disable-line @typescript-eslint/no-explicit-any

test('--queue URLs: host, port, database and password, never printed', (t) => {
  t.like(parseQueueUrl('redis://10.0.0.5:6380/2', {}), { host: '10.0.0.5', port: 6380, db: 2, tls: false });
  t.like(parseQueueUrl('redis://host', {}), { port: 6379, db: 0 });
  const secret = parseQueueUrl('rediss://:s3cr%40t@host:6379/0', {});
  t.is(secret.password, 's3cr@t');
  t.true(secret.tls);
  t.is(describeAddress(secret), 'rediss://:***@host:6379/0');
  t.is(parseQueueUrl('redis://host:6379', { RSTAR_REDIS_PASSWORD: 'env' }).password, 'env');
  for (const bad of ['http://host:6379', 'redis://host:6379/x', 'host:6379', 'redis://:pw@host:6379/0?x=1']) {
    const err = t.throws(() => parseQueueUrl(bad, {}));
    t.regex(err!.message, /redis:\/\//);
    t.notRegex(err!.message, /pw@/, 'a password leaked into the error');
  }
});

test('two workers and a coordinator, a worker killed mid-search and then the coordinator: every problem journaled once, none lost', async (t) => {
  const dir = await mkdtemp(join(testDir, 'queue-kill-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const redis = await startRedis(t, dir);
  const model = await testModel('tiny-qwen2-f32');
  const cfg = join(dir, 'search.json');
  writeFileSync(cfg, JSON.stringify({ search: { maxStepTokens: 256 } }));
  const out = join(dir, 'out');
  const n = 10;
  const start = starter(t);
  const worker = (name: string): Proc => start(['worker', '--queue', redis.url, '--concurrency', '1', '--stall-ms', '3000', '--threads', '1', '--ctx-size', '2048', '--name', name], name);
  const generate = ['generate', '--queue', redis.url, '--policy', model, '--problems', 'gsm8k', '--limit', String(n), '--out', out, '--rollouts', '2', '--candidates', '4', '--config', cfg, '--json'];

  const a = worker('wA');
  const b = worker('wB');
  await Promise.all([a.waitFor(/taking jobs/), b.waitFor(/taking jobs/)]);
  const first = start(generate, 'coordinator');

  // Worker A dies in the middle of its second search (its model loaded, the search running).
  const coordinatorDone = first.exited.then(() => {
    throw new Error(`the coordinator ended before worker A started a second search:\n${a.stderr}`);
  });
  coordinatorDone.catch(() => undefined); // once A has been killed, the coordinator's end is no error
  const [, inFlight] = await Promise.race([a.waitFor(/problem (\S+) started/, { nth: 2 }), coordinatorDone]);
  await a.kill('SIGKILL');
  t.false(a.lines().some((l) => l.includes(`problem ${inFlight} done`)), 'A finished the search it was killed in');

  // The coordinator dies once it has journaled a few problems; worker B goes on meanwhile.
  await first.waitFor(/generate: [3-9]\/10 problems/);
  await first.kill('SIGKILL');
  const journaledFirst = ids(join(out, 'trees.jsonl'));
  t.true(journaledFirst.length >= 3 && journaledFirst.length < n, `first coordinator journaled ${journaledFirst.length}`);
  // Results arrive while no coordinator listens (B finishes another search, unless nothing is left).
  const seen = b.lines().length;
  const runLeft = async (): Promise<number> => (await redis.client.llen(`${QUEUE_PREFIX}:search:wait`)) + (await redis.client.llen(`${QUEUE_PREFIX}:search:active`));
  while (!b.lines().slice(seen).some((l) => / done in /.test(l)) && (await runLeft()) > 0) await new Promise((ok) => setTimeout(ok, 200));

  // A second copy of a journaled result, as a worker killed after posting it would send: ignored.
  const record = JSON.parse(readFileSync(join(out, 'trees.jsonl'), 'utf8').split('\n')[0]);
  const run = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  const runKey = runId({ key: join(out, 'trees.jsonl'), task: 'generate.tree', settings: { search: run.config.search, prompts: run.config.prompts }, models: { policy: fileRef(run.inputs.policy), ppm: null } });
  t.true((await redis.client.keys(`${QUEUE_PREFIX}:search:${runKey}-*`)).length > 0, 'the run id the test derives is the coordinator\'s');
  const results = new Queue(resultsQueueName(runKey), { connection: { host: '127.0.0.1', port: Number(new URL(redis.url).port) }, prefix: QUEUE_PREFIX });
  const duplicate: ResultMessage = { v: PROTOCOL_VERSION, run: runKey, problemId: record.id, ok: true, result: { ...record, question: 'DUPLICATE' }, worker: 'test', ms: 0 };
  await results.add('result', duplicate, { removeOnComplete: true });
  await results.close();

  const second = start(generate, 'coordinator (restarted)');
  const { code } = await second.exited;
  t.is(code, 0, second.stderr.slice(-3000));
  const summary = lastJson(second.stdout);
  t.like(summary, { complete: true, problems: { total: n, done: n, failed: 0 } });
  t.is(summary.problems.doneBefore + summary.problems.thisRun, n);
  const trees = readFileSync(join(out, 'trees.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
  const gsm = readFileSync(benchmarkPath('gsm8k'), 'utf8').split('\n').slice(0, n).map((l) => JSON.parse(l).question);
  t.deepEqual(trees.map((r) => r.question).sort(), [...gsm].sort(), 'every problem journaled exactly once');
  t.is(new Set(trees.map((r) => r.id)).size, n);
  t.false(existsSync(join(out, 'failures.jsonl')) && readFileSync(join(out, 'failures.jsonl'), 'utf8') !== '', 'a problem failed');
  // The search A was killed in went back to the queue after the stall time and was run by B.
  t.true(b.lines().some((l) => l.includes(`problem ${inFlight} started (run `) && l.endsWith('start 2/3)')), b.stderr);
  t.true(trees.every((r) => r.stats.expansions >= 1 && r.stats.generatedTokens > 0));
  t.deepEqual(await redis.client.keys(`${QUEUE_PREFIX}:${resultsQueueName(runKey)}:*`), [], 'the run left its results queue behind');
  t.log(`first coordinator journaled ${journaledFirst.length}, the restarted one ${summary.problems.thisRun} (by worker: ${JSON.stringify(summary.workers)}); ${inFlight} was retried by wB`);
  await b.kill('SIGTERM');
});

test('a worker without the model refuses its jobs; they are recorded as failed, and a rerun with a worker that has the bytes elsewhere completes them', async (t) => {
  const dir = await mkdtemp(join(testDir, 'queue-models-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const redis = await startRedis(t, dir);
  const bytes = await testModel('tiny-bytes-f32');
  const other = await testModel('tiny-llama-bytes-f32');
  const policy = join(dir, 'coordinator', 'policy.gguf');
  mkdirSync(join(dir, 'coordinator'));
  copyFileSync(bytes, policy);
  const cfg = join(dir, 'search.json');
  writeFileSync(cfg, JSON.stringify({ search: { maxStepTokens: 48 } }));
  const out = join(dir, 'out');
  const start = starter(t);
  const generate = ['generate', '--queue', redis.url, '--policy', policy, '--problems', 'gsm8k', '--limit', '2', '--out', out, '--rollouts', '1', '--candidates', '2', '--config', cfg, '--queue-attempts', '2', '--queue-backoff-ms', '200', '--json'];
  const workerArgs = ['worker', '--queue', redis.url, '--concurrency', '2', '--threads', '1', '--ctx-size', '2048'];

  // The coordinator has queued its jobs (it reports no worker) when the file disappears from the path it sent.
  const first = start(generate, 'coordinator');
  await first.waitFor(/no worker connected/);
  rmSync(policy);
  const w1 = start([...workerArgs, '--name', 'w1'], 'w1');
  t.is((await first.exited).code, 0, first.stderr.slice(-3000));
  t.like(lastJson(first.stdout), { complete: false, problems: { done: 0, failed: 2 } });
  const failures = readFileSync(join(out, 'failures.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
  t.deepEqual(failures.map((f) => f.id).sort(), ['gsm8k-1', 'gsm8k-2']);
  for (const f of failures) {
    t.regex(f.error, /on worker w1, after 2 starts: worker w1 has no policy model with sha256 [0-9a-f]{64} .*--models-dir/);
    t.is(f.worker, 'w1');
  }
  t.true(w1.lines().some((l) => /recorded as failed after 2 starts/.test(l)));
  await w1.kill('SIGTERM');

  // Rerun: other bytes now sit at the coordinator's path (never used: the hash differs); a worker
  // whose --models-dir holds the right bytes under another name runs the jobs.
  copyFileSync(bytes, policy);
  const shared = join(dir, 'shared', 'nested');
  mkdirSync(shared, { recursive: true });
  copyFileSync(bytes, join(shared, 'renamed.gguf'));
  const second = start(generate, 'coordinator (rerun)');
  await second.waitFor(/no worker connected/);
  copyFileSync(other, policy);
  const w2 = start([...workerArgs, '--name', 'w2', '--models-dir', join(dir, 'shared')], 'w2');
  t.is((await second.exited).code, 0, second.stderr.slice(-3000));
  t.like(lastJson(second.stdout), { complete: true, problems: { done: 2, thisRun: 2, failed: 0 }, workers: { w2: 2 } });
  t.deepEqual(ids(join(out, 'trees.jsonl')).sort(), ['gsm8k-1', 'gsm8k-2']);
  t.true(w2.lines().some((l) => l.includes(`loaded policy ${join(shared, 'renamed.gguf')}`)), w2.stderr);
  t.deepEqual((await redis.client.keys(`${QUEUE_PREFIX}:search:*`)).filter((k) => /:[0-9a-f]{20}-[0-9a-f]{24}/.test(k)), [], 'jobs were left in the queue');
  await w2.kill('SIGTERM');
});

test('rstar evolve --queue: the search and evaluation stages run on a worker (the bootstrap program travels by name) and write what a local run writes', async (t) => {
  const dir = await mkdtemp(join(testDir, 'queue-evolve-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const redis = await startRedis(t, dir);
  const base = await testModel('tiny-bytes-f32');
  const data = join(dir, 'data');
  const synth = new Proc(['data', 'synth', '--out', data, '--train', '6', '--test', '3', '--seed', '5'], 'synth');
  t.is((await synth.exited).code, 0, synth.stderr);
  const cfg = join(dir, 'config.json');
  writeFileSync(cfg, JSON.stringify({
    engine: { threads: 1, contextSize: 4096 },
    search: { candidates: 3, maxStepTokens: 160, stepTimeoutMs: 10_000 },
    train: { sft: { epochs: 1, lr: 1e-3, batch: 2, ctx: 1024, evalFraction: 0.25 }, ppm: { epochs: 1, lr: 1e-3, batch: 2, ctx: 1024, evalFraction: 0.25 }, threads: 1 },
    evolve: { rounds: [{ rollouts: 2 }], eval: { majorityN: 2, mctsCandidates: 2, mctsRollouts: 2, mctsRuns: 1, baseGreedy: false } },
  }));
  const evolve = (out: string, extra: string[]): Proc =>
    new Proc(['evolve', '--base', base, '--bootstrap-policy', 'synth', '--problems', join(data, 'train.jsonl'), '--eval-problems', join(data, 'test.jsonl'), '--out', out, '--config', cfg, '--concurrency', '2', '--json', ...extra], out);
  const worker = new Proc(['worker', '--queue', redis.url, '--concurrency', '2', '--threads', '1', '--name', 'w1'], 'w1');
  t.teardown(() => worker.kill('SIGKILL'));
  await worker.waitFor(/taking jobs/);
  const queued = evolve(join(dir, 'queued'), ['--queue', redis.url]);
  const { code } = await queued.exited;
  t.is(code, 0, queued.stderr.slice(-3000));
  t.true(lastJson(queued.stdout).complete);
  const search = join(dir, 'queued', 'round-1', 'search');
  t.like(JSON.parse(readFileSync(join(search, 'summary.json'), 'utf8')), { complete: true, workers: { w1: 6 } });
  t.regex(JSON.parse(readFileSync(join(search, 'config.json'), 'utf8')).run.runner, /^queue redis:\/\/127\.0\.0\.1:\d+\/0$/);
  t.true(worker.lines().some((l) => l.includes('loaded policy program "synthetic-curriculum bootstrap')));
  // The round's evaluation too: its policy and PPM, read where the coordinator wrote them.
  t.true(worker.lines().some((l) => l.includes(`loaded policy ${join(dir, 'queued', 'round-1', 'policy.gguf')} and PPM ${join(dir, 'queued', 'round-1', 'ppm.gguf')}`)), worker.stderr);
  t.is(worker.lines().filter((l) => / done in /.test(l)).length, 6 + 3 * 3, 'six searches, then three held-out problems for each of three methods');
  await worker.kill('SIGTERM');

  const local = evolve(join(dir, 'local'), []);
  t.is((await local.exited).code, 0, local.stderr.slice(-3000));
  const trees = (root: string): unknown[] =>
    readFileSync(join(root, 'round-1', 'search', 'trees.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => {
      const r = JSON.parse(l);
      delete r.stats.wallMs; // timings differ; nothing else may
      delete r.stats.execMs;
      return r;
    }).sort((a, b) => (a.id < b.id ? -1 : 1));
  t.deepEqual(trees(join(dir, 'queued')), trees(join(dir, 'local')));
  // The same evaluation records: the same answers and correctness for every method. Not the same text:
  // a worker's context (its size, which prompts its cache holds, which sequences share a batch) changes
  // the float rounding of a decode, and an untrained model's greedy argmax can sit on a near-tie (seen:
  // '....ttt' against 'tttt', both cut at 160 tokens with no answer).
  for (const method of ['greedy', 'majority', 'mcts']) {
    const queued = byKey(readRecords(join(dir, 'queued', 'round-1', 'eval', method)));
    const local = byKey(readRecords(join(dir, 'local', 'round-1', 'eval', method)));
    t.deepEqual([...queued.keys()], [...local.keys()], method);
    for (const [key, want] of local) {
      const got = queued.get(key)!;
      t.deepEqual([got.answer, got.correct, got.candidates.length], [want.answer, want.correct, want.candidates.length], key);
    }
  }
});

const readRecords = (dir: string): EvalRecord[] => readFileSync(join(dir, 'results.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as EvalRecord);
/** Records by policy, method and id, without their timings (the one thing a run may change). */
const byKey = (records: EvalRecord[]): Map<string, Omit<EvalRecord, 'wall_ms'>> =>
  new Map(records.map(({ wall_ms: _, ...r }) => [`${r.policy} ${r.method} ${r.id}`, r] as const).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
/** What a run leaves in Redis: search jobs of any run and results queues. */
const leftovers = async (client: Redis): Promise<string[]> => (await client.keys(`${QUEUE_PREFIX}:*`)).filter((k) => /:search:[0-9a-f]{20}-[0-9a-f]{24}$/.test(k) || k.includes(':results-'));

test('evaluate() on a runner: each problem leaves as {id, question}, the candidates come back as JSON and are graded here exactly as a local evaluation grades them', async (t) => {
  const pool = new PythonPool({ log: null });
  t.teardown(() => pool.dispose());
  // The PPM likes a difference; the policy's samples write the sum, the difference or a broken step.
  const scorer = new ScriptedScorer((r) => (r.path.some((p) => p.text.includes(' - ')) ? 0.5 : -0.5));
  const deps = { policy: seededAdditionPolicy(), executor: pool, grader: defaultGrader, scorer };
  const problems: Problem[] = Array.from({ length: 3 }, (_, i) => ({ id: `add-${i}`, question: `What is ${20 + i} + ${3 + i}?`, answer: String(23 + 2 * i), source: 'additions', meta: { level: 1 } }));
  const wire = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
  const sent: unknown[] = [];
  const local = localRunner(deps, 2);
  // A runner as a queue is one, minus Redis: problems, settings and results cross a JSON boundary.
  const overJson: ProblemRunner = {
    description: 'over JSON',
    runTask(task, settings, list, options) {
      sent.push(...list.map(wire));
      return local.runTask(task, wire(settings), list.map(wire), { ...options, onResult: (r, p) => options.onResult(wire(r), p, { worker: 'json' }) });
    },
  };
  const dir = await mkdtemp(join(testDir, 'queue-eval-runner-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = resolveConfig({ search: { stepTimeoutMs: 10_000, candidates: 3, rollouts: 4 } });
  const accuracy: Record<string, number> = {};
  for (const method of ['greedy', 'majority', 'best-of-n', 'mcts'] as EvalMethod[]) {
    const options = { problems, method, n: 4, runs: 2, config, concurrency: 2, ppm: 'ppm.gguf' };
    const here = await evaluate({ ...options, outDir: join(dir, 'local') }, method === 'best-of-n' || method === 'mcts' ? deps : { ...deps, scorer: null });
    const there = await evaluate({ ...options, outDir: join(dir, 'runner') }, overJson);
    t.deepEqual(there.selections, here.selections, method);
    accuracy[method] = there.accuracy;
  }
  t.deepEqual(accuracy, { greedy: 1, majority: 1, 'best-of-n': 0, mcts: 0 }, 'right and wrong answers, as the scripted policy and PPM make them');
  t.deepEqual(byKey(readRecords(join(dir, 'runner'))), byKey(readRecords(join(dir, 'local'))));
  t.is(sent.length, 12);
  for (const p of sent) t.deepEqual(Object.keys(p as object), ['id', 'question'], 'a label left the coordinator');
  await t.throwsAsync(evaluate({ problems, method: 'best-of-n', config, concurrency: 2, outDir: join(dir, 'no-ppm') }, overJson), { code: 'INVALID_ARGUMENT', message: /--ppm/ });
});

test('rstar eval --queue with two workers, one SIGKILLed mid-problem and restarted, the coordinator killed and restarted: the answers of a local rstar eval, each problem once, no label in any job', async (t) => {
  const dir = await mkdtemp(join(testDir, 'queue-eval-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const redis = await startRedis(t, dir);
  const a = await testModel('tiny-qwen2-f32');
  const b = await testModel('tiny-bytes-f32');
  const n = 6;
  const start = starter(t);
  const common = ['--policy', a, '--policy', b, '--dataset', 'gsm8k', '--limit', String(n), '--method', 'greedy', '--method', 'majority', '--n', '2', '--max-tokens', '400', '--max-depth', '2', '--json'];
  const t0 = Date.now();
  const local = start(['eval', ...common, '--threads', '1', '--ctx-size', '4096', '--concurrency', '2', '--out', join(dir, 'local')], 'local eval');
  t.is((await local.exited).code, 0, local.stderr.slice(-3000));
  const localS = (Date.now() - t0) / 1000;

  const out = join(dir, 'queued');
  const coordinator = ['eval', '--queue', redis.url, ...common, '--out', out];
  const first = start(coordinator, 'coordinator');
  await first.waitFor(/queue run [0-9a-f]{20} \(eval\.candidates\): 6 problems queued/);
  // The jobs as workers get them: the problem's id and question, no answer anywhere.
  const jobIds = await redis.client.lrange(`${QUEUE_PREFIX}:search:wait`, 0, -1);
  t.is(jobIds.length, n);
  for (const id of jobIds) {
    const raw = (await redis.client.hget(`${QUEUE_PREFIX}:search:${id}`, 'data'))!;
    const job = JSON.parse(raw) as SearchJob;
    t.is(job.task, 'eval.candidates');
    t.deepEqual(Object.keys(job.problem), ['id', 'question']);
    t.notRegex(raw, /"(answer|gold)"\s*:/, 'a label is in the job');
  }

  const worker = (name: string): Proc => start(['worker', '--queue', redis.url, '--concurrency', '1', '--stall-ms', '3000', '--threads', '1', '--ctx-size', '4096', '--name', name], name);
  const wA = worker('wA');
  const wB = worker('wB');
  // Worker A dies in the middle of its second problem; then the coordinator, once it has a few lines.
  const [, inFlight] = await wA.waitFor(/problem (\S+) started/, { nth: 2 });
  await wA.kill('SIGKILL');
  t.false(wA.lines().some((l) => l.includes(`problem ${inFlight} done`)), 'A finished the problem it was killed in');
  await first.waitFor(/greedy: [2-5]\/6 problems/);
  await first.kill('SIGKILL');
  const journaledFirst = readRecords(out).length;
  const wA2 = worker('wA2');
  const second = start(coordinator, 'coordinator (restarted)');
  const { code } = await second.exited;
  t.is(code, 0, second.stderr.slice(-3000));
  const queuedS = (Date.now() - t0) / 1000 - localS;

  // Every problem of every policy and method once, with the local run's answers and correctness. The
  // text may differ in its last bits, greedy included: which worker's prompt cache held a prompt, and
  // which sequences shared a batch, change the float rounding of a decode, and a random model's argmax
  // can sit on a near-tie (see the evolve test above).
  const records = readRecords(out);
  t.is(records.length, 2 * 2 * n);
  const queued = byKey(records);
  const expected = byKey(readRecords(join(dir, 'local')));
  t.is(queued.size, expected.size, 'a problem was journaled twice');
  t.deepEqual([...queued.keys()].sort(), [...expected.keys()].sort());
  for (const [key, want] of expected) {
    const got = queued.get(key)!;
    t.deepEqual([got.answer, got.correct, got.selections, got.candidates.length], [want.answer, want.correct, want.selections, want.candidates.length], key);
  }
  // The --json contract, as a local run prints it.
  const contract = (stdout: string): unknown[] =>
    (lastJson(stdout).results as Array<Record<string, unknown>>).map((e) => ({
      keys: Object.keys(e),
      ...Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'wall_s' && k !== 'tokens_per_problem')),
    }));
  t.deepEqual(contract(second.stdout), contract(local.stdout));
  // The problem A was killed in went back to the queue after the stall time and was run again.
  t.true([wB, wA2].some((w) => w.lines().some((l) => l.includes(`problem ${inFlight} started (run `) && l.endsWith('start 2/3)'))), `${wB.stderr}\n${wA2.stderr}`);
  t.deepEqual(await leftovers(redis.client), [], 'the runs left jobs or results behind');
  t.log(`local eval ${localS.toFixed(1)} s, queued (kills and restarts included) ${queuedS.toFixed(1)} s; the first coordinator journaled ${journaledFirst} of ${2 * 2 * n}; ${inFlight} was retried`);
  await Promise.all([wB.kill('SIGTERM'), wA2.kill('SIGTERM')]);
});

test('an abandoned run: rstar queue list shows it, rstar queue drop removes its jobs, the one running ends unposted, and the same command reopens it; engine flags on a coordinator warned about once', async (t) => {
  const dir = await mkdtemp(join(testDir, 'queue-drop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const redis = await startRedis(t, dir);
  const model = await testModel('tiny-qwen2-f32');
  const out = join(dir, 'out');
  const start = starter(t);
  const rstar = async (args: string[]): Promise<Record<string, any>> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const p = start(args, args.slice(0, 2).join(' '));
    t.is((await p.exited).code, 0, p.stderr);
    return lastJson(p.stdout);
  };
  // Each problem is one 1500-token greedy step (3-4 s), so one is still running when it is dropped.
  const coordinator = ['eval', '--queue', redis.url, '--policy', model, '--dataset', 'gsm8k', '--limit', '2', '--method', 'greedy', '--max-tokens', '1500', '--max-depth', '2', '--out', out, '--threads', '2', '--ctx-size', '4096', '--json'];
  const first = start(coordinator, 'coordinator');
  const [, run] = await first.waitFor(/queue run ([0-9a-f]{20}) /);
  await first.kill('SIGKILL');
  t.is(first.lines().filter((l) => l.startsWith('warning: --threads, --ctx-size are ignored with --queue')).length, 1, first.stderr);

  const listed = await rstar(['queue', 'list', '--queue', redis.url, '--json']);
  t.like(listed.runs, [{ run, task: 'eval.candidates', origin: { key: `${out}/results.jsonl#${model}` }, jobs: { waiting: 2, active: 0, failed: 0 }, results: 0, closed: false }]);
  t.is(listed.runs.length, 1);

  const worker = start(['worker', '--queue', redis.url, '--concurrency', '1', '--threads', '1', '--ctx-size', '4096', '--name', 'w1'], 'w1');
  const [, running] = await worker.waitFor(/problem (\S+) started/);
  const dropped = await rstar(['queue', 'drop', '--queue', redis.url, run.slice(0, 8), '--json']);
  t.deepEqual(dropped, { dropped: [{ run, removed: 1, running: 1, results: 0 }] });
  await worker.waitFor(new RegExp(`problem ${running} done in .* not posted: run ${run.slice(0, 8)} was closed`));
  for (const r of (await rstar(['queue', 'list', '--queue', redis.url, '--json'])).runs) {
    t.like(r, { run, closed: true, jobs: { waiting: 0, active: 0, delayed: 0, failed: 0 }, results: 0 }, 'only BullMQ\'s record of the finished job may stay (an hour)');
  }
  t.false(existsSync(join(out, 'results.jsonl')) && readFileSync(join(out, 'results.jsonl'), 'utf8') !== '', 'a result of the dropped run was journaled');

  // The same command reopens the run and finishes it; nothing of it stays in Redis.
  const second = start(coordinator, 'coordinator (again)');
  t.is((await second.exited).code, 0, second.stderr.slice(-3000));
  t.like(lastJson(second.stdout), { results: [{ method: 'greedy', problems: 2 }] });
  t.is(readRecords(out).length, 2);
  t.deepEqual((await rstar(['queue', 'list', '--queue', redis.url, '--json'])).runs, []);
  t.deepEqual(await leftovers(redis.client), []);
  t.log(worker.lines().filter((l) => / done in /.test(l)).join('\n'));
  await worker.kill('SIGTERM');
});
