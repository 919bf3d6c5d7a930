/**
 * Helper threads of the `wasm-step` backend (Node only: `worker_threads`; in browsers every
 * chunk runs on the calling thread). The number of threads never changes the bits: a batch
 * is cut into chunks of {@link CHUNK_SAMPLES} samples whatever the thread count, each chunk
 * is computed the same way on whichever thread, and the chunk sums are added in chunk order
 * (see `hook.ts`).
 */
import type { ModelSpec } from '@swarmgrad/nn-core';
import { importNodeOnly, isNode } from '../node-only.js';
import { CHUNK_SAMPLES, type Board, type HelperMessage } from './thread-entry.js';

export { CHUNK_SAMPLES };

interface NodeWorker {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: HelperReply) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  on(event: 'exit', listener: (code: number) => void): void;
  unref(): void;
  terminate(): Promise<number>;
}
type HelperReply = { seq: number } | { seq: number; error: string };

/** One helper thread: the boards it has been shown and its outstanding runs. */
class Helper {
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private readonly shown = new WeakSet<Board>();
  private next = 0;
  private failed: Error | null = null;
  constructor(private readonly worker: NodeWorker) {
    worker.on('message', (reply) => {
      const pending = this.waiting.get(reply.seq);
      this.waiting.delete(reply.seq);
      if (pending === undefined) return;
      if ('error' in reply) pending.reject(new Error(`wasm-step thread: ${reply.error}`));
      else pending.resolve();
    });
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => this.fail(new Error(`wasm-step thread exited (code ${code})`)));
    // After the listeners (adding a 'message' listener refs the thread again): a helper never
    // keeps the process alive; `run` holds a timer while it waits for a reply.
    worker.unref();
  }
  /** Whether the thread died (an uncaught error, or it exited): it must be replaced. */
  get dead(): boolean {
    return this.failed !== null;
  }
  private fail(error: Error): void {
    this.failed ??= error;
    for (const pending of this.waiting.values()) pending.reject(error);
    this.waiting.clear();
  }
  /** Has the thread take chunks of the board's run from `board` (compiled with fused GEMMs when `fma`) until none is left; resolves when it has stopped. */
  run(id: number, spec: ModelSpec, fma: boolean, board: Board): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed);
    if (!this.shown.has(board)) {
      this.worker.postMessage({ type: 'board', board: id, spec, fma, layout: board.layout, sab: board.sab } satisfies HelperMessage);
      this.shown.add(board);
    }
    const seq = this.next++;
    // The unref'd thread does not keep Node's event loop alive: a timer does, until the reply.
    const keepAlive = setInterval(() => undefined, 2 ** 30);
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.worker.postMessage({ type: 'run', board: id, seq } satisfies HelperMessage);
    }).finally(() => clearInterval(keepAlive));
  }
  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

function envThreads(): number {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const value = Number(proc?.env?.SWARMGRAD_STEP_THREADS ?? 1);
  return Number.isInteger(value) && value >= 1 ? value : 1;
}

let threads = envThreads();
let helpers: Promise<Helper[]> | null = null;

/**
 * Sets how many threads `wasm-step` computes on (the calling thread included; default 1, or
 * the environment variable `SWARMGRAD_STEP_THREADS`). Results are bitwise the same for
 * every count. Helper threads exist only in Node; elsewhere the count is ignored.
 */
export async function setStepThreads(count: number): Promise<void> {
  if (!Number.isInteger(count) || count < 1 || count > 64) throw new RangeError(`step threads must be an integer from 1 to 64, got ${count}`);
  threads = count;
  const old = helpers;
  helpers = null;
  if (old !== null) await Promise.all((await old).map((h) => h.terminate()));
}

/** The thread count set by {@link setStepThreads}. */
export function stepThreads(): number {
  return threads;
}

/**
 * The helper threads (`stepThreads() − 1` of them; none outside Node), started on first use;
 * a thread that died is replaced by a fresh one here.
 */
export async function stepHelpers(): Promise<Helper[]> {
  if (helpers === null) {
    const count = isNode() ? threads - 1 : 0;
    helpers = count === 0 ? Promise.resolve([]) : startHelpers(count);
  }
  const current = helpers;
  const list = await current;
  const dead = list.filter((h) => h.dead).length;
  if (dead === 0 || helpers !== current) return list;
  const fresh = await startHelpers(dead);
  const next = list.map((h) => (h.dead ? fresh.pop()! : h));
  helpers = Promise.resolve(next);
  return next;
}

async function startHelpers(count: number): Promise<Helper[]> {
  const { Worker } = await importNodeOnly<{ Worker: new (url: URL, options: { execArgv: string[] }) => NodeWorker }>('node:worker_threads');
  // Run from the TypeScript sources (tests), the thread still starts from the built file.
  const entry = import.meta.url.endsWith('.ts') ? new URL('../../dist/fast/thread-main.js', import.meta.url) : new URL('./thread-main.js', import.meta.url);
  // Threads inherit Node's flags (a profiler's, a WebAssembly feature's); `--input-type`
  // (valid only with `-e` / stdin) would stop them, and so would any flag worker threads
  // refuse (`--single-threaded-gc`, ...: ERR_WORKER_INVALID_EXEC_ARGV): then they start without.
  const proc = (globalThis as { process?: { execArgv?: string[] } }).process;
  const inherited = (proc?.execArgv ?? []).filter((flag) => !flag.startsWith('--input-type'));
  const start = (): NodeWorker => {
    try {
      return new Worker(entry, { execArgv: inherited });
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
      return new Worker(entry, { execArgv: [] });
    }
  };
  return Array.from({ length: count }, () => new Helper(start()));
}

export type { Helper };
