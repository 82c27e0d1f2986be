#!/usr/bin/env node
// `npm install` for rstar-math: everything a fresh clone needs, in order, each stage skipped when
// its output is already there and current.
//
//   1. llama.cpp source: fetch node-llama-cpp@3.22.1 from the npm registry, take its git bundle
//      (llama/gitRelease.bundle), clone it into native/llama.cpp and check out the pinned commit.
//      The tarball is cached in native/.cache so a re-install does not fetch it again.
//   2. llama.cpp libraries and tools: cmake-js drives CMakeLists.txt into build/llama.
//   3. the addon: node-gyp builds binding.gyp into build/Release/rstar.node.
//   4. the TypeScript: tsc into dist/.
//
// Switches (environment): RSTAR_GPU=cuda|vulkan|off (default off), RSTAR_NATIVE=0 for a portable
// CPU build without -march=native, RSTAR_JOBS=N build parallelism, RSTAR_LLAMA_TARBALL=path to use
// a node-llama-cpp tarball already on disk. Flags: --force rebuilds every stage,
// --only=source|llama|addon|ts runs one stage.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LLAMA_PACKAGE = 'node-llama-cpp@3.22.1';
export const LLAMA_COMMIT = 'de3ff815ea7d559ee917f063901b8986f038abc6';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const llamaDir = join(root, 'native', 'llama.cpp');
const cacheDir = join(root, 'native', '.cache');
const llamaBuildDir = join(root, 'build', 'llama');

const args = process.argv.slice(2);
const force = args.includes('--force');
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const gpu = (process.env.RSTAR_GPU ?? 'off').toLowerCase();
const native = process.env.RSTAR_NATIVE !== '0';
const jobs = Number(process.env.RSTAR_JOBS) || Math.max(1, cpus().length);

class InstallError extends Error {}

function log(msg) {
  process.stderr.write(`[rstar install] ${msg}\n`);
}

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: opts.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit', cwd: opts.cwd ?? root, env: { ...process.env, ...opts.env }, encoding: 'utf8' });
  if (r.error) throw new InstallError(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const tail = opts.capture ? `\n${(r.stderr || r.stdout || '').trim().split('\n').slice(-20).join('\n')}` : '';
    throw new InstallError(`${cmd} ${argv.join(' ')} failed with exit code ${r.status}${tail}`);
  }
  return opts.capture ? r.stdout.trim() : '';
}

function requireTool(cmd, versionArg, hint) {
  const r = spawnSync(cmd, [versionArg], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new InstallError(`${cmd} is required but was not found on PATH. ${hint}`);
}

function checkTools() {
  requireTool('git', '--version', 'Install git (Debian/Ubuntu: apt-get install git).');
  requireTool('cmake', '--version', 'Install CMake 3.18 or newer (Debian/Ubuntu: apt-get install cmake).');
  requireTool(process.env.CXX || 'c++', '--version', 'Install a C++17 compiler (Debian/Ubuntu: apt-get install g++ make).');
  requireTool('make', '--version', 'Install make (Debian/Ubuntu: apt-get install make).');
  if (gpu === 'cuda') requireTool('nvcc', '--version', 'RSTAR_GPU=cuda needs the CUDA toolkit (nvcc) on PATH.');
  if (gpu === 'vulkan') requireTool('glslc', '--version', 'RSTAR_GPU=vulkan needs the Vulkan SDK with glslc (Debian: apt-get install libvulkan-dev glslc spirv-headers).');
  if (!['off', 'cuda', 'vulkan'].includes(gpu)) throw new InstallError(`RSTAR_GPU must be off, cuda or vulkan, but received ${JSON.stringify(gpu)}`);
}

function currentCommit() {
  if (!existsSync(join(llamaDir, '.git'))) return null;
  const r = spawnSync('git', ['-C', llamaDir, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Stage 1: the pinned llama.cpp source, unpacked from the npm package's git bundle. */
function stageSource() {
  if (!force && currentCommit() === LLAMA_COMMIT && existsSync(join(llamaDir, 'include', 'llama.h'))) {
    log(`llama.cpp source present at ${LLAMA_COMMIT.slice(0, 10)}`);
    return false;
  }
  mkdirSync(cacheDir, { recursive: true });
  let tarball = process.env.RSTAR_LLAMA_TARBALL;
  if (!tarball) {
    tarball = readdirSync(cacheDir).map((f) => join(cacheDir, f)).find((f) => f.endsWith('node-llama-cpp-3.22.1.tgz'));
  }
  if (!tarball) {
    log(`fetching ${LLAMA_PACKAGE} from the npm registry for its llama.cpp git bundle`);
    run('npm', ['pack', LLAMA_PACKAGE, '--silent', '--pack-destination', cacheDir], { capture: true });
    tarball = join(cacheDir, 'node-llama-cpp-3.22.1.tgz');
    if (!existsSync(tarball)) throw new InstallError(`npm pack ${LLAMA_PACKAGE} did not produce ${tarball}`);
  }
  const bundleDir = join(cacheDir, 'bundle');
  rmSync(bundleDir, { recursive: true, force: true });
  mkdirSync(bundleDir, { recursive: true });
  run('tar', ['-xzf', tarball, '-C', bundleDir, 'package/llama/gitRelease.bundle']);
  const bundle = join(bundleDir, 'package', 'llama', 'gitRelease.bundle');
  const sha = createHash('sha256').update(readFileSync(bundle)).digest('hex');
  log(`bundle ${bundle} sha256 ${sha}`);
  rmSync(llamaDir, { recursive: true, force: true });
  run('git', ['clone', '--quiet', '--no-checkout', bundle, llamaDir]);
  run('git', ['-C', llamaDir, '-c', 'advice.detachedHead=false', 'checkout', '--quiet', LLAMA_COMMIT]);
  const got = currentCommit();
  if (got !== LLAMA_COMMIT) {
    rmSync(llamaDir, { recursive: true, force: true });
    throw new InstallError(`the llama.cpp bundle in ${LLAMA_PACKAGE} checked out ${got}, not the pinned ${LLAMA_COMMIT}; refusing to build an unverified tree`);
  }
  rmSync(bundleDir, { recursive: true, force: true });
  log(`llama.cpp unpacked at ${LLAMA_COMMIT} (verified)`);
  return true;
}

function cmakeDefines() {
  const d = {
    CMAKE_BUILD_TYPE: 'Release',
    GGML_NATIVE: native ? 'ON' : 'OFF',
    GGML_CUDA: gpu === 'cuda' ? 'ON' : 'OFF',
    GGML_VULKAN: gpu === 'vulkan' ? 'ON' : 'OFF',
  };
  if (gpu === 'cuda') d.CMAKE_CUDA_ARCHITECTURES = process.env.CMAKE_CUDA_ARCHITECTURES || 'native';
  return d;
}

/** Stage 2: llama.cpp static libraries and benchmark tools, through cmake-js. */
function stageLlama(sourceChanged) {
  const stamp = join(llamaBuildDir, 'rstar-build.json');
  const want = JSON.stringify({ commit: LLAMA_COMMIT, defines: cmakeDefines() });
  if (!force && !sourceChanged && existsSync(stamp) && readFileSync(stamp, 'utf8') === want && existsSync(join(llamaBuildDir, 'llama-libs.gypi'))) {
    log('llama.cpp build is current');
    return false;
  }
  log(`building llama.cpp (${gpu === 'off' ? 'CPU' : gpu}, ${native ? 'native' : 'portable'} ISA, ${jobs} jobs); the first build takes a few minutes`);
  const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
  const defs = Object.entries(cmakeDefines()).map(([k, v]) => `--CD${k}=${v}`);
  run(process.execPath, [cmakeJs, 'build', '--directory', root, '--out', llamaBuildDir, '--config', 'Release', `--parallel`, String(jobs), ...defs]);
  writeFileSync(stamp, want);
  return true;
}

/**
 * Node's own headers: the ones installed beside this node binary (every official and distro build
 * ships include/node), so node-gyp never downloads them; npm_config_nodedir wins when set.
 */
function nodeHeadersDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = resolve(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'common.gypi'))) return prefix;
  return null;  // node-gyp then fetches headers for this version, which needs the network
}

/** Stage 3: the Node addon, through node-gyp (make decides what to recompile). */
function stageAddon(llamaChanged) {
  const nodeGyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (force || llamaChanged || !existsSync(join(root, 'build', 'Makefile'))) {
    log('configuring the addon with node-gyp');
    const nodedir = nodeHeadersDir();
    if (!nodedir) log('no Node headers next to this node binary: node-gyp will try to download them');
    run(process.execPath, [nodeGyp, 'configure', ...(nodedir ? [`--nodedir=${nodedir}`] : [])]);
  }
  log('building the addon with node-gyp');
  run(process.execPath, [nodeGyp, 'build', `--jobs=${jobs}`]);
  // Read by lib/native/binding.ts: a GPU build is probed in a child process before it is trusted.
  // What the addon links is what stage 2 built (its stamp), whatever RSTAR_GPU says now.
  let defines = cmakeDefines();
  try {
    defines = JSON.parse(readFileSync(join(llamaBuildDir, 'rstar-build.json'), 'utf8')).defines ?? defines;
  } catch {
    // no stamp: a build dir from before stamps, built with the current switches
  }
  const built = defines.GGML_CUDA === 'ON' ? 'cuda' : defines.GGML_VULKAN === 'ON' ? 'vulkan' : 'off';
  const record = { gpu: built, commit: LLAMA_COMMIT, cmake: defines, builtAt: new Date().toISOString() };
  writeFileSync(join(root, 'build', 'Release', 'rstar-build.json'), `${JSON.stringify(record, null, 2)}\n`);
}

/** Stage 4: the TypeScript. */
function stageTs() {
  log('compiling TypeScript');
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')]);
}

try {
  if (!existsSync(join(root, 'node_modules', 'cmake-js'))) throw new InstallError('dependencies are missing: run `npm install` (not this script directly)');
  checkTools();
  const stages = only ? [only] : ['source', 'llama', 'addon', 'ts'];
  let sourceChanged = false;
  let llamaChanged = false;
  for (const s of stages) {
    if (s === 'source') sourceChanged = stageSource();
    else if (s === 'llama') {
      if (!existsSync(join(llamaDir, 'include', 'llama.h'))) sourceChanged = stageSource();
      llamaChanged = stageLlama(sourceChanged);
    } else if (s === 'addon') stageAddon(llamaChanged);
    else if (s === 'ts') stageTs();
    else throw new InstallError(`--only must be source, llama, addon or ts, but received ${s}`);
  }
  log('done');
} catch (e) {
  if (e instanceof InstallError) {
    process.stderr.write(`\n[rstar install] error: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}
