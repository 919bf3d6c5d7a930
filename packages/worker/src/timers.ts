/**
 * Small timing helpers that run in Node, browsers and Web Workers alike (standard globals
 * only, no `node:` imports).
 */

/** Milliseconds from a monotonic clock (`performance.now()`), for durations. */
export function monotonicMs(): number {
  return globalThis.performance.now();
}

/**
 * Resolves after `ms` milliseconds, or as soon as `signal` aborts (it never rejects:
 * callers check `signal.aborted` themselves).
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}

type ImmediateFn = (callback: () => void) => unknown;

/**
 * Lets pending I/O (socket frames, timers) run before continuing. A long task calls it
 * between micro-shards so heartbeats keep flowing while it computes. Uses `setImmediate`
 * where it exists (Node), else a `MessageChannel` (browsers, Web Workers), else `setTimeout`.
 */
export function yieldToEventLoop(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: ImmediateFn }).setImmediate;
  if (typeof immediate === 'function') return new Promise((resolve) => void immediate(resolve));
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}
