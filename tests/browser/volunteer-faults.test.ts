/**
 * Volunteer tabs come and go: closing a tab in the middle of a task loses nothing. The
 * coordinator re-issues the tab's blocks, every micro-shard of every step is counted exactly
 * once in its accounting, and — all workers computing on the cpu backend, whose kernels sum
 * in a fixed order — the parameters come out bitwise identical to a run with one Node worker
 * and no browser at all.
 *
 * Build first (`npx turbo run build`): the server hosts `apps/volunteer/dist`.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/launch-chromium.js';
import { REPO_ROOT, startSwarmgrad, type SwarmgradRun } from './helpers/swarmgrad-run.js';
import { RunRecorder, watchRun, type RunWatch } from './helpers/run-watch.js';
import { artifactsDir, openVolunteerTab, readTab, waitForTab } from './helpers/volunteer-page.js';

const BUILT_PAGE = join(REPO_ROOT, 'apps/volunteer/dist/index.html');
const STEPS = 12;
const BATCH = 32;
const MICRO_BATCH = 8;
const SHARDS = BATCH / MICRO_BATCH;

/** The trajectory (same in both runs): LeNet-5 on MNIST, seed 7, 12 steps of 32 in 4 micro-shards. */
const RUN = ['--port', '0', '--backend', 'cpu', '--steps', String(STEPS), '--batch', String(BATCH), '--micro-batch', String(MICRO_BATCH), '--seed', '7', '--eval-every', '0', '--eval-samples', '200', '--json'];

interface RunSummary {
  status: string;
  steps: number;
  paramsSha256: string;
}

describe('volunteer tabs that leave', () => {
  let browser: Browser;
  const runs: SwarmgradRun[] = [];
  const watches: RunWatch[] = [];

  beforeAll(async () => {
    if (!existsSync(BUILT_PAGE)) throw new Error(`${BUILT_PAGE} is missing: build first (npx turbo run build)`);
    browser = await launchChromium();
  });

  afterAll(async () => {
    for (const watch of watches) watch.close();
    await Promise.all(runs.map((run) => run.stop()));
    await browser?.close();
  });

  it('two tabs, one closed mid-task: the run completes and every micro-shard of every step is counted exactly once', async () => {
    // The reference: one Node worker alone.
    const referenceOut = await mkdtemp(join(tmpdir(), 'swarmgrad-volunteer-ref-'));
    const reference = await startSwarmgrad('train', [...RUN, '--workers', '1'], { out: referenceOut });
    runs.push(reference);
    expect((await reference.exited).code, reference.output()).toBe(0);
    const expected = JSON.parse(await readFile(join(referenceOut, 'run.json'), 'utf8')) as RunSummary;
    expect(expected).toMatchObject({ status: 'finished', steps: STEPS });

    // The same run with a slow Node worker and two volunteer tabs on cpu; one tab is a
    // straggler (2 s per task) so that it is surely holding a task when it is closed.
    const out = await mkdtemp(join(tmpdir(), 'swarmgrad-volunteer-faults-'));
    const run = await startSwarmgrad('train', [...RUN, '--workers', '1', '--worker-slowdown-ms', '1500'], { out });
    runs.push(run);
    const watch = await watchRun(run.ws);
    watches.push(watch);
    const recorder = new RunRecorder(run.url, watch);
    const staying = await openVolunteerTab(browser, run.url, { backend: 'cpu', name: 'staying tab' });
    const leaving = await openVolunteerTab(browser, run.url, { backend: 'cpu', name: 'leaving tab', slowdownMs: '2000' });
    await Promise.all([staying.page.click('#start'), leaving.page.click('#start')]);

    // Close the leaving tab while it computes.
    const busy = await waitForTab(leaving.page, ['computing']);
    const leavingId = busy.workerId;
    expect(leavingId).toMatch(/^w\d+$/);
    const closedAtStep = watch.ofKind('step').length;
    const leavingProblems = [...leaving.problems];
    await leaving.page.close();
    const left = await watch.waitFor((event) => event['kind'] === 'worker' && event['action'] === 'left' && event['workerId'] === leavingId, 30_000, `worker ${leavingId} left`);
    expect(left['reason']).toBe('closed');
    const stayingId = (await waitForTab(staying.page, ['computing', 'connected'])).workerId;

    const exit = await run.exited;
    const stayingProblems = [...staying.problems];
    recorder.stop();
    expect(exit.code, run.output()).toBe(0);
    const summary = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as RunSummary;
    expect(summary).toMatchObject({ status: 'finished', steps: STEPS });
    expect(closedAtStep, 'the tab should be closed before the run ends').toBeLessThan(STEPS);

    // The blocks the tab held were handed to others at once (not at their deadline).
    const reissued = watch.ofKind('reissue').filter((event) => event['fromWorker'] === leavingId);
    expect(reissued.length).toBeGreaterThan(0);
    expect(reissued.every((event) => event['reason'] === 'disconnect')).toBe(true);

    // The coordinator's accounting: every step, every micro-shard exactly once, in aligned blocks.
    expect([...recorder.accounting.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: STEPS }, (_, step) => step));
    for (const entry of recorder.accounting.values()) {
      expect(entry.shardCount).toBe(SHARDS);
      const counted = new Array<number>(SHARDS).fill(0);
      for (const block of entry.blocks) {
        expect(block.count & (block.count - 1), `step ${entry.step} block ${block.start}+${block.count}`).toBe(0);
        expect(block.start % block.count).toBe(0);
        for (let shard = block.start; shard < block.start + block.count; shard++) counted[shard] = (counted[shard] ?? 0) + 1;
      }
      expect(counted, `step ${entry.step}`).toEqual(new Array<number>(SHARDS).fill(1));
      expect(entry.shards.map((shard) => shard.shard)).toEqual(Array.from({ length: SHARDS }, (_, shard) => shard));
      expect(new Set(entry.blocks.map((block) => block.backend))).toEqual(new Set(['cpu']));
    }
    // The accepted-shard counters of the workers table agree: STEPS × SHARDS in all.
    const accepted = recorder.workers.reduce((sum, worker) => sum + worker.shardsDone, 0);
    expect(accepted).toBe(STEPS * SHARDS);
    const byWorker = new Map<string, number>();
    for (const entry of recorder.accounting.values()) for (const block of entry.blocks) byWorker.set(block.workerId, (byWorker.get(block.workerId) ?? 0) + block.count);
    for (const worker of recorder.workers) expect(byWorker.get(worker.id) ?? 0, worker.id).toBe(worker.shardsDone);
    expect(byWorker.get(stayingId) ?? 0).toBeGreaterThan(0);
    const browsers = recorder.workers.filter((worker) => worker.environment === 'browser');
    expect(browsers.map((worker) => worker.id).sort()).toEqual([leavingId, stayingId].sort());
    expect(browsers.every((worker) => !worker.trusted && worker.rejected === 0)).toBe(true);

    // Nothing lost, nothing counted twice: the same parameters, bit for bit.
    expect(summary.paramsSha256).toBe(expected.paramsSha256);

    // The staying tab says the run finished; its share is what the coordinator accepted from it.
    const final = await waitForTab(staying.page, ['finished'], 30_000);
    const mine = Number(final.share.match(/([\d,]+) of/)?.[1]?.replace(/,/g, '') ?? NaN);
    expect(mine).toBe(byWorker.get(stayingId));
    await staying.page.screenshot({ path: join(artifactsDir(), 'volunteer-two-tabs-finished.png'), fullPage: true });
    expect((await readTab(staying.page)).workerId).toBe(stayingId);

    expect(leavingProblems).toEqual([]);
    expect(stayingProblems).toEqual([]);
    expect(staying.problems).toEqual([]);
  });
});
