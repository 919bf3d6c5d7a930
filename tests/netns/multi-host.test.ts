// Issue #12 part 2: the coordinator and its workers on separate "hosts" (network namespaces on
// a private switch, see lab.ts), with the faults a lab network has: a partition, a slow
// volunteer link, a coordinator that dies. Every run must end with the parameters of one local
// worker (the determinism contract). Needs root: it fails, never skips, without it.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runSwarmgrad, tempDir } from '../support/launch.js';
import { assertNetnsWorks, createLab, getVia, LINK_PROXY, SWARMGRAD, until, type Host, type HostProcess, type Lab } from './lab.js';

/** One short run for every test (synthetic data: no download, a few seconds of compute). */
const STEPS = 30;
const BATCH = 64;
const RUN = ['--model', 'lenet5', '--data', 'synthetic:3', '--steps', String(STEPS), '--batch', String(BATCH), '--micro-batch', '16', '--seed', '7', '--eval-every', '0', '--eval-samples', '200', '--checkpoint-every', '5'];
const PORT = 7070;

interface Snapshot {
  step: number;
  status: string;
  workers: { id: string; name: string | null; connected: boolean; remoteAddress: string | null; shardsDone: number }[];
  history: { step: number; stepMs: number }[];
  totals: { shardsReissued: number; samplesTrained: number };
}
interface Accounting {
  steps: { step: number; shardCount: number; shards: { shard: number; workerId: string }[] }[];
}

let lab: Lab;
let coordinatorHost: Host;
let workerHosts: Host[];
let slowHost: Host;
let api: string;
let token: string;
let reference: string;
const running: HostProcess[] = [];
const report: string[] = [];

async function get<T>(path: string): Promise<T> {
  // Worker addresses are shown to admins only: the tests read them with the run's admin token.
  const { status, body } = await getVia(api, path, { authorization: `Bearer ${ADMIN_TOKEN}` });
  if (status !== 200) throw new Error(`GET ${path}: ${status} ${body}`);
  return JSON.parse(body) as T;
}
const snapshot = () => get<Snapshot>('/api/runs/current');
const ADMIN_TOKEN = 'netns-admin-token';
let adminTokenFile = '';

/** `swarmgrad serve` on the coordinator host (`--resume` continues the run in `out`). */
function serve(out: string, resume = false): HostProcess {
  const run = resume ? ['--resume'] : RUN;
  const p = coordinatorHost.node([SWARMGRAD, 'serve', ...run, '--host', '0.0.0.0', '--port', String(PORT), '--token-file', token, '--admin-token-file', adminTokenFile, '--keep-serving', '--json', '--out', out]);
  running.push(p);
  return p;
}

/** `swarmgrad worker` on `host`, dialing `url` (default: the coordinator's address). */
function worker(host: Host, extra: string[] = [], url = `ws://${coordinatorHost.address}:${PORT}/ws`): HostProcess {
  const p = host.node([SWARMGRAD, 'worker', '--coordinator', url, '--token-file', token, '--backend', 'cpu', '--name', host.name, '--exit-with-parent', ...extra], { ipc: true });
  running.push(p);
  return p;
}

const healthy = () => until(async () => ((await get<{ ok: boolean }>('/healthz')).ok ? true : undefined), 'the coordinator to listen', 60_000);
const finished = (timeoutMs = 120_000) => until(async () => ((await get<{ status: string }>('/healthz')).status === 'finished' ? true : undefined), 'the run to finish', timeoutMs);
const atStep = (step: number) => until(async () => ((await snapshot()).step >= step ? true : undefined), `step ${step}`);
const connected = (address: string) => until(async () => ((await snapshot()).workers.some((w) => w.connected && w.remoteAddress?.endsWith(address)) ? true : undefined), `a worker from ${address}`);

/** The run's run.json (written just after /healthz says finished). */
function paramsOf(out: string): Promise<{ status: string; steps: number; paramsSha256: string }> {
  const read = async () => (existsSync(join(out, 'run.json')) ? (JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { status: string; steps: number; paramsSha256: string }) : undefined);
  return until(read, 'run.json', 30_000);
}

/** Every step from `from` to the end accounted once, each micro-shard once; the workers per step. */
function checkAccounting(accounting: Accounting, from: number): Map<number, Set<string>> {
  expect(accounting.steps.map((s) => s.step)).toEqual(Array.from({ length: STEPS - from }, (_, i) => from + i));
  const byStep = new Map<number, Set<string>>();
  for (const s of accounting.steps) {
    expect(s.shards.map((shard) => shard.shard)).toEqual([0, 1, 2, 3]);
    byStep.set(s.step, new Set(s.shards.map((shard) => shard.workerId)));
  }
  return byStep;
}

/** Step-time summary of the steps after `from` (step 0 also waits for the workers to start). */
function stepTimes(snap: Snapshot, from = 0): string {
  const ms = snap.history.filter((h) => h.step > from).map((h) => h.stepMs).sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!.toFixed(0);
  return `median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms over ${ms.length} steps`;
}

/** The reference: the same run with one local worker (no namespaces), as the determinism tests do. */
async function referenceHash(): Promise<string> {
  return (await runSwarmgrad([...RUN, '--workers', '1', '--backend', 'cpu', '--port', '0'], tempDir('netns-ref'))).paramsSha256;
}

beforeAll(async () => {
  assertNetnsWorks();
  lab = createLab();
  coordinatorHost = lab.host('coord', 1);
  workerHosts = [lab.host('w1', 11), lab.host('w2', 12), lab.host('w3', 13)];
  slowHost = lab.host('slow', 21);
  const dir = mkdtempSync(join(tmpdir(), 'swarmgrad-netns-'));
  token = join(dir, 'lab-token');
  writeFileSync(token, 'netns-lab-token\n');
  adminTokenFile = join(dir, 'admin-token');
  writeFileSync(adminTokenFile, `${ADMIN_TOKEN}\n`);
  // The test reaches the coordinator's HTTP API through a unix socket forwarded into its namespace.
  api = join(dir, 'coordinator.sock');
  const forward = coordinatorHost.node([LINK_PROXY, '--listen', `unix:${api}`, '--target', `127.0.0.1:${PORT}`]);
  await until(async () => (forward.stdout().includes('listening') ? true : undefined), 'the API forwarder', 30_000);
  reference = await referenceHash();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop(3_000)));
});

afterAll(() => {
  lab?.dispose();
  if (report.length) console.log(`\nnetns multi-host report\n${report.map((line) => `  ${line}`).join('\n')}\n`);
});

describe('multi-host (network namespaces)', () => {
  it('hosts on the private switch reach each other, and only through it', async () => {
    const c = serve(mkdtempSync(join(tmpdir(), 'swarmgrad-netns-reach-')));
    await healthy();
    const connect = (host: Host, address: string) => host.node(['-e', `require('net').connect(${PORT}, '${address}').on('connect', () => process.exit(0)).on('error', (e) => { console.log(e.code); process.exit(1); })`]);
    const again = connect(workerHosts[0]!, coordinatorHost.address);
    expect((await again.exited).code, again.output()).toBe(0);
    // 127.0.0.1 of a worker host is its own loopback, not the coordinator's.
    const loopback = connect(workerHosts[0]!, '127.0.0.1');
    expect((await loopback.exited).code).toBe(1);
    expect(loopback.output()).toContain('ECONNREFUSED');
    await c.stop();
  });

  it('3 workers on 3 hosts end with the paramsSha256 of one local worker', async () => {
    const out = mkdtempSync(join(tmpdir(), 'swarmgrad-netns-3hosts-'));
    serve(out);
    await healthy();
    for (const host of workerHosts) worker(host, ['--slowdown-ms', '200']);
    await finished();
    const snap = await snapshot();
    const byStep = checkAccounting(await get<Accounting>('/api/runs/current/accounting'), 0);
    expect(await paramsOf(out)).toMatchObject({ status: 'finished', steps: STEPS, paramsSha256: reference });
    expect(snap.totals.samplesTrained).toBe(STEPS * BATCH);
    const addresses = new Set(snap.workers.map((w) => w.remoteAddress?.replace(/^::ffff:/, '')));
    expect(addresses).toEqual(new Set(workerHosts.map((h) => h.address)));
    expect(new Set([...byStep.values()].flatMap((ids) => [...ids])).size).toBe(3);
    report.push(`3 hosts (200 ms slowdown per task): ${stepTimes(snap)}`);
  });

  it('a partition of the coordinator mid-step, until it has dropped every worker: nothing lost, workers rejoin, same paramsSha256', async () => {
    const out = mkdtempSync(join(tmpdir(), 'swarmgrad-netns-partition-'));
    serve(out);
    await healthy();
    // Slow tasks keep the run going long after the partition, so that rejoining is observed.
    for (const host of workerHosts) worker(host, ['--slowdown-ms', '500']);
    for (const host of workerHosts) await connected(host.address);
    await atStep(5);
    lab.cut(coordinatorHost);
    const cutAt = (await snapshot()).step;
    const cutTime = Date.now();
    // The partition lasts until the coordinator has dropped every worker (its heartbeat
    // timeout, 15 s): the event the rest of the test is about, not a guess at its timing.
    await until(async () => ((await snapshot()).workers.every((w) => !w.connected) ? true : undefined), 'the coordinator to drop every worker', 120_000);
    const during = await snapshot();
    const cutSeconds = ((Date.now() - cutTime) / 1000).toFixed(1);
    lab.heal(coordinatorHost);
    const healed = Date.now();
    // The link was really down: no result crossed it (one already in the coordinator's buffers may land).
    expect(during.step - cutAt).toBeLessThanOrEqual(1);
    expect(during.status).not.toBe('finished');
    // The coordinator noticed (heartbeat timeout, 15 s): every worker was dropped, its blocks re-issued.
    expect(during.workers.filter((w) => w.connected)).toEqual([]);
    // Each worker host comes back (a new connection, the same worker id).
    const rejoined: string[] = [];
    for (const host of workerHosts) {
      await connected(host.address);
      rejoined.push(`${host.name} ${((Date.now() - healed) / 1000).toFixed(1)} s`);
    }
    const stillRunning = (await snapshot()).status !== 'finished';
    await finished();
    const snap = await snapshot();
    checkAccounting(await get<Accounting>('/api/runs/current/accounting'), 0);
    expect(await paramsOf(out)).toMatchObject({ status: 'finished', steps: STEPS, paramsSha256: reference });
    expect(snap.totals.samplesTrained).toBe(STEPS * BATCH);
    expect(stillRunning, 'all workers rejoined before the run ended').toBe(true);
    report.push(`partition: cut at step ${cutAt}, step ${during.step} after ${cutSeconds} s, workers ${during.workers.filter((w) => w.connected).length} connected then; rejoined after healing: ${rejoined.join(', ')}; ${snap.totals.shardsReissued} micro-shards re-issued`);
  });

  it('a worker behind 80 ms RTT and 10 Mbit/s: the run completes with the same paramsSha256 (step times reported)', async () => {
    const baselineOut = mkdtempSync(join(tmpdir(), 'swarmgrad-netns-fast-'));
    serve(baselineOut);
    await healthy();
    worker(workerHosts[0]!);
    worker(workerHosts[1]!);
    await finished();
    const baseline = await snapshot();
    expect((await paramsOf(baselineOut)).paramsSha256).toBe(reference);
    await Promise.all(running.splice(0).map((p) => p.stop(3_000)));

    const out = mkdtempSync(join(tmpdir(), 'swarmgrad-netns-slow-'));
    serve(out);
    await healthy();
    // The slow link sits on the volunteer's host: 40 ms each way, 10 Mbit/s each way.
    const link = slowHost.node([LINK_PROXY, '--listen', `127.0.0.1:${PORT + 1}`, '--target', `${coordinatorHost.address}:${PORT}`, '--delay-ms', '40', '--rate-mbit', '10']);
    running.push(link);
    await until(async () => (link.stdout().includes('listening') ? true : undefined), 'the link proxy');
    // It joins first, so it is certain to compute (the run starts with it alone); then the fast ones.
    worker(slowHost, [], `ws://127.0.0.1:${PORT + 1}/ws`);
    await connected(slowHost.address);
    worker(workerHosts[0]!);
    worker(workerHosts[1]!);
    await connected(workerHosts[0]!.address);
    await connected(workerHosts[1]!.address);
    const allJoined = (await snapshot()).step;
    await finished();
    const snap = await snapshot();
    checkAccounting(await get<Accounting>('/api/runs/current/accounting'), 0);
    expect(await paramsOf(out)).toMatchObject({ status: 'finished', steps: STEPS, paramsSha256: reference });
    const slow = snap.workers.find((w) => w.remoteAddress?.endsWith(slowHost.address))!;
    expect(slow.shardsDone).toBeGreaterThan(0);
    const fast = snap.workers.filter((w) => w !== slow).map((w) => w.shardsDone);
    report.push(`2 fast workers: ${stepTimes(baseline)}`);
    report.push(`2 fast + 1 behind 80 ms RTT, 10 Mbit/s, once all 3 were connected: ${stepTimes(snap, allJoined)}; micro-shards over the run: slow ${slow.shardsDone} (it started alone), fast ${fast.join(' / ')}; ${snap.totals.shardsReissued} re-issued`);
  });

  it('a coordinator killed and restarted with --resume on its host: workers on other hosts reconnect, same paramsSha256', async () => {
    const out = mkdtempSync(join(tmpdir(), 'swarmgrad-netns-restart-'));
    const first = serve(out);
    await healthy();
    for (const host of workerHosts) worker(host, ['--slowdown-ms', '100']);
    await atStep(7);
    first.child.kill('SIGKILL');
    await first.exited;
    const restarted = Date.now();
    const second = serve(out, true);
    await healthy();
    await finished();
    const resumedAt = Number(/resumed at step (\d+)/.exec(second.output())?.[1]);
    expect(resumedAt).toBeGreaterThanOrEqual(5);
    expect(resumedAt % 5).toBe(0);
    const byStep = checkAccounting(await get<Accounting>('/api/runs/current/accounting'), resumedAt);
    expect(await paramsOf(out)).toMatchObject({ status: 'finished', steps: STEPS, paramsSha256: reference });
    const snap = await snapshot();
    const addresses = new Set(snap.workers.map((w) => w.remoteAddress?.replace(/^::ffff:/, '')));
    expect(addresses).toEqual(new Set(workerHosts.map((h) => h.address)));
    expect(new Set([...byStep.values()].flatMap((ids) => [...ids])).size).toBe(3);
    report.push(`coordinator restart: resumed at step ${resumedAt}, finished ${((Date.now() - restarted) / 1000).toFixed(1)} s after the restart`);
  });
});
