/**
 * One connection to the coordinator, from `hello` to close: encodes and sends, decodes
 * every frame (limits from the `welcome`), drives the compute core, keeps heartbeats going
 * and watches the coordinator's, handles coordinator errors and `bye`, and shuts down
 * gracefully when the session stops. The reconnect loop (`session.ts`) opens the next one.
 */
import {
  decodeMessage,
  encodeMessage,
  isProtocolError,
  type DecodeLimits,
  type ErrorMessage,
  type Message,
  type WelcomeMessage,
  type WorkerToCoordinatorMessage,
} from '@swarmgrad/protocol';
import type { GradientWorker } from './core.js';
import { WorkerError, WorkerErrorCode, messageOf } from './errors.js';
import type { Endpoint, WorkerLogEntry } from './session.js';
import type { SessionState } from './session-state.js';
import { monotonicMs, sleep } from './timers.js';

/** What a connection needs from its session. */
export interface ConnectionContext {
  state: SessionState;
  log: (entry: WorkerLogEntry) => void;
  /** Aborted when the session stops: the connection shuts down gracefully. */
  signal: AbortSignal;
  /** Largest frame accepted from the coordinator (bytes). */
  maxFrameBytes: number;
  /** On shutdown, wait at most this long for the current task (ms). */
  shutdownTimeoutMs: number;
  /** Fatal coordinator error codes after which the session stops instead of reconnecting. */
  permanent: ReadonlySet<string>;
}

/** How a connection ended. */
export interface ConnectionOutcome {
  welcomed: boolean;
  /** Closed by a fatal coordinator error before any welcome. */
  refused: boolean;
  /** Stop the session with this error. */
  fatal?: WorkerError;
}

/** Opens a connection with `connect`, or resolves `undefined` when `signal` aborts first (a late endpoint is closed). */
export function connectUnlessAborted(connect: () => Promise<Endpoint>, signal: AbortSignal): Promise<Endpoint | undefined> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const onAbort = (): void => {
      if (settled) return;
      settled = true;
      resolve(undefined);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    Promise.resolve()
      .then(() => connect())
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

/** Serves one connection until it closes; never rejects. */
export function serveConnection(endpoint: Endpoint, ctx: ConnectionContext): Promise<ConnectionOutcome> {
  return new Promise((resolve) => new CoordinatorConnection(endpoint, ctx, resolve).start());
}

/** The state of one connection; see {@link serveConnection}. */
class CoordinatorConnection {
  private finished = false;
  private welcomed = false;
  private refused = false;
  private fatal: WorkerError | undefined;
  private shuttingDown = false;
  private limits: Partial<DecodeLimits>;
  private sendLimit: number | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private lastHeard = monotonicMs();
  private silentChecks = 0;
  private readonly worker: GradientWorker;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly ctx: ConnectionContext,
    private readonly resolveOutcome: (outcome: ConnectionOutcome) => void,
  ) {
    this.limits = { maxFrameBytes: ctx.maxFrameBytes };
    this.worker = ctx.state.worker;
  }

  /** Registers the listeners, sends `hello`, and shuts down at once if the session already stopped. */
  start(): void {
    const { endpoint, ctx } = this;
    endpoint.onClose((code, reason) => {
      if (this.finished) return;
      ctx.log({ level: this.welcomed ? 'warn' : 'info', message: `connection closed (${code}${reason ? ` ${reason}` : ''})` });
      this.finish();
    });
    endpoint.onMessage((frame) => this.onFrame(frame));
    this.send(ctx.state.hello());
    if (ctx.signal.aborted) void this.shutdown();
    else ctx.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Encodes and sends; a message that cannot be encoded is logged (a result is replaced by an `error`). */
  private readonly send = (message: WorkerToCoordinatorMessage): void => {
    if (this.finished) return;
    let frame: Uint8Array;
    try {
      frame = encodeMessage(message, this.sendLimit === undefined ? undefined : { maxFrameBytes: this.sendLimit });
    } catch (error) {
      const code = isProtocolError(error) ? error.code : 'ENCODE_FAILED';
      this.ctx.log({ level: 'error', code, message: `could not encode a ${message.type} message: ${messageOf(error)}` });
      this.worker.noteError(code, messageOf(error), 'local');
      if (message.type === 'result') {
        this.send({ type: 'error', code, message: `result of task ${message.taskId} not sent: ${messageOf(error)}`, ref: { taskId: message.taskId, step: message.step } });
      }
      return;
    }
    try {
      this.endpoint.send(frame);
    } catch (error) {
      this.ctx.log({ level: 'warn', message: `send failed: ${messageOf(error)}` });
    }
  };

  private readonly sendHeartbeat = (): void => this.send(this.worker.heartbeat());

  private readonly onAbort = (): void => void this.shutdown();

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const { state } = this.ctx;
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    this.ctx.signal.removeEventListener('abort', this.onAbort);
    if (state.route === this.send) state.route = undefined;
    if (state.announce === this.sendHeartbeat) state.announce = undefined;
    this.worker.dropQueued();
    const { welcomed, refused, fatal } = this;
    this.resolveOutcome(fatal === undefined ? { welcomed, refused } : { welcomed, refused, fatal });
  }

  private close(code: number, reason: string): void {
    try {
      this.endpoint.close(code, reason);
    } catch (error) {
      this.ctx.log({ level: 'debug', message: `close failed: ${messageOf(error)}` });
    }
    this.finish();
  }

  private startHeartbeats(intervalMs: number, timeoutMs: number): void {
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      this.sendHeartbeat();
      // Two checks in a row: after a long synchronous computation, timers can run before
      // the frames that arrived meanwhile have been read.
      if (monotonicMs() - this.lastHeard > timeoutMs) this.silentChecks++;
      else this.silentChecks = 0;
      if (this.silentChecks >= 2) {
        this.ctx.log({ level: 'warn', code: 'HEARTBEAT_TIMEOUT', message: `coordinator silent for more than ${timeoutMs} ms: reconnecting` });
        this.close(4000, 'coordinator heartbeat timeout');
      }
    }, intervalMs);
  }

  private onFrame(frame: Uint8Array): void {
    if (this.finished) return;
    this.lastHeard = monotonicMs();
    this.silentChecks = 0;
    const message = this.decode(frame);
    if (message !== undefined) this.handle(message);
  }

  /** Decodes a frame; a bad one is logged and answered with an `error` (fatal for a version mismatch before the welcome). */
  private decode(frame: Uint8Array): Message | undefined {
    try {
      return decodeMessage(frame, this.limits);
    } catch (error) {
      if (!isProtocolError(error)) {
        this.ctx.log({ level: 'error', message: `decoding a frame failed unexpectedly: ${messageOf(error)}` });
        return undefined;
      }
      this.ctx.log({ level: 'warn', code: error.code, message: `bad frame from the coordinator: ${error.message}` });
      this.worker.noteError(error.code, error.message, 'local');
      if (!this.welcomed && error.code === 'VERSION_MISMATCH') {
        this.fatal = new WorkerError(WorkerErrorCode.INCOMPATIBLE, `the coordinator is incompatible: ${error.message}`, { cause: error });
        this.send({ type: 'error', code: error.code, message: error.message, fatal: true });
        this.close(1002, 'protocol version mismatch');
        return undefined;
      }
      this.send({ type: 'error', code: error.code, message: error.message });
      return undefined;
    }
  }

  private handle(message: Message): void {
    switch (message.type) {
      case 'welcome':
        return this.onWelcome(message);
      case 'params':
      case 'task':
        if (!this.welcomed) {
          const ref = message.type === 'task' ? { taskId: message.taskId, step: message.step } : { step: message.step };
          this.send({ type: 'error', code: WorkerErrorCode.NOT_READY, message: `${message.type} arrived before the welcome`, ref });
          return;
        }
        this.worker.handle(message);
        return;
      case 'heartbeat':
        if (message.echo === undefined) this.send(this.worker.heartbeat(message.sentAt));
        else this.ctx.state.roundTripMs = Math.max(0, Date.now() - message.echo);
        return;
      case 'error':
        return this.onCoordinatorError(message);
      case 'bye':
        this.ctx.log({ level: 'info', message: `coordinator said bye: ${message.reason}` });
        this.close(1000, 'bye');
        return;
      default:
        this.ctx.log({ level: 'warn', code: 'UNEXPECTED_MESSAGE', message: `ignored a ${message.type} message: coordinators do not send those to workers` });
    }
  }

  private onWelcome(message: WelcomeMessage): void {
    const { state, log } = this.ctx;
    this.limits = { maxFrameBytes: this.ctx.maxFrameBytes, maxShardsPerTask: message.limits.maxShardsPerTask, parameterCount: message.parameterCount };
    this.sendLimit = message.limits.maxFrameBytes;
    state.workerId = message.workerId;
    state.resumeToken = message.resumeToken;
    state.trusted = message.trusted;
    state.route = this.send;
    try {
      this.worker.handle(message);
    } catch (error) {
      this.fatal = error instanceof WorkerError ? error : new WorkerError(WorkerErrorCode.INVALID_MODEL, messageOf(error), { cause: error });
      log({ level: 'error', code: this.fatal.code, message: this.fatal.message });
      this.close(1008, this.fatal.code);
      return;
    }
    if (!this.welcomed) {
      this.welcomed = true;
      state.connections++;
      state.failedAttempts = 0;
      log({ level: 'info', message: `joined run ${message.runId} as ${message.workerId}${message.trusted ? ' (trusted)' : ''}` });
    }
    const interval = message.heartbeatIntervalMs;
    this.startHeartbeats(interval, message.heartbeatTimeoutMs ?? 3 * interval);
    state.announce = this.sendHeartbeat;
    state.setConnection(this.shuttingDown ? 'stopping' : 'connected');
    if (this.worker.paused) this.sendHeartbeat();
  }

  private onCoordinatorError(message: ErrorMessage): void {
    const where = message.ref?.taskId !== undefined ? ` (task ${message.ref.taskId})` : '';
    this.ctx.log({ level: message.fatal === true ? 'error' : 'warn', code: message.code, message: `coordinator error ${message.code}${where}: ${message.message}` });
    this.worker.noteError(message.code, message.message, 'coordinator');
    if (message.fatal !== true) return;
    if (this.ctx.permanent.has(message.code)) {
      this.fatal = new WorkerError(WorkerErrorCode.REFUSED, `the coordinator refused this worker: ${message.code}: ${message.message}`, { remoteCode: message.code });
    } else if (!this.welcomed) {
      this.refused = true;
    }
    this.close(1000, 'fatal coordinator error');
  }

  /** Graceful shutdown: decline queued tasks, finish the current one (bounded wait), then `bye` and close. */
  private async shutdown(): Promise<void> {
    if (this.shuttingDown || this.finished) return;
    this.shuttingDown = true;
    const { shutdownTimeoutMs } = this.ctx;
    this.ctx.state.setConnection('stopping');
    this.worker.declineQueued('the worker is shutting down');
    this.worker.pause();
    if (this.welcomed) {
      this.sendHeartbeat();
      const timeout = new AbortController();
      const finishedInTime = await Promise.race([this.worker.whenIdle().then(() => true), sleep(shutdownTimeoutMs, timeout.signal).then(() => false)]);
      timeout.abort(); // clears the timer, so it cannot keep a Node process alive
      if (!finishedInTime) this.ctx.log({ level: 'warn', message: `the current task did not finish within ${shutdownTimeoutMs} ms; leaving without its result` });
    }
    this.send({ type: 'bye', reason: 'worker shutting down' });
    this.close(1000, 'worker shutting down');
  }
}
