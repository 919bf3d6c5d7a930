// Coordinator under a mixed flood: `swarmgrad serve` with one lab worker (cpu backend), with
// and without every attack of tests/hardening at once from other loopback addresses. Prints
// run time, peak RSS (VmHWM) and the slowest /healthz answer. `soak` runs mixed honest and
// misbehaving clients for SOAK_SECONDS (default 600) and samples memory over time.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { encodeMessage, PROTOCOL_VERSION } from '@swarmgrad/protocol';

const SWARMGRAD = fileURLToPath(new URL('../../apps/server/bin/swarmgrad.js', import.meta.url));
const PROBE = fileURLToPath(new URL('../hardening/healthz-probe.mjs', import.meta.url));
const LAB_TOKEN = 'bench-lab-token';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Peak (VmHWM) and current (VmRSS) resident memory of `pid`, bytes. */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
    return { peak: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return { peak: 0, rss: 0 };
  }
}

/** Starts `swarmgrad serve` + one lab worker; resolves once the server listens. */
async function serve(steps) {
  const out = mkdtempSync(join(tmpdir(), 'swarmgrad-flood-'));
  const args = ['serve', '--model', 'lenet5', '--data', 'mnist', '--steps', String(steps), '--batch', '64', '--micro-batch', '16', '--seed', '7', '--eval-every', '0', '--eval-samples', '200', '--checkpoint-every', '50', '--port', '0', '--host', '127.0.0.1', '--json', '--out', out];
  // FLOOD_PROFILE=DIR: a V8 CPU profile of each coordinator process, written into DIR.
  const profile = process.env.FLOOD_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.FLOOD_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, SWARMGRAD, ...args], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, SWARMGRAD_TOKEN: LAB_TOKEN } });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  let info;
  while (!info) {
    const file = join(out, 'server.json');
    if (existsSync(file)) {
      try {
        const candidate = JSON.parse(readFileSync(file, 'utf8'));
        if (candidate.pid === child.pid) info = candidate;
      } catch {
        // being written
      }
    }
    await sleep(50);
  }
  // The lab worker's log stays in the run folder (why it waited, if it did).
  const logFd = openSync(join(out, 'worker.log'), 'w');
  const worker = spawn(process.execPath, [SWARMGRAD, 'worker', '--coordinator', info.ws, '--backend', 'cpu', '--name', 'lab'], { stdio: ['ignore', logFd, logFd], env: { ...process.env, SWARMGRAD_TOKEN: LAB_TOKEN } });
  let over = false;
  exited.then(() => (over = true));
  return { child, worker, info, exited, isOver: () => over, summary: () => JSON.parse(stdout.trim().split('\n').pop() || '{}') };
}

/** Probes /healthz every 250 ms from its own process (tests/hardening/healthz-probe.mjs) until `isOver()`: slowest answer and failures. */
async function probeHealth(port, isOver) {
  const probe = spawn(process.execPath, [PROBE, `http://127.0.0.1:${port}/healthz`], { stdio: ['ignore', 'pipe', 'ignore'] });
  const probes = [];
  let pending = '';
  probe.stdout.on('data', (chunk) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) if (!isOver()) probes.push(JSON.parse(line));
  });
  while (!isOver()) await sleep(250);
  probe.kill();
  // The server stops listening just before it exits: refused probes at the very end are that.
  while (probes.length && !probes.at(-1).ok && /ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET/.test(String(probes.at(-1).status))) probes.pop();
  return { maxMs: Math.max(0, ...probes.map((p) => p.ms)), failures: probes.filter((p) => !p.ok).length };
}

/** Resolves when `ws` closes or `isOver()` turns true (a paused socket may never see its close). */
async function closedOrOver(ws, isOver) {
  let closed = false;
  ws.once('close', () => (closed = true));
  while (!closed && !isOver()) await sleep(250);
  ws.terminate();
}

const address = (n) => `127.0.0.${2 + (n % 250)}`;

function open(url, n) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: address(n) });
    ws.once('open', () => resolve(ws));
    ws.once('error', () => resolve(undefined));
    ws.once('unexpected-response', () => (ws.terminate(), resolve(undefined)));
  });
}

const hello = (fields) => encodeMessage({ type: 'hello', protocolVersion: PROTOCOL_VERSION, ...fields });
const workerHello = (label, samplesPerSecond) =>
  hello({ role: 'worker', name: label, capabilities: { backend: 'cpu', environment: 'node', codecs: ['f32'], userAgent: label, adapter: label, ...(samplesPerSecond ? { samplesPerSecond } : {}) } });

/** Every attack of tests/hardening at once, each bounded, until `isOver()`. `scale` < 1 thins them (soak). */
function mixedFlood(url, isOver, scale = 1) {
  const label = 'x'.repeat(4096);
  const loops = [];
  const loop = (count, body) => {
    for (let k = 0; k < Math.max(1, Math.round(count * scale)); k++) loops.push((async () => { for (let i = k; !isOver(); i += 997) await body(i).catch(() => undefined); })());
  };
  // hello/close churn with 4,096-character labels
  loop(8, async (i) => {
    const ws = await open(url, i);
    if (!ws) return sleep(100);
    ws.on('error', () => undefined);
    ws.send(workerHello(label, 1e6));
    await sleep(20);
    ws.terminate();
  });
  // deaf dashboards
  loop(20, async (i) => {
    const ws = await open(url, i + 40);
    if (!ws) return sleep(1000);
    ws.on('error', () => undefined);
    ws.send(hello({ role: 'dashboard', name: label.slice(0, 100) }));
    ws.send(encodeMessage({ type: 'subscribe' }));
    ws._socket.pause();
    await closedOrOver(ws, isOver);
  });
  // silent volunteers claiming 1e6 samples/s
  loop(200, async (i) => {
    const ws = await open(url, i + 80);
    if (!ws) return sleep(1000);
    ws.on('error', () => undefined);
    ws.send(workerHello(`fake-${i}`, 1e6));
    await closedOrOver(ws, isOver);
  });
  // idle connections (no hello)
  loop(300, async (i) => {
    const ws = await open(url, i + 120);
    if (!ws) return sleep(1000);
    ws.on('error', () => undefined);
    await closedOrOver(ws, isOver);
  });
  // admin token guessing
  loop(2, async (i) => {
    const ws = await open(url, i + 200);
    if (!ws) return sleep(1000);
    ws.on('error', () => undefined);
    ws.send(hello({ role: 'dashboard' }));
    ws.send(encodeMessage({ type: 'admin', action: 'stop', adminToken: `guess-${i}` }));
    await Promise.race([new Promise((resolve) => ws.once('close', resolve)), sleep(500)]);
    ws.terminate();
  });
  // 64 MiB frames before hello, 16 connections, once
  const big = Buffer.alloc(64 * 1024 * 1024);
  for (let i = 0; i < Math.max(1, Math.round(16 * scale)); i++) {
    loops.push((async () => {
      const ws = await open(url, i + 230);
      if (!ws) return;
      ws.on('error', () => undefined);
      const header = Buffer.alloc(14);
      header[0] = 0x82;
      header[1] = 0xff;
      header.writeBigUInt64BE(BigInt(big.length), 2);
      ws._socket.on('error', () => undefined);
      ws._socket.write(header);
      ws._socket.write(big);
    })());
  }
  return Promise.all(loops);
}

/** One served run, attacked or not: seconds, peak RSS, slowest /healthz, paramsSha256. */
async function measured(steps, attacked) {
  const run = await serve(steps);
  const started = performance.now();
  let peak = 0;
  const sampler = (async () => {
    while (!run.isOver()) {
      peak = Math.max(peak, memoryOf(run.child.pid).peak);
      await sleep(100);
    }
  })();
  const health = probeHealth(run.info.port, run.isOver);
  // The attack lasts until the run is over, or at most FLOOD_MAX_SECONDS (default 300).
  const limit = started + Number(process.env.FLOOD_MAX_SECONDS ?? 300) * 1000;
  const attack = attacked ? mixedFlood(run.info.ws, () => run.isOver() || performance.now() > limit) : Promise.resolve();
  const code = await run.exited;
  const seconds = (performance.now() - started) / 1000;
  run.worker.kill();
  await Promise.all([sampler, attack]);
  return { code, seconds, peak, health: await health, params: run.summary().paramsSha256 };
}

/** The mixed-flood table (`npm run bench -- flood`). */
export async function benchFlood(table) {
  const steps = Number(process.env.FLOOD_STEPS ?? 30);
  const clean = await measured(steps, false);
  const flooded = await measured(steps, true);
  const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  table(
    `Coordinator under a mixed flood (LeNet-5, ${steps} steps of 64, one lab worker on the cpu backend; attackers: hello/close churn with 4 KiB labels, 20 deaf dashboards, 200 silent volunteers claiming 1e6 samples/s, 300 idle connections, admin token guessing, 16 × 64 MiB frames before hello)`,
    ['run', 'exit', 'seconds', 'vs undisturbed', 'peak RSS', 'slowest /healthz', 'failed /healthz', 'same paramsSha256'],
    [clean, flooded].map((r, i) => ({
      run: i === 0 ? 'undisturbed' : 'mixed flood',
      exit: r.code,
      seconds: r.seconds.toFixed(1),
      'vs undisturbed': `${(r.seconds / clean.seconds).toFixed(2)}×`,
      'peak RSS': mib(r.peak),
      'slowest /healthz': `${r.health.maxMs.toFixed(0)} ms`,
      'failed /healthz': r.health.failures,
      'same paramsSha256': r.params === clean.params ? 'yes' : `NO (${r.params})`,
    })),
  );
}

/** Soak (`npm run bench -- soak`, not part of the default sections): memory over time. */
export async function benchSoak(table) {
  const seconds = Number(process.env.SOAK_SECONDS ?? 600);
  const run = await serve(1_000_000);
  const honest = [1, 2].map((n) => spawn(process.execPath, [SWARMGRAD, 'worker', '--coordinator', run.info.ws, '--backend', 'cpu', '--name', `volunteer-${n}`], { stdio: 'ignore' }));
  let stop = false;
  const isOver = () => stop || run.isOver();
  const attack = mixedFlood(run.info.ws, isOver, 0.25);
  const health = probeHealth(run.info.port, isOver);
  const rows = [];
  const started = performance.now();
  for (let t = 0; t <= seconds; t += 60) {
    await sleep(Math.max(0, started + t * 1000 - performance.now()));
    const { rss, peak } = memoryOf(run.child.pid);
    const snapshot = await fetch(`http://127.0.0.1:${run.info.port}/api/runs/current`).then((r) => r.json()).catch(() => ({}));
    rows.push({ minute: (t / 60).toFixed(0), step: snapshot.step ?? '?', workers: snapshot.workers?.length ?? '?', 'RSS': `${(rss / 2 ** 20).toFixed(0)} MiB`, 'peak RSS': `${(peak / 2 ** 20).toFixed(0)} MiB` });
  }
  stop = true;
  run.child.kill('SIGTERM');
  for (const child of [run.worker, ...honest]) child.kill();
  await Promise.all([run.exited, attack]);
  const { maxMs, failures } = await health;
  table(`Soak: ${seconds / 60} minutes, one lab worker and two honest volunteers among a quarter-strength mixed flood (slowest /healthz ${maxMs.toFixed(0)} ms, ${failures} failed)`, ['minute', 'step', 'workers', 'RSS', 'peak RSS'], rows);
}
