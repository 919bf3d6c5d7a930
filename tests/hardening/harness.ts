// A served run under attack: a real `swarmgrad serve` process, one real lab worker, and
// attacker clients on other loopback addresses (127.0.0.2 and up), so the per-address limits
// meet them and not the lab worker. Every attack is bounded in count and runs at most until
// the run finishes; tests assert outcomes (the run finishes with the parameters of an
// undisturbed run, memory stays bounded, /healthz answers), never wall-clock times.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { encodeMessage, PROTOCOL_VERSION, type Message } from '@swarmgrad/protocol';
import { BASE_RUN, launchSwarmgrad, SWARMGRAD, tempDir, type RunResult, type SwarmgradProcess } from '../support/launch.js';
import { delay } from '../support/wait.js';

const PROBE = fileURLToPath(new URL('./healthz-probe.mjs', import.meta.url));

/** The lab token of every hardening run. */
export const LAB_TOKEN = 'hardening-lab-token';
/** The admin token of every hardening run. */
export const ADMIN_TOKEN = 'hardening-admin-token';

/**
 * The documented memory bound for a served LeNet-5 run on MNIST with the default connection
 * limits, whatever the attackers do: peak RSS (VmHWM) of the coordinator process.
 */
export const RSS_BOUND_BYTES = 600 * 1024 * 1024;

interface Probe {
  ok: boolean;
  status: number | string;
  ms: number;
}

/** What a served run under attack came to. */
export interface AttackOutcome {
  result: RunResult;
  /** Peak resident memory of the coordinator process (VmHWM), bytes. */
  peakRss: number;
  /** /healthz probes: how many, how many failed (no 200 within 10 s), slowest answer in ms. */
  healthz: { probes: number; failures: number; maxMs: number };
  /** Run time of the served run, seconds. */
  seconds: number;
  /** What the attack function returned. */
  attack: unknown;
}

/** A served run the attack may use. */
export interface ServedRun {
  run: SwarmgradProcess;
  /** The run's `--out` folder. */
  out: string;
  ws: string;
  port: number;
  pid: number;
  /** Resolves when the run's process exits. */
  over: Promise<unknown>;
  isOver(): boolean;
}

/** Peak resident set size (VmHWM) of `pid`, in bytes (0 once it has exited). */
export function peakRss(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Starts `swarmgrad worker` with the lab token (trusted) on the cpu backend. */
/** The lab worker's name: private (only admins may see it). */
export const LAB_WORKER_NAME = 'lab-host-7f3a';

export function labWorker(ws: string, name = LAB_WORKER_NAME, extra: string[] = []): ChildProcess {
  return spawn(process.execPath, [SWARMGRAD, 'worker', '--coordinator', ws, '--backend', 'cpu', '--name', name, ...extra], {
    stdio: 'ignore',
    env: { ...process.env, SWARMGRAD_TOKEN: LAB_TOKEN },
  });
}

/**
 * Serves `BASE_RUN` (plus `extra` flags) with one lab worker (given `workerExtra` flags, e.g.
 * a slowdown so that an attack of many round trips fits in the run), runs `attack` alongside
 * until the run ends, and reports the outcome. `attack` should stop when `served.isOver()`.
 */
export async function attackedRun(attack: (served: ServedRun) => Promise<unknown>, extra: string[] = [], workerExtra: string[] = []): Promise<AttackOutcome> {
  const out = tempDir('harden');
  const run = launchSwarmgrad(['serve', ...BASE_RUN, '--host', '127.0.0.1', ...extra], { out, json: true, env: { SWARMGRAD_TOKEN: LAB_TOKEN, SWARMGRAD_ADMIN_TOKEN: ADMIN_TOKEN } });
  const info = await run.server();
  const started = Date.now();
  let over = false;
  const exited = run.exited.then(() => (over = true));
  const served: ServedRun = { run, out, ws: info.ws, port: info.port, pid: info.pid, over: exited, isOver: () => over };
  const worker = labWorker(info.ws, LAB_WORKER_NAME, workerExtra);
  let peak = 0;
  const healthz = { probes: 0, failures: 0, maxMs: 0 };
  const probe = spawn(process.execPath, [PROBE, `http://127.0.0.1:${info.port}/healthz`], { stdio: ['ignore', 'pipe', 'ignore'] });
  let pending = '';
  const probes: Probe[] = [];
  probe.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (over) return;
      probes.push(JSON.parse(line) as Probe);
    }
  });
  const watch = (async () => {
    while (!over) {
      peak = Math.max(peak, peakRss(info.pid));
      await delay(100); // samples the peak RSS every 100 ms
    }
  })();
  try {
    const attackResult = await attack(served);
    const result = await run.result;
    await watch;
    // The server stops listening just before its process exits: refused probes after the last
    // answered one are the shutdown, not a failure.
    while (probes.length && !probes.at(-1)!.ok && /ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET/.test(String(probes.at(-1)!.status))) probes.pop();
    healthz.probes = probes.length;
    healthz.failures = probes.filter((p) => !p.ok).length;
    healthz.maxMs = Math.max(0, ...probes.map((p) => p.ms));
    if (healthz.failures) console.error('failed /healthz probes', probes.filter((p) => !p.ok));
    return { result, peakRss: peak, healthz, seconds: (Date.now() - started) / 1000, attack: attackResult };
  } finally {
    worker.kill();
    probe.kill();
    run.child.kill('SIGKILL');
  }
}

/** The n-th attacker address: 127.0.0.2, 127.0.0.3, … (all loopback on Linux). */
export function attackerAddress(n: number): string {
  return `127.0.0.${2 + (n % 250)}`;
}

/** Opens a WebSocket from `localAddress`; resolves with it once open, or with the refusal (HTTP status / error). */
export function connect(url: string, localAddress: string, options: WebSocket.ClientOptions = {}): Promise<{ ws?: WebSocket; refused?: number | string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress, ...options });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ refused: res.statusCode ?? 'unknown' });
      ws.terminate();
    });
    ws.once('error', (error) => resolve({ refused: (error as NodeJS.ErrnoException).code ?? error.message }));
  });
}

/** Waits for `ws` to close; resolves with its close code (or null after `ms`). */
export function closed(ws: WebSocket, ms = 30_000): Promise<number | null> {
  if (ws.readyState === ws.CLOSED) return Promise.resolve(-1);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    ws.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** A worker hello with long labels and a claimed speed. */
export function workerHello(options: { name?: string; samplesPerSecond?: number; workerId?: string; resumeToken?: string; token?: string; label?: string } = {}): Uint8Array {
  const label = options.label;
  return encodeMessage({
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    role: 'worker',
    ...(options.workerId ? { workerId: options.workerId } : {}),
    ...(options.resumeToken ? { resumeToken: options.resumeToken } : {}),
    ...(options.token ? { token: options.token } : {}),
    ...(options.name ?? label ? { name: options.name ?? label } : {}),
    capabilities: {
      backend: 'cpu',
      environment: 'node',
      codecs: ['f32'],
      ...(label ? { userAgent: label, adapter: label } : {}),
      ...(options.samplesPerSecond ? { samplesPerSecond: options.samplesPerSecond } : {}),
    },
  } as Message);
}

/** A dashboard hello. */
export function dashboardHello(name?: string): Uint8Array {
  return encodeMessage({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'dashboard', ...(name ? { name } : {}) } as Message);
}

/** A subscribe, with an admin token when given. */
export function subscribe(adminToken?: string): Uint8Array {
  return encodeMessage({ type: 'subscribe', ...(adminToken ? { adminToken } : {}) } as Message);
}

/** Runs `task(i)` for i = 0..count-1, `concurrency` at a time, stopping early when `stop()` says so. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>, stop: () => boolean = () => false): Promise<number> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count && !stop()) {
        const i = next++;
        await task(i);
        done++;
      }
    }),
  );
  return done;
}

/** The parameters hash of an undisturbed served run (computed once per test file). */
let clean: Promise<AttackOutcome> | undefined;
export function cleanRun(): Promise<AttackOutcome> {
  clean ??= attackedRun(async () => undefined);
  return clean;
}
