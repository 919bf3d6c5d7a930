/**
 * What a worker session knows about itself across connections: the backend it computes on,
 * the compute core, the id and trust the coordinator gave it, counters for the status, and
 * where messages go while a connection is welcomed. Builds `hello` and status snapshots.
 */
import { PROTOCOL_VERSION, type GradientCodecName, type WorkerCapabilities, type WorkerHelloMessage, type WorkerToCoordinatorMessage } from '@swarmgrad/protocol';
import type { BackendChoice } from './backend-choice.js';
import { GradientWorker } from './core.js';
import { messageOf } from './errors.js';
import type { ConnectionState, WorkerLogEntry, WorkerSessionOptions, WorkerSessionStatus } from './session.js';

/** The session's state, shared by the reconnect loop and each connection. */
export class SessionState {
  /** The connection state shown in `status()`. */
  connection: ConnectionState = 'starting';
  /** The backend, once chosen. */
  choice: BackendChoice | undefined;
  /** The id of the last `welcome` (sent again in `hello` on reconnect). */
  workerId: string | undefined;
  /** The secret of the last welcome; a reconnect presents it with `workerId`. */
  resumeToken: string | undefined;
  trusted: boolean | undefined;
  /** Connections that reached a `welcome`. */
  connections = 0;
  /** Connection attempts in a row without a `welcome`. */
  failedAttempts = 0;
  retryAt: number | undefined;
  roundTripMs: number | undefined;
  stoppedBy: { code: string; message: string } | undefined;
  /** Sends a message on the current connection once it is welcomed; undefined otherwise (messages are dropped). */
  route: ((message: WorkerToCoordinatorMessage) => void) | undefined;
  /** Sends the current state in a heartbeat right away (after pause/resume). */
  announce: (() => void) | undefined;
  /** The compute core. */
  readonly worker: GradientWorker;

  constructor(
    private readonly options: WorkerSessionOptions,
    private readonly codecs: readonly GradientCodecName[],
    private readonly log: (entry: WorkerLogEntry) => void,
  ) {
    this.choice = typeof options.backend === 'object' ? options.backend : undefined;
    const workerOptions: ConstructorParameters<typeof GradientWorker>[0] = {
      send: (message) => {
        if (this.route !== undefined) this.route(message);
        else log({ level: 'debug', message: `not connected: dropped a ${message.type} message` });
      },
      backend: this.choice?.name ?? 'cpu',
      onChange: () => this.notify(),
    };
    if (options.slowdownMs !== undefined) workerOptions.slowdownMs = options.slowdownMs;
    if (options.sampleSource !== undefined) workerOptions.sampleSource = options.sampleSource;
    if (this.choice?.samplesPerSecond !== undefined) workerOptions.initialSamplesPerSecond = this.choice.samplesPerSecond;
    this.worker = new GradientWorker(workerOptions);
  }

  /** A snapshot of the session and its compute core. */
  status(): WorkerSessionStatus {
    const { choice } = this;
    const snapshot: WorkerSessionStatus = { ...this.worker.status(), connection: this.connection, connections: this.connections, failedAttempts: this.failedAttempts };
    if (this.workerId !== undefined) snapshot.workerId = this.workerId;
    if (this.trusted !== undefined) snapshot.trusted = this.trusted;
    if (choice?.adapter !== undefined) snapshot.adapter = choice.adapter;
    if (choice !== undefined) snapshot.backendReasons = { ...choice.reasons };
    if (this.retryAt !== undefined && this.connection === 'waiting') snapshot.retryAt = this.retryAt;
    if (this.roundTripMs !== undefined) snapshot.roundTripMs = this.roundTripMs;
    if (this.stoppedBy !== undefined) snapshot.stoppedBy = { ...this.stoppedBy };
    return snapshot;
  }

  /** Tells `onStatus` (a throwing listener is logged, not fatal). */
  notify(): void {
    if (this.options.onStatus === undefined) return;
    try {
      this.options.onStatus(this.status());
    } catch (error) {
      this.log({ level: 'warn', message: `onStatus listener threw: ${messageOf(error)}` });
    }
  }

  /** Changes the connection state (and notifies) when it differs. */
  setConnection(next: ConnectionState): void {
    if (this.connection === next) return;
    this.connection = next;
    this.notify();
  }

  /** The `hello` of a new connection (the backend must be chosen). */
  hello(): WorkerHelloMessage {
    const { options } = this;
    const choice = this.choice!;
    const capabilities: WorkerCapabilities = { backend: choice.name, environment: options.capabilities.environment, codecs: [...this.codecs], paramsEncodings: ['xor-deflate'] };
    if (choice.adapter !== undefined) capabilities.adapter = choice.adapter;
    if (options.capabilities.cores !== undefined) capabilities.cores = options.capabilities.cores;
    if (options.capabilities.userAgent !== undefined) capabilities.userAgent = options.capabilities.userAgent;
    const rate = this.worker.status().samplesPerSecond ?? choice.samplesPerSecond;
    if (rate !== undefined) capabilities.samplesPerSecond = rate;
    const message: WorkerHelloMessage = { type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'worker', capabilities };
    if (this.workerId !== undefined) message.workerId = this.workerId;
    if (this.workerId !== undefined && this.resumeToken !== undefined) message.resumeToken = this.resumeToken;
    if (options.token !== undefined) message.token = options.token;
    if (options.name !== undefined) message.name = options.name;
    return message;
  }
}
