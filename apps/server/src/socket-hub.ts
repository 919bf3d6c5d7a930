import { isIP } from 'node:net';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeMessage, FrameEncoder, type Message } from '@swarmgrad/protocol';
import type { Coordinator, CoordinatorTransport } from '@swarmgrad/coordinator';
import { AddressBook, RefusalCode, resolveConnectionLimits, type ConnectionLimits, type RefusalCodeName } from './connection-limits.js';

/** What the hub knows of a connection's role (from its first frame and the engine's `welcome`). */
type Role = 'pending' | 'hello' | 'dashboard' | 'volunteer' | 'worker';

interface Entry {
  readonly ws: WebSocket;
  readonly address: string;
  role: Role;
  readonly openedAt: number;
  /** Counted in the address book (untrusted). */
  counted: boolean;
  /** Answered the last ping (dashboards). */
  alive: boolean;
}

/** Counters of what the hub refused or dropped, by `RefusalCode` name. */
export type RefusalCounts = Record<RefusalCodeName, number>;

/**
 * The engine's transport over WebSockets, with the limits a public coordinator needs from
 * the first byte: connections in total, per address and per role, a connect-rate bucket and
 * a lockout after repeated wrong tokens per address, a small frame limit until a worker is
 * welcomed (enforced by the frame header, before the payload is buffered), a hello deadline,
 * pings for dashboards, and a cap on unsent bytes for every connection.
 *
 * Created before the engine (which needs a transport); {@link SocketHub.attach} wires it to
 * the HTTP server and the engine after.
 */
export class SocketHub {
  private readonly entries = new Map<string, Entry>();
  private nextId = 1;
  private dashboards = 0;
  private volunteers = 0;
  private engine: Coordinator | undefined;
  private wss: WebSocketServer | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastPing = 0;
  private closing = false;
  /** Encodes each step's parameters once for all workers. */
  private readonly encoder = new FrameEncoder();
  readonly limits: Readonly<ConnectionLimits>;
  readonly book: AddressBook;
  /** What was refused or dropped so far. */
  readonly refused: RefusalCounts = Object.fromEntries(Object.keys(RefusalCode).map((k) => [k, 0])) as RefusalCounts;

  /** The largest frame a welcomed worker may send: the engine's limit plus slack (set by `attach`). */
  private maxFrameBytes = 0;
  /** Unsent bytes a worker may have: `workerBufferBytes`, or three parameter frames when larger. */
  private workerBudget = 0;

  /** @param limits connection limits over `DEFAULT_CONNECTION_LIMITS`. */
  constructor(limits: Partial<ConnectionLimits> = {}) {
    this.limits = resolveConnectionLimits(limits);
    this.book = new AddressBook(this.limits);
  }

  /** Open connections now. */
  get size(): number {
    return this.entries.size;
  }

  readonly transport: CoordinatorTransport = {
    send: (connId: string, message: Message): void => this.send(connId, message),
    writable: (connId: string): boolean => {
      const entry = this.entries.get(connId);
      // A worker with more than one parameter frame unsent gets no new task until it drains.
      return entry !== undefined && entry.ws.bufferedAmount <= this.workerBudget / 3;
    },
    close: (connId: string, code: number, reason: string): void => {
      const entry = this.entries.get(connId);
      if (!entry) return;
      // A close reason is at most 123 bytes on the wire.
      entry.ws.close(code, truncateUtf8(reason, 120));
      setTimeout(() => entry.ws.terminate(), 2000).unref();
    },
  };

  /** Serves WebSocket upgrades of `http` for `engine` (any path) and starts the hub's timer. */
  attach(http: Server, engine: Coordinator): void {
    this.engine = engine;
    // The engine answers frames over its limit with FRAME_TOO_LARGE; ws cuts only larger ones.
    this.maxFrameBytes = engine.limits.maxFrameBytes + 1024 * 1024;
    this.workerBudget = Math.max(this.limits.workerBufferBytes, 3 * (4 * engine.parameterCount + 64 * 1024));
    // Every socket starts with the small limit; `welcome` raises it for that socket only.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.smallFrameBytes + 1024, perMessageDeflate: false });
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.timer = setInterval(() => this.sweep(), 500);
    this.timer.unref();
  }

  /**
   * Whether an HTTP request carries the admin token (`Authorization: Bearer <token>`): it
   * then sees worker addresses, names and user agents. A wrong token counts as a failed
   * secret of the request's address (lockout as for the WebSocket).
   */
  adminRequest(req: IncomingMessage): boolean {
    const token = bearerToken(req);
    if (token === undefined || !this.engine) return false;
    const address = req.socket.remoteAddress ?? 'unknown';
    if (this.book.lockedOut(address)) return false;
    if (this.engine.isAdminToken(token)) return true;
    this.book.failedSecret(address);
    return false;
  }

  /** Shutting down: refuses new connections and drops every open one at once (the engine has said `bye` to its workers). */
  shutdown(): void {
    this.closing = true;
    for (const entry of this.entries.values()) entry.ws.terminate();
  }

  /** Drops every connection at once and stops the timer. */
  terminateAll(): void {
    clearInterval(this.timer);
    for (const entry of this.entries.values()) entry.ws.terminate();
    this.entries.clear();
    this.wss?.close();
  }

  /**
   * A connection whose upgrade request carries the lab token (`Authorization: Bearer <token>`,
   * sent by `swarmgrad worker` and relays) is a lab machine: it is admitted past the
   * connection caps (up to `maxLabConnections` more), so a flood of anonymous connections
   * cannot keep a run's own workers out. A wrong token counts as a failed secret of the address.
   */
  private labUpgrade(req: IncomingMessage, address: string): boolean {
    const token = bearerToken(req);
    if (token === undefined || !this.engine || this.book.lockedOut(address)) return false;
    if (this.engine.isLabToken(token)) return this.entries.size < this.limits.maxConnections + this.limits.maxLabConnections;
    this.book.failedSecret(address);
    return false;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let address = req.socket.remoteAddress ?? 'unknown';
    socket.on('error', () => socket.destroy());
    const lab = !this.closing && this.labUpgrade(req, address);
    // A relay passing a volunteer through names the volunteer's address; honoured only from
    // lab-token holders, and then the volunteer is admitted (capped, banned) as that address.
    const forwarded = lab ? forwardedAddress(req) : undefined;
    if (lab && forwarded === undefined) {
      this.wss!.handleUpgrade(req, socket, head, (ws) => this.connected(ws, address, false));
      return;
    }
    if (forwarded !== undefined) address = forwarded;
    const refusal = this.closing || this.entries.size >= this.limits.maxConnections ? 'TOO_MANY_CONNECTIONS' : this.book.admit(address);
    if (refusal) {
      this.refused[refusal]++;
      const body = JSON.stringify({ error: refusal, message: refusalText(refusal) });
      socket.end(`HTTP/1.1 ${RefusalCode[refusal].http} Refused\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.wss!.handleUpgrade(req, socket, head, (ws) => this.connected(ws, address));
  }

  private connected(ws: WebSocket, address: string, counted = true): void {
    const engine = this.engine!;
    const connId = `c${this.nextId++}`;
    const entry: Entry = { ws, address, role: 'pending', openedAt: Date.now(), counted, alive: true };
    this.entries.set(connId, entry);
    engine.open(connId, { remoteAddress: address });
    ws.on('message', (data, isBinary) => {
      const frame = isBinary ? toUint8(data) : new TextEncoder().encode(String(data));
      if (entry.role === 'pending' && !this.classify(connId, entry, frame)) return;
      engine.receive(connId, frame);
    });
    ws.on('pong', () => {
      entry.alive = true;
    });
    ws.on('close', () => this.closed(connId, entry));
    ws.on('error', () => ws.terminate());
  }

  /** Reads the role from a first frame; false when the connection was refused. */
  private classify(connId: string, entry: Entry, frame: Uint8Array): boolean {
    entry.role = 'hello';
    let role: string | undefined;
    try {
      const message = decodeMessage(frame, { maxFrameBytes: this.limits.smallFrameBytes });
      if (message.type === 'hello') role = message.role;
    } catch {
      // The engine answers a bad first frame with its own error code.
    }
    if (role !== 'dashboard') return true;
    if (this.dashboards >= this.limits.maxDashboards) {
      this.refuse(connId, 'TOO_MANY_DASHBOARDS');
      return false;
    }
    entry.role = 'dashboard';
    this.dashboards++;
    return true;
  }

  private send(connId: string, message: Message): void {
    const entry = this.entries.get(connId);
    if (!entry || entry.ws.readyState !== entry.ws.OPEN) return;
    const budget = entry.role === 'dashboard' ? this.limits.dashboardBufferBytes : this.workerBudget;
    if (entry.ws.bufferedAmount > budget) {
      this.refuse(connId, 'TOO_SLOW');
      return;
    }
    if (message.type === 'welcome' && !this.welcome(connId, entry, message.trusted)) return;
    if (message.type === 'error' && (message.code === 'ADMIN_REFUSED' || message.code === 'AUTH_FAILED')) {
      entry.ws.send(this.encoder.encode(message), { binary: true });
      if (this.book.failedSecret(entry.address)) this.refuse(connId, 'LOCKED_OUT');
      return;
    }
    entry.ws.send(this.encoder.encode(message), { binary: true });
  }

  /** A worker is welcomed: count a volunteer (or refuse one over the cap) and raise this socket's frame limit. */
  private welcome(connId: string, entry: Entry, trusted: boolean): boolean {
    if (!trusted) {
      if (this.volunteers >= this.limits.maxVolunteers) {
        this.refuse(connId, 'TOO_MANY_VOLUNTEERS');
        return false;
      }
      this.volunteers++;
      entry.role = 'volunteer';
    } else {
      entry.role = 'worker';
      this.book.refund(entry.address);
      if (entry.counted) this.book.release(entry.address);
      entry.counted = false;
    }
    setReceiverLimit(entry.ws, this.maxFrameBytes);
    return true;
  }

  private refuse(connId: string, code: RefusalCodeName): void {
    const entry = this.entries.get(connId);
    if (!entry) return;
    this.refused[code]++;
    if (code === 'TOO_SLOW' || entry.ws.readyState !== entry.ws.OPEN) {
      entry.ws.terminate();
      return;
    }
    entry.ws.close(RefusalCode[code].close, code);
    setTimeout(() => entry.ws.terminate(), 2000).unref();
  }

  private closed(connId: string, entry: Entry): void {
    if (this.entries.get(connId) !== entry) return;
    this.entries.delete(connId);
    if (entry.counted) this.book.release(entry.address);
    if (entry.role === 'dashboard') this.dashboards--;
    if (entry.role === 'volunteer') this.volunteers--;
    this.engine?.close(connId);
  }

  /** Hello deadline for every connection; pings for dashboards (the engine times out silent workers itself). */
  private sweep(): void {
    const now = Date.now();
    const ping = now - this.lastPing >= this.limits.pingIntervalMs;
    if (ping) this.lastPing = now;
    for (const [connId, entry] of this.entries) {
      if (entry.role === 'pending' && now - entry.openedAt >= this.limits.helloDeadlineMs) {
        this.refuse(connId, 'NO_HELLO');
      } else if (ping && entry.role === 'dashboard') {
        if (!entry.alive) {
          this.refused.NO_HELLO++;
          entry.ws.terminate();
          continue;
        }
        entry.alive = false;
        entry.ws.ping();
      }
    }
  }
}

/**
 * Raises one socket's frame limit. `ws` takes `maxPayload` per server; its receiver keeps a
 * copy per socket (`_maxPayload`, checked against each frame header and each message's total
 * length before the payload is buffered), which is what this sets. The flood tests fail if a
 * `ws` upgrade moves it: welcomed workers' results would be cut at the small limit.
 */
function setReceiverLimit(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: number } })._receiver;
  if (!receiver || typeof receiver._maxPayload !== 'number') throw new Error('ws internals changed: no per-socket receiver limit to raise');
  receiver._maxPayload = bytes;
}

/** The token of an `Authorization: Bearer <token>` header, if any. */
function bearerToken(req: IncomingMessage): string | undefined {
  return /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
}

/** The client address a relay names in `X-Forwarded-For` (its first entry, when it is an IP address). */
function forwardedAddress(req: IncomingMessage): string | undefined {
  const header = req.headers['x-forwarded-for'];
  const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim();
  return first && isIP(first) ? first : undefined;
}

function refusalText(code: RefusalCodeName): string {
  switch (code) {
    case 'TOO_MANY_CONNECTIONS':
      return 'the coordinator has as many connections as it admits; try again later';
    case 'TOO_MANY_FROM_ADDRESS':
      return 'too many connections from your address; close some and try again';
    case 'CONNECT_RATE':
      return 'too many new connections from your address; slow down';
    case 'LOCKED_OUT':
      return 'too many wrong tokens from your address; locked out for a while';
    default:
      return code;
  }
}

function toUint8(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data as Buffer[]));
  return new Uint8Array(data as ArrayBuffer);
}

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  return bytes.subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
}
