/**
 * A tampering browser tab: its Web Worker's outgoing results are altered (one bit of the
 * gradient, in the middle of every large frame — a small targeted perturbation, still finite
 * and well formed). The coordinator (default `--volunteers verify`) holds the tab's first
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
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/launch-chromium.js';
import { REPO_ROOT, startSwarmgrad, type SwarmgradRun } from './helpers/swarmgrad-run.js';
import { openVolunteerTab, readTab, waitForTab } from './helpers/volunteer-page.js';

const BUILT_PAGE = join(REPO_ROOT, 'apps/volunteer/dist/index.html');
const RUN = ['--port', '0', '--backend', 'cpu', '--steps', '16', '--batch', '32', '--micro-batch', '8', '--seed', '5', '--eval-every', '0', '--eval-samples', '64', '--json', '--workers', '1'];

/**
 * Runs first inside the volunteer's Web Worker: every WebSocket frame over 50 kB (a train
 * result: the f32 gradient is almost all of it) leaves with bit 0 of its middle byte flipped.
 * Flipping a low bit of any byte of a float32 keeps it finite.
 */
const TAMPER = `{
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
    if (bytes && bytes.byteLength > 50000) {
      const copy = bytes.slice();
      copy[copy.length >> 1] ^= 1;
      self.__tampered = (self.__tampered ?? 0) + 1;
      return send.call(this, copy);
    }
    return send.call(this, data);
  };
}
`;

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
    const context = await browser.newContext();
    await context.route(/\/assets\/worker-[^/]*\.js$/, async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, body: TAMPER + (await response.text()) });
    });
    const tab = await openVolunteerTab(browser, run.url, { backend: 'cpu', name: 'tampering tab' }, undefined, context);
    await tab.page.click('#start');
    const refused = await waitForTab(tab.page, ['refused'], 120_000);
    expect(refused.title).toMatch(/Refused/);
    expect(refused.detail).toMatch(/does not match the trusted recomputation/);
    expect(refused.detail).toMatch(/VERIFICATION_FAILED|BANNED/);
    expect((await run.exited).code, run.output()).toBe(0);
    const summary = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as { paramsSha256: string };
    expect(summary.paramsSha256).toBe(reference.paramsSha256);
    const bans = JSON.parse(await readFile(join(out, 'bans.json'), 'utf8')) as { bans: Array<{ key: string; reason: string }> };
    const view = await readTab(tab.page);
    expect(bans.bans.map((b) => b.key)).toContain(`worker:${view.workerId || refused.workerId}`);
  });
});
