/**
 * `rstar bench search` and the GPU-build probe of the addon loader. Real engine, Python pool and
 * llama-batched-bench on a tiny random model; the JSON contract and the consistency of the wall-time
 * breakdown are checked, never a speed.
 */
import anyTest from 'ava';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../lib/paths.js';
import { testDir, testModel } from './helpers/models.js';

const test = anyTest.serial;
const run = promisify(execFile);
const cli = join(packageRoot, 'dist', 'lib', 'cli', 'main.js');

test('bench search --json: problems/hour, tokens/s against llama-batched-bench, and a breakdown that adds up to the wall time', async (t) => {
  t.timeout(10 * 60_000);
  const model = await testModel('tiny-bytes-f32');
  const { stdout } = await run(process.execPath, [cli, 'bench', 'search', '--model', model, '--problems', '4', '--rollouts', '1', '--candidates', '4', '--max-step-tokens', '8', '--threads', '1', '--json'], { maxBuffer: 1 << 24 });
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown> & { breakdown: Record<string, number>; batch: Record<string, number>; search_s: number };
  for (const k of ['problems_per_hour', 'search_tps', 'peak_tps', 'utilisation', 'breakdown']) t.true(k in r, `${k} missing`);
  t.is(r.trees, 4);
  t.true((r.problems_per_hour as number) > 0);
  t.true((r.search_tps as number) > 0);
  t.true((r.peak_tps as number) > 0);
  t.deepEqual(Object.keys(r.breakdown).sort(), ['decode', 'grading', 'js', 'ppm_scoring', 'sampling', 'verification']);
  const sum = Object.values(r.breakdown).reduce((a, b) => a + b, 0);
  // Exclusive shares: they add up to the wall time (rounding aside).
  t.true(Math.abs(sum - r.search_s) <= 0.05 * r.search_s + 0.05, `breakdown ${sum} s vs wall ${r.search_s} s`);
  // A random model never writes a step marker: every candidate runs to --max-step-tokens.
  t.is(r.batch.tokens_sampled % 8, 0);
  t.true(r.batch.first_tokens_from_parent > 0);
});

/** Loads the addon in a child process with `env` and returns what the loader reports. */
async function loadIn(env: NodeJS.ProcessEnv): Promise<{ status: { path: string; gpu: string; cpuFallbackReason: string | null }; stderr: string }> {
  const script = `import(${JSON.stringify(join(packageRoot, 'dist', 'lib', 'native', 'binding.js'))}).then((m) => { m.loadBinding().systemInfo(); process.stdout.write(JSON.stringify(m.addonStatus())); })`;
  const { stdout, stderr } = await run(process.execPath, ['-e', script], { env: { ...process.env, ...env } });
  return { status: JSON.parse(stdout), stderr };
}

test('a GPU build is probed in a child process first: no GPU, or a build that cannot load, falls back with the reason logged', async (t) => {
  t.timeout(2 * 60_000);
  const dir = join(testDir, 'gpu-probe');
  rmSync(dir, { recursive: true, force: true });
  const addon = join(packageRoot, 'build', 'Release', 'rstar.node');
  // A build that says it is a CUDA build, on a machine without a GPU (or with its GPUs hidden).
  mkdirSync(join(dir, 'cuda'), { recursive: true });
  copyFileSync(addon, join(dir, 'cuda', 'rstar.node'));
  writeFileSync(join(dir, 'cuda', 'rstar-build.json'), JSON.stringify({ gpu: 'cuda' }));
  const noGpu = await loadIn({ RSTAR_ADDON: join(dir, 'cuda', 'rstar.node'), CUDA_VISIBLE_DEVICES: '' });
  t.is(noGpu.status.path, join(dir, 'cuda', 'rstar.node'));
  t.is(noGpu.status.gpu, 'cuda');
  t.regex(noGpu.status.cpuFallbackReason ?? '', /found no GPU/);
  t.regex(noGpu.stderr, /rstar: the cuda build found no GPU/);
  // Unprobed on request.
  const unprobed = await loadIn({ RSTAR_ADDON: join(dir, 'cuda', 'rstar.node'), RSTAR_GPU_PROBE: '0' });
  t.is(unprobed.status.cpuFallbackReason, null);
  // A GPU build whose probe process dies (here: not a shared object at all) is skipped for the next candidate.
  mkdirSync(join(dir, 'broken'), { recursive: true });
  writeFileSync(join(dir, 'broken', 'rstar.node'), 'not an addon');
  writeFileSync(join(dir, 'broken', 'rstar-build.json'), JSON.stringify({ gpu: 'cuda' }));
  const broken = await loadIn({ RSTAR_ADDON: join(dir, 'broken', 'rstar.node') });
  t.is(broken.status.path, addon);
  t.is(broken.status.gpu, 'off');
});
