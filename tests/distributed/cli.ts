/**
 * @deprecated The old launcher's names, kept only so that test files written against them on
 * other branches keep working while they merge. New code imports `../support/launch.js` and
 * `../support/wait.js` (see tests/README.md); delete this file once nothing imports it.
 */
import { launchSwarmgrad, runSwarmgrad, type RunResult, type ServerInfo, type SwarmgradProcess } from '../support/launch.js';
import { delay, waitFor as waitForOptions } from '../support/wait.js';

export { BASE_RUN, childPids, snapshot, SWARMGRAD, tempDir, type RunResult } from '../support/launch.js';

/** @deprecated `SwarmgradProcess` of `launchSwarmgrad`, with `server` as a promise. */
export interface CliRun extends Omit<SwarmgradProcess, 'server'> {
  out: string;
  server: Promise<ServerInfo>;
}

/** @deprecated `launchSwarmgrad([command, ...args], { out, json: true, env })`. */
export function startCli(command: 'train' | 'serve', args: string[], out: string, env: Record<string, string> = {}): CliRun {
  const proc = launchSwarmgrad([command, ...args], { out, json: true, env });
  const server = proc.server();
  server.catch(() => undefined);
  return Object.assign(proc, { out, server });
}

/** @deprecated `runSwarmgrad`. */
export function train(args: string[], out?: string): Promise<RunResult> {
  return runSwarmgrad(args, out);
}

/** @deprecated wait on an event or counter with `waitFor` instead. */
export function sleep(ms: number): Promise<void> {
  return delay(ms);
}

/** @deprecated `waitFor(read, ok, { timeoutMs, what })` from `../support/wait.js`. */
export function waitFor<T>(read: () => Promise<T> | T, ok: (value: T) => boolean, timeoutMs = 120_000, what = 'condition'): Promise<T> {
  return waitForOptions(read, ok, { timeoutMs, what });
}
