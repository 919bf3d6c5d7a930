/**
 * A coordinator stand-in for the session tests: a real `ws` WebSocketServer on 127.0.0.1
 * (port 0) that speaks the protocol by hand — each test scripts what it sends and awaits
 * what the worker sends.
 */
import { decodeMessage, encodeMessage, type Message } from '@swarmgrad/protocol';
import { WebSocketServer, type WebSocket } from 'ws';
import { PARAMS } from './fixtures.js';

/** One worker connection as the server sees it. */
export class ServerConnection {
  readonly received: Message[] = [];
  closed: { code: number; reason: string } | undefined;
  #waiters: Array<() => void> = [];

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      this.received.push(decodeMessage(data, { parameterCount: PARAMS }));
      this.#wake();
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#wake();
    });
  }

  send(message: Message): void {
    this.socket.send(encodeMessage(message));
  }

  sendRaw(bytes: Uint8Array): void {
    this.socket.send(bytes, { binary: true });
  }

  /** The first received message (at or after index `from`) matching `predicate`. */
  async next<T extends Message['type']>(type: T, predicate: (m: Extract<Message, { type: T }>) => boolean = () => true, from = 0, timeoutMs = 10_000): Promise<Extract<Message, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.slice(from).find((m): m is Extract<Message, { type: T }> => m.type === type && predicate(m as Extract<Message, { type: T }>));
      if (found !== undefined) return found;
      if (this.closed !== undefined && type !== 'bye') throw new Error(`connection closed (${this.closed.code}) before a ${type} arrived`);
      if (Date.now() > deadline) throw new Error(`no ${type} within ${timeoutMs} ms; received ${this.received.map((m) => m.type).join(', ')}`);
      await this.#wait(deadline - Date.now());
    }
  }

  /** Resolves once the connection is closed. */
  async whenClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (this.closed === undefined) {
      if (Date.now() > deadline) throw new Error('connection not closed in time');
      await this.#wait(deadline - Date.now());
    }
    return this.closed;
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, ms));
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** The server: hands out connections in order. */
export class FakeCoordinator {
  readonly connections: ServerConnection[] = [];
  #waiters: Array<() => void> = [];

  private constructor(
    readonly server: WebSocketServer,
    readonly url: string,
  ) {
    server.on('connection', (socket) => {
      this.connections.push(new ServerConnection(socket));
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
  }

  static async start(): Promise<FakeCoordinator> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const address = server.address();
    if (typeof address === 'string' || address === null) throw new Error('no port');
    return new FakeCoordinator(server, `ws://127.0.0.1:${address.port}`);
  }

  /** Connection number `index` (0-based), waiting for it to arrive. */
  async connection(index: number, timeoutMs = 10_000): Promise<ServerConnection> {
    const deadline = Date.now() + timeoutMs;
    while (this.connections.length <= index) {
      if (Date.now() > deadline) throw new Error(`connection ${index} did not arrive`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.connections[index]!;
  }

  async close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
