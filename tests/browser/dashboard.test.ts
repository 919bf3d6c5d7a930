/**
 * The dashboard end to end: a real `swarmgrad train` process (LeNet-5 on MNIST, one local
 * cpu worker slowed down so the page can be watched mid-run), the built dashboard served by
 * it, and headless Chromium. Screenshots of every view land in tests/artifacts/ (git-ignored).
 *
 * Needs the build: `npx turbo run build` (apps/server/dist, apps/dashboard/dist).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, decodeMessage, encodeMessage, type Message } from '@swarmgrad/protocol';
import { collectPageProblems, launchChromium, type PageProblem } from './helpers/launch-chromium.js';
import { REPO_ROOT, startSwarmgrad, type SwarmgradRun } from '../support/launch.js';
import { waitFor } from '../support/wait.js';
import { watchRun, type RunWatch } from './helpers/run-watch.js';
import type { StatusEvent } from '@swarmgrad/protocol';

const ARTIFACTS = join(REPO_ROOT, 'tests/artifacts');
const STEPS = 40;
const TRAIN_ARGS = ['--port', '0', '--workers', '1', '--backend', 'cpu', '--steps', String(STEPS), '--batch', '32', '--micro-batch', '8', '--eval-every', '5', '--eval-samples', '300', '--checkpoint-every', '20', '--worker-slowdown-ms', '250', '--json'];
const NEW_LR = 0.0005;

interface SnapshotJson {
  runId: string;
  status: string;
  step: number;
  lr: number;
  history: { step: number; lr: number; loss: number }[];
  evals: { step: number; accuracy: number }[];
}

let root: string;
let runA: SwarmgradRun;
let browser: Browser;
let page: Page;
/** What every page of the suite reported (console errors, uncaught exceptions, crashes). */
const problemLists: PageProblem[][] = [];
let pausedStep = -1;

beforeAll(async () => {
  for (const built of ['apps/server/dist/cli.js', 'apps/dashboard/dist/index.html']) {
    if (!existsSync(join(REPO_ROOT, built))) throw new Error(`${built} is missing: run npx turbo run build first`);
  }
  await mkdir(ARTIFACTS, { recursive: true });
  root = await mkdtemp(join(tmpdir(), 'swarmgrad-dashboard-'));
  runA = await startSwarmgrad('train', TRAIN_ARGS, { out: join(root, 'run-a') });
  expect(runA.adminToken).toMatch(/\S{16,}/);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  problemLists.push(collectPageProblems(page));
});

afterAll(async () => {
  await browser?.close();
  await runA?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

afterEach(() => {
  // No uncaught errors, failed requests or console errors in any page, ever.
  const problems = problemLists.flat();
  expect(problems, problems.map((p) => `${p.kind}: ${p.text} (${p.url})`).join('\n')).toEqual([]);
});

describe('dashboard on a live run', () => {
  it('shows the curves and the workers table updating while the run goes', async () => {
    await page.goto(`${runA.url}/dashboard/`);
    await waitText(page, '[data-testid=run-id]', (t) => t === runA.runId);
    await waitInPage(page, () => Number(document.querySelector('[data-testid=chart-loss]')?.getAttribute('data-points') ?? 0) >= 3);
    const before = await readLive(page);
    expect(before.status).toMatch(/running|evaluating/);
    // Steps advance: the step counter, the loss and throughput curves, the recent-steps table
    // and the worker's counters all change without reloading.
    await waitInPage(page, (step) => Number(/^(\d+)/.exec(document.querySelector('[data-testid=step]')?.textContent ?? '')?.[1]) >= step + 4, before.step);
    await waitInPage(page, (tasks) => Number(document.querySelector('[data-worker-id] [data-col=tasks]')?.textContent?.replace(/,/g, '')) > tasks, before.tasks);
    const after = await readLive(page);
    expect(after.step).toBeGreaterThanOrEqual(before.step + 4);
    expect(after.lossPoints).toBeGreaterThan(before.lossPoints);
    expect(after.speedPoints).toBeGreaterThan(before.speedPoints);
    expect(after.topRecentStep).toBeGreaterThan(before.topRecentStep);
    expect(after.tasks).toBeGreaterThan(before.tasks);

    // The workers table: the local worker, its kind, backend and trust. Without the admin
    // token the table is anonymised: the worker's id, not its name.
    const worker = await page.locator('[data-testid=workers] tbody tr[data-worker-id]').first().innerText();
    expect(worker).toContain('w1');
    expect(worker).not.toContain('local-1');
    expect(worker).toContain('Node');
    expect(worker).toContain('cpu');
    expect(worker).toContain('trusted');
    // Evaluations reach the accuracy chart; the model and settings are shown.
    await waitInPage(page, () => Number(document.querySelector('[data-testid=chart-accuracy]')?.getAttribute('data-points') ?? 0) >= 1);
    expect(await page.locator('[data-testid=model-summary]').innerText()).toContain('61,706');
    expect(await page.locator('.settings').first().innerText()).toContain('32 = 4 micro-shards × 8');
    // The charts are drawn (not blank).
    for (const chart of ['chart-loss', 'chart-accuracy', 'chart-throughput', 'chart-step-time']) {
      const pixels = await canvasStats(page, `[data-testid=${chart}] canvas`);
      expect(pixels[0]!.colours, chart).toBeGreaterThan(3);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-training.png'), fullPage: true });
  });

  it('is read-only without the admin token, and the server refuses admin actions without it', async () => {
    expect(await page.locator('[data-testid=pause]').isDisabled()).toBe(true);
    expect(await page.locator('[data-testid=stop]').isDisabled()).toBe(true);
    expect(await page.locator('[data-testid=lr-set]').isDisabled()).toBe(true);
    expect(await page.locator('[data-testid=control-note]').innerText()).toMatch(/Read-only/);

    // The protocol itself: admin messages without the right token are refused and change nothing.
    const refusals = await adminOverWebSocket(runA.ws, [
      { type: 'admin', adminToken: 'not-the-token', action: 'pause' },
      { type: 'admin', adminToken: 'not-the-token', action: 'setLearningRate', value: 0.5 },
    ]);
    expect(refusals).toEqual(['ADMIN_REFUSED', 'ADMIN_REFUSED']);
    const snapshot = await api<SnapshotJson>('/api/runs/current');
    expect(snapshot.status).toMatch(/running|evaluating/);
    expect(snapshot.history.every((h) => h.lr !== 0.5)).toBe(true);

    // A wrong token pasted into the dashboard is refused; the controls stay disabled.
    await page.click('[data-testid=admin-toggle]');
    await page.fill('[data-testid=token-input]', 'not-the-token');
    await page.click('[data-testid=token-submit]');
    await waitText(page, '[data-testid=admin-state]', (t) => /refused/.test(t));
    await waitText(page, '[data-testid=admin-toggle]', (t) => t === 'Read-only');
    expect(await page.locator('[data-testid=pause]').isDisabled()).toBe(true);
    const later = await api<SnapshotJson>('/api/runs/current');
    expect(later.status).not.toBe('paused');
  });

  it('with the token (from #token=…) pauses the run', async () => {
    await page.goto('about:blank');
    await page.goto(`${runA.url}/dashboard/#token=${encodeURIComponent(runA.adminToken!)}`);
    // The token leaves the address bar at once.
    expect(await page.evaluate(() => location.hash)).not.toContain('token');
    await waitText(page, '[data-testid=admin-toggle]', (t) => t === 'Admin');
    await waitInPage(page, () => !(document.querySelector('[data-testid=pause]') as HTMLButtonElement | null)?.disabled);
    // The coordinator's own event stream tells when the work in flight at the pause is done.
    const watch = await watchRun(runA.ws);
    try {
      await page.click('[data-testid=pause]');
      await waitText(page, '[data-testid=status]', (t) => t === 'paused', 30_000);
      // Paused at once; the step in flight still completes. Then nothing moves.
      pausedStep = await settledStep(watch);
    } finally {
      watch.close();
    }
    expect(pausedStep).toBeLessThan(STEPS);
    const paused = await api<SnapshotJson>('/api/runs/current');
    expect(paused.status).toBe('paused');
    expect(paused.step).toBe(pausedStep);
    // The page shows it once the last step event reached it (its own feed).
    await waitInPage(page, (step) => Number(/^(\d+)/.exec((document.querySelector('[data-testid=step]')?.textContent ?? '').replace(/,/g, ''))?.[1]) === step, pausedStep);
    expect(await readStep(page)).toBe(pausedStep);
  });

  it('draws the first layer\'s filters from the real parameters', async () => {
    await page.click('a.tab[data-view=filters]');
    await waitInPage(page, () => document.querySelectorAll('[data-testid=filters] canvas').length > 0 && document.querySelector('[data-testid=view-filters]')?.getAttribute('data-state') === 'idle');
    const filters = await api<{ step: number; shape: number[]; filters: number[][]; min: number; max: number }>('/api/runs/current/insights/filters');
    expect(filters.step).toBe(pausedStep);
    expect(filters.shape).toEqual([5, 5, 1, 6]);
    expect(await page.locator('[data-testid=view-filters] [data-testid=pinned-step]').innerText()).toContain(String(pausedStep));
    const tiles = await canvasPixels(page, '[data-testid=filters] canvas');
    expect(tiles).toHaveLength(6);
    const bound = Math.max(Math.abs(filters.min), Math.abs(filters.max));
    tiles.forEach((tile, f) => {
      expect([tile.width, tile.height]).toEqual([5, 5]);
      // Red where the weight is clearly positive, blue where clearly negative (the API's numbers).
      let checked = 0;
      filters.filters[f]!.forEach((w, p) => {
        if (Math.abs(w) < 0.25 * bound) return;
        const [r, , b] = tile.rgba.slice(p * 4, p * 4 + 3) as [number, number, number];
        expect(Math.sign(r - b), `filter ${f} pixel ${p} (w ${w})`).toBe(Math.sign(w));
        checked++;
      });
      expect(checked).toBeGreaterThan(0);
    });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-filters.png'), fullPage: true });
  });

  it('draws the activation maps of a chosen test image', async () => {
    await page.click('a.tab[data-view=activations]');
    await waitIdle(page, 'activations');
    await page.fill('[data-testid=image-input]', '3');
    await page.dispatchEvent('[data-testid=image-input]', 'change');
    await waitInPage(page, () => document.querySelector('.subject-facts .big')?.textContent === '#3' && document.querySelector('[data-testid=view-activations]')?.getAttribute('data-state') === 'idle');
    const data = await api<{ step: number; image: { label: number; predicted: number; data: number[] }; layers: { index: number; shape: number[] }[] }>('/api/runs/current/insights/activations?image=3');
    expect(data.step).toBe(pausedStep);
    expect(data.layers.map((l) => l.index)).toEqual([0, 1, 2, 3]);
    expect(await page.locator('[data-testid=prediction] strong').innerText()).toBe(String(data.image.predicted));
    for (const layer of data.layers) {
      const maps = await canvasStats(page, `[data-layer="${layer.index}"] canvas`);
      expect(maps).toHaveLength(layer.shape[2]!);
      expect(maps.every((m) => m.width === layer.shape[1] && m.height === layer.shape[0])).toBe(true);
      // Real feature maps: most have structure (not one flat colour).
      expect(maps.filter((m) => m.colours > 2).length, `layer ${layer.index}`).toBeGreaterThan(maps.length / 2);
    }
    const input = (await canvasStats(page, '.subject-image canvas'))[0]!;
    expect(input.colours).toBeGreaterThan(10);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-activations.png'), fullPage: true });
  });

  it('shows the test patches that excite a chosen filter most', async () => {
    // From the filters view: a click on filter 2 opens its top patches.
    await page.click('a.tab[data-view=filters]');
    await page.click('[data-testid=filters] [data-filter="2"]');
    await waitInPage(page, () => document.querySelector('[data-testid=view-patches]')?.getAttribute('data-state') === 'idle' && document.querySelectorAll('[data-testid=patches] canvas').length > 0);
    const first = await api<{ step: number; layer: { index: number }; filter: number; patches: { image: number; activation: number }[] }>('/api/runs/current/insights/top-patches?layer=0&filter=2&count=16');
    expect(first.step).toBe(pausedStep);
    expect(await page.locator('[data-testid=patches] [data-image]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-image'))))).toEqual(first.patches.map((p) => p.image));
    const activations = first.patches.map((p) => p.activation);
    expect([...activations].sort((a, b) => b - a)).toEqual(activations);
    // The first layer's filter is drawn beside its patches.
    expect((await canvasStats(page, '.the-filter canvas'))[0]).toMatchObject({ width: 5, height: 5 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-top-patches-layer0.png'), fullPage: true });
    // A deeper layer: its receptive field is larger (14×14 for conv 2 of LeNet-5).
    await page.selectOption('[data-testid=patch-layer]', '2');
    await waitInPage(page, () => document.querySelector('[data-testid=view-patches]')?.getAttribute('data-state') === 'idle' && (document.querySelector('[data-testid=patches] canvas') as HTMLCanvasElement | null)?.width === 14);
    const patches = await canvasStats(page, '[data-testid=patches] canvas');
    expect(patches).toHaveLength(16);
    // Independently: each patch is where that image's map peaks, cut at the receptive field of
    // LeNet-5's conv 2 (unit (y, x) sees input rows 2y−2 … 2y+11: conv 1 is 'same' 5×5, pool 2×2, conv 2 'valid' 5×5).
    const deep = await api<{ filter: number; patches: { image: number; activation: number; y: number; x: number; top: number; left: number; data: number[] }[] }>('/api/runs/current/insights/top-patches?layer=2&filter=0&count=16');
    for (const patch of deep.patches.slice(0, 3)) {
      const { image, layers } = await api<{ image: { data: number[] }; layers: { index: number; shape: number[]; data: number[] }[] }>(`/api/runs/current/insights/activations?image=${patch.image}`);
      const map = layers.find((l) => l.index === 2)!;
      const [mh, mw, channels] = map.shape as [number, number, number];
      let best = -Infinity, at = -1;
      for (let p = 0; p < mh * mw; p++) if (map.data[p * channels + deep.filter]! > best) [best, at] = [map.data[p * channels + deep.filter]!, p];
      expect(patch.activation).toBeCloseTo(best, 3);
      expect([patch.y, patch.x]).toEqual([Math.floor(at / mw), at % mw]);
      expect([patch.top, patch.left]).toEqual([2 * patch.y - 2, 2 * patch.x - 2]);
      const crop = Array.from({ length: 14 * 14 }, (_, i) => {
        const [r, c] = [patch.top + Math.floor(i / 14), patch.left + (i % 14)];
        return r < 0 || r >= 28 || c < 0 || c >= 28 ? 0 : image.data[r * 28 + c]!;
      });
      expect(patch.data).toEqual(crop);
    }
    expect(patches.filter((p) => p.colours > 2).length).toBeGreaterThan(12);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-top-patches.png'), fullPage: true });
  });

  it('shows the confusion matrix and the misclassified images', async () => {
    await page.click('a.tab[data-view=errors]');
    await waitInPage(page, () => document.querySelector('[data-testid=view-errors]')?.getAttribute('data-state') === 'idle' && document.querySelectorAll('[data-testid=confusion] td.cell').length > 0);
    const confusion = await api<{ step: number; samples: number; matrix: number[][]; accuracy: number }>('/api/runs/current/insights/confusion');
    expect(confusion.step).toBe(pausedStep);
    const cells = await page.locator('[data-testid=confusion] td.cell').evaluateAll((els) => els.map((e) => Number(e.textContent || 0)));
    expect(cells).toEqual(confusion.matrix.flat());
    expect(cells.reduce((a, b) => a + b, 0)).toBe(2000);
    expect(await page.locator('[data-testid=confusion-accuracy]').innerText()).toBe(`${(confusion.accuracy * 100).toFixed(2)}%`);
    const wrong = await api<{ total: number; images: { index: number }[] }>('/api/runs/current/insights/misclassified?limit=48');
    const tiles = await page.locator('[data-testid=misclassified] [data-image]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-image'))));
    expect(tiles).toEqual(wrong.images.map((i) => i.index));
    expect(tiles.length).toBe(Math.min(48, wrong.total));
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-errors.png'), fullPage: true });
  });

  it('changes the learning rate and resumes: the next steps use the new rate', async () => {
    await page.click('a.tab[data-view=training]');
    await page.fill('[data-testid=lr-input]', String(NEW_LR));
    await page.click('[data-testid=lr-set]');
    await waitText(page, '[data-testid=lr]', (t) => t === String(NEW_LR));
    await page.click('[data-testid=resume]');
    await waitText(page, '[data-testid=status]', (t) => t === 'running' || t === 'evaluating');
    await waitInPage(page, (step) => Number(/^(\d+)/.exec(document.querySelector('[data-testid=step]')?.textContent ?? '')?.[1]) >= step + 3, pausedStep);
    const snapshot = await api<SnapshotJson>('/api/runs/current');
    const before = snapshot.history.filter((h) => h.step < pausedStep);
    const after = snapshot.history.filter((h) => h.step >= pausedStep);
    expect(after.length).toBeGreaterThanOrEqual(3);
    expect(after.every((h) => h.lr === NEW_LR)).toBe(true);
    expect(before.every((h) => h.lr !== NEW_LR)).toBe(true);
    // The recent-steps table shows the new rate on the new steps.
    const rates = await page.locator('[data-testid=recent-steps] tbody tr').evaluateAll((rows) => rows.map((r) => [Number(r.getAttribute('data-step')), r.querySelector('[data-col=lr]')?.textContent]));
    for (const [step, rate] of rates) if ((step as number) > pausedStep) expect(rate).toBe(String(NEW_LR));
    expect(await page.locator('[data-testid=event-log]').innerText()).toContain(`learning rate set to ${NEW_LR}`);
  });
});

describe('dashboard after the run', () => {
  it('keeps showing the finished run', async () => {
    const exit = await runA.exited;
    expect(exit.code, runA.output()).toBe(0);
    await waitText(page, '[data-testid=status]', (t) => t === 'finished');
    await waitText(page, '[data-testid=connection]', (t) => t === 'server closed');
    const summary = JSON.parse(await readFile(join(runA.out, 'run.json'), 'utf8')) as { status: string; steps: number; testAccuracy: number };
    expect(summary.status).toBe('finished');
    expect(await page.locator('[data-testid=step]').innerText()).toBe(`${STEPS} / ${STEPS}`);
    expect(await page.locator('[data-testid=accuracy]').innerText()).toBe(`${(summary.testAccuracy * 100).toFixed(2)}%`);
    expect(await page.locator('[data-testid=banner]').innerText()).toContain(`finished at step ${STEPS}`);
    expect(Number(await page.locator('[data-testid=chart-loss]').getAttribute('data-points'))).toBeGreaterThanOrEqual(STEPS);
    expect(await page.locator('[data-testid=pause]').isDisabled()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-finished.png'), fullPage: true });
  });

  it('lists it among the past runs of the next server, reads it from its checkpoint, and stops that server\'s run', async () => {
    // A second coordinator in the same output root, waiting for workers.
    const runB = await startSwarmgrad('serve', ['--port', '0', '--host', '127.0.0.1', '--steps', '5', '--batch', '32', '--micro-batch', '8'], { out: join(root, 'run-b') });
    try {
      const second = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      problemLists.push(collectPageProblems(second));
      await second.goto(`${runB.url}/dashboard/#runs`);
      const row = second.locator(`[data-testid=runs] tr[data-run-id="${runA.runId}"]`);
      await row.waitFor();
      const text = await row.innerText();
      expect(text).toContain('finished');
      expect(text).toContain(String(STEPS));
      expect(await second.locator(`[data-testid=runs] tr[data-run-id="${runB.runId}"]`).innerText()).toContain('live');
      await row.click();
      await waitText(second, '[data-testid=run-id]', (t) => t === runA.runId);
      await waitText(second, '[data-testid=step]', (t) => t === `${STEPS} / ${STEPS}`);
      expect(await second.locator('.badge.past').isVisible()).toBe(true);
      expect(Number(await second.locator('[data-testid=chart-loss]').getAttribute('data-points'))).toBeGreaterThanOrEqual(STEPS);
      const rates = await second.locator('[data-testid=recent-steps] [data-col=lr]').allInnerTexts();
      expect(rates.length).toBeGreaterThan(0);
      await second.screenshot({ path: join(ARTIFACTS, 'dashboard-past-run.png'), fullPage: true });
      // Its filters come from its final checkpoint.
      await second.click('a.tab[data-view=filters]');
      await waitInPage(second, () => document.querySelector('[data-testid=view-filters]')?.getAttribute('data-state') === 'idle' && document.querySelectorAll('[data-testid=filters] canvas').length === 6);
      const filters = await fetchJson<{ step: number; live: boolean }>(`${runB.url}/api/runs/${encodeURIComponent(runA.runId)}/insights/filters`);
      expect(filters).toMatchObject({ step: STEPS, live: false });
      expect(await second.locator('[data-testid=view-filters] [data-testid=pinned-step]').innerText()).toContain(`step ${STEPS}`);
      expect((await canvasStats(second, '[data-testid=filters] canvas')).every((t) => t.colours > 3)).toBe(true);

      // Stop the second run from its own dashboard (two clicks: stop, confirm). The token
      // arrives in the address of the open page (a hash change, no reload).
      await second.goto(`${runB.url}/dashboard/#token=${encodeURIComponent(runB.adminToken!)}`);
      await waitText(second, '[data-testid=admin-toggle]', (t) => t === 'Admin');
      await second.click('[data-testid=stop]');
      await second.click('[data-testid=stop]');
      await waitText(second, '[data-testid=status]', (t) => t === 'stopped');
      expect((await runB.exited).code).toBe(3);
      await waitText(second, '[data-testid=connection]', (t) => t === 'server closed');
      await second.close();
    } finally {
      await runB.stop();
    }
  });

  it('fits a phone screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    // The page has seen the resize and drawn two frames since (its layout is the phone's).
    await waitInPage(page, () => innerWidth === 390);
    await page.evaluate(() => new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve()))));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
  });
});

// ---------------------------------------------------------------------------------------------

/**
 * The step the run stays at after a pause, from the coordinator's event stream: the `status`
 * event says what was in flight (the coordinator starts the next phase in the same turn as it
 * completes one, so a pause while running catches a train step or a checkpoint being written,
 * and one while evaluating catches an evaluation). Waits for that work's own event; after
 * it, nothing starts until resumed.
 */
async function settledStep(watch: RunWatch): Promise<number> {
  const at = await waitFor(() => watch.events.findIndex((seen) => seen.event.kind === 'status' && seen.event.status === 'paused'), (i) => i >= 0, { timeoutMs: 30_000, what: 'the paused status event' });
  const paused = watch.events[at]!.event as StatusEvent;
  const applied = paused.step;
  const since = () => watch.events.slice(at + 1).map((seen) => seen.event);
  const wanted = paused.previous === 'evaluating' ? ['eval'] : ['step', 'checkpoint'];
  const done = await waitFor(() => since().find((e) => wanted.includes(e.kind) && (e as unknown as { step?: number }).step === applied), (e) => e !== undefined, {
    timeoutMs: 120_000,
    what: `the ${wanted.join(' or ')} at step ${applied}, in flight at the pause`,
  });
  return done!.kind === 'step' ? applied + 1 : applied;
}

async function api<T>(path: string): Promise<T> {
  return fetchJson<T>(`${runA.url}${path}`);
}

async function fetchJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** Waits until `predicate` (run in the page) is true (Playwright's own poller). */
async function waitInPage<A>(target: Page, predicate: (arg: A) => boolean, arg?: A, timeout = 60_000): Promise<void> {
  await target.waitForFunction(predicate as (arg: unknown) => boolean, arg, { timeout, polling: 100 });
}

/** Waits until the text of `selector` satisfies `test`. */
async function waitText(target: Page, selector: string, test: (text: string) => boolean, timeout = 60_000): Promise<void> {
  const read = async () => ((await target.locator(selector).first().textContent({ timeout: 5000 }).catch(() => null)) ?? '').trim();
  await waitFor(read, test, { timeoutMs: timeout, what: `the text of ${selector}` });
}

async function waitIdle(target: Page, view: string): Promise<void> {
  await waitInPage(target, (name) => document.querySelector(`[data-testid=view-${name}]`)?.getAttribute('data-state') === 'idle', view);
}

async function readStep(target: Page): Promise<number> {
  return Number(/^(\d+)/.exec((await target.locator('[data-testid=step]').innerText()).replace(/,/g, ''))?.[1]);
}

async function readLive(target: Page) {
  return target.evaluate(() => {
    const q = (s: string) => document.querySelector(s);
    return {
      step: Number(/^(\d+)/.exec(q('[data-testid=step]')?.textContent ?? '')?.[1]),
      status: q('[data-testid=status]')?.textContent ?? '',
      lossPoints: Number(q('[data-testid=chart-loss]')?.getAttribute('data-points') ?? 0),
      speedPoints: Number(q('[data-testid=chart-throughput]')?.getAttribute('data-points') ?? 0),
      topRecentStep: Number(q('[data-testid=recent-steps] tbody tr')?.getAttribute('data-step') ?? 0),
      tasks: Number(q('[data-worker-id] [data-col=tasks]')?.textContent?.replace(/,/g, '') ?? 0),
    };
  });
}

/** Per canvas: its size and how many distinct colours it shows (1 = blank or flat). */
async function canvasStats(target: Page, selector: string): Promise<{ width: number; height: number; colours: number }[]> {
  return target.locator(selector).evaluateAll((canvases) =>
    (canvases as HTMLCanvasElement[]).map((canvas) => {
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      const colours = new Set<number>();
      for (let i = 0; i < data.length; i += 4) colours.add((data[i]! << 24) | (data[i + 1]! << 16) | (data[i + 2]! << 8) | data[i + 3]!);
      return { width: canvas.width, height: canvas.height, colours: colours.size };
    }),
  );
}

/** Per canvas: its size and RGBA pixels. */
async function canvasPixels(target: Page, selector: string): Promise<{ width: number; height: number; rgba: number[] }[]> {
  return target.locator(selector).evaluateAll((canvases) =>
    (canvases as HTMLCanvasElement[]).map((canvas) => ({ width: canvas.width, height: canvas.height, rgba: Array.from(canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data) })),
  );
}

/** Sends admin messages as a dashboard over the real WebSocket; returns the error codes answered. */
async function adminOverWebSocket(url: string, messages: Message[]): Promise<string[]> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const codes: string[] = [];
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${codes.length} answers: ${codes.join(', ')}`)), 10_000);
    socket.on('message', (data: Buffer) => {
      const message = decodeMessage(new Uint8Array(data));
      if (message.type !== 'error') return;
      codes.push(message.code);
      if (codes.length === messages.length) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  socket.send(encodeMessage({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'dashboard' }));
  for (const message of messages) socket.send(encodeMessage(message));
  await done;
  socket.close();
  return codes;
}
