// Benchmark: the browser worker's LeNet-5 training throughput in headless Chromium, inside a
// dedicated module Web Worker, per backend — WebGPU on the software adapters Chromium offers
// without a GPU (Mesa llvmpipe through ANGLE/OpenGL ES at the compatibility feature level,
// SwiftShader at the core level), wasm (SIMD, single thread), wasm-step (the compiled step) and cpu.
//
// What is timed is what a volunteer tab does for one step: the real `GradientWorker` of
// `@swarmgrad/worker` gets `params` and a `task` of `batch` inline MNIST-shaped samples cut into
// micro-shards (one `model.gradients` call each, summed in the fixed tree, encoded f32), and
// sends its `result`. samples/s = batch / median step time, after 2 warm-up steps.
//
//   node tests/bench/browser-worker.mjs [budgetSeconds per backend, default 6] [--batch 64] [--micro-batch 32] [--only wasm,wasm-step]
//
// Prints one JSON line per backend: { implementation, batch, microShardSize, samplesPerSecond, steps }
// (samplesPerSecond null and an `error` when a backend cannot run). Needs the packages built
// (`npx turbo run build`) and /usr/bin/chromium (or $CHROMIUM_PATH).
import { build } from 'esbuild';
import { createReadStream, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
};
const budgetMs = Number(args.find((a) => /^\d+(\.\d+)?$/.test(a)) ?? process.env.BENCH_SECONDS ?? 6) * 1000;
const batch = option('batch', 64);
const microShardSize = option('micro-batch', 32);
if (!Number.isInteger(batch / microShardSize) || (batch / microShardSize) & (batch / microShardSize - 1)) {
  throw new Error(`--batch ${batch} must be a power-of-two multiple of --micro-batch ${microShardSize} (one aligned block)`);
}

/** The cells: a backend and the options it is started with. */
const CELLS = [
  { backend: 'webgpu', featureLevel: 'compatibility', label: 'webgpu' },
  { backend: 'webgpu', featureLevel: 'core', label: 'webgpu' },
  { backend: 'wasm', label: 'wasm' },
  { backend: 'wasm-step', label: 'wasm-step' },
  { backend: 'wasm-fma', label: 'wasm-fma' },
  { backend: 'cpu', label: 'cpu' },
];

// The Web Worker: runs the real GradientWorker on one backend and reports the step times.
const WORKER_SOURCE = `
import { GradientWorker } from '@swarmgrad/worker';
import { createModel, lenet5, useBackend } from '@swarmgrad/nn';
import { PROTOCOL_VERSION } from '@swarmgrad/protocol';

// tfjs-backend-wasm's threaded binary cannot start its pthread workers from a bundled module
// worker (see apps/volunteer/src/worker.ts): keep it single-threaded, as the volunteer page does.
const tfEnv = globalThis._tfengine?.ENV;
tfEnv?.registerFlag('WASM_HAS_MULTITHREAD_SUPPORT', () => false);
tfEnv?.set('WASM_HAS_MULTITHREAD_SUPPORT', false);

self.onmessage = async ({ data: cell }) => {
  try {
    const options = { wasmPaths: new URL('/tfjs-wasm/', location.href).href };
    if (cell.featureLevel) options.featureLevel = cell.featureLevel;
    const info = await useBackend(cell.backend, options);
    const spec = lenet5();
    const model = createModel(spec);
    let state = 0x2545f491;
    const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const x = Float32Array.from({ length: cell.batch * 784 }, random);
    const labels = Int32Array.from({ length: cell.batch }, () => Math.floor(random() * 10));
    const params = model.initParams(1);
    let pending;
    const worker = new GradientWorker({
      backend: cell.backend,
      send: (message) => {
        if (message.type === 'result') pending?.resolve(message);
        else if (message.type === 'error') pending?.reject(new Error(message.code + ': ' + message.message));
      },
    });
    worker.handle({
      type: 'welcome', protocolVersion: PROTOCOL_VERSION, workerId: 'bench', runId: 'bench', trusted: true,
      heartbeatIntervalMs: 5000, codec: 'f32', modelSpec: spec, parameterCount: model.paramCount,
      microShardSize: cell.microShardSize, dataset: { name: 'synthetic' }, limits: { maxFrameBytes: 1 << 26, maxShardsPerTask: 1024 },
    });
    const shards = cell.batch / cell.microShardSize;
    const step = (index) => new Promise((resolve, reject) => {
      pending = { resolve, reject };
      worker.handle({ type: 'params', runId: 'bench', step: index, params });
      worker.handle({
        type: 'task', taskId: 't' + index, runId: 'bench', step: index, kind: 'train',
        blocks: [{ start: 0, count: shards }], microShardSize: cell.microShardSize,
        indices: Uint32Array.from({ length: cell.batch }, (_, i) => i), deadlineMs: 600000, x, labels,
      });
    });
    for (let i = 0; i < 2; i++) await step(i); // warm-up: shader compilation, buffer pools
    const times = [];
    const started = performance.now();
    while ((performance.now() - started < cell.budgetMs && times.length < 200) || times.length < 3) {
      const t0 = performance.now();
      await step(times.length + 2);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    postMessage({ ok: true, adapter: info.adapter ?? null, medianMs: times[Math.floor(times.length / 2)], steps: times.length });
  } catch (error) {
    postMessage({ ok: false, error: String(error?.message ?? error) });
  }
};
`;

const out = await mkdtemp(join(tmpdir(), 'swarmgrad-browser-bench-'));
await build({
  stdin: { contents: WORKER_SOURCE, resolveDir: here, sourcefile: 'bench-worker.js', loader: 'js' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  outdir: out,
  entryNames: 'bench-worker',
  logLevel: 'error',
});

const require = createRequire(import.meta.url);
const wasmDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
const wasmFiles = new Set(readdirSync(wasmDir).filter((name) => name.endsWith('.wasm')));
const TYPES = { '.js': 'text/javascript', '.html': 'text/html', '.wasm': 'application/wasm' };
const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const name = path.slice(1);
  const file = path === '/' ? null : name.startsWith('tfjs-wasm/') && wasmFiles.has(name.slice(10)) ? join(wasmDir, name.slice(10)) : /^[\w.-]+\.js$/.test(name) ? join(out, name) : undefined;
  const headers = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
  if (file === null) {
    res.writeHead(200, { ...headers, 'content-type': TYPES['.html'] });
    return res.end('<!doctype html><title>swarmgrad browser worker bench</title>');
  }
  if (file === undefined) {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
  createReadStream(file).on('error', () => res.end()).pipe(res);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
    // WebGPU without a GPU: SwiftShader (core) plus llvmpipe through ANGLE/GLES (compatibility); adapter names unmasked.
    '--enable-unsafe-webgpu', '--use-webgpu-adapter=opengles', '--use-gl=angle', '--use-angle=gl-egl', '--enable-webgpu-developer-features', '--disable-gpu-sandbox',
  ],
});
try {
  const page = await browser.newPage();
  await page.goto(origin);
  const chromiumVersion = browser.version();
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : null;
  for (const cell of CELLS.filter((c) => !only || only.includes(c.backend))) {
    // A fresh Web Worker per backend: nothing carried over between cells.
    const result = await page.evaluate(
      (message) =>
        new Promise((resolve) => {
          const worker = new Worker('/bench-worker.js', { type: 'module' });
          worker.onmessage = ({ data }) => {
            worker.terminate();
            resolve(data);
          };
          worker.onerror = (event) => {
            worker.terminate();
            resolve({ ok: false, error: event.message || 'worker failed to start' });
          };
          worker.postMessage(message);
        }),
      { backend: cell.backend, featureLevel: cell.featureLevel, batch, microShardSize, budgetMs },
    );
    const adapter = result.adapter ? ` (${String(result.adapter).replace(/^0x0+ \((.*)\)(?= via )/, '$1')})` : cell.featureLevel ? ` (${cell.featureLevel})` : '';
    const line = {
      implementation: `swarmgrad browser worker, Chromium ${chromiumVersion} Web Worker, ${cell.label}${adapter}`,
      batch,
      microShardSize,
      samplesPerSecond: result.ok ? (batch * 1000) / result.medianMs : null,
      steps: result.ok ? result.steps : 0,
    };
    if (!result.ok) line.error = result.error;
    console.log(JSON.stringify(line));
  }
} finally {
  await browser.close();
  server.close();
  await rm(out, { recursive: true, force: true });
}
