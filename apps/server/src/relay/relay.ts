/**
 * `swarmgrad relay`: one big trusted worker toward the coordinator, a coordinator toward its
 * own workers (same protocol). Each step's parameters arrive once and are forwarded as the
 * same frame; each upstream train task is cut into aligned sub-blocks for the relay's
 * workers, and their sums are combined in the fixed tree order into the block sums the
 * coordinator asked for, so parameters stay bitwise equal to a run without relays.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import WebSocket, { WebSocketServer } from 'ws';
import { decodeMessage, encodeMessage, encodeParamsDelta, PROTOCOL_VERSION, type Message, type ParamsMessage, type WelcomeMessage } from '@swarmgrad/protocol';
import { RelayError, RelayErrorCode } from './errors.js';
import { WorkBook, type Outbox } from './work.js';

/** Largest frame accepted from a connection before its `hello` (as the coordinator does). */
const HELLO_FRAME_BYTES = 64 * 1024;
/** How often deadlines and heartbeat timeouts are checked (ms). */
const TICK_MS = 200;

/** Options of {@link startRelay}. */
export interface RelayOptions {
  /** The coordinator's WebSocket URL (`ws://HOST:PORT`). */
  coordinatorUrl: string;
  /** Lab token presented to the coordinator (the relay must be trusted there). */
  token?: string;
  /** Token downstream workers must present; a relay admits token holders only. */
  workerToken: string;
  /** Address and port to listen on for workers (port 0: any free port). */
  host: string;
  port: number;
  /** Label shown on the coordinator's dashboard. */
  name?: string;
  /** Send workers that can apply it the `xor-deflate` delta of consecutive steps' parameters instead of the full vector (default true). */
  paramsDelta?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What a relay did, reported when it ends. */
export interface RelaySummary {
  reason: string;
  upstreamTasks: number;
  jobsIssued: number;
  jobsReissued: number;
  blocksReturned: number;
  paramsForwarded: number;
  /** Parameter bytes sent to workers, and what full params to each would have been. */
  paramsBytes: { sent: number; full: number; deltaFrames: number };
  /** Volunteers (no token) passed through to the coordinator, which verifies them. */
  volunteersPassedThrough: number;
  workers: Array<{ id: string; name: string | null; tasksDone: number; connected: boolean }>;
}

/** A running relay. */
export interface RunningRelay {
  /** `ws://host:port` workers connect to. */
  readonly url: string;
  /** Resolves when the coordinator says `bye` (run over); rejects with `RelayError` when it is lost or refuses the relay. */
  readonly done: Promise<RelaySummary>;
  /** Leaves: `bye` to the coordinator and the workers, closes everything. */
  stop(reason?: string): Promise<RelaySummary>;
}

/** Connects to the coordinator, waits for its `welcome`, then listens for workers. */
export async function startRelay(options: RelayOptions): Promise<RunningRelay> {
  if (!options.workerToken) throw new RelayError(RelayErrorCode.BAD_CONFIG, 'a relay needs a worker token: it admits only workers it can trust');
  const log = options.log ?? (() => undefined);
  const upstream = openUpstream(options);
  const welcome = await awaitWelcome(upstream, options);
  log(`joined run ${welcome.runId} at ${options.coordinatorUrl} as ${welcome.workerId}${welcome.trusted ? ' (trusted)' : ''}`);
  if (!welcome.trusted) {
    upstream.close(1000, 'relay not trusted');
    throw new RelayError(RelayErrorCode.UPSTREAM_REFUSED, 'the coordinator admitted the relay as an untrusted volunteer; give it the lab token (--token-file or SWARMGRAD_TOKEN)');
  }
  const relay = new Relay(upstream, welcome, options, log);
  await relay.listen();
  return relay;
}

/**
 * A connection to the coordinator. The lab token goes in the upgrade request too (the
 * coordinator admits lab machines past its caps for anonymous connections); `forwardedFor`
 * names the volunteer a passed-through connection is for.
 */
function openUpstream(options: RelayOptions, forwardedFor?: string): WebSocket {
  const headers: Record<string, string> = {};
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  if (forwardedFor !== undefined) headers['x-forwarded-for'] = forwardedFor;
  return new WebSocket(options.coordinatorUrl, { perMessageDeflate: false, maxPayload: 2 ** 31 - 1, headers });
}

function awaitWelcome(upstream: WebSocket, options: RelayOptions): Promise<WelcomeMessage> {
  return new Promise((resolve, reject) => {
    upstream.once('error', (error) => reject(new RelayError(RelayErrorCode.UPSTREAM_LOST, `cannot reach ${options.coordinatorUrl}: ${error.message}`)));
    upstream.once('close', () => reject(new RelayError(RelayErrorCode.UPSTREAM_LOST, `${options.coordinatorUrl} closed the connection before welcome`)));
    upstream.once('open', () => {
      const hello: Message = {
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        role: 'worker',
        name: options.name ?? `relay@${hostname()}`,
        ...(options.token ? { token: options.token } : {}),
        capabilities: { backend: 'cpu', environment: 'node', codecs: ['f32'], userAgent: `swarmgrad-relay node/${process.versions.node}` },
      };
      upstream.send(encodeMessage(hello), { binary: true });
    });
    upstream.on('message', function first(data: Buffer) {
      let message: Message;
      try {
        message = decodeMessage(new Uint8Array(data));
      } catch (error) {
        return reject(new RelayError(RelayErrorCode.UPSTREAM_LOST, `undecodable reply from the coordinator: ${(error as Error).message}`));
      }
      if (message.type === 'error') return reject(new RelayError(RelayErrorCode.UPSTREAM_REFUSED, `the coordinator refused the relay: ${message.code}: ${message.message}`));
      if (message.type !== 'welcome') return;
      upstream.off('message', first);
      upstream.removeAllListeners('close').removeAllListeners('error');
      resolve(message);
    });
  });
}

interface Conn {
  ws: WebSocket;
  welcomed: boolean;
  lastSeen: number;
  /** The worker listed `xor-deflate` in its capabilities (and has not failed to apply one). */
  delta: boolean;
  /** Step of the params last sent on this connection (-1: none). */
  paramsStep: number;
  /** The peer's address (what a passed-through volunteer is known by upstream). */
  address: string;
  /** A volunteer (no token) passed through to the coordinator on a connection of its own; frames are piped both ways. */
  through?: { upstream: WebSocket; queued: Buffer[] | null };
}

class Relay implements RunningRelay {
  url = '';
  readonly done: Promise<RelaySummary>;
  private resolveDone!: (summary: RelaySummary) => void;
  private rejectDone!: (error: RelayError) => void;
  private readonly book: WorkBook;
  private readonly conns = new Map<string, Conn>();
  private readonly http: Server = createServer((req, res) => this.httpRequest(req.url ?? '/', res));
  private readonly wss: WebSocketServer;
  private paramsFrame: Buffer | undefined;
  private params: ParamsMessage | undefined;
  private paramsStep = -1;
  private paramsForwarded = 0;
  private readonly paramsBytes = { sent: 0, full: 0, deltaFrames: 0 };
  private nextConn = 1;
  private passedThrough = 0;
  private ended = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly heartbeatTimeoutMs: number;

  constructor(
    private readonly upstream: WebSocket,
    private readonly welcome: WelcomeMessage,
    private readonly options: RelayOptions,
    private readonly log: (line: string) => void,
  ) {
    this.done = new Promise((resolve, reject) => ((this.resolveDone = resolve), (this.rejectDone = reject)));
    this.done.catch(() => undefined);
    this.book = new WorkBook(welcome);
    this.heartbeatTimeoutMs = welcome.heartbeatTimeoutMs ?? 3 * welcome.heartbeatIntervalMs;
    this.wss = new WebSocketServer({ server: this.http, maxPayload: welcome.limits.maxFrameBytes, perMessageDeflate: false });
    this.wss.on('connection', (ws, req) => this.open(ws, req.socket.remoteAddress ?? 'unknown'));
    this.wss.on('error', () => undefined);
    upstream.on('message', (data: Buffer) => this.fromUpstream(data));
    upstream.on('close', (code, reason) => this.end(new RelayError(RelayErrorCode.UPSTREAM_LOST, `the coordinator closed the connection (${code} ${reason.toString()})`)));
    upstream.on('error', () => upstream.terminate());
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.options.port, this.options.host, () => resolve());
    });
    const { port } = this.http.address() as AddressInfo;
    const host = this.options.host === '0.0.0.0' ? '127.0.0.1' : this.options.host;
    this.url = `ws://${host}:${port}`;
    this.timers.push(setInterval(() => this.tick(), TICK_MS));
    this.timers.push(setInterval(() => this.heartbeatUp(), this.welcome.heartbeatIntervalMs));
    // No workers yet: "paused", so the coordinator sends work elsewhere until one joins.
    this.heartbeatUp();
    this.log(`listening for workers on ${this.url}`);
  }

  async stop(reason = 'relay shutting down'): Promise<RelaySummary> {
    if (!this.ended) {
      this.sendUp({ type: 'bye', reason });
      this.end(undefined, reason);
    }
    return this.done;
  }

  // --- upstream

  private fromUpstream(data: Buffer): void {
    let message: Message;
    try {
      message = decodeMessage(new Uint8Array(data), { maxFrameBytes: 2 ** 31 - 1, maxShardsPerTask: this.welcome.limits.maxShardsPerTask, parameterCount: this.welcome.parameterCount });
    } catch (error) {
      this.log(`dropped an undecodable coordinator frame: ${(error as Error).message}`);
      return;
    }
    const out = outbox();
    switch (message.type) {
      case 'params':
        if (message.step < this.paramsStep || message.delta) return;
        this.forwardParams(message, data);
        return;
      case 'task':
        if (this.book.workers.size === 0) {
          // Sent before our "paused" arrived: handed straight back, so it is re-issued now, not at its deadline.
          this.sendUp({ type: 'error', code: 'TASK_DECLINED', message: 'the relay has no workers yet', ref: { step: message.step, taskId: message.taskId } });
          return;
        }
        this.book.addTask(message, out);
        break;
      case 'heartbeat':
        if (message.echo === undefined) this.sendUp(this.heartbeat(message.sentAt));
        return;
      case 'error':
        this.log(`coordinator: ${message.code}${message.ref?.taskId ? ` (task ${message.ref.taskId})` : ''}: ${message.message}`);
        if (message.fatal) this.end(new RelayError(RelayErrorCode.UPSTREAM_REFUSED, `the coordinator closed the relay: ${message.code}: ${message.message}`));
        return;
      case 'bye':
        this.end(undefined, message.reason);
        return;
      default:
        return;
    }
    this.flush(out);
  }

  /**
   * Forwards a step's parameters: the coordinator's own frame to workers that need the full
   * vector, and one `xor-deflate` delta frame (encoded once) to those that hold the previous
   * step's parameters and can apply it. Either way the worker ends with the exact same bits.
   */
  private forwardParams(message: ParamsMessage, frame: Buffer): void {
    const previous = this.params;
    this.params = message;
    this.paramsFrame = frame;
    this.paramsStep = message.step;
    this.paramsForwarded++;
    this.book.dropBefore(message.step);
    let deltaFrame: Uint8Array | undefined;
    for (const [connId, conn] of this.conns) {
      if (!conn.welcomed) continue;
      const useDelta = this.options.paramsDelta !== false && conn.delta && previous !== undefined && conn.paramsStep === previous.step && previous.step < message.step;
      if (useDelta) {
        deltaFrame ??= encodeMessage({
          type: 'params', runId: message.runId, step: message.step, params: new Float32Array(0),
          delta: { encoding: 'xor-deflate', baseStep: previous.step, bytes: encodeParamsDelta(previous.params, message.params) },
        }).slice();
        this.paramsBytes.deltaFrames++;
      }
      this.sendParams(connId, conn, useDelta ? deltaFrame! : frame, message.step);
    }
  }

  private sendParams(connId: string, conn: Conn, frame: Uint8Array, step: number): void {
    this.paramsBytes.sent += frame.byteLength;
    this.paramsBytes.full += this.paramsFrame!.byteLength;
    conn.paramsStep = step;
    this.sendRaw(connId, frame);
  }

  /** `paused` while no worker is connected (the coordinator then sends no work), else busy or idle. */
  private heartbeat(echo?: number): Message {
    const status = this.book.workers.size === 0 ? 'paused' : this.book.busy ? 'busy' : 'idle';
    return { type: 'heartbeat', sentAt: Date.now(), status, samplesPerSecond: Math.round(this.book.rate * 100) / 100, ...(echo !== undefined ? { echo } : {}) };
  }

  private heartbeatUp(): void {
    this.sendUp(this.heartbeat());
  }

  private sendUp(message: Message): void {
    if (this.upstream.readyState === WebSocket.OPEN) this.upstream.send(encodeMessage(message), { binary: true });
  }

  // --- downstream

  private open(ws: WebSocket, address: string): void {
    const connId = `d${this.nextConn++}`;
    const conn: Conn = { ws, welcomed: false, lastSeen: Date.now(), delta: false, paramsStep: -1, address };
    if (this.ended) return void ws.close(1000, 'relay stopping');
    this.conns.set(connId, conn);
    ws.on('message', (data: Buffer, isBinary) => this.fromWorker(connId, conn, data, isBinary));
    ws.on('close', () => this.closed(connId));
    ws.on('error', () => ws.terminate());
  }

  private fromWorker(connId: string, conn: Conn, data: Buffer, isBinary: boolean): void {
    conn.lastSeen = Date.now();
    if (conn.through) return this.pipeUp(conn, data);
    let message: Message;
    try {
      if (!isBinary) throw Object.assign(new Error('text frames are not part of the protocol'), { code: 'MALFORMED' });
      message = decodeMessage(new Uint8Array(data), conn.welcomed
        ? { maxFrameBytes: this.welcome.limits.maxFrameBytes, maxShardsPerTask: this.welcome.limits.maxShardsPerTask, parameterCount: this.welcome.parameterCount }
        : { maxFrameBytes: HELLO_FRAME_BYTES });
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'MALFORMED';
      this.refuse(connId, code, (error as Error).message, !conn.welcomed);
      if (conn.welcomed) {
        const out = outbox();
        this.book.reissueHeldBy(connId, out);
        this.flush(out);
      }
      return;
    }
    if (!conn.welcomed) return this.hello(connId, conn, message, data);
    const out = outbox();
    const worker = this.book.workers.get(connId);
    if (worker) worker.lastSeen = conn.lastSeen;
    switch (message.type) {
      case 'result':
        this.book.result(connId, message, out);
        break;
      case 'heartbeat':
        if (message.samplesPerSecond !== undefined && worker && message.samplesPerSecond > 0 && worker.tasksDone === 0) worker.rate = message.samplesPerSecond;
        if (message.echo === undefined) this.sendTo(connId, { type: 'heartbeat', sentAt: Date.now(), echo: message.sentAt });
        return;
      case 'error':
        if (message.ref?.taskId !== undefined) this.book.declined(connId, message.ref.taskId, out);
        else if (message.code === 'MISSING_PARAMS' && this.paramsFrame) {
          // A delta it could not apply: full params from now on.
          conn.delta = false;
          this.sendParams(connId, conn, this.paramsFrame, this.paramsStep);
        }
        break;
      case 'bye':
        conn.ws.close(1000, 'bye');
        return;
      default:
        return this.refuse(connId, RelayErrorCode.UNEXPECTED_MESSAGE, `a worker does not send ${message.type}`, false);
    }
    this.flush(out);
  }

  private hello(connId: string, conn: Conn, message: Message, data: Buffer): void {
    if (message.type !== 'hello') return this.refuse(connId, RelayErrorCode.HELLO_REQUIRED, `the first message must be hello, not ${message.type}`, true);
    if (message.role !== 'worker') return this.refuse(connId, RelayErrorCode.NOT_A_WORKER, 'a relay serves workers only; open dashboards on the coordinator', true);
    if (message.token === undefined && this.options.token) return this.passThrough(conn, data);
    if (message.token !== this.options.workerToken) {
      return this.refuse(connId, RelayErrorCode.AUTH_FAILED, message.token === undefined ? 'this relay admits only workers with its token' : 'wrong token', true);
    }
    if (!message.capabilities.codecs.includes('f32')) return this.refuse(connId, RelayErrorCode.CODEC_UNSUPPORTED, 'a relay needs f32 gradients', true);
    const worker = this.book.addWorker(connId, message.name, message.capabilities.samplesPerSecond);
    conn.welcomed = true;
    conn.delta = message.capabilities.paramsEncodings?.includes('xor-deflate') === true;
    const w = this.welcome;
    this.sendTo(connId, {
      type: 'welcome', protocolVersion: PROTOCOL_VERSION, workerId: worker.id, runId: w.runId, trusted: true,
      heartbeatIntervalMs: w.heartbeatIntervalMs, heartbeatTimeoutMs: this.heartbeatTimeoutMs, codec: 'f32', modelSpec: w.modelSpec,
      parameterCount: w.parameterCount, microShardSize: w.microShardSize, dataset: w.dataset, limits: w.limits,
    });
    if (this.paramsFrame) this.sendParams(connId, conn, this.paramsFrame, this.paramsStep);
    this.log(`worker ${worker.id}${message.name ? ` (${message.name})` : ''} joined`);
    if (this.book.workers.size === 1) this.heartbeatUp(); // the first one: no longer paused
    const out = outbox();
    this.book.dispatch(out);
    this.flush(out);
  }

  /**
   * A volunteer (a hello without a token): it is not the relay's to trust, so it goes to the
   * coordinator on a connection of its own, which verifies it like any volunteer. The relay
   * presents its lab token in the upgrade request together with the volunteer's address
   * (`X-Forwarded-For`, honoured only from lab-token holders), so the coordinator's per-address
   * caps and bans apply to the volunteer, not to the relay. Frames are piped unchanged.
   */
  private passThrough(conn: Conn, hello: Buffer): void {
    const upstream = openUpstream(this.options, conn.address);
    conn.through = { upstream, queued: [hello] };
    this.passedThrough++;
    upstream.on('open', () => {
      for (const frame of conn.through?.queued ?? []) upstream.send(frame, { binary: true });
      if (conn.through) conn.through.queued = null;
    });
    upstream.on('message', (data: Buffer) => {
      if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(data, { binary: true });
    });
    upstream.on('close', (code) => conn.ws.close(code >= 3000 && code < 5000 ? code : 1000, 'coordinator closed'));
    upstream.on('unexpected-response', (_req, res) => {
      conn.ws.close(1013, `coordinator refused: ${res.statusCode}`);
      upstream.terminate();
    });
    upstream.on('error', () => {
      upstream.terminate();
      conn.ws.close(1011, 'coordinator unreachable');
    });
  }

  private pipeUp(conn: Conn, data: Buffer): void {
    const through = conn.through!;
    if (through.queued) through.queued.push(data);
    else if (through.upstream.readyState === WebSocket.OPEN) through.upstream.send(data, { binary: true });
  }

  private closed(connId: string): void {
    const conn = this.conns.get(connId);
    if (!conn) return;
    this.conns.delete(connId);
    if (conn.through) {
      conn.through.upstream.close(1000, 'volunteer left');
      return;
    }
    if (!conn.welcomed) return;
    const worker = this.book.workers.get(connId);
    const out = outbox();
    this.book.removeWorker(connId, out);
    if (worker && !this.ended) this.log(`worker ${worker.id} left; its sub-blocks go to the others`);
    if (this.book.workers.size === 0 && !this.ended) this.heartbeatUp(); // the last one: paused
    this.flush(out);
  }

  private refuse(connId: string, code: string, message: string, fatal: boolean, taskId?: string): void {
    this.sendTo(connId, { type: 'error', code, message, ...(fatal ? { fatal: true } : {}), ...(taskId ? { ref: { taskId } } : {}) });
    if (fatal) this.conns.get(connId)?.ws.close(code === RelayErrorCode.HELLO_REQUIRED ? 1002 : 1008, code);
  }

  private tick(): void {
    const now = Date.now();
    for (const [connId, conn] of this.conns) {
      if (conn.through) continue; // the coordinator times passed-through volunteers out
      if (now - conn.lastSeen > this.heartbeatTimeoutMs) {
        this.refuse(connId, RelayErrorCode.HEARTBEAT_TIMEOUT, `silent for more than ${this.heartbeatTimeoutMs} ms`, false);
        conn.ws.close(4000, 'heartbeat timeout');
        conn.ws.terminate();
        this.closed(connId);
      }
    }
    const out = outbox();
    this.book.expire(out);
    this.flush(out);
  }

  private flush(out: Outbox): void {
    for (const message of out.upstream) this.sendUp(message);
    for (const { connId, message } of out.down) this.sendTo(connId, message);
    for (const r of out.refusals) this.refuse(r.connId, r.code, r.message, false, r.taskId);
  }

  private sendTo(connId: string, message: Message): void {
    this.sendRaw(connId, encodeMessage(message));
  }

  private sendRaw(connId: string, frame: Uint8Array): void {
    const ws = this.conns.get(connId)?.ws;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(frame, { binary: true });
  }

  private httpRequest(path: string, res: import('node:http').ServerResponse): void {
    const ok = path === '/healthz';
    res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok ? { ok: !this.ended, role: 'relay', runId: this.welcome.runId, summary: this.summary('running') } : { error: 'NOT_FOUND', message: 'a relay serves /healthz and the worker WebSocket' }));
  }

  private summary(reason: string): RelaySummary {
    return {
      reason,
      ...this.book.stats,
      paramsForwarded: this.paramsForwarded,
      paramsBytes: { ...this.paramsBytes },
      volunteersPassedThrough: this.passedThrough,
      workers: this.book.everyWorker.map((w) => ({ id: w.id, name: w.name, tasksDone: w.tasksDone, connected: this.book.workers.get(w.connId) === w })),
    };
  }

  private end(error: RelayError | undefined, reason = error?.message ?? 'ended'): void {
    if (this.ended) return;
    const summary = this.summary(reason);
    this.ended = true;
    for (const timer of this.timers) clearInterval(timer);
    for (const [connId, conn] of this.conns) {
      if (conn.welcomed) this.sendTo(connId, { type: 'bye', reason: error ? 'the relay lost its coordinator' : reason });
      conn.through?.upstream.close(1000, 'relay ending');
      conn.ws.close(1000, 'relay ending');
    }
    this.upstream.close(1000, 'relay ending');
    setTimeout(() => {
      for (const conn of this.conns.values()) conn.ws.terminate();
      this.wss.close();
      this.http.close();
      this.http.closeAllConnections?.();
      this.upstream.terminate();
      if (error) this.rejectDone(error);
      else this.resolveDone(summary);
    }, 300).unref();
  }
}

function outbox(): Outbox {
  return { upstream: [], down: [], refusals: [] };
}
