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
import type { ModelPlan } from '@swarmgrad/nn/core';
import type { CoordinatorLimits, ResolvedEngineOptions, ResolvedRun } from './config.js';
import type { WorkerSummary } from './events.js';

/** Largest frame accepted from a connection before its `hello`, and from dashboards. */
export const SMALL_FRAME_BYTES = 64 * 1024;
/** Scheduler's throughput guess for a worker that announced none, when no other worker has been measured. */
export const DEFAULT_SAMPLES_PER_SECOND = 100;
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
  subscribed: boolean;
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
  /** Where `rate` comes from: the hello's hint, measurements (and deadline penalties), or nothing yet. */
  rateSource: 'default' | 'hint' | 'measured';
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
  private workerCounter = 0;

  constructor(private readonly options: MembershipOptions) {}

  /** Registers a new connection (no-op when `connId` is known). */
  open(connId: string, remoteAddress: string | null): void {
    if (this.conns.has(connId)) return;
    const now = this.options.clock();
    this.conns.set(connId, { id: connId, remoteAddress, role: 'pending', workerId: null, strikes: 0, openedAt: now, lastSeen: now, paramsStep: -1, subscribed: false, open: true });
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
   * worker is disconnected, else creates a record with a fresh id.
   */
  admit(conn: Conn, hello: WorkerHelloMessage, trusted: boolean, codec: GradientCodecName): WorkerRecord {
    const now = this.options.clock();
    const known = hello.workerId === undefined ? undefined : this.workers.get(hello.workerId);
    const worker = known && known.connId === null ? this.reattach(known, hello, trusted, codec) : this.createRecord(conn, hello, trusted, codec, now);
    worker.connId = conn.id;
    worker.remoteAddress = conn.remoteAddress;
    worker.lastSeen = now;
    conn.role = 'worker';
    conn.workerId = worker.id;
    return worker;
  }

  private reattach(worker: WorkerRecord, hello: WorkerHelloMessage, trusted: boolean, codec: GradientCodecName): WorkerRecord {
    worker.capabilities = hello.capabilities;
    worker.name = hello.name ?? worker.name;
    worker.trusted = trusted;
    worker.codec = codec;
    const hint = hello.capabilities.samplesPerSecond;
    if (worker.rateSource !== 'measured' && hint !== undefined && hint > 0) {
      worker.rate = hint;
      worker.rateSource = 'hint';
    }
    return worker;
  }

  private createRecord(conn: Conn, hello: WorkerHelloMessage, trusted: boolean, codec: GradientCodecName, now: number): WorkerRecord {
    this.workerCounter++;
    let id = `w${this.workerCounter}`;
    while (this.workers.has(id)) id = `w${++this.workerCounter}`;
    const hint = hello.capabilities.samplesPerSecond;
    const worker: WorkerRecord = {
      id,
      order: this.workerCounter,
      name: hello.name ?? null,
      capabilities: hello.capabilities,
      trusted,
      codec,
      connId: null,
      remoteAddress: conn.remoteAddress,
      rate: hint ?? 0,
      rateSource: hint !== undefined && hint > 0 ? 'hint' : 'default',
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
    return worker;
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
   * The scheduler's throughput estimate: measured or hinted, else the mean of the other
   * workers' estimates (so a newcomer counts as an average worker), else the default.
   */
  rateOf(worker: WorkerRecord): number {
    if (worker.rateSource !== 'default') return Math.max(worker.rate, 1e-6);
    const known = [...this.workers.values()].filter((w) => w.rateSource !== 'default' && w.connId !== null);
    if (known.length === 0) return DEFAULT_SAMPLES_PER_SECOND;
    return known.reduce((sum, w) => sum + Math.max(w.rate, 1e-6), 0) / known.length;
  }

  /** Halves a worker's estimate (a missed deadline or a rejected result). */
  penalise(worker: WorkerRecord): void {
    worker.rate = this.rateOf(worker) * DEADLINE_PENALTY;
    worker.rateSource = 'measured';
  }

  /** A task of `samples` samples was answered completely `elapsedMs` after it was sent: counts it and updates the EWMA. */
  taskCompleted(worker: WorkerRecord, samples: number, elapsedMs: number): void {
    worker.tasksDone++;
    const observed = samples / (Math.max(1, elapsedMs) / 1000);
    worker.rate = worker.rateSource === 'measured' ? (1 - EWMA_WEIGHT) * worker.rate + EWMA_WEIGHT * observed : observed;
    worker.rateSource = 'measured';
  }

  /** The workers table (every worker that ever joined, in join order). */
  summaries(): WorkerSummary[] {
    return [...this.workers.values()].sort((a, b) => a.order - b.order).map((w) => this.summary(w));
  }

  private summary(w: WorkerRecord): WorkerSummary {
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
      samplesPerSecond: this.rateOf(w),
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
