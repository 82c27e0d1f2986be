/**
 * Rollouts over a queue, as users run them: a real `redis-server` started here on a free loopback
 * port (BullMQ's Lua scripts need the real server; `.ci/run` installs it), real `rstar worker` and
 * `rstar generate --queue` processes, real GSM8K problems and a tiny real model.
 *
 * The model has random weights: its trees are never correct, and what is checked is the plumbing.
 * Each problem takes about a second on one thread (four 256-token candidates of a 151k-vocabulary
 * model), so a worker killed right after it reports a start is killed in the middle of that search.
 */
import anyTest, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { benchmarkPath } from '../lib/data/problems.js';
import { packageRoot } from '../lib/paths.js';
import { describeAddress, parseQueueUrl } from '../lib/queue/connection.js';
import { PROTOCOL_VERSION, QUEUE_PREFIX, fileRef, resultsQueueName, runId, type ResultMessage } from '../lib/queue/protocol.js';
import { testDir, testModel } from './helpers/models.js';

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
  const procs: Proc[] = [];
  t.teardown(() => Promise.all(procs.map((p) => p.kill('SIGKILL'))).then(() => undefined));
  const start = (args: string[], label: string): Proc => {
    const p = new Proc(args, label);
    procs.push(p);
    return p;
  };
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
  const procs: Proc[] = [];
  t.teardown(() => Promise.all(procs.map((p) => p.kill('SIGKILL'))).then(() => undefined));
  const start = (args: string[], label: string): Proc => {
    const p = new Proc(args, label);
    procs.push(p);
    return p;
  };
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

test('rstar evolve --queue: the search stage runs on a worker (the bootstrap program travels by name) and writes what a local run writes', async (t) => {
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
    evolve: { rounds: [{ rollouts: 2 }], eval: { majorityN: 2, mctsCandidates: 2, mctsRollouts: 2, baseGreedy: false } },
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
});
