/**
 * The worker's connection loop, over a tiny transport seam ({@link Endpoint}) so the same
 * code runs in a Node process (`ws`) and in a browser Web Worker (`WebSocket`): connect,
 * `hello`, decode every frame, drive the {@link GradientWorker}, heartbeats, reconnect with
 * exponential backoff and jitter, graceful shutdown. No `node:` imports, no DOM.
 */
import {
  PROTOCOL_VERSION,
  decodeMessage,
  encodeMessage,
  isProtocolError,
  type Backend,
  type DecodeLimits,
  type Environment,
  type ErrorMessage,
  type GradientCodecName,
  type Message,
  type WorkerCapabilities,
  type WorkerHelloMessage,
  type WorkerToCoordinatorMessage,
} from '@swarmgrad/protocol';
import { chooseBackend, type BackendChoice, type BackendPreference, type ChooseBackendOptions } from './backend-choice.js';
import { GradientWorker, type GradientWorkerStatus, type SampleSource } from './core.js';
import { WorkerError, WorkerErrorCode, messageOf } from './errors.js';
import { monotonicMs, sleep } from './timers.js';

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
  const codecs = options.codecs ?? ['f32', 'f16', 'int8'];
  const permanent = new Set([...PERMANENT_ERROR_CODES, ...(options.permanentErrorCodes ?? [])]);
  const random = options.random ?? Math.random;
  const log = options.log ?? defaultLog;

  const stopper = new AbortController();
  const signal = stopper.signal;
  if (options.signal !== undefined) {
    if (options.signal.aborted) stopper.abort();
    else options.signal.addEventListener('abort', () => stopper.abort(), { once: true });
  }

  // Session state shown in status().
  let connection: ConnectionState = 'starting';
  let choice: BackendChoice | undefined = typeof options.backend === 'object' ? options.backend : undefined;
  let workerId: string | undefined;
  /** The secret of the last welcome; a reconnect presents it with `workerId`. */
  let resumeToken: string | undefined;
  let trusted: boolean | undefined;
  let connections = 0;
  let failedAttempts = 0;
  let retryAt: number | undefined;
  let roundTripMs: number | undefined;
  let stoppedBy: { code: string; message: string } | undefined;
  /** Sends a message on the current connection once it is welcomed; undefined otherwise (messages are dropped). */
  let route: ((message: WorkerToCoordinatorMessage) => void) | undefined;
  /** Sends the current state in a heartbeat right away (after pause/resume). */
  let announce: (() => void) | undefined;

  const workerOptions: ConstructorParameters<typeof GradientWorker>[0] = {
    send: (message) => {
      if (route !== undefined) route(message);
      else log({ level: 'debug', message: `not connected: dropped a ${message.type} message` });
    },
    backend: choice?.name ?? 'cpu',
    onChange: () => notify(),
  };
  if (options.slowdownMs !== undefined) workerOptions.slowdownMs = options.slowdownMs;
  if (options.sampleSource !== undefined) workerOptions.sampleSource = options.sampleSource;
  if (choice?.samplesPerSecond !== undefined) workerOptions.initialSamplesPerSecond = choice.samplesPerSecond;
  const worker = new GradientWorker(workerOptions);

  function status(): WorkerSessionStatus {
    const snapshot: WorkerSessionStatus = { ...worker.status(), connection, connections, failedAttempts };
    if (workerId !== undefined) snapshot.workerId = workerId;
    if (trusted !== undefined) snapshot.trusted = trusted;
    if (choice?.adapter !== undefined) snapshot.adapter = choice.adapter;
    if (choice !== undefined) snapshot.backendReasons = { ...choice.reasons };
    if (retryAt !== undefined && connection === 'waiting') snapshot.retryAt = retryAt;
    if (roundTripMs !== undefined) snapshot.roundTripMs = roundTripMs;
    if (stoppedBy !== undefined) snapshot.stoppedBy = { ...stoppedBy };
    return snapshot;
  }

  function notify(): void {
    if (options.onStatus === undefined) return;
    try {
      options.onStatus(status());
    } catch (error) {
      log({ level: 'warn', message: `onStatus listener threw: ${messageOf(error)}` });
    }
  }

  function setConnection(next: ConnectionState): void {
    if (connection === next) return;
    connection = next;
    notify();
  }

  function hello(): WorkerHelloMessage {
    const capabilities: WorkerCapabilities = { backend: choice!.name, environment: options.capabilities.environment, codecs: [...codecs] };
    if (choice!.adapter !== undefined) capabilities.adapter = choice!.adapter;
    if (options.capabilities.cores !== undefined) capabilities.cores = options.capabilities.cores;
    if (options.capabilities.userAgent !== undefined) capabilities.userAgent = options.capabilities.userAgent;
    const rate = worker.status().samplesPerSecond ?? choice!.samplesPerSecond;
    if (rate !== undefined) capabilities.samplesPerSecond = rate;
    const message: WorkerHelloMessage = { type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'worker', capabilities };
    if (workerId !== undefined) message.workerId = workerId;
    if (workerId !== undefined && resumeToken !== undefined) message.resumeToken = resumeToken;
    if (options.token !== undefined) message.token = options.token;
    if (options.name !== undefined) message.name = options.name;
    return message;
  }

  /** Opens a connection, or resolves `undefined` when the session is stopped meanwhile. */
  function connectOnce(): Promise<Endpoint | undefined> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      Promise.resolve()
        .then(() => options.connect())
        .then(
          (endpoint) => {
            signal.removeEventListener('abort', onAbort);
            if (settled) {
              endpoint.close(1000, 'worker shutting down');
              return;
            }
            settled = true;
            resolve(endpoint);
          },
          (error: unknown) => {
            signal.removeEventListener('abort', onAbort);
            if (settled) return;
            settled = true;
            reject(error);
          },
        );
    });
  }

  interface Outcome {
    welcomed: boolean;
    /** Closed by a fatal coordinator error before any welcome. */
    refused: boolean;
    /** Stop the session with this error. */
    fatal?: WorkerError;
  }

  /** Serves one connection until it closes; never rejects. */
  function serve(endpoint: Endpoint): Promise<Outcome> {
    return new Promise((resolveOutcome) => {
      let finished = false;
      let welcomed = false;
      let refused = false;
      let fatal: WorkerError | undefined;
      let shuttingDown = false;
      let limits: Partial<DecodeLimits> = { maxFrameBytes };
      let sendLimit: number | undefined;
      let heartbeatTimer: ReturnType<typeof setInterval> | undefined;
      let lastHeard = monotonicMs();
      let silentChecks = 0;

      const send = (message: WorkerToCoordinatorMessage): void => {
        if (finished) return;
        let frame: Uint8Array;
        try {
          frame = encodeMessage(message, sendLimit === undefined ? undefined : { maxFrameBytes: sendLimit });
        } catch (error) {
          const code = isProtocolError(error) ? error.code : 'ENCODE_FAILED';
          log({ level: 'error', code, message: `could not encode a ${message.type} message: ${messageOf(error)}` });
          worker.noteError(code, messageOf(error), 'local');
          if (message.type === 'result') {
            send({ type: 'error', code, message: `result of task ${message.taskId} not sent: ${messageOf(error)}`, ref: { taskId: message.taskId, step: message.step } });
          }
          return;
        }
        try {
          endpoint.send(frame);
        } catch (error) {
          log({ level: 'warn', message: `send failed: ${messageOf(error)}` });
        }
      };

      const finish = (): void => {
        if (finished) return;
        finished = true;
        if (heartbeatTimer !== undefined) clearInterval(heartbeatTimer);
        signal.removeEventListener('abort', onAbort);
        if (route === send) route = undefined;
        if (announce === sendHeartbeat) announce = undefined;
        worker.dropQueued();
        resolveOutcome(fatal === undefined ? { welcomed, refused } : { welcomed, refused, fatal });
      };

      const close = (code: number, reason: string): void => {
        try {
          endpoint.close(code, reason);
        } catch (error) {
          log({ level: 'debug', message: `close failed: ${messageOf(error)}` });
        }
        finish();
      };

      const sendHeartbeat = (): void => send(worker.heartbeat());

      const startHeartbeats = (intervalMs: number, timeoutMs: number): void => {
        if (heartbeatTimer !== undefined) clearInterval(heartbeatTimer);
        heartbeatTimer = setInterval(() => {
          sendHeartbeat();
          // Two checks in a row: after a long synchronous computation, timers can run before
          // the frames that arrived meanwhile have been read.
          if (monotonicMs() - lastHeard > timeoutMs) silentChecks++;
          else silentChecks = 0;
          if (silentChecks >= 2) {
            log({ level: 'warn', code: 'HEARTBEAT_TIMEOUT', message: `coordinator silent for more than ${timeoutMs} ms: reconnecting` });
            close(4000, 'coordinator heartbeat timeout');
          }
        }, intervalMs);
      };

      const onFrame = (frame: Uint8Array): void => {
        if (finished) return;
        lastHeard = monotonicMs();
        silentChecks = 0;
        let message: Message;
        try {
          message = decodeMessage(frame, limits);
        } catch (error) {
          if (!isProtocolError(error)) {
            log({ level: 'error', message: `decoding a frame failed unexpectedly: ${messageOf(error)}` });
            return;
          }
          log({ level: 'warn', code: error.code, message: `bad frame from the coordinator: ${error.message}` });
          worker.noteError(error.code, error.message, 'local');
          if (!welcomed && error.code === 'VERSION_MISMATCH') {
            fatal = new WorkerError(WorkerErrorCode.INCOMPATIBLE, `the coordinator is incompatible: ${error.message}`, { cause: error });
            send({ type: 'error', code: error.code, message: error.message, fatal: true });
            close(1002, 'protocol version mismatch');
            return;
          }
          send({ type: 'error', code: error.code, message: error.message });
          return;
        }
        switch (message.type) {
          case 'welcome': {
            limits = { maxFrameBytes, maxShardsPerTask: message.limits.maxShardsPerTask, parameterCount: message.parameterCount };
            sendLimit = message.limits.maxFrameBytes;
            workerId = message.workerId;
            resumeToken = message.resumeToken;
            trusted = message.trusted;
            route = send;
            try {
              worker.handle(message);
            } catch (error) {
              fatal = error instanceof WorkerError ? error : new WorkerError(WorkerErrorCode.INVALID_MODEL, messageOf(error), { cause: error });
              log({ level: 'error', code: fatal.code, message: fatal.message });
              close(1008, fatal.code);
              return;
            }
            if (!welcomed) {
              welcomed = true;
              connections++;
              failedAttempts = 0;
              log({ level: 'info', message: `joined run ${message.runId} as ${message.workerId}${message.trusted ? ' (trusted)' : ''}` });
            }
            const interval = message.heartbeatIntervalMs;
            startHeartbeats(interval, message.heartbeatTimeoutMs ?? 3 * interval);
            announce = sendHeartbeat;
            setConnection(shuttingDown ? 'stopping' : 'connected');
            if (worker.paused) sendHeartbeat();
            return;
          }
          case 'params':
          case 'task':
            if (!welcomed) {
              const ref = message.type === 'task' ? { taskId: message.taskId, step: message.step } : { step: message.step };
              send({ type: 'error', code: WorkerErrorCode.NOT_READY, message: `${message.type} arrived before the welcome`, ref });
              return;
            }
            worker.handle(message);
            return;
          case 'heartbeat':
            if (message.echo === undefined) send(worker.heartbeat(message.sentAt));
            else {
              roundTripMs = Math.max(0, Date.now() - message.echo);
            }
            return;
          case 'error':
            onCoordinatorError(message);
            return;
          case 'bye':
            log({ level: 'info', message: `coordinator said bye: ${message.reason}` });
            close(1000, 'bye');
            return;
          default:
            log({ level: 'warn', code: 'UNEXPECTED_MESSAGE', message: `ignored a ${message.type} message: coordinators do not send those to workers` });
            return;
        }
      };

      const onCoordinatorError = (message: ErrorMessage): void => {
        const where = message.ref?.taskId !== undefined ? ` (task ${message.ref.taskId})` : '';
        log({ level: message.fatal === true ? 'error' : 'warn', code: message.code, message: `coordinator error ${message.code}${where}: ${message.message}` });
        worker.noteError(message.code, message.message, 'coordinator');
        if (message.fatal !== true) return;
        if (permanent.has(message.code)) {
          fatal = new WorkerError(WorkerErrorCode.REFUSED, `the coordinator refused this worker: ${message.code}: ${message.message}`, { remoteCode: message.code });
        } else if (!welcomed) {
          refused = true;
        }
        close(1000, 'fatal coordinator error');
      };

      const shutdown = async (): Promise<void> => {
        if (shuttingDown || finished) return;
        shuttingDown = true;
        setConnection('stopping');
        worker.declineQueued('the worker is shutting down');
        worker.pause();
        if (welcomed) {
          sendHeartbeat();
          const timeout = new AbortController();
          const finishedInTime = await Promise.race([worker.whenIdle().then(() => true), sleep(shutdownTimeoutMs, timeout.signal).then(() => false)]);
          timeout.abort(); // clears the timer, so it cannot keep a Node process alive
          if (!finishedInTime) {
            log({ level: 'warn', message: `the current task did not finish within ${shutdownTimeoutMs} ms; leaving without its result` });
          }
        }
        send({ type: 'bye', reason: 'worker shutting down' });
        close(1000, 'worker shutting down');
      };
      const onAbort = (): void => void shutdown();

      endpoint.onClose((code, reason) => {
        if (finished) return;
        log({ level: welcomed ? 'warn' : 'info', message: `connection closed (${code}${reason ? ` ${reason}` : ''})` });
        finish();
      });
      endpoint.onMessage(onFrame);
      send(hello());
      if (signal.aborted) void shutdown();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async function run(): Promise<void> {
    try {
      if (choice === undefined) {
        const preference = (options.backend as BackendPreference | undefined) ?? 'auto';
        choice = await chooseBackend(preference, options.backendChoice);
        worker.setBackend(choice.name);
        log({ level: 'info', message: `computing on ${choice.name}${choice.adapter ? ` (${choice.adapter})` : ''}${choice.samplesPerSecond ? `, ~${Math.round(choice.samplesPerSecond)} samples/s` : ''}` });
      }
      let refusals = 0;
      while (!signal.aborted) {
        setConnection('connecting');
        let endpoint: Endpoint | undefined;
        try {
          endpoint = await connectOnce();
        } catch (error) {
          log({ level: 'warn', code: 'CONNECT_FAILED', message: `cannot connect to the coordinator: ${messageOf(error)}` });
        }
        if (signal.aborted && endpoint === undefined) break;
        if (endpoint !== undefined) {
          const outcome = await serve(endpoint);
          if (outcome.fatal !== undefined) throw outcome.fatal;
          refusals = outcome.refused ? refusals + 1 : 0;
          if (refusals >= maxRefusals) {
            throw new WorkerError(WorkerErrorCode.REFUSED, `the coordinator refused ${refusals} connections in a row before welcoming this worker; see lastError`);
          }
          if (signal.aborted) break;
          if (outcome.welcomed) failedAttempts = 0;
        }
        failedAttempts++;
        if (failedAttempts >= policy.maxAttempts) {
          throw new WorkerError(WorkerErrorCode.CONNECT_FAILED, `gave up after ${failedAttempts} connection attempts in a row without a welcome`);
        }
        const delay = backoffDelay(policy, failedAttempts, random);
        retryAt = Date.now() + delay;
        setConnection('waiting');
        log({ level: 'info', message: `reconnecting in ${Math.round(delay)} ms` });
        await sleep(delay, signal);
      }
    } catch (error) {
      const code = error instanceof WorkerError ? (error.remoteCode ?? error.code) : 'ERROR';
      stoppedBy = { code, message: messageOf(error) };
      log({ level: 'error', code, message: messageOf(error) });
      throw error;
    } finally {
      worker.pause();
      route = undefined;
      setConnection('stopped');
    }
  }

  const done = run();
  // `done` is also awaited by stop(); an unobserved rejection is the caller's to see via `done`.
  done.catch(() => undefined);
  notify();

  return {
    done,
    status,
    pause: () => {
      worker.pause();
      announce?.();
    },
    resume: () => {
      worker.resume();
      announce?.();
    },
    stop: async () => {
      stopper.abort();
      await done.catch(() => undefined);
    },
  };
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

/** The subset of the WHATWG `WebSocket` that {@link webSocketEndpoint} uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: never) => void): void;
}

/**
 * Connects with a WHATWG `WebSocket` (browsers, Web Workers, Node 22+, or any compatible
 * class) and adapts it to an {@link Endpoint}: binary frames as `ArrayBuffer`s. Resolves once
 * the socket is open; rejects if it closes or fails first.
 *
 * @param url `ws://` or `wss://` URL of the coordinator
 * @param WebSocketImpl the `WebSocket` class to use. Default: `globalThis.WebSocket`.
 */
export function webSocketEndpoint(url: string, WebSocketImpl?: new (url: string) => WebSocketLike): Promise<Endpoint> {
  const Impl = WebSocketImpl ?? (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (Impl === undefined) return Promise.reject(new TypeError('webSocketEndpoint: no WebSocket class in this environment; pass one'));
  return new Promise((resolve, reject) => {
    const socket = new Impl(url);
    socket.binaryType = 'arraybuffer';
    let opened = false;
    let messageListener: ((frame: Uint8Array) => void) | undefined;
    let closeListener: ((code: number, reason: string) => void) | undefined;
    const early: Uint8Array[] = [];
    socket.addEventListener('message', ((event: { data: unknown }) => {
      const data = event.data;
      const frame =
        data instanceof ArrayBuffer
          ? new Uint8Array(data)
          : ArrayBuffer.isView(data)
            ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
            : new TextEncoder().encode(String(data)); // a text frame: the decoder will refuse it
      if (messageListener !== undefined) messageListener(frame);
      else early.push(frame);
    }) as (event: never) => void);
    socket.addEventListener('close', ((event: { code: number; reason: string }) => {
      if (!opened) reject(new Error(`connection to ${url} closed before it opened (${event.code}${event.reason ? ` ${event.reason}` : ''})`));
      closeListener?.(event.code, event.reason);
    }) as (event: never) => void);
    socket.addEventListener('error', (() => {
      if (!opened) reject(new Error(`cannot connect to ${url}`));
    }) as (event: never) => void);
    socket.addEventListener('open', (() => {
      opened = true;
      resolve({
        send: (frame) => socket.send(frame),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) => {
          messageListener = cb;
          for (const frame of early.splice(0)) cb(frame);
        },
        onClose: (cb) => {
          closeListener = cb;
        },
      });
    }) as (event: never) => void);
  });
}
