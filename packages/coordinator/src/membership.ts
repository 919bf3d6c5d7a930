/**
 * Membership: who is connected and who the workers are. Owns the connection table, the
 * worker records (ids, capabilities, trust, codec, throughput estimate, counters), lab and
 * admin token checks, heartbeat expiry and strikes. It sends nothing and emits nothing:
 * the coordinator turns its answers into messages and events.
 *
 * Hardening goes here: pruning records of workers that left, capping what a peer can make
 * the tables grow by, resume tokens for `hello.workerId`, and how throughput is measured.
 */
import { PROTOCOL_VERSION, type DecodeLimits, type GradientCodecName, type JsonObject, type WelcomeMessage, type WorkerCapabilities, type WorkerHelloMessage } from '@swarmgrad/protocol';
import type { ModelPlan } from '@swarmgrad/nn-core';
import type { CoordinatorLimits, ResolvedEngineOptions, ResolvedRun } from './config.js';
import type { WorkerSummary } from './events.js';

/** Largest frame accepted from a connection before its `hello`, and from dashboards. */
export const SMALL_FRAME_BYTES = 64 * 1024;
/** Scheduler's throughput guess for a worker that announced none, when no other worker has been measured. */
export const DEFAULT_SAMPLES_PER_SECOND = 100;
/** Longest `name` kept of a hello; longer ones are cut. */
export const MAX_LABEL_CHARS = 64;
/** Longest `userAgent` / `adapter` kept of a hello (a browser's are about 100 to 150 characters); longer ones are cut. */
export const MAX_DETAIL_CHARS = 160;
/** Records of disconnected workers kept for a reconnect and the workers table (the longest gone is dropped first). */
export const MAX_DEPARTED_WORKERS = 256;
/** Consecutive missed deadlines after which a worker is dropped. */
export const MAX_MISSED_DEADLINES = 3;
/** Weight of a new throughput measurement in the EWMA. */
const EWMA_WEIGHT = 0.5;
/** Factor applied to a worker's throughput estimate when one of its tasks misses its deadline. */
const DEADLINE_PENALTY = 0.5;

/** One open connection (worker, dashboard, or one that has not said hello yet). */
export interface Conn {
  id: string;
  remoteAddress: string | null;
  role: 'pending' | 'worker' | 'dashboard';
  workerId: string | null;
  strikes: number;
  openedAt: number;
  lastSeen: number;
  /** Step of the last `params` sent on this connection (-1: none). */
  paramsStep: number;
  /** The vector those params were (phases' params are never mutated): the base of the next delta. */
  paramsSent: Float32Array | null;
  subscribed: boolean;
  /** Subscribed with the admin token: sees addresses, names and user agents. */
  admin: boolean;
  open: boolean;
}

/** What the coordinator knows about a worker; kept after it disconnects so a reconnect keeps its id. */
export interface WorkerRecord {
  id: string;
  order: number;
  name: string | null;
  capabilities: WorkerCapabilities;
  trusted: boolean;
  codec: GradientCodecName;
  connId: string | null;
  remoteAddress: string | null;
  /** Throughput estimate (samples/s); meaningful when `rateSource` is not `default`. */
  rate: number;
  /** Where `rate` comes from: measurements (and deadline penalties), or nothing yet. A hello's claimed speed is never used. */
  rateSource: 'default' | 'measured';
  /** The secret a reconnect must present with `hello.workerId` to resume this record. */
  resumeToken: string;
  /** Deadlines missed since the last completed task. */
  missedDeadlines: number;
  /** Clock of the last probe block this worker was given (0: never). */
  probedAt: number;
  /** The scheduler's train-phase count when this worker was last sent a task (-1: never). */
  lastTaskPhase: number;
  /**
   * Its last heartbeat said `status: 'paused'` (a paused tab, a relay with no workers of its
   * own): it gets no new work until a heartbeat says otherwise. Cleared on every hello.
   */
  paused: boolean;
  /** False once it failed to apply a params delta (`MISSING_PARAMS`): full params from then on. */
  paramsDelta: boolean;
  tasksDone: number;
  shardsDone: number;
  rejected: number;
  joinedAt: number;
  lastSeen: number;
  lastError: string | null;
}

/** Options of `new Membership(...)`. */
export interface MembershipOptions {
  clock: () => number;
  /** Lab token (see `CoordinatorOptions.token`). */
  token: string | undefined;
  /** Admin token (see `CoordinatorOptions.adminToken`). */
  adminToken: string | undefined;
  /** Admit workers without a token as untrusted volunteers (when a lab token is set). */
  allowVolunteers: boolean;
  heartbeatTimeoutMs: number;
  maxStrikes: number;
}

/** Result of checking a worker's hello token: its trust, or why it is refused. */
export type Admission = { admitted: true; trusted: boolean } | { admitted: false; reason: string };

/** A connection that has been silent too long. */
export interface Expiry {
  conn: Conn;
  /** `hello`: it never said hello; `heartbeat`: a worker went silent. */
  missing: 'hello' | 'heartbeat';
  silentMs: number;
}

/** Constant-time string comparison (for tokens). */
export function safeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length, 1);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i % Math.max(a.length, 1)) || 0) ^ (b.charCodeAt(i % Math.max(b.length, 1)) || 0);
  return diff === 0;
}

/** The codec a worker offering `offered` is told to use: the run's, else f32, else none (undefined). */
export function chooseCodec(offered: readonly GradientCodecName[], runCodec: GradientCodecName): GradientCodecName | undefined {
  if (offered.includes(runCodec)) return runCodec;
  return offered.includes('f32') ? 'f32' : undefined;
}

/** The `welcome` answering a worker's hello: who it is and what it will compute. */
export function welcomeMessage(worker: WorkerRecord, run: ResolvedRun, options: ResolvedEngineOptions): WelcomeMessage {
  return {
    type: 'welcome',
    protocolVersion: PROTOCOL_VERSION,
    workerId: worker.id,
    resumeToken: worker.resumeToken,
    runId: run.config.runId,
    trusted: worker.trusted,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs,
    codec: worker.codec,
    modelSpec: run.config.modelSpec as unknown as JsonObject,
    parameterCount: run.plan.paramCount,
    microShardSize: run.config.microShardSize,
    dataset: run.config.dataset,
    limits: { ...options.limits },
  };
}

/** Decoder limits of a connection: workers may send full-size frames, everyone else small ones. */
export function decodeLimitsFor(conn: Conn, limits: CoordinatorLimits, model: ModelPlan): Partial<DecodeLimits> {
  const maxFrameBytes = conn.role === 'worker' ? limits.maxFrameBytes : Math.min(SMALL_FRAME_BYTES, limits.maxFrameBytes);
  return { maxShardsPerTask: limits.maxShardsPerTask, parameterCount: model.paramCount, modelName: model.name, maxFrameBytes };
}

/** The connection and worker tables, and the rules for joining, trust, silence and strikes. */
export class Membership {
  /** Open connections by id. */
  readonly conns = new Map<string, Conn>();
  /** Every worker that ever joined, by id. */
  readonly workers = new Map<string, WorkerRecord>();
  /** Ids of disconnected workers still kept, longest gone first. */
  private readonly departed = new Set<string>();
  private workerCounter = 0;

  constructor(private readonly options: MembershipOptions) {}

  /** Registers a new connection (no-op when `connId` is known). */
  open(connId: string, remoteAddress: string | null): void {
    if (this.conns.has(connId)) return;
    const now = this.options.clock();
    this.conns.set(connId, { id: connId, remoteAddress, role: 'pending', workerId: null, strikes: 0, openedAt: now, lastSeen: now, paramsStep: -1, paramsSent: null, subscribed: false, admin: false, open: true });
  }

  /** The worker a connection belongs to, if it is a worker's. */
  workerOf(conn: Conn): WorkerRecord | undefined {
    return conn.workerId === null ? undefined : this.workers.get(conn.workerId);
  }

  /** The open connection of a worker, if it has one. */
  connOf(worker: WorkerRecord): Conn | undefined {
    return worker.connId === null ? undefined : this.conns.get(worker.connId);
  }

  /** A message arrived on `conn` at `now`. */
  touch(conn: Conn, now: number): void {
    conn.lastSeen = now;
    const worker = this.workerOf(conn);
    if (worker) worker.lastSeen = now;
  }

  /** Checks a worker's hello token against the lab token (see `CoordinatorOptions.token`). */
  authenticate(hello: WorkerHelloMessage): Admission {
    const { token, allowVolunteers } = this.options;
    if (token === undefined) return { admitted: true, trusted: true };
    if (hello.token === undefined) {
      return allowVolunteers ? { admitted: true, trusted: false } : { admitted: false, reason: 'this coordinator requires a lab token; volunteers are not admitted' };
    }
    if (!safeEqual(hello.token, token)) return { admitted: false, reason: 'wrong lab token' };
    return { admitted: true, trusted: true };
  }

  /** Whether `token` is the lab token (never true when none is configured). */
  labTokenAllowed(token: string): boolean {
    return this.options.token !== undefined && safeEqual(token, this.options.token);
  }

  /** Whether `token` is the admin token (never true when none is configured). */
  adminAllowed(token: string): boolean {
    return this.options.adminToken !== undefined && safeEqual(token, this.options.adminToken);
  }

  /** Whether admin actions are possible at all. */
  get adminConfigured(): boolean {
    return this.options.adminToken !== undefined;
  }

  /**
   * Makes `conn` a worker's: reattaches the record named by `hello.workerId` when that
   * worker is disconnected and `hello.resumeToken` is its token, else creates a record with
   * a fresh id. The name is cut to `MAX_LABEL_CHARS`, user agent and adapter to `MAX_DETAIL_CHARS`.
   */
  admit(conn: Conn, hello: WorkerHelloMessage, trusted: boolean, codec: GradientCodecName): WorkerRecord {
    const now = this.options.clock();
    hello = capLabels(hello);
    const known = hello.workerId === undefined ? undefined : this.workers.get(hello.workerId);
    const resumable = known !== undefined && known.connId === null && hello.resumeToken !== undefined && safeEqual(hello.resumeToken, known.resumeToken);
    const worker = resumable ? this.reattach(known, hello, trusted, codec) : this.createRecord(conn, hello, trusted, codec, now);
    worker.connId = conn.id;
    worker.remoteAddress = conn.remoteAddress;
    worker.lastSeen = now;
    worker.paused = false;
    conn.role = 'worker';
    conn.workerId = worker.id;
    return worker;
  }

  private reattach(worker: WorkerRecord, hello: WorkerHelloMessage, trusted: boolean, codec: GradientCodecName): WorkerRecord {
    worker.capabilities = hello.capabilities;
    worker.name = hello.name ?? worker.name;
    worker.trusted = trusted;
    worker.codec = codec;
    // Back among the departed-in-order: a resumed record is no longer departed.
    this.departed.delete(worker.id);
    return worker;
  }

  private createRecord(conn: Conn, hello: WorkerHelloMessage, trusted: boolean, codec: GradientCodecName, now: number): WorkerRecord {
    this.workerCounter++;
    let id = `w${this.workerCounter}`;
    while (this.workers.has(id)) id = `w${++this.workerCounter}`;
    const worker: WorkerRecord = {
      id,
      order: this.workerCounter,
      name: hello.name ?? null,
      capabilities: hello.capabilities,
      trusted,
      codec,
      connId: null,
      remoteAddress: conn.remoteAddress,
      rate: 0,
      rateSource: 'default',
      resumeToken: randomToken(),
      missedDeadlines: 0,
      probedAt: 0,
      lastTaskPhase: -1,
      paused: false,
      paramsDelta: true,
      tasksDone: 0,
      shardsDone: 0,
      rejected: 0,
      joinedAt: now,
      lastSeen: now,
      lastError: null,
    };
    this.workers.set(id, worker);
    return worker;
  }

  /**
   * Forgets a connection. Returns its worker when the connection was that worker's current
   * one (the worker is now disconnected), else undefined. Idempotent.
   */
  detach(conn: Conn): WorkerRecord | undefined {
    if (!conn.open) return undefined;
    conn.open = false;
    this.conns.delete(conn.id);
    const worker = this.workerOf(conn);
    if (!worker || worker.connId !== conn.id) return undefined;
    worker.connId = null;
    this.retire(worker);
    return worker;
  }

  /** A worker left: its record is kept for a reconnect, at most `MAX_DEPARTED_WORKERS` of them (the longest gone is dropped first). */
  private retire(worker: WorkerRecord): void {
    this.departed.add(worker.id);
    for (const id of this.departed) {
      if (this.departed.size <= MAX_DEPARTED_WORKERS) break;
      this.departed.delete(id);
      this.workers.delete(id);
    }
  }

  /** Counts a strike against `conn` (and its worker); true when it reached `maxStrikes` and must be closed. */
  strike(conn: Conn): boolean {
    conn.strikes++;
    const worker = this.workerOf(conn);
    if (worker) worker.rejected++;
    return conn.strikes >= this.options.maxStrikes;
  }

  /** The strike limit. */
  get maxStrikes(): number {
    return this.options.maxStrikes;
  }

  /** Connections that said no hello, or workers that sent nothing, for `heartbeatTimeoutMs`. */
  expired(now: number): Expiry[] {
    const timeout = this.options.heartbeatTimeoutMs;
    const out: Expiry[] = [];
    for (const conn of this.conns.values()) {
      if (!conn.open) continue;
      if (conn.role === 'pending' && now - conn.openedAt >= timeout) out.push({ conn, missing: 'hello', silentMs: now - conn.openedAt });
      else if (conn.role === 'worker' && now - conn.lastSeen >= timeout) out.push({ conn, missing: 'heartbeat', silentMs: now - conn.lastSeen });
    }
    return out;
  }

  /** Connected workers in join order. */
  liveWorkers(): WorkerRecord[] {
    return [...this.workers.values()].filter((w) => w.connId !== null).sort((a, b) => a.order - b.order);
  }

  /** Open connections that subscribed to events. */
  subscribers(): Conn[] {
    return [...this.conns.values()].filter((c) => c.subscribed && c.open);
  }

  /**
   * The scheduler's throughput estimate: measured, else the mean of the connected measured
   * workers' estimates (so a newcomer counts as an average worker), else the default. A
   * hello's claimed `samplesPerSecond` is never used. O(W) per call; for many workers take
   * `rates()` once.
   */
  rateOf(worker: WorkerRecord): number {
    return this.rates()(worker);
  }

  /** An estimator like `rateOf` with the mean of the measured workers computed once (O(W) in all). */
  rates(): (worker: WorkerRecord) => number {
    let sum = 0;
    let count = 0;
    for (const w of this.workers.values()) {
      if (w.rateSource === 'default' || w.connId === null) continue;
      sum += Math.max(w.rate, 1e-6);
      count++;
    }
    const fallback = count === 0 ? DEFAULT_SAMPLES_PER_SECOND : sum / count;
    return (worker) => (worker.rateSource !== 'default' ? Math.max(worker.rate, 1e-6) : fallback);
  }

  /** Whether `worker` has completed a task (its speed is a measured fact). */
  proven(worker: WorkerRecord): boolean {
    return worker.tasksDone > 0;
  }

  /** Halves a worker's estimate (a rejected result). */
  penalise(worker: WorkerRecord): void {
    worker.rate = this.rateOf(worker) * DEADLINE_PENALTY;
    worker.rateSource = 'measured';
  }

  /**
   * A task of `worker` missed its deadline: halves its estimate; true when it missed
   * `MAX_MISSED_DEADLINES` in a row and must be dropped. A trusted worker that has not yet
   * completed a task is never dropped for it: a lab worker or relay may still be starting up
   * (a relay whose own workers are still choosing their backend), and its blocks are re-issued
   * to workers that have completed work meanwhile.
   */
  missedDeadline(worker: WorkerRecord): boolean {
    this.penalise(worker);
    worker.missedDeadlines++;
    return worker.missedDeadlines >= MAX_MISSED_DEADLINES && (!worker.trusted || this.proven(worker));
  }

  /** A task of `samples` samples was answered completely `elapsedMs` after it was sent: counts it and updates the EWMA. */
  taskCompleted(worker: WorkerRecord, samples: number, elapsedMs: number): void {
    worker.tasksDone++;
    worker.missedDeadlines = 0;
    const observed = samples / (Math.max(1, elapsedMs) / 1000);
    worker.rate = worker.rateSource === 'measured' ? (1 - EWMA_WEIGHT) * worker.rate + EWMA_WEIGHT * observed : observed;
    worker.rateSource = 'measured';
  }

  /**
   * The workers table (connected workers and the departed ones still kept, in join order),
   * built in O(W log W). Without `admin`, addresses, names, user agents, adapters, core
   * counts and error texts are left out (null): only ids and counters.
   */
  summaries(admin = false): WorkerSummary[] {
    const rateOf = this.rates();
    return [...this.workers.values()].sort((a, b) => a.order - b.order).map((w) => (admin ? this.summary(w, rateOf) : redactSummary(this.summary(w, rateOf))));
  }

  private summary(w: WorkerRecord, rateOf: (worker: WorkerRecord) => number): WorkerSummary {
    return {
      id: w.id,
      name: w.name,
      connected: w.connId !== null,
      environment: w.capabilities.environment,
      backend: w.capabilities.backend,
      adapter: w.capabilities.adapter ?? null,
      cores: w.capabilities.cores ?? null,
      userAgent: w.capabilities.userAgent ?? null,
      remoteAddress: w.remoteAddress,
      trusted: w.trusted,
      codec: w.codec,
      samplesPerSecond: rateOf(w),
      measured: w.rateSource === 'measured',
      tasksDone: w.tasksDone,
      shardsDone: w.shardsDone,
      rejected: w.rejected,
      joinedAt: w.joinedAt,
      lastSeen: w.lastSeen,
      lastError: w.lastError,
    };
  }
}

/** A workers-table row without what identifies a person or a machine (see `summaries`). */
export function redactSummary(row: WorkerSummary): WorkerSummary {
  return { ...row, name: null, adapter: null, cores: null, userAgent: null, remoteAddress: null, lastError: null };
}

function cut(label: string | undefined, max = MAX_LABEL_CHARS): string | undefined {
  return label === undefined || label.length <= max ? label : label.slice(0, max);
}

/** The hello with its labels cut to `MAX_LABEL_CHARS`. */
function capLabels(hello: WorkerHelloMessage): WorkerHelloMessage {
  const capabilities: WorkerCapabilities = { ...hello.capabilities };
  const adapter = cut(capabilities.adapter, MAX_DETAIL_CHARS);
  const userAgent = cut(capabilities.userAgent, MAX_DETAIL_CHARS);
  if (adapter !== undefined) capabilities.adapter = adapter;
  if (userAgent !== undefined) capabilities.userAgent = userAgent;
  const out: WorkerHelloMessage = { ...hello, capabilities };
  const name = cut(hello.name);
  if (name !== undefined) out.name = name;
  return out;
}

/** 128 random bits as hex (Web Crypto: Node ≥ 19 and browsers). */
function randomToken(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
