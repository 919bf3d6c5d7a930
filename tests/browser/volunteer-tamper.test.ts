/**
 * A tampering browser tab: its results are altered on their way out (one bit of the
 * gradient, in the middle of every large frame — a small targeted perturbation, still finite
 * and well formed), by a relay the page is pointed at. The coordinator (default `--volunteers verify`) holds the tab's first
 * result, compares it with the trusted worker's recomputation, bans the tab and closes it;
 * the tab comes back and is refused; its page says why; the run's parameters are bitwise those
 * of the run without the tab.
 *
 * Build first (`npx turbo run build`): the server hosts `apps/volunteer/dist`.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import WebSocket, { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/launch-chromium.js';
import { REPO_ROOT, startSwarmgrad, type SwarmgradRun } from '../support/launch.js';
import { openVolunteerTab, readTab, waitForTab } from './helpers/volunteer-page.js';

const BUILT_PAGE = join(REPO_ROOT, 'apps/volunteer/dist/index.html');
const RUN = ['--port', '0', '--backend', 'cpu', '--steps', '40', '--batch', '32', '--micro-batch', '8', '--seed', '5', '--eval-every', '0', '--eval-samples', '64', '--json', '--workers', '1'];

/**
 * The tab's tampering: a relay between the tab and the coordinator (the page's `coordinator`
 * URL parameter points at it) that flips bit 0 of the middle byte of every frame over 50 kB
 * the tab sends — its train results, whose f32 gradient is almost all of the frame. Flipping
 * a low bit of any byte of a float32 keeps it finite: a small, well-formed perturbation, what
 * a Web Worker that alters its gradients would send.
 */
async function tamperingRelay(target: string): Promise<{ url: string; tampered: () => number; close: () => void }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  let tampered = 0;
  server.on('connection', (tab) => {
    const upstream = new WebSocket(target, { perMessageDeflate: false });
    const queued: Buffer[] = [];
    upstream.on('open', () => queued.splice(0).forEach((frame) => upstream.send(frame, { binary: true })));
    tab.on('message', (data: Buffer, isBinary) => {
      let frame = data;
      if (isBinary && frame.byteLength > 50_000) {
        frame = Buffer.from(frame);
        frame[frame.length >> 1]! ^= 1;
        tampered++;
      }
      if (upstream.readyState === WebSocket.OPEN) upstream.send(frame, { binary: isBinary });
      else queued.push(frame);
    });
    upstream.on('message', (data: Buffer, isBinary) => tab.readyState === WebSocket.OPEN && tab.send(data, { binary: isBinary }));
    upstream.on('close', (code, reason) => tab.readyState === WebSocket.OPEN && tab.close(code === 1005 || code === 1006 ? 1000 : code, reason));
    tab.on('close', () => upstream.close());
    upstream.on('error', () => tab.terminate());
    tab.on('error', () => upstream.terminate());
  });
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}/ws`, tampered: () => tampered, close: () => server.close() };
}

describe('a tampering volunteer tab', () => {
  let browser: Browser;
  const runs: SwarmgradRun[] = [];
  let reference: { paramsSha256: string };

  beforeAll(async () => {
    if (!existsSync(BUILT_PAGE)) throw new Error(`${BUILT_PAGE} is missing: build first (npx turbo run build)`);
    browser = await launchChromium();
    const out = await mkdtemp(join(tmpdir(), 'swarmgrad-tamper-ref-'));
    const run = await startSwarmgrad('train', RUN, { out });
    runs.push(run);
    expect((await run.exited).code, run.output()).toBe(0);
    reference = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as { paramsSha256: string };
  });

  afterAll(async () => {
    await Promise.all(runs.map((run) => run.stop()));
    await browser?.close();
    await Promise.all(runs.map((run) => rm(run.out, { recursive: true, force: true })));
  });

  it('is detected, banned and refused; the page says why; the parameters are the clean run’s', async () => {
    const out = await mkdtemp(join(tmpdir(), 'swarmgrad-tamper-'));
    // The trusted local worker is slowed so the run outlasts the tab's start-up.
    const run = await startSwarmgrad('train', [...RUN, '--worker-slowdown-ms', '500'], { out });
    runs.push(run);
    const relay = await tamperingRelay(run.ws);
    const tab = await openVolunteerTab(browser, run.url, { backend: 'cpu', name: 'tampering tab', coordinator: relay.url });
    await tab.page.click('#start');
    const refused = await waitForTab(tab.page, ['refused'], 120_000).catch(async (error: Error) => {
      const text = await tab.page.evaluate(() => document.body.innerText).catch(() => '');
      throw new Error(`${error.message}\npage:\n${text}\nproblems: ${JSON.stringify(tab.problems)}\nrun:\n${run.output().slice(-3000)}`);
    });
    expect(refused.title).toMatch(/Refused/);
    expect(refused.detail).toMatch(/does not match the trusted recomputation/);
    expect(refused.detail).toMatch(/VERIFICATION_FAILED|BANNED/);
    expect((await run.exited).code, run.output()).toBe(0);
    relay.close();
    expect(relay.tampered()).toBeGreaterThan(0);
    const summary = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as { paramsSha256: string };
    expect(summary.paramsSha256).toBe(reference.paramsSha256);
    const bans = JSON.parse(await readFile(join(out, 'bans.json'), 'utf8')) as { bans: Array<{ key: string; reason: string }> };
    const view = await readTab(tab.page);
    expect(bans.bans.map((b) => b.key)).toContain(`worker:${view.workerId || refused.workerId}`);
  });
});
