/**
 * The one launcher of the integration tests: the built CLI (`apps/server/bin/swarmgrad.js`,
 * `npx turbo run build` first) as a real child process, its output captured, its server found
 * through the `server.json` it writes into `--out` once it listens, its `--json` summary
 * parsed, and stopped with SIGTERM (a last checkpoint, exit 3) then SIGKILL after a grace.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The built CLI entry. */
export const SWARMGRAD = join(REPO_ROOT, 'apps/server/bin/swarmgrad.js');

/** The settings the distributed tests share, so that their final hashes are comparable. */
export const BASE_RUN = ['--model', 'lenet5', '--data', 'mnist', '--steps', '20', '--batch', '64', '--micro-batch', '16', '--seed', '7', '--eval-every', '0', '--eval-samples', '200', '--checkpoint-every', '5', '--port', '0'];

/** What `swarmgrad train --json` prints as its last line. */
export interface RunResult {
  runId: string;
  status: string;
  steps: number;
  paramsSha256: string;
  checkpoint: string | null;
  out: string;
  testAccuracy: number | null;
}

/** `<out>/server.json`, written once the server listens. */
export interface ServerInfo {
  port: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `ws://127.0.0.1:PORT/ws` */
  ws: string;
  pid: number;
  runId: string;
}

/** How a child process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Options of {@link launchSwarmgrad}. */
export interface LaunchOptions {
  /** Appended as `--out <out>`; needed for {@link SwarmgradProcess.server}. */
  out?: string;
  /** Append `--json` (the summary becomes the last stdout line; see {@link SwarmgradProcess.result}). */
  json?: boolean;
  /** Extra environment (merged over this process's). */
  env?: NodeJS.ProcessEnv;
  /** Working folder (default the repository root). */
  cwd?: string;
  /** Time allowed for `server()` to find server.json (default 120 s). */
  listenTimeoutMs?: number;
}

/** A running `swarmgrad` child process. */
export interface SwarmgradProcess {
  child: ChildProcess;
  /** The `--out` folder, when one was given. */
  out: string | undefined;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr, interleaved as they arrived. */
  output(): string;
  /** Resolves when the process ends. */
  exited: Promise<Exit>;
  /** Whether it has ended. */
  done(): boolean;
  /** server.json of this process once it listens; rejects if it exits first or no `out` was given. */
  server(): Promise<ServerInfo>;
  /** The parsed last stdout line (the `--json` summary) when it exits 0; rejects with its stderr otherwise. */
  result: Promise<RunResult>;
  /** SIGTERM, SIGKILL after `graceMs` (default 15 s), and the exit. */
  stop(graceMs?: number): Promise<Exit>;
}

/** Every process launched here: {@link killAll} ends the ones still running (an `afterAll` safety net). */
const launched = new Set<ChildProcess>();

/** A fresh temporary folder `swarmgrad-<prefix>-XXXXXX`. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `swarmgrad-${prefix}-`));
}

/** Starts `swarmgrad ...args [--json] [--out out]` and returns at once. */
export function launchSwarmgrad(args: string[], options: LaunchOptions = {}): SwarmgradProcess {
  const argv = [SWARMGRAD, ...args, ...(options.json ? ['--json'] : []), ...(options.out !== undefined ? ['--out', options.out] : [])];
  const child = spawn(process.execPath, argv, { cwd: options.cwd ?? REPO_ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  launched.add(child);
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout!.on('data', (d: Buffer) => ((stdout += d.toString()), (output += d.toString())));
  child.stderr!.on('data', (d: Buffer) => ((stderr += d.toString()), (output += d.toString())));
  let ended = false;
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      ended = true;
      launched.delete(child);
      resolve({ code, signal });
    }),
  );
  const name = `swarmgrad ${args[0] ?? ''}`.trim();
  const result = exited.then(({ code, signal }) => {
    if (code !== 0) throw new Error(`${name} exited with ${signal ?? code}\n${stderr.slice(-4000)}`);
    return JSON.parse(stdout.trim().split('\n').pop()!) as RunResult;
  });
  result.catch(() => undefined);
  let server: Promise<ServerInfo> | undefined;
  return {
    child,
    out: options.out,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => output,
    exited,
    done: () => ended,
    result,
    server: () => (server ??= findServer(name, options, child, () => ended, () => output)),
    async stop(graceMs = 15_000) {
      if (!ended) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const exit = await exited;
      clearTimeout(timer);
      return exit;
    },
  };
}

/** Polls `<out>/server.json` until it names this process. */
async function findServer(name: string, options: LaunchOptions, child: ChildProcess, ended: () => boolean, output: () => string): Promise<ServerInfo> {
  if (options.out === undefined) throw new Error(`${name}: server() needs the out option`);
  const file = join(options.out, 'server.json');
  const read = (): ServerInfo | 'exited' | undefined => {
    if (ended()) return 'exited';
    try {
      const info = JSON.parse(readFileSync(file, 'utf8')) as ServerInfo;
      return info.pid === child.pid ? info : undefined;
    } catch {
      return undefined; // not there yet, or being written
    }
  };
  const info = await waitFor(read, (v) => v !== undefined, { timeoutMs: options.listenTimeoutMs ?? 120_000, what: `${file} of ${name}`, intervalMs: 50 }).catch((error: Error) => {
    throw new Error(`${error.message}\n${output().slice(-4000)}`);
  });
  if (info === 'exited' || info === undefined) throw new Error(`${name} exited before listening\n${output().slice(-4000)}`);
  return info;
}

/** A started server: the process and where it listens. */
export interface SwarmgradRun extends SwarmgradProcess, ServerInfo {
  out: string;
  /** The generated admin token (`<out>/admin-token`), or undefined when it was given another way. */
  adminToken: string | undefined;
}

/**
 * Starts `swarmgrad <command> ...args --out <out>` and waits until it listens (SIGKILL if it
 * never does). `args` should include `--port 0` so that runs never collide.
 */
export async function startSwarmgrad(command: 'train' | 'serve', args: string[], options: LaunchOptions & { out: string }): Promise<SwarmgradRun> {
  const proc = launchSwarmgrad([command, ...args], options);
  const info = await proc.server().catch((error: Error) => {
    proc.child.kill('SIGKILL');
    throw error;
  });
  const tokenFile = join(options.out, 'admin-token');
  const adminToken = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : undefined;
  return Object.assign(proc, info, { out: options.out, adminToken });
}

/** Runs `swarmgrad train ...args --json --out <out>` to the end and returns its summary. */
export async function runSwarmgrad(args: string[], out = tempDir('train')): Promise<RunResult> {
  return launchSwarmgrad(['train', ...args], { out, json: true }).result;
}

/** What a finished `swarmgrad` command printed. */
export interface CommandOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a short `swarmgrad ...args` command (help, inspect, eval, export, predict, a usage
 * error) to its end, synchronously, in `cwd` (default the repository root).
 */
export function runSwarmgradSync(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): CommandOutput {
  const r = spawnSync(process.execPath, [SWARMGRAD, ...args], { cwd: options.cwd ?? REPO_ROOT, env: { ...process.env, ...options.env }, encoding: 'utf8', timeout: options.timeoutMs ?? 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** SIGKILLs every launched process still running (for `afterAll`). */
export function killAll(): void {
  for (const child of launched) child.kill('SIGKILL');
}

/** Child process ids of `pid` (Linux /proc). */
export function childPids(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** The live run's snapshot from `GET /api/runs/current`. */
export async function snapshot(port: number): Promise<{ step: number; status: string; workers: Array<Record<string, unknown>> } & Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}/api/runs/current`);
  return (await res.json()) as never;
}
