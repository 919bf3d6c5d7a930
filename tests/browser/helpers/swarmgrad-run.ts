/**
 * A real `swarmgrad train|serve` child process for end-to-end tests: started from the built
 * CLI (`apps/server/bin/swarmgrad.js`, build first), found through the `server.json` it
 * writes into `--out` once it listens, stopped with SIGTERM (the run takes a checkpoint).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The CLI entry. */
export const SWARMGRAD_BIN = join(REPO_ROOT, 'apps/server/bin/swarmgrad.js');

/** A started run. */
export interface SwarmgradRun {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `ws://127.0.0.1:PORT/ws` */
  ws: string;
  port: number;
  /** The `--out` folder. */
  out: string;
  /** Run id from `server.json`. */
  runId: string;
  /** The generated admin token (`<out>/admin-token`), or undefined when it was given another way. */
  adminToken: string | undefined;
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (then SIGKILL after `graceMs`) and wait for the exit. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `swarmgrad <command> ...args --out <out>` and waits until it listens. `args` should
 * include `--port 0` so runs never collide.
 */
export async function startSwarmgrad(command: 'train' | 'serve', args: string[], options: { out: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<SwarmgradRun> {
  const child = spawn(process.execPath, [SWARMGRAD_BIN, command, ...args, '--out', options.out], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  void exited.then(() => (done = true));

  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const serverFile = join(options.out, 'server.json');
  let info: { port: number; url: string; ws: string; runId: string } | undefined;
  while (!info) {
    if (done) throw new Error(`swarmgrad ${command} exited before listening:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`swarmgrad ${command} did not write ${serverFile} in time:\n${output}`);
    }
    if (existsSync(serverFile)) {
      try {
        info = JSON.parse(await readFile(serverFile, 'utf8'));
      } catch {
        // Being written: try again.
      }
    }
    if (!info) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const tokenFile = join(options.out, 'admin-token');
  const adminToken = existsSync(tokenFile) ? (await readFile(tokenFile, 'utf8')).trim() : undefined;
  return {
    ...info,
    out: options.out,
    adminToken,
    child,
    output: () => output,
    exited,
    async stop(graceMs = 15_000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
