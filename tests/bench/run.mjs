// `npm run bench`: prints the benchmark tables. Every number is a median over repeated
// steps measured in this run, side by side, on this machine (shared and noisy: compare rows
// of one run, not runs of different days). Sections: `node bench/run.mjs [section...]`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchFlood, benchSoak } from './flood.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const sections = { nn: benchNn, coordinator: benchCoordinator, wire: benchWire, browser: benchBrowser, flood: () => benchFlood(table), soak: () => benchSoak(table) };
// The soak runs for SOAK_SECONDS (default 10 minutes): only when named.
const onlyWhenNamed = new Set(['soak']);
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const budget = process.env.BENCH_SECONDS ?? '6';

console.log(`swarmgrad benchmarks — ${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, node ${process.version}`);
for (const [name, run] of Object.entries(sections)) {
  if (wanted.length ? !wanted.includes(name) : onlyWhenNamed.has(name)) continue;
  await run();
}

/** Prints rows as a Markdown table. */
export function table(title, columns, rows) {
  console.log(`\n### ${title}\n`);
  const cells = [columns, ...rows.map((r) => columns.map((c) => String(r[c] ?? '')))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  const line = (row) => `| ${row.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(cells[0]));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const row of cells.slice(1)) console.log(line(row));
}

function fmt(n) {
  return Math.round(n).toLocaleString('en-US');
}

/** `llvmpipe-llvm-15-0-6-256-bits- (OpenGL version OpenGL ES 3.2 Mesa 22.3.6) via Dawn opengles, compatibility` → `llvmpipe, Dawn opengles, compatibility`. */
function shortAdapter(adapter) {
  return adapter.replace(/-llvm[^ ]*/, '').replace(/ \(OpenGL[^)]*\)/, '').replace(' via ', ', ');
}

/** Chromium's long adapter descriptions, shortened for the table. */
function shortBrowserLabel(label) {
  return label
    .replace(/swarmgrad browser worker, Chromium (\d+)[.\d]* Web Worker/, 'browser worker (Chromium $1, Web Worker)')
    .replace(/ANGLE \(Mesa\/X\.org, (llvmpipe)[^)]*\), [^)]*\) via navigator\.gpu/, '$1')
    .replace(/google swiftshader[^(]*\(SwiftShader Device \(Subzero\)\) via navigator\.gpu/, 'SwiftShader');
}

function torchPython() {
  // Debian's python3-torch installs for the system interpreter, not a pyenv one on PATH.
  for (const python of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status === 0) return python;
  }
  return null;
}

async function benchNn() {
  const rows = [];
  for (const backend of ['cpu', 'wasm', 'webgpu']) {
    for (const batch of [64, 256]) {
      try {
        const out = execFileSync(process.execPath, [join(here, 'nn-train.mjs'), backend, String(batch), backend === 'cpu' ? String(Math.min(Number(budget), 4)) : budget], {
          encoding: 'utf8',
          timeout: 300_000,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const r = JSON.parse(out.trim().split('\n').pop());
        rows.push({ implementation: `swarmgrad ${backend}${r.adapter ? ` (${shortAdapter(r.adapter)})` : ''}`, batch, sps: r.samplesPerSecond, steps: r.steps });
      } catch (error) {
        rows.push({ implementation: `swarmgrad ${backend}`, batch, sps: NaN, note: `failed: ${String(error.stderr ?? error.message).trim().split('\n').pop()}` });
      }
    }
  }
  const python = torchPython();
  const torchRows = [];
  if (python) {
    const out = execFileSync(python, [join(here, 'torch_lenet5.py'), String(Math.min(Number(budget), 4))], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, OMP_NUM_THREADS: '2', OPENBLAS_NUM_THREADS: '1' } });
    for (const line of out.trim().split('\n')) {
      const r = JSON.parse(line);
      torchRows.push({ implementation: r.backend, batch: r.batch, sps: r.samplesPerSecond, steps: r.steps });
    }
  }
  const best = (batch) => Math.max(...torchRows.filter((r) => r.batch === batch).map((r) => r.sps));
  table(
    'LeNet-5 training throughput (forward + backward + Adam update, float32), samples/s',
    ['implementation', 'batch', 'samples/s', 'vs best PyTorch', 'steps timed'],
    [...rows, ...torchRows].map((r) => ({
      implementation: r.implementation,
      batch: r.batch,
      'samples/s': Number.isFinite(r.sps) ? fmt(r.sps) : r.note,
      'vs best PyTorch': torchRows.length && Number.isFinite(r.sps) ? `${(r.sps / best(r.batch)).toFixed(2)}×` : '',
      'steps timed': r.steps ?? '',
    })),
  );
  if (!python) console.log('\nPyTorch rows skipped: install Debian\'s python3-torch (`apt-get install -y python3-torch`) to compare on the same machine in the same run.');
}

function coordinatorCell(workers, codec, steps) {
  const out = execFileSync(process.execPath, [join(here, 'coordinator.mjs'), String(workers), codec, String(steps)], { encoding: 'utf8', timeout: 600_000 });
  return JSON.parse(out.trim().split('\n').pop());
}

function mb(bytes) {
  return (bytes / 1e6).toFixed(2);
}

async function benchCoordinator() {
  const rows = [];
  for (const workers of [1, 16, 64, 256]) {
    const r = coordinatorCell(workers, 'f32', workers >= 64 ? 12 : 25);
    rows.push({
      'simulated workers': workers,
      'coordinator ms/step': r.coordinatorMs.toFixed(1),
      'step wall ms': Math.round(r.stepMs),
      'workers with blocks': r.activeWorkers,
      'MB to workers': mb(r.bytesToWorkers),
      'MB from workers': mb(r.bytesFromWorkers),
    });
  }
  table(
    'Coordinator cost per LeNet-5 step (B = 256, m = 1: 256 micro-shards), f32, simulated workers over real sockets — decode + validate + aggregate + Adam step + params/tasks out (median)',
    ['simulated workers', 'coordinator ms/step', 'step wall ms', 'workers with blocks', 'MB to workers', 'MB from workers'],
    rows,
  );
}

async function benchWire() {
  const { encodedGradientBytes } = await import('@swarmgrad/protocol');
  const rows = [];
  for (const codec of ['f32', 'f16', 'int8']) {
    const r = coordinatorCell(16, codec, 15);
    rows.push({
      codec,
      'bytes per block gradient': encodedGradientBytes(codec, 61_706).toLocaleString('en-US'),
      'MB from workers / step': mb(r.bytesFromWorkers),
      'MB to workers / step': mb(r.bytesToWorkers),
      'coordinator ms/step': r.coordinatorMs.toFixed(1),
    });
  }
  table('Bytes on the wire per LeNet-5 step per gradient codec (16 simulated workers, B = 256, m = 1)', ['codec', 'bytes per block gradient', 'MB from workers / step', 'MB to workers / step', 'coordinator ms/step'], rows);
}

async function benchBrowser() {
  const script = join(here, 'browser-worker.mjs');
  if (!existsSync(script) || !existsSync('/usr/bin/chromium')) {
    console.log('\nbrowser section skipped: needs /usr/bin/chromium and tests/bench/browser-worker.mjs');
    return;
  }
  const rows = [];
  const out = execFileSync(process.execPath, [script], { encoding: 'utf8', timeout: 900_000 });
  for (const line of out.trim().split('\n')) {
    try {
      rows.push(JSON.parse(line));
    } catch {
      // not a result line
    }
  }
  for (const backend of ['wasm', 'cpu', 'webgpu']) {
    try {
      const node = JSON.parse(execFileSync(process.execPath, [join(here, 'nn-train.mjs'), backend, '64', '4'], { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop());
      rows.push({ implementation: `Node worker, ${backend}${node.adapter ? ` (${shortAdapter(node.adapter)})` : ''}`, batch: 64, samplesPerSecond: node.samplesPerSecond, steps: node.steps });
    } catch (error) {
      rows.push({ implementation: `Node worker, ${backend}`, batch: 64, samplesPerSecond: NaN, note: String(error.message).split('\n')[0] });
    }
  }
  table('Browser worker (headless Chromium, dedicated Web Worker) next to the Node worker: LeNet-5 training samples/s', ['implementation', 'batch', 'samples/s', 'steps timed'], rows.map((r) => ({ implementation: shortBrowserLabel(r.implementation), batch: r.batch, 'samples/s': Number.isFinite(r.samplesPerSecond) ? fmt(r.samplesPerSecond) : r.note ?? 'failed', 'steps timed': r.steps ?? '' })));
}
