/**
 * What the page and its Web Worker say to each other (types only). The worker exposes a
 * {@link VolunteerWorkerApi} with comlink; the page wraps it and passes a callback
 * (`Comlink.proxy`) that receives {@link VolunteerEvent}s.
 */
import type { BackendPreference, WorkerLogEntry, WorkerSessionStatus } from '@swarmgrad/worker';
import type { Backend } from '@swarmgrad/protocol';

/** How the page asks the worker to start contributing. */
export interface StartOptions {
  /** `ws://` or `wss://` URL of the coordinator's WebSocket (`/ws`). */
  coordinatorUrl: string;
  /** `auto` (fastest backend that works here, measured) or one backend, used as is. */
  backend: BackendPreference;
  /** Label shown on dashboards. */
  name: string;
  /** Testing: an artificial delay before every task (ms), to make this tab a straggler. */
  slowdownMs?: number;
}

/** The worker's side of a volunteer tab, as the page sees it. */
export interface VolunteerWorkerApi {
  /**
   * Chooses a backend (once per tab; the choice is kept) and starts a session, unless one is
   * running: then it only resumes it. Events go to `onEvent` from then on. Resolves once the
   * session has started (or failed to: an `error` event says why).
   */
  start(options: StartOptions, onEvent: (event: VolunteerEvent) => void): Promise<void>;
  /** Stops taking tasks: the current task finishes and is sent, queued ones are handed back. */
  pause(): void;
  /** Takes tasks again. */
  resume(): void;
  /** Graceful stop: finishes the current task, says `bye`, closes. */
  stop(): Promise<void>;
}

/** Which backend this tab computes on and why (from `chooseBackend`). */
export interface BackendSummary {
  name: Backend;
  adapter?: string;
  /** Self-benchmark result, LeNet-5 samples/s; absent when a backend was named. */
  samplesPerSecond?: number;
  /** Why each other backend is not used. */
  reasons: Partial<Record<Backend, string>>;
  /** How long choosing took (ms). */
  choiceMs: number;
}

/** Messages from the worker to the page. */
export type VolunteerEvent =
  /** Choosing the backend: what is being tried now. */
  | { type: 'choosing'; detail: string }
  /** The backend is chosen and started. */
  | { type: 'backend'; backend: BackendSummary }
  /** The session's status changed (throttled to a few per second, the latest always delivered). */
  | { type: 'status'; status: WorkerSessionStatus }
  /** A log line of the session (info and above). */
  | { type: 'log'; entry: WorkerLogEntry; at: number }
  /** Starting failed, or the session stopped on its own. */
  | { type: 'error'; code: string; message: string }
  /** The session ended (after `stop()` or on its own). */
  | { type: 'stopped' };
