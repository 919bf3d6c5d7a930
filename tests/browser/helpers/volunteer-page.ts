/**
 * Driving the volunteer page (`apps/volunteer`, served by `swarmgrad train` at `/`) from
 * tests: Chromium flags for WebGPU in headless mode, opening a tab with its problems
 * recorded, reading what the tab shows.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { collectPageProblems, type PageProblem } from './launch-chromium.js';
import { REPO_ROOT } from '../../support/launch.js';

/**
 * WebGPU in headless Debian Chromium without a GPU: `--enable-unsafe-webgpu` exposes
 * `navigator.gpu` (SwiftShader at the core feature level); the OpenGL ES adapter flags add
 * Mesa's llvmpipe at the compatibility level, which the volunteer page asks for and which is
 * ~4× faster here. `--enable-webgpu-developer-features` unmasks the adapter's description
 * (`ANGLE (Mesa/X.org, llvmpipe …)`) so the coordinator records which adapter computed.
 */
export const WEBGPU_CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=opengles',
  '--use-gl=angle',
  '--use-angle=gl-egl',
  '--enable-webgpu-developer-features',
  '--disable-gpu-sandbox',
];

/** `tests/artifacts/` (screenshots), created on demand and ignored by git (its own `.gitignore`). */
export function artifactsDir(): string {
  const dir = join(REPO_ROOT, 'tests/artifacts');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '.gitignore'), '# test artifacts (screenshots), written by the browser suites\n*\n');
  return dir;
}

/** An open volunteer tab. */
export interface VolunteerTab {
  page: Page;
  /** Console errors, uncaught exceptions and crashes of the page and its workers so far. */
  problems: PageProblem[];
}

/**
 * Opens the volunteer page of the run at `baseUrl` in a new context of `browser` (its own
 * storage, like another browser profile). `query` becomes the URL's parameters
 * (`backend`, `slowdownMs`, `name`, ...). `given`: a context prepared by the caller (e.g. with routes).
 */
export async function openVolunteerTab(browser: Browser, baseUrl: string, query: Record<string, string> = {}, viewport = { width: 1280, height: 860 }, given?: BrowserContext): Promise<VolunteerTab> {
  const context = given ?? (await browser.newContext({ viewport }));
  const page = await context.newPage();
  const problems = collectPageProblems(page);
  // Dedicated workers' console messages (the page's `console` event carries most of them
  // too; duplicates do not matter for "there must be none").
  page.on('worker', (worker) => {
    worker.on('console', (message) => {
      if (message.type() === 'error') problems.push({ kind: 'console', text: `[worker] ${message.text()}`, url: worker.url() });
    });
  });
  page.once('close', () => void context.close().catch(() => undefined));
  const search = new URLSearchParams(query).toString();
  await page.goto(`${baseUrl}/${search ? `?${search}` : ''}`);
  return { page, problems };
}

/** What the tab shows (the DOM of `apps/volunteer/index.html`). */
export interface TabView {
  /** `data-status` of `#state`: idle, choosing, connecting, connected, computing, paused, reconnecting, stopping, stopped, finished, refused. */
  status: string;
  title: string;
  detail: string;
  tasksDone: number;
  /** The coordinator's id for this tab's worker, once welcomed. */
  workerId: string;
  /** `data-backend` of the backend line, once chosen. */
  backend: string;
  backendLine: string;
  reasons: string[];
  share: string;
}

/** Reads {@link TabView} from the page. */
export function readTab(page: Page): Promise<TabView> {
  return page.evaluate(() => {
    const text = (id: string) => document.getElementById(id)?.textContent ?? '';
    const state = document.getElementById('state')!;
    return {
      status: state.dataset['status'] ?? '',
      title: state.textContent ?? '',
      detail: text('detail'),
      tasksDone: Number(text('tasks').replace(/,/g, '')),
      workerId: document.getElementById('coordinator')?.dataset['workerId'] ?? '',
      backend: document.getElementById('backend-line')?.dataset['backend'] ?? '',
      backendLine: text('backend-line'),
      reasons: [...document.querySelectorAll('#reasons li')].map((li) => li.textContent ?? ''),
      share: `${text('share')} ${text('share-detail')}`.trim(),
    };
  });
}

/** Waits until the tab's `data-status` is one of `statuses` (and it has done at least `minTasksDone` tasks); returns what it shows then. */
export async function waitForTab(page: Page, statuses: string[], timeoutMs = 90_000, minTasksDone = 0): Promise<TabView> {
  await page
    .waitForFunction(
      ({ wanted, min }) => wanted.includes(document.getElementById('state')?.dataset['status'] ?? '') && Number((document.getElementById('tasks')?.textContent ?? '0').replace(/,/g, '')) >= min,
      { wanted: statuses, min: minTasksDone },
      { timeout: timeoutMs, polling: 50 },
    )
    .catch(async (error: Error) => {
      const view = await readTab(page).catch(() => undefined);
      const done = minTasksDone > 0 ? ` with ${minTasksDone}+ tasks done` : '';
      throw new Error(`tab did not reach ${statuses.join('|')}${done} in ${timeoutMs} ms; it shows ${JSON.stringify(view)}: ${error.message}`);
    });
  return readTab(page);
}
