/**
 * What the coordinator records, seen from a test: a dashboard subscription over a real
 * WebSocket (`hello` role `dashboard`, `subscribe`, then every `event`), decoded with
 * `@swarmgrad/protocol`, plus the JSON API.
 */
import { WebSocket } from 'ws';
import { PROTOCOL_VERSION, decodeMessage, encodeMessage, type RunEvent } from '@swarmgrad/protocol';

/** A run event with its sequence number. */
export interface SeenEvent {
  seq: number | undefined;
  event: RunEvent;
}

/** A live dashboard subscription. */
export interface RunWatch {
  /** Every event so far, in arrival order (the first is the `snapshot`). */
  readonly events: SeenEvent[];
  /** Events of one kind. */
  ofKind(kind: string): RunEvent[];
  /** Calls `listener` with every later event; returns the unsubscribe function. */
  onEvent(listener: (event: RunEvent) => void): () => void;
  /** Resolves with the first event (past or future) that matches; rejects after `timeoutMs`. */
  waitFor(predicate: (event: RunEvent) => boolean, timeoutMs?: number, what?: string): Promise<RunEvent>;
  close(): void;
}

/** Subscribes to the live run at `wsUrl` as a dashboard. Resolves once the snapshot arrived. */
export async function watchRun(wsUrl: string, adminToken?: string): Promise<RunWatch> {
  const socket = new WebSocket(wsUrl, { perMessageDeflate: false });
  const events: SeenEvent[] = [];
  const waiters = new Set<{ predicate: (event: RunEvent) => boolean; resolve: (event: RunEvent) => void }>();
  const listeners = new Set<(event: RunEvent) => void>();
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return;
    const message = decodeMessage(new Uint8Array(data));
    if (message.type !== 'event') return;
    events.push({ seq: message.seq, event: message.event });
    for (const listener of listeners) listener(message.event);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(message.event)) {
        waiters.delete(waiter);
        waiter.resolve(message.event);
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(encodeMessage({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'dashboard', name: 'volunteer test' }));
  // With the admin token the events name workers' adapters and user agents (without it they are anonymised).
  socket.send(encodeMessage({ type: 'subscribe', ...(adminToken ? { adminToken } : {}) }));
  const watch: RunWatch = {
    events,
    ofKind: (kind) => events.filter((seen) => seen.event.kind === kind).map((seen) => seen.event),
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    waitFor(predicate, timeoutMs = 120_000, what = 'a matching event') {
      const past = events.find((seen) => predicate(seen.event));
      if (past) return Promise.resolve(past.event);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (event: RunEvent) => {
            clearTimeout(timer);
            resolve(event);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no ${what} within ${timeoutMs} ms; events so far: ${events.map((seen) => seen.event.kind).join(' ')}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    close: () => socket.close(),
  };
  await watch.waitFor((event) => event.kind === 'snapshot', 30_000, 'snapshot');
  return watch;
}

/** `GET url` as JSON; throws on a non-2xx status. */
export async function getJson<T>(url: string, adminToken?: string): Promise<T> {
  const response = await fetch(url, { headers: { accept: 'application/json', ...(adminToken ? { authorization: `Bearer ${adminToken}` } : {}) } });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** One accepted block of a completed step (the server's `/api/runs/:id/accounting`). */
export interface AccountedBlock {
  start: number;
  count: number;
  workerId: string;
  backend: string;
  taskId: string;
  reissued: boolean;
}

/** One completed step's accounting. */
export interface StepAccounting {
  step: number;
  shardCount: number;
  blocks: AccountedBlock[];
  shards: { shard: number; workerId: string; backend: string }[];
}

/** One row of the run snapshot's workers table (the fields the tests read). */
export interface WorkerRow {
  id: string;
  name: string | null;
  connected: boolean;
  environment: string;
  backend: string;
  adapter: string | null;
  trusted: boolean;
  userAgent: string | null;
  tasksDone: number;
  shardsDone: number;
  rejected: number;
  lastError: string | null;
}

/**
 * Keeps copies of the coordinator's accounting (every completed step) and workers table while
 * the run is live: `train` exits when the run ends, so they are read after every `step` event
 * (the engine records a step's accounting before it emits the event) and on a timer.
 */
export class RunRecorder {
  readonly accounting = new Map<number, StepAccounting>();
  workers: WorkerRow[] = [];
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly unsubscribe: () => void;
  private polling: Promise<void> = Promise.resolve();

  constructor(
    private readonly baseUrl: string,
    watch: RunWatch,
    intervalMs = 500,
    /** Reads the workers table with the admin token (names, adapters, user agents). */
    private readonly adminToken?: string,
  ) {
    this.timer = setInterval(() => void this.poll(), intervalMs);
    this.unsubscribe = watch.onEvent((event) => {
      if (event.kind === 'step') void this.poll();
    });
    void this.poll();
  }

  /** Reads the accounting (new steps only) and the workers table once (serialised). */
  poll(): Promise<void> {
    this.polling = this.polling.then(async () => {
      try {
        const since = this.accounting.size === 0 ? 0 : Math.max(...this.accounting.keys()) + 1;
        const body = await getJson<{ steps: StepAccounting[] }>(`${this.baseUrl}/api/runs/current/accounting?since=${since}`);
        for (const entry of body.steps) this.accounting.set(entry.step, entry);
        const snapshot = await getJson<{ workers: WorkerRow[] }>(`${this.baseUrl}/api/runs/current`, this.adminToken);
        this.workers = snapshot.workers;
      } catch {
        // The server is shutting down after the run: keep what was read.
      }
    });
    return this.polling;
  }

  /** Stops reading (what was read stays). */
  stop(): void {
    clearInterval(this.timer);
    this.unsubscribe();
  }
}
