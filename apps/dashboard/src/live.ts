/**
 * The dashboard's WebSocket session with the coordinator: `hello` (role `dashboard`) →
 * `subscribe` → one `snapshot` event, then every run event as it happens. Admin actions go
 * over the same socket. Nothing is polled: the engine pushes every change, the workers'
 * counters included (`workers` events after steps, at most once a second).
 */
import { PROTOCOL_VERSION, decodeMessage, encodeMessage, type AdminAction, type Message } from '@swarmgrad/protocol';
import type { RunEvent } from './types.js';

/** What the session reports to the app. */
export interface LiveHandlers {
  /** A run event (the first one after connecting is a `snapshot`). */
  onEvent(event: RunEvent, seq: number | undefined, runId: string): void;
  /** An `error` message from the coordinator (a refused admin action, a wrong token, …). */
  onError(code: string, message: string, fatal: boolean): void;
  /** The socket's state changed. */
  onState(state: LiveState): void;
  /** The admin token sent with the last subscribe was accepted (true) or refused (false). */
  onTokenChecked(accepted: boolean): void;
}

/** `connecting` until the first snapshot; `closed` when the server went away after the run ended. */
export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'closed';

/** Options of {@link LiveSession}. */
export interface LiveOptions {
  /** WebSocket URL of the coordinator, e.g. `ws://host:7070/ws`. */
  url: string;
}

export class LiveSession {
  private socket: WebSocket | undefined;
  private state: LiveState = 'connecting';
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private retries = 0;
  /** Set while a subscribe that carried a token waits for its snapshot. */
  private checkingToken = false;
  private tokenRefused = false;
  /** The run ended: when the server closes the socket, do not try again. */
  private ended = false;
  constructor(
    private readonly options: LiveOptions,
    private readonly handlers: LiveHandlers,
  ) {}

  /** Opens the socket (and re-opens it after an unexpected close, with back-off). */
  connect(token?: string): void {
    clearTimeout(this.reconnectTimer);
    const socket = new WebSocket(this.options.url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.onopen = () => {
      this.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'dashboard', name: 'dashboard' });
      this.subscribe(token);
    };
    socket.onmessage = (message) => {
      if (!(message.data instanceof ArrayBuffer)) return;
      let decoded: Message;
      try {
        decoded = decodeMessage(message.data, { maxFrameBytes: 256 * 1024 * 1024 });
      } catch (error) {
        this.handlers.onError('MALFORMED', `could not read a message from the server: ${(error as Error).message}`, false);
        return;
      }
      this.receive(decoded);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      if (this.ended) {
        this.setState('closed');
        return;
      }
      this.setState('reconnecting');
      const delay = Math.min(10_000, 1000 * 2 ** this.retries++);
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    };
  }

  /** Closes the socket for good. */
  close(): void {
    this.ended = true;
    clearTimeout(this.reconnectTimer);
    this.socket?.close();
  }

  /** (Re-)subscribes; with a token the coordinator checks it and answers `ADMIN_REFUSED` when wrong. */
  subscribe(token?: string): void {
    this.checkingToken = token !== undefined;
    this.tokenRefused = false;
    this.send(token !== undefined ? { type: 'subscribe', adminToken: token } : { type: 'subscribe' });
  }

  /** Sends an admin action; the engine answers with events (or an `error`). */
  admin(token: string, action: AdminAction, value?: number | string): boolean {
    if (action === 'setLearningRate') {
      if (typeof value !== 'number') return false;
      return this.send({ type: 'admin', adminToken: token, action, value });
    }
    if (action === 'liftBan') {
      if (typeof value !== 'string') return false;
      return this.send({ type: 'admin', adminToken: token, action, value });
    }
    return this.send({ type: 'admin', adminToken: token, action });
  }

  /** The run reached a final status: a close after this is the server going away, not a fault. */
  markEnded(): void {
    this.ended = true;
  }

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  private receive(message: Message): void {
    switch (message.type) {
      case 'event': {
        const event = message.event as unknown as RunEvent;
        if (event.kind === 'snapshot') {
          this.retries = 0;
          if (this.checkingToken) {
            this.checkingToken = false;
            this.handlers.onTokenChecked(!this.tokenRefused);
          }
          this.setState('live');
        }
        this.handlers.onEvent(event, message.seq, message.runId);
        const status = event.kind === 'status' ? event.status : event.kind === 'snapshot' ? event.snapshot.status : undefined;
        if (status === 'finished' || status === 'stopped') this.markEnded();
        return;
      }
      case 'error':
        if (message.code === 'ADMIN_REFUSED' && this.checkingToken) this.tokenRefused = true;
        this.handlers.onError(message.code, message.message, message.fatal ?? false);
        return;
      case 'bye':
        return;
      default:
        return;
    }
  }

  private send(message: Message): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(encodeMessage(message));
    return true;
  }

  private setState(state: LiveState): void {
    if (this.state === state) return;
    this.state = state;
    this.handlers.onState(state);
  }
}
