/**
 * The one poller of the integration tests. Wait on something the system under test exposes
 * (an HTTP counter, an event count, a file, a process exit), never on the wall clock: a test
 * that sleeps "long enough" passes on a fast machine and fails on a busy one.
 */

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** Give up after this long (default 120 s). The machine may be busy: be generous. */
  timeoutMs?: number;
  /** What is awaited, for the error message ("the first training step"). */
  what?: string;
  /** Pause between reads (default 100 ms). */
  intervalMs?: number;
  /** Whether a `read` that throws means "not yet" (e.g. a server that does not listen yet) rather than failure (default false). */
  retryErrors?: boolean;
}

/**
 * Calls `read` until `ok(value)` holds and returns that value. A `read` that throws fails the
 * wait, unless `retryErrors` is set. The last value (or error) goes into the timeout message, which says what was awaited: `timed out after 60000 ms waiting for the
 * first step; last value: {"step":0}`.
 */
export async function waitFor<T>(read: () => Promise<T> | T, ok: (value: T) => boolean, options: WaitOptions = {}): Promise<T> {
  const { timeoutMs = 120_000, what = 'a condition', intervalMs = 100, retryErrors = false } = options;
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing read yet';
  for (;;) {
    try {
      const value = await read();
      if (ok(value)) return value;
      last = `last value: ${describe(value)}`;
    } catch (error) {
      if (!retryErrors) throw error;
      last = `last error: ${(error as Error).message ?? String(error)}`;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${last}`);
    await delay(intervalMs);
  }
}

/**
 * Resolves after `ms`. Not a way to wait for something to happen (use {@link waitFor}): only
 * for pacing an adversary (a slowloris dribbling bytes) or a poll interval, with a comment
 * saying why at the call site.
 */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value.slice(-500)) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
