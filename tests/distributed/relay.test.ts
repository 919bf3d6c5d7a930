import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint } from '@swarmgrad/coordinator/node';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { helloFrame, helloReply, rawExchange, rawFrame, tamperingWorker } from './bad-input.js';
import { startAdversary } from '../adversary/adversary.js';
import { BASE_RUN, launchSwarmgrad, runSwarmgrad, SWARMGRAD, snapshot, tempDir } from '../support/launch.js';
import { delay, waitFor } from '../support/wait.js';

// Issue #12, part 3: a relay is one trusted worker upstream and a coordinator downstream; it
// cuts its blocks into aligned sub-blocks and combines their sums in the fixed tree order, so
// the parameters are bitwise those of a run without relays, whatever dies inside or outside.
let baseline: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  baseline = (await runSwarmgrad([...BASE_RUN, '--workers', '1', '--backend', 'cpu'])).paramsSha256;
});

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface RelaySummary {
  reason: string;
  upstreamTasks: number;
  jobsIssued: number;
  jobsReissued: number;
  blocksReturned: number;
  paramsForwarded: number;
  paramsBytes: { sent: number; full: number; deltaFrames: number };
  volunteersPassedThrough: number;
  workers: Array<{ id: string; name: string | null; tasksDone: number; connected: boolean }>;
}

/** Starts `swarmgrad relay --json`; resolves its worker URL, and its summary when it exits. */
function startRelay(coordinator: string, token: string): { child: ChildProcess; url: Promise<string>; summary: Promise<RelaySummary>; stderr: () => string } {
  const child = spawn(process.execPath, [SWARMGRAD, 'relay', '--coordinator', coordinator, '--host', '127.0.0.1', '--port', '0', '--json', '--name', 'test-relay'], {
    env: { ...process.env, SWARMGRAD_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: Array<(line: string) => void> = [];
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const listener of lines) listener(stdout);
  });
  const url = new Promise<string>((resolve, reject) => {
    lines.push((all) => {
      const m = /\{"listening":"([^"]+)"\}/.exec(all);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`relay exited (${code}) before listening\n${stderr}`)));
  });
  url.catch(() => undefined);
  const summary = new Promise<RelaySummary>((resolve, reject) =>
    child.on('exit', (code, signal) => {
      if (code !== 0) return reject(new Error(`relay exited with ${signal ?? code}\n${stderr.slice(-3000)}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as RelaySummary);
    }),
  );
  summary.catch(() => undefined);
  return { child, url, summary, stderr: () => stderr };
}

function startWorker(url: string, token: string, name: string, ...extra: string[]): ChildProcess {
  const child = spawn(process.execPath, [SWARMGRAD, 'worker', '--coordinator', url, '--backend', 'cpu', '--name', name, ...extra], { stdio: 'ignore', env: { ...process.env, SWARMGRAD_TOKEN: token } });
  children.push(child);
  return child;
}

/** A `serve` run with a known lab token (so the relay can be trusted). */
function serve(prefix: string, token: string) {
  return launchSwarmgrad(['serve', ...BASE_RUN, '--host', '127.0.0.1'], { out: tempDir(prefix), json: true, env: { SWARMGRAD_TOKEN: token } });
}

/** A `serve` run and a relay joined to it; `url` is where the relay's workers connect. */
async function servedWithRelay(prefix: string, token: string) {
  const run = serve(prefix, token);
  const { ws, port } = await run.server();
  const relay = startRelay(ws, token);
  return { run, ws, port, relay, url: await relay.url };
}

/** Steps applied, and micro-shards the coordinator re-issued in steps `from` and later. */
async function reissuedAtCoordinator(out: string, from = 0): Promise<{ reissued: number; steps: number[] }> {
  const ckpt = await readCheckpoint(join(out, 'final.ckpt'));
  const later = ckpt.history.steps.filter((s) => s.step >= from);
  return { reissued: later.reduce((a, s) => a + s.shardsReissued, 0), steps: ckpt.history.steps.map((s) => s.step) };
}

const twenty = Array.from({ length: 20 }, (_, i) => i);

describe('relay', () => {
  it('relay + 2 workers end with the paramsSha256 of 1 direct worker; both workers computed sub-blocks', async () => {
    const token = 'relay-lab-token';
    const { run, relay, url } = await servedWithRelay('relay-equal', token);
    startWorker(url, token, 'behind-1');
    startWorker(url, token, 'behind-2');
    const result = await run.result;
    expect(result.paramsSha256).toBe(baseline);
    const summary = await relay.summary;
    expect(summary.reason).toMatch(/finished|run/);
    // Each step's 4 shards went out as 2 sub-blocks of 2, one per worker.
    expect(summary.workers).toHaveLength(2);
    for (const w of summary.workers) expect(w.tasksDone).toBeGreaterThan(0);
    expect(summary.blocksReturned).toBeGreaterThanOrEqual(20);
    expect(summary.paramsForwarded).toBeGreaterThanOrEqual(20);
    // After their first full params the workers got xor-deflate deltas, applied to the exact
    // bits (the hash above), in fewer bytes.
    expect(summary.paramsBytes.deltaFrames).toBeGreaterThanOrEqual(30);
    expect(summary.paramsBytes.sent).toBeLessThan(summary.paramsBytes.full);
    // The coordinator saw one worker: the relay.
    const { config } = JSON.parse(readFileSync(join(result.out, 'run.json'), 'utf8')) as { config: { runId: string } };
    expect(config.runId).toBe(result.runId);
    expect((await reissuedAtCoordinator(result.out)).steps).toEqual(twenty);
  });

  it('a worker killed behind the relay: the relay re-issues its sub-blocks, the coordinator re-issues nothing, same hash', async () => {
    const token = 'relay-lab-token-2';
    const { run, port, relay, url } = await servedWithRelay('relay-worker-dies', token);
    startWorker(url, token, 'steady', '--slowdown-ms', '100');
    // The victim takes 1.5 s a task, so the kill lands while it holds a sub-block.
    const victim = startWorker(url, token, 'victim', '--slowdown-ms', '1500');
    const { step: killedIn } = await waitFor(() => snapshot(port), (s) => s.step >= 3, { timeoutMs: 120_000, what: 'step 3' });
    await delay(500); // into step 3's tasks, so the victim holds a sub-block when it is killed
    victim.kill('SIGKILL');
    const result = await run.result;
    expect(result.paramsSha256).toBe(baseline);
    const summary = await relay.summary;
    expect(summary.jobsReissued).toBeGreaterThan(0);
    const coordinator = await reissuedAtCoordinator(result.out, killedIn);
    expect(coordinator.steps).toEqual(twenty);
    // The fault stayed inside the relay's subtree: from the kill on, the coordinator re-issued
    // nothing. (Before it, step 0 may have been: the relay joins before its workers have
    // started, and holds its first blocks until one has.)
    expect(coordinator.reissued).toBe(0);
  });

  it('a straggler behind the relay: its sub-blocks are re-issued inside at half the deadline, same hash', async () => {
    const token = 'relay-lab-token-5';
    const { run, relay, url } = await servedWithRelay('relay-straggler', token);
    startWorker(url, token, 'steady');
    startWorker(url, token, 'straggler', '--slowdown-ms', '30000');
    const result = await run.result;
    expect(result.paramsSha256).toBe(baseline);
    const summary = await relay.summary;
    expect(summary.jobsReissued).toBeGreaterThan(0);
    const ckpt = await readCheckpoint(join(result.out, 'final.ckpt'));
    // No step waited for the straggler's 30 s.
    expect(Math.max(...ckpt.history.steps.map((s) => s.stepMs))).toBeLessThan(30_000);
    expect((await reissuedAtCoordinator(result.out, 2)).reissued).toBe(0);
  });

  it('kill -9 of the relay mid-run: the coordinator re-issues its blocks to a direct worker, same hash', async () => {
    const token = 'relay-lab-token-3';
    const { run, ws, port, relay, url } = await servedWithRelay('relay-dies', token);
    startWorker(url, token, 'behind-1', '--slowdown-ms', '300');
    startWorker(url, token, 'behind-2', '--slowdown-ms', '300');
    startWorker(ws, token, 'direct', '--slowdown-ms', '300');
    await waitFor(() => snapshot(port), (s) => s.step >= 3, { timeoutMs: 120_000, what: 'step 3' });
    relay.child.kill('SIGKILL');
    const result = await run.result;
    expect(result.paramsSha256).toBe(baseline);
    const coordinator = await reissuedAtCoordinator(result.out);
    expect(coordinator.steps).toEqual(twenty);
    expect(coordinator.reissued).toBeGreaterThan(0);
  });

  it('admits only workers with its token; malformed frames, dashboards and corrupted results are refused, the run is unaffected', async () => {
    const token = 'relay-lab-token-4';
    const { run, relay, url } = await servedWithRelay('relay-bad-input', token);
    startWorker(url, token, 'honest', '--slowdown-ms', '300');
    // A worker with a wrong token is refused, so no untrusted gradient can enter the relay's
    // (trusted) sums; one without a token is a volunteer, passed through to the coordinator,
    // which admits it untrusted (and verifies it: see the next test).
    expect(await helloReply(url, 'guess')).toMatchObject({ type: 'error', code: 'AUTH_FAILED', closeCode: 1008 });
    expect(await helloReply(url, undefined)).toMatchObject({ type: 'welcome', trusted: false });
    expect(await helloReply(url, token)).toMatchObject({ type: 'welcome', trusted: true });
    expect((await rawExchange(url, [Uint8Array.of(0xc1, 0xff, 0x00)])).codes).toContain('MALFORMED');
    expect((await rawExchange(url, [rawFrame({ type: 'frobnicate' })])).codes).toContain('UNKNOWN_TYPE');
    expect((await rawExchange(url, [new Uint8Array(200 * 1024)])).codes).toContain('FRAME_TOO_LARGE');
    const dashboard = await rawExchange(url, [rawFrame({ type: 'hello', protocolVersion: 1, role: 'dashboard' })]);
    expect(dashboard.codes).toContain('NOT_A_WORKER');
    // A token holder that forges a result for a task it was never given.
    const forged = await rawExchange(url, [
      helloFrame(token),
      rawFrame({ type: 'result', kind: 'eval', taskId: 'nope', runId: 'x', step: 0, timing: { computeMs: 1 }, backend: 'cpu', blocks: [{ start: 0, count: 1, lossSum: 0, sampleCount: 16, correct: 0 }] }),
    ]);
    expect(forged.codes).toContain('STALE_RESULT');
    // Token holders that compute real gradients and corrupt them on the way out: refused
    // with their codes, their sub-blocks re-issued to the honest worker.
    const [short, nan, duplicate] = await Promise.all([
      tamperingWorker(url, token, 'short-gradient', 'LENGTH_MISMATCH'),
      tamperingWorker(url, token, 'nan', 'NON_FINITE'),
      tamperingWorker(url, token, 'duplicate', 'STALE_RESULT'),
    ]);
    expect(short).toContain('LENGTH_MISMATCH');
    expect(nan).toContain('NON_FINITE');
    expect(duplicate).toContain('STALE_RESULT');
    const result = await run.result;
    expect(result.paramsSha256).toBe(baseline);
  });

  it('volunteers reaching the relay go to the coordinator on connections of their own and are verified there: a liar is caught and banned, an honest one is not; same hash', async () => {
    const token = 'relay-lab-token-6';
    const { run, relay, url } = await servedWithRelay('relay-volunteers', token);
    startWorker(url, token, 'lab-behind-relay', '--slowdown-ms', '300');
    const liar = startAdversary(url, 'negate', 'liar-via-relay');
    const honest = startAdversary(url, 'honest', 'honest-via-relay');
    try {
      const result = await run.result;
      expect(result.paramsSha256).toBe(baseline);
      expect(liar.report.resultsAltered).toBeGreaterThan(0);
      expect(liar.report.fatal?.code, liar.report.codes.join(',')).toBe('VERIFICATION_FAILED');
      expect(liar.report.codes, 'refused when it came back through the relay').toContain('BANNED');
      expect(honest.report.fatal).toBeNull();
      expect(honest.report.codes).not.toContain('VERIFICATION_FAILED');
      const summary = await relay.summary;
      expect(summary.volunteersPassedThrough).toBeGreaterThanOrEqual(2);
    } finally {
      await Promise.all([liar.stop(), honest.stop()]);
    }
  });
});
