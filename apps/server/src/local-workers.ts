import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Options of {@link superviseLocalWorkers}. */
export interface LocalWorkerOptions {
  count: number;
  coordinatorUrl: string;
  backend: string;
  /** Lab token handed to the workers through their environment (never on the command line). */
  token: string;
  /** Called with each worker's output lines when it exits abnormally, and with notices. */
  log: (line: string) => void;
  /** Testing stragglers: local worker 1 delays every task by this many milliseconds. */
  slowFirstMs?: number;
  /** Threads of each worker's compiled step (`--threads`); default the worker's own. */
  threads?: number;
}

/** Local worker processes, restarted when one dies while the run goes on. */
export interface LocalWorkers {
  /** Process ids of the live workers (tests kill them). */
  pids(): number[];
  /** Stops restarting and ends every worker (SIGTERM, then SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

const BIN = fileURLToPath(new URL('../bin/swarmgrad.js', import.meta.url));

/**
 * The V8 flag that starts a process's old generation at 128 MB; the first line of
 * `bin/swarmgrad.js` gives it to every `swarmgrad` command (a test keeps the two equal). V8
 * counts the ArrayBuffers allocated since the last full collection against the old
 * generation's limit, and a coordinator or worker allocates 2–3 MB of frames and payloads a
 * step: with V8's default (a limit ~23 MB above a ~14 MB heap) a full collection ran every
 * ~8 steps and the coordinator spent ~2 ms of CPU a step collecting. With it, 2 local
 * workers train ~9% more samples a second (`npm run bench` section `scaling`, 2026-12-03).
 */
export const NODE_HEAP_FLAG = '--initial-old-space-size=128';

/**
 * Node flags of the local workers: this process's, plus `--single-threaded-gc` and
 * {@link NODE_HEAP_FLAG} unless given. V8's parallel and concurrent collector threads compete
 * with a worker's compute threads for the same cores (and with the other workers and this
 * coordinator): without them a 2-core machine trains 4–9% more samples a second (`npm run
 * bench` section `scaling`, 2026-12-03). Both flags can only be given when a process starts.
 */
export const WORKER_EXEC_ARGV: readonly string[] = [
  ...process.execArgv,
  ...(process.execArgv.includes('--single-threaded-gc') ? [] : ['--single-threaded-gc']),
  ...(process.execArgv.some((flag) => flag.startsWith('--initial-old-space-size')) ? [] : [NODE_HEAP_FLAG]),
];

/**
 * Spawns `count` `swarmgrad worker` processes connected to `coordinatorUrl` and keeps that
 * many alive: a worker that dies (killed, crashed) is restarted after a short backoff. The
 * workers are forked with an IPC channel and exit when it closes, so they never outlive a
 * coordinator that was killed with SIGKILL.
 */
export function superviseLocalWorkers(options: LocalWorkerOptions): LocalWorkers {
  const children = new Map<number, ChildProcess>();
  let stopping = false;
  const restarts: number[] = [];

  const spawnOne = (slot: number): void => {
    const args = ['worker', '--coordinator', options.coordinatorUrl, '--backend', options.backend, '--name', `local-${slot + 1}`, '--exit-with-parent'];
    if (slot === 0 && options.slowFirstMs) args.push('--slowdown-ms', String(options.slowFirstMs));
    if (options.threads !== undefined) args.push('--threads', String(options.threads));
    const child = fork(BIN, args, {
      execArgv: [...WORKER_EXEC_ARGV],
      env: { ...process.env, SWARMGRAD_TOKEN: options.token },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    children.set(slot, child);
    const tail: string[] = [];
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) tail.push(line);
      tail.splice(0, Math.max(0, tail.length - 20));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', (code, signal) => {
      if (children.get(slot) === child) children.delete(slot);
      if (stopping) return;
      options.log(`local worker ${slot + 1} (pid ${child.pid}) exited (${signal ?? `code ${code}`}); restarting it`);
      if (code !== 0 && signal === null) for (const line of tail.slice(-5)) options.log(`  worker ${slot + 1}: ${line}`);
      const now = Date.now();
      restarts.push(now);
      while (restarts.length && restarts[0]! < now - 60_000) restarts.shift();
      if (restarts.length > 10 * options.count) {
        options.log('local workers keep dying (more than 10 restarts each in a minute); not restarting them — see the lines above');
        return;
      }
      setTimeout(() => {
        if (!stopping) spawnOne(slot);
      }, 500).unref();
    });
  };

  for (let slot = 0; slot < options.count; slot++) spawnOne(slot);

  return {
    pids: () => [...children.values()].map((c) => c.pid).filter((pid): pid is number => pid !== undefined),
    async stop(graceMs = 5000) {
      stopping = true;
      const live = [...children.values()];
      await Promise.all(
        live.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
              child.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
