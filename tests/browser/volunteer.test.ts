/**
 * The volunteer page end to end: a real `swarmgrad train` (one Node worker on cpu), the built
 * page it serves, headless Chromium with a WebGPU adapter (Mesa llvmpipe through ANGLE/GLES).
 *
 * Build first (`npx turbo run build`): the server hosts `apps/volunteer/dist`.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/launch-chromium.js';
import { REPO_ROOT, startSwarmgrad, type SwarmgradRun } from '../support/launch.js';
import { RunRecorder, watchRun, type RunWatch } from './helpers/run-watch.js';
import { WEBGPU_CHROMIUM_ARGS, artifactsDir, openVolunteerTab, readTab, waitForTab } from './helpers/volunteer-page.js';

const BUILT_PAGE = join(REPO_ROOT, 'apps/volunteer/dist/index.html');

/**
 * A small LeNet-5 / MNIST run: B = 32 in 4 micro-shards of 8; the one Node worker is slowed down so the tab gets work.
 * No final audit: these tests count the tab's *accepted* blocks, and in a 12-step run the default
 * audit (every volunteer result of the last 8 steps checked, none accepted) would leave only the
 * tab's probation.
 */
function runArgs(steps: number, slowdownMs: number): string[] {
  return ['--port', '0', '--workers', '1', '--backend', 'cpu', '--steps', String(steps), '--batch', '32', '--micro-batch', '8', '--eval-every', '0', '--eval-samples', '500', '--json', '--worker-slowdown-ms', String(slowdownMs), '--audit-steps', '0'];
}

describe('volunteer page', () => {
  let browser: Browser;
  const runs: SwarmgradRun[] = [];
  const watches: RunWatch[] = [];

  beforeAll(async () => {
    if (!existsSync(BUILT_PAGE)) throw new Error(`${BUILT_PAGE} is missing: build first (npx turbo run build)`);
    browser = await launchChromium({ args: WEBGPU_CHROMIUM_ARGS });
  });

  afterAll(async () => {
    for (const watch of watches) watch.close();
    await Promise.all(runs.map((run) => run.stop()));
    await browser?.close();
    await Promise.all(runs.map((run) => rm(run.out, { recursive: true, force: true })));
  });

  async function startRun(args: string[]): Promise<{ run: SwarmgradRun; watch: RunWatch; recorder: RunRecorder; out: string }> {
    const out = await mkdtemp(join(tmpdir(), 'swarmgrad-volunteer-'));
    const run = await startSwarmgrad('train', args, { out });
    runs.push(run);
    const watch = await watchRun(run.ws, run.adminToken);
    watches.push(watch);
    return { run, watch, recorder: new RunRecorder(run.url, watch, 500, run.adminToken), out };
  }

  it('is built with its wasm binaries, a module Web Worker and no Node-only code', async () => {
    const dist = join(REPO_ROOT, 'apps/volunteer/dist');
    const wasm = (await readdir(join(dist, 'tfjs-wasm'))).sort();
    expect(wasm).toEqual(['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm', 'tfjs-backend-wasm.wasm']);
    const scripts = (await readdir(join(dist, 'assets'))).filter((name) => name.endsWith('.js'));
    expect(scripts.some((name) => /^worker-[\w-]+\.js$/.test(name))).toBe(true);
    for (const name of scripts) {
      const code = await readFile(join(dist, 'assets', name), 'utf8');
      // Dawn (the `webgpu` npm package) and Node built-ins must never reach the browser bundle.
      // (tfjs-backend-wasm's Emscripten glue keeps `require("fs")` behind its own Node check.)
      expect(code, name).not.toMatch(/dawn\.node|dawnNodePath|createRequire|(from|import)\s*["']node:/);
    }
    // The page's own bundle stays small: tfjs and the backends live in the worker's chunks.
    const page = scripts.find((name) => /^index-[\w-]+\.js$/.test(name))!;
    const pageCode = await readFile(join(dist, 'assets', page), 'utf8');
    expect(pageCode).not.toMatch(/WebGPUBackend|BackendWasm|MathBackendCPU/);
    expect(pageCode.length).toBeLessThan(150_000);
  });

  it('computes on WebGPU inside a Web Worker, and the coordinator accepts its blocks', async () => {
    // The Node worker takes 3 s a task, so the tab (WebGPU on a software adapter, slow) still
    // answers its blocks first on a loaded machine and gets shares of its own.
    const { run, watch, recorder, out } = await startRun(runArgs(12, 3000));
    const tab = await openVolunteerTab(browser, run.url, { backend: 'webgpu' });
    await tab.page.screenshot({ path: join(artifactsDir(), 'volunteer-laptop-idle.png') });
    await tab.page.click('#start');

    const computing = await waitForTab(tab.page, ['computing']);
    expect(computing.backend).toBe('webgpu');
    expect(computing.backendLine).toMatch(/^WebGPU — .+ via navigator\.gpu, compatibility/);
    expect(computing.reasons.join('\n')).toMatch(/WebAssembly: not tried: backend webgpu was requested/);
    await tab.page.screenshot({ path: join(artifactsDir(), 'volunteer-laptop-computing.png') });

    // The page thread never loads tfjs; the tab's one module Web Worker does, on webgpu.
    expect(await tab.page.evaluate(() => '_tfengine' in globalThis)).toBe(false);
    const computeWorker = tab.page.workers().find((worker) => /\/assets\/worker-[\w-]+\.js$/.test(worker.url()));
    expect(computeWorker, `workers: ${tab.page.workers().map((worker) => worker.url()).join(', ')}`).toBeDefined();
    const inWorker = await computeWorker!.evaluate(() => {
      const engine = (globalThis as unknown as { _tfengine?: { backendName?: string } })._tfengine;
      return {
        dedicatedWorker: typeof (globalThis as { DedicatedWorkerGlobalScope?: unknown }).DedicatedWorkerGlobalScope === 'function' && typeof document === 'undefined',
        backend: engine?.backendName,
        hasGpu: 'gpu' in navigator,
      };
    });
    expect(inWorker).toEqual({ dedicatedWorker: true, backend: 'webgpu', hasGpu: true });

    const exit = await run.exited;
    const problems = [...tab.problems];
    expect(exit.code, run.output()).toBe(0);
    recorder.stop();
    const summary = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as { status: string; steps: number; testAccuracy: number };
    expect(summary).toMatchObject({ status: 'finished', steps: 12 });

    // What the coordinator recorded about the tab: joined as an untrusted browser on webgpu
    // with its adapter, tasks done, nothing rejected.
    const joined = watch.ofKind('worker').find((event) => event['action'] === 'joined' && event['environment'] === 'browser');
    expect(joined).toMatchObject({ environment: 'browser', backend: 'webgpu', trusted: false });
    expect(String(joined!['adapter'])).toMatch(/llvmpipe.* via navigator\.gpu, compatibility$/);
    const tabId = String(joined!['workerId']);
    expect((await readTab(tab.page)).workerId).toBe(tabId);
    const row = recorder.workers.find((worker) => worker.id === tabId);
    expect(row).toMatchObject({ environment: 'browser', backend: 'webgpu', trusted: false, rejected: 0, lastError: null });
    expect(row!.tasksDone).toBeGreaterThan(0);
    expect(row!.shardsDone).toBeGreaterThan(0);
    expect(row!.userAgent).toMatch(/Chrom/);

    // Accepted blocks in the per-step accounting, computed by the tab on webgpu.
    const tabBlocks = [...recorder.accounting.values()].flatMap((entry) => entry.blocks).filter((block) => block.workerId === tabId);
    expect(tabBlocks.length).toBeGreaterThan(0);
    expect(new Set(tabBlocks.map((block) => block.backend))).toEqual(new Set(['webgpu']));
    expect(tabBlocks.reduce((sum, block) => sum + block.count, 0)).toBe(row!.shardsDone);
    expect(watch.ofKind('step').filter((event) => (event['backends'] as string[]).includes('webgpu')).length).toBeGreaterThan(0);

    // The page: finished, its counters and its share agree with the coordinator.
    const final = await waitForTab(tab.page, ['finished'], 30_000);
    expect(final.tasksDone).toBeGreaterThanOrEqual(row!.tasksDone);
    expect(final.share).toMatch(/^\d+(\.\d)?% [\d,]+ of [\d,]+ shards$/);
    const [mine, total] = final.share.match(/([\d,]+) of ([\d,]+)/)!.slice(1).map((n) => Number(n.replace(/,/g, '')));
    expect(mine).toBe(row!.shardsDone);
    expect(total! % 4).toBe(0);
    await tab.page.screenshot({ path: join(artifactsDir(), 'volunteer-laptop-finished.png'), fullPage: true });

    // No uncaught errors or console errors in the page or its workers during the run.
    expect(problems).toEqual([]);
    expect(tab.problems).toEqual([]);
    await tab.page.close();
  });

  it('stays usable on a 390×844 phone screen', async () => {
    const { run } = await startRun(runArgs(400, 300));
    // `auto`: the tab measures WebGPU, the compiled wasm step with and without fused
    // multiply-add, wasm and cpu, and keeps the fastest.
    const tab = await openVolunteerTab(browser, run.url, { slowdownMs: '400' }, { width: 390, height: 844 });
    const page = tab.page;
    await checkPhoneLayout(page, 'idle');
    await page.screenshot({ path: join(artifactsDir(), 'volunteer-phone-idle.png'), fullPage: true });

    await tapButton(page, '#start');
    const computing = await waitForTab(page, ['computing']);
    expect(['webgpu', 'wasm-fma', 'wasm-step', 'wasm', 'cpu']).toContain(computing.backend);
    expect(computing.backendLine).toMatch(/self-test [\d,.]+ samples\/s · chosen in [\d.]+ s$/);
    // Why the other four were not used: each slower here, unavailable, a software GPU, the
    // compiled step once its fused twin measured, or failing its benchmark.
    expect(computing.reasons).toHaveLength(4);
    for (const reason of computing.reasons) expect(reason).toMatch(/^(WebGPU|WebAssembly \(compiled step, fused multiply-add\)|WebAssembly \(compiled step\)|WebAssembly|CPU \(JavaScript\)): ((slower|not clearly faster) here: [\d,.]+ samples\/s against [\w-]+'s [\d,.]+.*|unavailable: .+|not tried: .+ is a software adapter, computing on this CPU|not tried: wasm-fma runs the same compiled step with fused multiply-add|failed its self-benchmark: .+)$/);
    await checkPhoneLayout(page, 'computing');
    await page.screenshot({ path: join(artifactsDir(), 'volunteer-phone-computing.png'), fullPage: true });

    await tapButton(page, '#pause');
    const paused = await waitForTab(page, ['paused']);
    expect(paused.title).toBe('Paused');
    expect(await page.isDisabled('#pause')).toBe(true);
    expect(await page.textContent('#start')).toBe('Resume');
    await checkPhoneLayout(page, 'paused');
    await page.screenshot({ path: join(artifactsDir(), 'volunteer-phone-paused.png'), fullPage: true });

    await tapButton(page, '#start');
    const resumed = await waitForTab(page, ['computing', 'connected']);
    const tasksBefore = resumed.tasksDone;
    await page.waitForFunction((before) => Number(document.getElementById('tasks')!.textContent!.replace(/,/g, '')) > before, tasksBefore, { timeout: 60_000 });

    // Open the activity list too: long lines must wrap, not widen the page.
    await page.click('details.log summary');
    await checkPhoneLayout(page, 'activity open');
    await page.screenshot({ path: join(artifactsDir(), 'volunteer-phone-activity.png'), fullPage: true });

    await run.stop(); // SIGTERM: the run stops (with a checkpoint); the tab says so
    await waitForTab(page, ['finished'], 30_000);
    expect(await page.textContent('#state')).toBe('The run has stopped');
    await checkPhoneLayout(page, 'stopped');
    expect(tab.problems).toEqual([]);
    await page.close();
  });
});

/** No horizontal scrolling; both buttons fully on screen, not covered, and large enough to tap. */
async function checkPhoneLayout(page: Page, when: string): Promise<void> {
  const layout = await page.evaluate(() => {
    window.scrollTo(0, 0);
    const box = (selector: string) => {
      const element = document.querySelector<HTMLElement>(selector)!;
      const rect = element.getBoundingClientRect();
      const hit = document.elementFromPoint(rect.left + rect.width / 2, rect.top + rect.height / 2);
      return { left: rect.left, right: rect.right, top: rect.top, bottom: rect.bottom, width: rect.width, height: rect.height, onTop: hit === element || element.contains(hit) };
    };
    return {
      viewport: { width: window.innerWidth, height: window.innerHeight },
      scrollWidth: document.documentElement.scrollWidth,
      bodyScrollWidth: document.body.scrollWidth,
      start: box('#start'),
      pause: box('#pause'),
    };
  });
  const where = `${when}: ${JSON.stringify(layout)}`;
  expect(layout.viewport.width, where).toBe(390);
  expect(layout.scrollWidth, where).toBeLessThanOrEqual(layout.viewport.width);
  expect(layout.bodyScrollWidth, where).toBeLessThanOrEqual(layout.viewport.width);
  for (const button of [layout.start, layout.pause]) {
    expect(button.left, where).toBeGreaterThanOrEqual(0);
    expect(button.right, where).toBeLessThanOrEqual(layout.viewport.width);
    expect(button.top, where).toBeGreaterThanOrEqual(0);
    expect(button.bottom, where).toBeLessThanOrEqual(layout.viewport.height); // above the fold
    expect(button.height, where).toBeGreaterThanOrEqual(44); // a comfortable tap target
    expect(button.onTop, where).toBe(true);
  }
}

/** Clicks like a finger would: at the button's centre, after checking it is enabled. */
async function tapButton(page: Page, selector: string): Promise<void> {
  expect(await page.isEnabled(selector), `${selector} should be enabled`).toBe(true);
  await page.click(selector);
}
