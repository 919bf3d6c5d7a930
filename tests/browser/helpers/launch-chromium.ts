/**
 * Headless Debian Chromium through playwright-core (no browser download): one launcher for
 * the browser end-to-end suites, and a collector of the page errors a test must not see.
 */
import { chromium, type Browser, type LaunchOptions, type Page } from 'playwright-core';

/** The flags every suite starts Chromium with (no network chatter, no first-run UI). */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Launches the system Chromium (`/usr/bin/chromium`, or `$CHROMIUM_PATH`) headless. */
export function launchChromium(options: { args?: string[] } & Omit<LaunchOptions, 'args'> = {}): Promise<Browser> {
  const { args = [], ...rest } = options;
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: [...CHROMIUM_ARGS, ...args], ...rest });
}

/** One problem the page reported. */
export interface PageProblem {
  kind: 'console' | 'pageerror' | 'crash';
  text: string;
  url: string;
}

/**
 * Records every `console.error`, uncaught exception and crash of `page` (console errors
 * include resources that failed to load). Returns the live list.
 */
export function collectPageProblems(page: Page): PageProblem[] {
  const problems: PageProblem[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push({ kind: 'console', text: message.text(), url: message.location().url });
  });
  page.on('pageerror', (error) => problems.push({ kind: 'pageerror', text: `${error.name}: ${error.message}\n${error.stack ?? ''}`, url: page.url() }));
  page.on('crash', () => problems.push({ kind: 'crash', text: 'the page crashed', url: page.url() }));
  return problems;
}
