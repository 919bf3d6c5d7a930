import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI (`npm run build` first; `npm test` does). */
export const SWARMGRAD = fileURLToPath(new URL('../../apps/server/bin/swarmgrad.js', import.meta.url));

/** The settings every distributed test shares, so their final hashes are comparable. */
export const BASE_RUN = ['--model', 'lenet5', '--data', 'mnist', '--steps', '20', '--batch', '64', '--micro-batch', '16', '--seed', '7', '--eval-every', '0', '--eval-samples', '200', '--checkpoint-every', '5', '--port', '0'];

/** What `swarmgrad train --json` prints at the end. */
export interface RunResult {
  runId: string;
  status: string;
  steps: number;
  paramsSha256: string;
  checkpoint: string | null;
  out: string;
  testAccuracy: number | null;
}

/** A `swarmgrad train|serve` child process. */
export interface CliRun {
  child: ChildProcess;
  out: string;
  /** Resolves with the --json summary when the process exits 0; rejects otherwise (with its stderr). */
  result: Promise<RunResult>;
  /** Resolves with server.json ({ port, url, ws }) once the server listens. */
  server: Promise<{ port: number; url: string; ws: string; pid: number }>;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `swarmgrad-${prefix}-`));
}

/** Starts `swarmgrad <command> ...args --json --out out`. */
export function startCli(command: 'train' | 'serve', args: string[], out: string, env: Record<string, string> = {}): CliRun {
  const child = spawn(process.execPath, [SWARMGRAD, command, ...args, '--json', '--out', out], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const result = exited.then(({ code, signal }) => {
    if (code !== 0) throw new Error(`swarmgrad ${command} exited with ${signal ?? code}\n${stderr.slice(-4000)}`);
    return JSON.parse(stdout.trim().split('\n').pop()!) as RunResult;
  });
  result.catch(() => undefined);
  const server = (async () => {
    const file = join(out, 'server.json');
    for (;;) {
      if (existsSync(file)) {
        try {
          const info = JSON.parse(readFileSync(file, 'utf8'));
          if (info.pid === child.pid) return info;
        } catch {
          // being written
        }
      }
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`swarmgrad ${command} exited before listening\n${stderr.slice(-4000)}`);
      await sleep(50);
    }
  })();
  server.catch(() => undefined);
  return { child, out, result, server, stderr: () => stderr, exited };
}

/** Runs `swarmgrad train` to the end and returns its summary. */
export async function train(args: string[], out = tempDir('train')): Promise<RunResult> {
  return startCli('train', args, out).result;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Child process ids of `pid` (Linux /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Polls `read` until it returns a value that passes `ok`. */
export async function waitFor<T>(read: () => Promise<T> | T, ok: (value: T) => boolean, timeoutMs = 120_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The live run's snapshot from the server's JSON API. */
export async function snapshot(port: number): Promise<{ step: number; status: string; workers: Array<Record<string, unknown>> } & Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}/api/runs/current`);
  return (await res.json()) as never;
}
