/**
 * The worker's connection loop, over a tiny transport seam ({@link Endpoint}) so the same
 * code runs in a Node process (`ws`) and in a browser Web Worker (`WebSocket`): connect,
 * `hello`, decode every frame, drive the {@link GradientWorker}, heartbeats, reconnect with
 * exponential backoff and jitter, graceful shutdown. No `node:` imports, no DOM.
 */
import type { Backend, Environment, GradientCodecName } from '@swarmgrad/protocol';
import { chooseBackend, type BackendChoice, type BackendPreference, type ChooseBackendOptions } from './backend-choice.js';
import { connectUnlessAborted, serveConnection, type ConnectionContext } from './connection.js';
import type { GradientWorkerStatus, SampleSource } from './core.js';
import { WorkerError, WorkerErrorCode, messageOf } from './errors.js';
import { SessionState } from './session-state.js';
import { sleep } from './timers.js';

export { webSocketEndpoint, type WebSocketLike } from './web-socket-endpoint.js';

/**
 * One connection to the coordinator, as the session needs it: binary frames in and out and
 * a close notification. Adapters: `connectWebSocket` in `@swarmgrad/worker/node` (`ws`),
 * {@link webSocketEndpoint} for a WHATWG `WebSocket` (browsers, Web Workers).
 */
export interface Endpoint {
  /** Sends one frame (a whole message). */
  send(frame: Uint8Array): void;
  /** Closes the connection; `onClose` need not be called afterwards. */
  close(code?: number, reason?: string): void;
  /** Registers the frame listener (called once, right after connecting). */
  onMessage(cb: (frame: Uint8Array) => void): void;
  /** Registers the close listener (called once): the peer closed or the connection broke. */
  onClose(cb: (code: number, reason: string) => void): void;
}

/** How the session retries after a lost or failed connection. */
export interface ReconnectPolicy {
  /** Delay before the first retry (ms). Default 500. */
  initialDelayMs: number;
  /** Largest delay (ms). Default 30,000. */
  maxDelayMs: number;
  /** Each failed attempt in a row multiplies the delay by this. Default 2. */
  factor: number;
  /** Random spread: the delay is multiplied by a uniform factor in `[1 - jitter, 1 + jitter]`. Default 0.2. */
  jitter: number;
  /** Give up (`CONNECT_FAILED`) after this many attempts in a row without a `welcome`. Default `Infinity`. */
  maxAttempts: number;
}

/** Reconnect policy defaults. */
export const DEFAULT_RECONNECT_POLICY: Readonly<ReconnectPolicy> = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.2,
  maxAttempts: Number.POSITIVE_INFINITY,
});

/**
 * Coordinator `error` codes after which the worker stops instead of reconnecting (when the
 * error is `fatal`): retrying would be refused the same way.
 */
export const PERMANENT_ERROR_CODES: readonly string[] = Object.freeze([
  'AUTH_FAILED',
  'VERSION_MISMATCH',
  'BANNED',
  'FORBIDDEN',
  'UNAUTHORIZED',
]);

/** What the session says about itself (on top of the compute core's status). */
export type ConnectionState =
  /** choosing and starting the backend */
  | 'starting'
  /** opening a connection, or waiting for the `welcome` */
  | 'connecting'
  /** welcomed: taking tasks */
  | 'connected'
  /** waiting before the next connection attempt */
  | 'waiting'
  /** shutting down: finishing the current task, then `bye` */
  | 'stopping'
  /** the session has ended (see `done`) */
  | 'stopped';

/** A snapshot of a worker session: the compute core's status plus the connection's. */
export interface WorkerSessionStatus extends GradientWorkerStatus {
  connection: ConnectionState;
  /** The id the coordinator gave this worker (kept across reconnects). */
  workerId?: string;
  /** Whether the coordinator trusts this worker (a lab token was accepted). */
  trusted?: boolean;
  /** WebGPU adapter description. */
  adapter?: string;
  /** Why the other backends were not used (from `chooseBackend`). */
  backendReasons?: Partial<Record<Backend, string>>;
  /** Connections that reached a `welcome`. */
  connections: number;
  /** Connection attempts in a row that did not reach a `welcome` (the retry number while `waiting`; 0 once welcomed). */
  failedAttempts: number;
  /** When the next connection attempt is due (`Date.now()` ms), while `waiting`. */
  retryAt?: number;
  /** Round-trip time of the last heartbeat the coordinator echoed (ms). */
  roundTripMs?: number;
  /** Why the session stopped with an error, once `stopped`. */
  stoppedBy?: { code: string; message: string };
}

/** A log line from the session. */
export interface WorkerLogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  /** Stable code, when the line is about an error. */
  code?: string;
}

/** Options of {@link startWorkerSession} / {@link runWorkerSession}. */
export interface WorkerSessionOptions {
  /** Opens a new connection to the coordinator. Called again for every reconnect. */
  connect: () => Promise<Endpoint>;
  /** Lab token sent in `hello` (volunteers send none). */
  token?: string;
  /** Human label shown on dashboards. */
  name?: string;
  /** A backend preference (chosen with `chooseBackend` when the session starts), or a backend already started. Default `'auto'`. */
  backend?: BackendPreference | BackendChoice;
  /** Options for `chooseBackend` when `backend` is a preference. */
  backendChoice?: ChooseBackendOptions;
  /** Where the worker runs, for `hello.capabilities`. */
  capabilities: { environment: Environment; cores?: number; userAgent?: string };
  /** Codecs offered in `hello`, preferred first. Default `['f32', 'f16', 'int8']`. */
  codecs?: GradientCodecName[];
  /** Artificial delay per task (ms), for straggler tests. Default 0. */
  slowdownMs?: number;
  /** Loads samples for tasks that carry none inline. */
  sampleSource?: SampleSource;
  /** Called after every status change. */
  onStatus?: (status: WorkerSessionStatus) => void;
  /** Log sink. Default: `warn` and `error` lines to `console`, others dropped. */
  log?: (entry: WorkerLogEntry) => void;
  /** Aborting it shuts the worker down gracefully (same as `stop()`). */
  signal?: AbortSignal;
  /** Reconnect policy; omitted fields take {@link DEFAULT_RECONNECT_POLICY}. */
  reconnect?: Partial<ReconnectPolicy>;
  /** On shutdown, wait at most this long for the current task to finish (ms). Default 30,000. */
  shutdownTimeoutMs?: number;
  /** Largest frame accepted from the coordinator (bytes). Default 512 MiB (an AlexNet `params` frame is ~250 MB). */
  maxFrameBytes?: number;
  /** Extra coordinator error codes to treat as permanent (added to {@link PERMANENT_ERROR_CODES}). */
  permanentErrorCodes?: readonly string[];
  /** Stop (`REFUSED`) after this many connections in a row closed by a fatal coordinator `error` before any `welcome`, whatever its code. Default 5. */
  maxRefusals?: number;
  /** Random numbers in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
}

/** A running worker session. */
export interface WorkerSession {
  /** Resolves when the session stops after `stop()`/abort; rejects with a {@link WorkerError} when it stops on its own (refused, incompatible, no backend, gave up connecting). */
  readonly done: Promise<void>;
  /** A snapshot of the session and its compute core. */
  status(): WorkerSessionStatus;
  /** Stops taking tasks (the current one finishes; queued ones are handed back); heartbeats say `paused`. */
  pause(): void;
  /** Takes tasks again. */
  resume(): void;
  /** Graceful shutdown: finish the current task (bounded wait) and send its result, then `bye`, then close. Resolves with `done`'s outcome ignored. */
  stop(): Promise<void>;
}

const DEFAULT_MAX_FRAME_BYTES = 512 * 1024 * 1024;

/** Runs a worker session until it is aborted (resolves) or stops on its own (rejects). Same as `startWorkerSession(options).done`. */
export function runWorkerSession(options: WorkerSessionOptions): Promise<void> {
  return startWorkerSession(options).done;
}

/**
 * Starts a worker session: chooses the backend, connects, sends `hello`, computes the
 * coordinator's tasks and reconnects when the connection drops.
 *
 * - Every frame is decoded with `decodeMessage` (limits from the `welcome`, with its
 *   `parameterCount`); a `ProtocolError` is logged and answered with an `error` of its code.
 * - Heartbeats go out every `welcome.heartbeatIntervalMs`; coordinator heartbeats are
 *   answered with `echo`. A coordinator silent for `heartbeatTimeoutMs` (default 3 × interval)
 *   on two checks in a row is taken as gone: the worker closes and reconnects.
 * - Reconnects use exponential backoff with jitter; `hello.workerId` carries the id of the
 *   last `welcome`. A fatal coordinator `error` with a code in {@link PERMANENT_ERROR_CODES}
 *   (e.g. `AUTH_FAILED`), a `welcome` the worker cannot serve, or `VERSION_MISMATCH`, stops
 *   the session with a {@link WorkerError} instead.
 * - A coordinator `bye` or a non-permanent fatal `error` closes the connection; the session
 *   reconnects (the coordinator may be restarting).
 */
export function startWorkerSession(options: WorkerSessionOptions): WorkerSession {
  const settings = resolveSessionOptions(options);
  const stopper = new AbortController();
  if (options.signal !== undefined) {
    if (options.signal.aborted) stopper.abort();
    else options.signal.addEventListener('abort', () => stopper.abort(), { once: true });
  }
  const state = new SessionState(options, settings.codecs, settings.log);
  const worker = state.worker;
  const done = runSession(options, settings, state, stopper.signal);
  // `done` is also awaited by stop(); an unobserved rejection is the caller's to see via `done`.
  done.catch(() => undefined);
  state.notify();
  return {
    done,
    status: () => state.status(),
    pause: () => {
      worker.pause();
      state.announce?.();
    },
    resume: () => {
      worker.resume();
      state.announce?.();
    },
    stop: async () => {
      stopper.abort();
      await done.catch(() => undefined);
    },
  };
}

/** The session's options with defaults filled in and checked. */
interface SessionSettings {
  policy: ReconnectPolicy;
  shutdownTimeoutMs: number;
  maxFrameBytes: number;
  maxRefusals: number;
  codecs: GradientCodecName[];
  permanent: ReadonlySet<string>;
  random: () => number;
  log: (entry: WorkerLogEntry) => void;
}

/** Fills in defaults and checks the options. @throws TypeError naming the bad option */
function resolveSessionOptions(options: WorkerSessionOptions): SessionSettings {
  if (typeof options?.connect !== 'function') throw new TypeError('startWorkerSession: options.connect must be a function returning a Promise<Endpoint>');
  if (options.capabilities === undefined) throw new TypeError('startWorkerSession: options.capabilities is required ({ environment, cores?, userAgent? })');
  const policy: ReconnectPolicy = { ...DEFAULT_RECONNECT_POLICY, ...options.reconnect };
  checkPolicy(policy);
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 30_000;
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const maxRefusals = options.maxRefusals ?? 5;
  if (!(shutdownTimeoutMs >= 0)) throw new TypeError(`startWorkerSession: shutdownTimeoutMs must be >= 0, got ${shutdownTimeoutMs}`);
  if (!Number.isInteger(maxFrameBytes) || maxFrameBytes <= 0) throw new TypeError(`startWorkerSession: maxFrameBytes must be a positive integer, got ${maxFrameBytes}`);
  if (!Number.isInteger(maxRefusals) || maxRefusals < 1) throw new TypeError(`startWorkerSession: maxRefusals must be an integer >= 1, got ${maxRefusals}`);
  return {
    policy,
    shutdownTimeoutMs,
    maxFrameBytes,
    maxRefusals,
    codecs: options.codecs ?? ['f32', 'f16', 'int8'],
    permanent: new Set([...PERMANENT_ERROR_CODES, ...(options.permanentErrorCodes ?? [])]),
    random: options.random ?? Math.random,
    log: options.log ?? defaultLog,
  };
}

/** The whole session: choose the backend, then connect, serve and reconnect until stopped or refused. */
async function runSession(options: WorkerSessionOptions, settings: SessionSettings, state: SessionState, signal: AbortSignal): Promise<void> {
  const { log } = settings;
  try {
    if (state.choice === undefined) {
      const preference = (options.backend as BackendPreference | undefined) ?? 'auto';
      const choice = await chooseBackend(preference, options.backendChoice);
      state.choice = choice;
      state.worker.setBackend(choice.name);
      log({ level: 'info', message: `computing on ${choice.name}${choice.adapter ? ` (${choice.adapter})` : ''}${choice.samplesPerSecond ? `, ~${Math.round(choice.samplesPerSecond)} samples/s` : ''}` });
    }
    await reconnectLoop(options, settings, state, signal);
  } catch (error) {
    const code = error instanceof WorkerError ? (error.remoteCode ?? error.code) : 'ERROR';
    state.stoppedBy = { code, message: messageOf(error) };
    log({ level: 'error', code, message: messageOf(error) });
    throw error;
  } finally {
    state.worker.pause();
    state.route = undefined;
    state.setConnection('stopped');
  }
}

/**
 * Connects, serves the connection until it closes, waits (exponential backoff with
 * jitter) and connects again, until `signal` aborts. @throws WorkerError when the
 * coordinator refuses the worker or `maxAttempts` connections in a row fail.
 */
async function reconnectLoop(options: WorkerSessionOptions, settings: SessionSettings, state: SessionState, signal: AbortSignal): Promise<void> {
  const { policy, log, maxRefusals } = settings;
  const context: ConnectionContext = { state, log, signal, maxFrameBytes: settings.maxFrameBytes, shutdownTimeoutMs: settings.shutdownTimeoutMs, permanent: settings.permanent };
  let refusals = 0;
  while (!signal.aborted) {
    state.setConnection('connecting');
    let endpoint: Endpoint | undefined;
    try {
      endpoint = await connectUnlessAborted(options.connect, signal);
    } catch (error) {
      log({ level: 'warn', code: 'CONNECT_FAILED', message: `cannot connect to the coordinator: ${messageOf(error)}` });
    }
    if (signal.aborted && endpoint === undefined) break;
    if (endpoint !== undefined) {
      const outcome = await serveConnection(endpoint, context);
      if (outcome.fatal !== undefined) throw outcome.fatal;
      refusals = outcome.refused ? refusals + 1 : 0;
      if (refusals >= maxRefusals) {
        throw new WorkerError(WorkerErrorCode.REFUSED, `the coordinator refused ${refusals} connections in a row before welcoming this worker; see lastError`);
      }
      if (signal.aborted) break;
      if (outcome.welcomed) state.failedAttempts = 0;
    }
    state.failedAttempts++;
    if (state.failedAttempts >= policy.maxAttempts) {
      throw new WorkerError(WorkerErrorCode.CONNECT_FAILED, `gave up after ${state.failedAttempts} connection attempts in a row without a welcome`);
    }
    const delay = backoffDelay(policy, state.failedAttempts, settings.random);
    state.retryAt = Date.now() + delay;
    state.setConnection('waiting');
    log({ level: 'info', message: `reconnecting in ${Math.round(delay)} ms` });
    await sleep(delay, signal);
  }
}

/** The delay before retry number `attempt` (1-based): `initialDelayMs × factor^(attempt-1)`, capped, then jittered. */
export function backoffDelay(policy: ReconnectPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** Math.max(0, attempt - 1));
  const spread = 1 + policy.jitter * (2 * random() - 1);
  return Math.max(0, base * spread);
}

function checkPolicy(policy: ReconnectPolicy): void {
  const { initialDelayMs, maxDelayMs, factor, jitter, maxAttempts } = policy;
  if (!(initialDelayMs >= 0 && Number.isFinite(initialDelayMs))) throw new TypeError(`reconnect.initialDelayMs must be a finite number >= 0, got ${initialDelayMs}`);
  if (!(maxDelayMs >= initialDelayMs && Number.isFinite(maxDelayMs))) throw new TypeError(`reconnect.maxDelayMs must be finite and >= initialDelayMs (${initialDelayMs}), got ${maxDelayMs}`);
  if (!(factor >= 1 && Number.isFinite(factor))) throw new TypeError(`reconnect.factor must be a finite number >= 1, got ${factor}`);
  if (!(jitter >= 0 && jitter <= 1)) throw new TypeError(`reconnect.jitter must be in [0, 1], got ${jitter}`);
  if (!(maxAttempts >= 1)) throw new TypeError(`reconnect.maxAttempts must be >= 1, got ${maxAttempts}`);
}

function defaultLog(entry: WorkerLogEntry): void {
  const line = `[swarmgrad worker] ${entry.message}`;
  if (entry.level === 'error') console.error(line);
  else if (entry.level === 'warn') console.warn(line);
}

