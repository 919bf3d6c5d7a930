/**
 * The run engine: membership, scheduling, deterministic aggregation, the optimizer step,
 * evaluation, checkpoints and metrics. Transport-free: frames in (`receive`), messages out
 * (`transport.send`), time from an injected clock, timers driven by `tick()`.
 */
import {
  PROTOCOL_VERSION,
  decodeGradient,
  decodeMessage,
  isProtocolError,
  type AdminMessage,
  type Backend,
  type DecodeLimits,
  type ErrorMessage,
  type GradientCodecName,
  type HeartbeatMessage,
  type JsonObject,
  type Message,
  type ProtocolError,
  type ResultMessage,
  type RunEvent,
  type SubscribeMessage,
  type TaskKind,
  type TaskMessage,
  type WorkerCapabilities,
  type WorkerHelloMessage,
  type ShardBlock,
} from '@swarmgrad/protocol';
import {
  combineNodes,
  createOptimizer,
  initParams,
  summarize,
  validateOptimizerConfig,
  type ModelPlan,
  type Optimizer,
  type TreeValue,
} from '@swarmgrad/nn/core';
import { BatchSchedule, type Dataset } from '@swarmgrad/data';
import type { Checkpoint } from './checkpoint.js';
import { CHECKPOINT_FORMAT_VERSION } from './checkpoint.js';
import {
  TRAJECTORY_FIELDS,
  canonicalJson,
  resolveEngineOptions,
  resolveRunConfig,
  type CoordinatorLimits,
  type EngineOptionsInput,
  type ResolvedEngineOptions,
  type ResolvedRun,
  type RunConfig,
} from './config.js';
import { CloseCode, CoordinatorError, CoordinatorErrorCode } from './errors.js';
import type {
  AccountedBlock,
  AccountedShard,
  CoordinatorEvent,
  EvalResult,
  ModelSummary,
  ReissueReason,
  RunSnapshot,
  RunStatus,
  StepAccounting,
  StepMetrics,
  WorkerSummary,
  WorkersEvent,
} from './events.js';
import { RUN_STATUSES } from './events.js';
import { formatPrometheus, type MetricFamily } from './prometheus.js';
import { assignGreedy, blockSizeFor, floorPowerOfTwo, groupIntoTasks, mergeSiblingBlocks, planBlocks, type TaskCaps, type WorkUnit } from './scheduler.js';

/** Where the engine's messages go. The adapter (e.g. a `ws` server) encodes and sends them. */
export interface CoordinatorTransport {
  /**
   * Sends `message` to connection `connId`. The engine never mutates a message (or its
   * typed arrays) after passing it here, so the adapter may encode it later.
   */
  send(connId: string, message: Message): void;
  /**
   * Closes connection `connId` (WebSocket close `code` and `reason`; see `CloseCode`).
   * The engine has already forgotten the connection; calling `coordinator.close(connId)`
   * afterwards is harmless.
   */
  close(connId: string, code: number, reason: string): void;
}

/** Options of `new Coordinator(...)`. Only `run`, `trainData` and `transport` are required. */
export interface CoordinatorOptions extends EngineOptionsInput {
  /** What to train. */
  run: RunConfig;
  /** Training samples; step t's batch is `batchForStep({ seed, datasetLength: trainData.length, batchSize, step: t })`. */
  trainData: Dataset;
  /** Evaluation samples (the first `run.evalSamples`, in order). Without it no evaluation runs. */
  testData?: Dataset;
  /** Where messages go. */
  transport: CoordinatorTransport;
  /** Milliseconds since the Unix epoch (default `Date.now`); inject a fake clock in tests. */
  clock?: () => number;
  /**
   * Lab token. When set, a worker whose `hello.token` equals it joins trusted, a worker
   * with another token is refused (`AUTH_FAILED`, closed), and a worker without a token
   * joins as an untrusted volunteer if `allowVolunteers`, else is refused. When unset,
   * every worker is trusted (a closed deployment).
   */
  token?: string;
  /** Admin token: `admin` messages are honoured only when they carry it. Unset: every admin message is refused. */
  adminToken?: string;
  /** Continue a run from this checkpoint (see `decodeCheckpoint` / `readCheckpoint`). */
  resume?: Checkpoint;
  /**
   * Called every `run.checkpointEvery` steps, at the end of the run (after the final
   * evaluation) and on `stop()`; the engine waits for the returned promise before it goes
   * on, so an acknowledged step is never lost. A rejection pauses the run (event
   * `checkpoint` with `ok: false`); `resume()` goes on without that checkpoint.
   */
  onCheckpoint?: (checkpoint: Checkpoint) => void | Promise<void>;
}

/** A listener of the event stream; `seq` numbers events from 1, monotonic per coordinator. */
export type CoordinatorListener = (event: CoordinatorEvent, seq: number) => void;

/** Scheduler's throughput guess for a worker that announced none, when no other worker has been measured. */
export const DEFAULT_SAMPLES_PER_SECOND = 100;
/** Largest frame accepted from a connection before its `hello`, and from dashboards. */
export const SMALL_FRAME_BYTES = 64 * 1024;
/** Most per-step metrics records a dashboard's first `snapshot` event carries. */
export const DASHBOARD_HISTORY_LIMIT = 1000;
/** Fewest milliseconds between two `workers` events (sent after steps). */
export const WORKERS_EVENT_INTERVAL_MS = 1000;
/** Weight of a new throughput measurement in the EWMA. */
const EWMA_WEIGHT = 0.5;
/** Factor applied to a worker's throughput estimate when one of its tasks misses its deadline. */
const DEADLINE_PENALTY = 0.5;
/** Frame bytes kept free for a message's fields besides its big arrays. */
const FRAME_SLACK = 64 * 1024;

interface Conn {
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

interface WorkerRecord {
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

interface Unit extends WorkUnit {
  start: number;
  count: number;
  /** Times the unit was handed out. */
  issues: number;
}

interface TaskRecord {
  id: string;
  workerId: string;
  connId: string;
  units: Unit[];
  /** Starts of units nobody has delivered yet. */
  missing: Set<number>;
  /** Starts of units this task's own results delivered (accepted or duplicate). */
  answered: Set<number>;
  samples: number;
  sentAt: number;
  deadlineAt: number;
  /** False once expired, failed or its connection closed: its units no longer count as held. Its results are still accepted if first. */
  live: boolean;
  completed: boolean;
  reissue: boolean;
  computeMs: number;
}

interface Accepted {
  unit: Unit;
  task: TaskRecord;
  backend: Backend;
  receivedAt: number;
  value: TreeValue | null;
  correct: number;
}

interface Phase {
  kind: TaskKind;
  step: number;
  epoch: number;
  shardCount: number;
  shardSize: number;
  units: Unit[];
  unitByStart: Map<number, Unit>;
  accepted: Map<number, Accepted>;
  holders: Map<number, Set<TaskRecord>>;
  pending: Set<number>;
  tasks: Map<string, TaskRecord>;
  startedAt: number;
  shardsReissued: number;
  /** Train: the step's batch. Eval: unused (samples 0..N-1 in order). */
  indices: Uint32Array;
  params: Float32Array;
}

function jsonSafe(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) if (item !== undefined) out[key] = jsonSafe(item);
    return out;
  }
  return value;
}

/** Constant-time string comparison (for tokens). */
function safeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length, 1);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i % Math.max(a.length, 1)) || 0) ^ (b.charCodeAt(i % Math.max(b.length, 1)) || 0);
  return diff === 0;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The swarmgrad run engine. See the package README for the rules it follows; in short:
 * step t's batch is cut into M = B/m micro-shards, workers return subtree sums of aligned
 * blocks, the engine completes the fixed pairwise tree, divides by B and steps the
 * optimizer, so parameters are bitwise identical however the work was spread.
 *
 * @example
 * const coordinator = new Coordinator({ run, trainData, testData, transport, token, adminToken, onCheckpoint });
 * server.on('connection', (socket, id) => coordinator.open(id));  // + receive / close
 * setInterval(() => coordinator.tick(), 100);
 * coordinator.start();
 * const final = await coordinator.done;
 */
export class Coordinator {
  /** The run config, defaults filled in. */
  readonly config: ResolvedRun['config'];
  /** The validated model plan (shapes and parameter layout). */
  readonly model: ModelPlan;
  /** Number of model parameters P. */
  readonly parameterCount: number;
  /** Micro-shards per step, M = B / m. */
  readonly shardCount: number;
  /** Resolves when the run finished (after the final evaluation and checkpoint) or was stopped (after its checkpoint). */
  readonly done: Promise<RunSnapshot>;
  /** The frame and task limits the engine enforces and announces in `welcome` (size the WebSocket's max payload to `maxFrameBytes`). */
  readonly limits: Readonly<CoordinatorLimits>;

  private readonly run: ResolvedRun;
  private readonly options: ResolvedEngineOptions;
  private readonly trainData: Dataset;
  private readonly testData: Dataset | undefined;
  private readonly transport: CoordinatorTransport;
  private readonly clock: () => number;
  private readonly token: string | undefined;
  private readonly adminToken: string | undefined;
  private readonly onCheckpoint: ((checkpoint: Checkpoint) => void | Promise<void>) | undefined;
  private readonly schedule: BatchSchedule;
  private readonly optimizer: Optimizer;
  private readonly trainCaps: TaskCaps;
  private readonly evalCaps: TaskCaps;
  private readonly maxBlockShards: number;
  /** Clock of the last `workers` event (0: none yet). */
  private workersEventAt = 0;
  private resolveDone!: (snapshot: RunSnapshot) => void;

  private statusValue: RunStatus = 'waiting';
  private stepValue = 0;
  private currentParams: Float32Array;
  private lrOverride: number | null = null;
  private phase: Phase | null = null;
  private retired = new Map<string, string>();
  private pendingEval = false;
  private pendingCheckpoint = false;
  private checkpointInFlight: Promise<void> | null = null;
  private lastCheckpointStep: number;
  private settling = false;
  private readonly conns = new Map<string, Conn>();
  private readonly workers = new Map<string, WorkerRecord>();
  private workerCounter = 0;
  private taskCounter = 0;
  private readonly listeners = new Set<CoordinatorListener>();
  private seq = 0;
  private readonly stepHistory: StepMetrics[] = [];
  private readonly evalHistory: EvalResult[] = [];
  private readonly accountingLog: StepAccounting[] = [];
  private readonly totals = { resultsAccepted: 0, resultsRejected: 0, shardsReissued: 0, checkpoints: 0, checkpointFailures: 0, samplesTrained: 0 };
  private readonly rejectedByCode = new Map<string, number>();
  private startedAt: number | null = null;

  /**
   * @throws CoordinatorError `BAD_CONFIG` for an invalid run config or option (the message
   *   names it), `RESUME_MISMATCH` when `resume` belongs to another run or model,
   *   `CHECKPOINT_FORMAT` when `resume` is not a checkpoint object.
   */
  constructor(options: CoordinatorOptions) {
    if (typeof options !== 'object' || options === null) throw new CoordinatorError(CoordinatorErrorCode.BAD_CONFIG, 'options must be an object');
    const { transport } = options;
    if (typeof transport !== 'object' || transport === null || typeof transport.send !== 'function' || typeof transport.close !== 'function') {
      throw new CoordinatorError(CoordinatorErrorCode.BAD_CONFIG, 'transport must be an object with send(connId, message) and close(connId, code, reason)');
    }
    for (const key of ['token', 'adminToken'] as const) {
      const value = options[key];
      if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
        throw new CoordinatorError(CoordinatorErrorCode.BAD_CONFIG, `${key} must be a non-empty string when given`);
      }
    }
    if (options.clock !== undefined && typeof options.clock !== 'function') throw new CoordinatorError(CoordinatorErrorCode.BAD_CONFIG, 'clock must be a function returning milliseconds');
    if (options.onCheckpoint !== undefined && typeof options.onCheckpoint !== 'function') {
      throw new CoordinatorError(CoordinatorErrorCode.BAD_CONFIG, 'onCheckpoint must be a function');
    }
    this.run = resolveRunConfig(options.run, options.trainData, options.testData);
    this.config = this.run.config;
    this.model = this.run.plan;
    this.parameterCount = this.run.plan.paramCount;
    this.shardCount = this.run.shardCount;
    this.options = resolveEngineOptions(options, this.parameterCount);
    this.limits = Object.freeze({ ...this.options.limits });
    this.trainData = options.trainData;
    this.testData = options.testData;
    this.transport = transport;
    this.clock = options.clock ?? Date.now;
    this.token = options.token;
    this.adminToken = options.adminToken;
    this.onCheckpoint = options.onCheckpoint;
    try {
      this.schedule = new BatchSchedule({
        seed: this.config.seed,
        datasetLength: this.trainData.length,
        batchSize: this.config.batchSize,
        microShardSize: this.config.microShardSize,
      });
    } catch (error) {
      throw new CoordinatorError(CoordinatorErrorCode.BAD_CONFIG, `run: ${message(error)}`, { cause: error });
    }
    this.optimizer = createOptimizer(this.config.optimizer, this.parameterCount);

    // Task sizes: a task frame carries its samples inline; a train result carries one gradient per block.
    const limits = this.options.limits;
    const bytesPerSample = Math.max(this.sampleBytes(this.trainData), this.testData ? this.sampleBytes(this.testData) : 0);
    const maxSamples = Math.floor((limits.maxFrameBytes - FRAME_SLACK) / bytesPerSample);
    const largestShard = Math.max(this.config.microShardSize, this.config.evalShardSize);
    if (maxSamples < largestShard) {
      throw new CoordinatorError(
        CoordinatorErrorCode.BAD_CONFIG,
        `limits.maxFrameBytes ${limits.maxFrameBytes} cannot hold a task of one shard (${largestShard} samples of ${bytesPerSample} bytes); raise it or lower the shard size`,
      );
    }
    const maxBlocks = Math.max(1, Math.floor((limits.maxFrameBytes - FRAME_SLACK) / (4 * this.parameterCount + 64)));
    this.trainCaps = { maxShards: limits.maxShardsPerTask, maxBlocks, maxSamples };
    this.evalCaps = { maxShards: limits.maxShardsPerTask, maxBlocks: limits.maxShardsPerTask, maxSamples };
    this.maxBlockShards = floorPowerOfTwo(Math.min(limits.maxShardsPerTask, Math.floor(maxSamples / this.config.microShardSize)));

    this.currentParams = initParams(this.model, this.config.seed);
    this.lastCheckpointStep = 0;
    if (options.resume !== undefined) this.applyResume(options.resume);
    this.pendingEval = this.stepValue >= this.config.totalSteps && this.run.evalSamples > 0;
    this.pendingCheckpoint = options.resume === undefined && this.stepValue >= this.config.totalSteps && this.onCheckpoint !== undefined;
    this.done = new Promise<RunSnapshot>((resolve) => {
      this.resolveDone = resolve;
    });
  }

  // -------------------------------------------------------------------------------------------
  // public state

  /** The run's status. */
  get status(): RunStatus {
    return this.statusValue;
  }

  /** Steps applied so far (the step being computed, while one is). */
  get step(): number {
    return this.stepValue;
  }

  /** The run id. */
  get runId(): string {
    return this.config.runId;
  }

  /** The learning rate the next step uses (the `setLearningRate` override, else the optimizer's schedule). */
  get learningRate(): number {
    return this.lrOverride ?? this.optimizer.learningRate();
  }

  /** A copy of the current parameters (after `step` steps). */
  params(): Float32Array {
    return this.currentParams.slice();
  }

  /** Per completed step (oldest first): which worker and backend computed each block. The blocks of a step cover `[0, M)` exactly once. */
  accounting(): StepAccounting[] {
    return this.accountingLog.map((entry) => ({
      ...entry,
      blocks: entry.blocks.map((block) => ({ ...block })),
      shards: entry.shards.map((shard) => ({ ...shard })),
    }));
  }

  /**
   * The run's state after `step` steps, for `encodeCheckpoint`. Valid at any time: while a
   * step is in flight the parameters are still those of `step`.
   */
  checkpoint(): Checkpoint {
    return {
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      run: this.plainConfig(),
      step: this.stepValue,
      params: this.currentParams.slice(),
      optimizer: this.optimizer.state(),
      lr: this.lrOverride,
      history: { steps: this.stepHistory.map((s) => ({ ...s })), evals: this.evalHistory.map((e) => ({ ...e })) },
      createdAt: this.clock(),
    };
  }

  /** Subscribes to the event stream; returns the function that unsubscribes. Listeners must not throw (exceptions are swallowed). */
  on(listener: CoordinatorListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  // -------------------------------------------------------------------------------------------
  // lifecycle

  /** Starts the run (from `waiting`). @throws CoordinatorError `BAD_STATE` in any other status. */
  start(): void {
    if (this.statusValue !== 'waiting') throw this.badState('start', 'waiting');
    this.startedAt = this.clock();
    this.setStatus('running');
    this.advance();
  }

  /**
   * Pauses: no new step or evaluation starts; the one in flight completes (its results are
   * still accepted and it is applied). No-op when already paused.
   * @throws CoordinatorError `BAD_STATE` unless running, evaluating or paused.
   */
  pause(): void {
    if (this.statusValue === 'paused') return;
    if (this.statusValue !== 'running' && this.statusValue !== 'evaluating') throw this.badState('pause', 'running or evaluating');
    this.setStatus('paused');
  }

  /** Resumes a paused run. No-op when running or evaluating. @throws CoordinatorError `BAD_STATE` otherwise. */
  resume(): void {
    if (this.statusValue === 'running' || this.statusValue === 'evaluating') return;
    if (this.statusValue !== 'paused') throw this.badState('resume', 'paused');
    this.setStatus(this.phase?.kind === 'eval' ? 'evaluating' : 'running');
    this.advance();
  }

  /**
   * Stops the run for good: the step in flight is abandoned, workers get `bye` and are
   * closed, a checkpoint of the last applied step is taken (if `onCheckpoint` is set and
   * it is newer than the last one), then `done` resolves. No-op once finished or stopped.
   */
  stop(): void {
    if (this.statusValue === 'finished' || this.statusValue === 'stopped') return;
    if (this.phase) this.retirePhase(this.phase);
    this.closeWorkers('run stopped');
    this.setStatus('stopped');
    void this.settle();
  }

  /**
   * Sets the learning rate of every later step (overriding the optimizer's schedule).
   * @throws CoordinatorError `BAD_CONFIG` unless `lr` is finite and > 0; `BAD_STATE` once the run ended.
   */
  setLearningRate(lr: number): void {
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr <= 0) {
      throw new CoordinatorError(CoordinatorErrorCode.BAD_CONFIG, `learning rate must be a finite number > 0; got ${String(lr)}`);
    }
    if (this.statusValue === 'finished' || this.statusValue === 'stopped') throw this.badState('setLearningRate', 'not finished or stopped');
    this.lrOverride = lr;
    this.emit({ kind: 'lr', lr, step: this.stepValue });
  }

  // -------------------------------------------------------------------------------------------
  // transport events

  /** A connection opened. Its first message must be a `hello` within `heartbeatTimeoutMs`. */
  open(connId: string, info: { remoteAddress?: string } = {}): void {
    try {
      if (this.conns.has(connId)) return;
      const now = this.clock();
      this.conns.set(connId, {
        id: connId,
        remoteAddress: info.remoteAddress ?? null,
        role: 'pending',
        workerId: null,
        strikes: 0,
        openedAt: now,
        lastSeen: now,
        paramsStep: -1,
        subscribed: false,
        open: true,
      });
    } catch (error) {
      this.internalError(error, undefined);
    }
  }

  /**
   * A binary frame arrived on `connId`. Decodes it (a `ProtocolError` becomes an `error`
   * with its code and a strike) and handles the message. Frames on a connection that was
   * never opened, or that the engine already closed, are ignored. Never throws.
   */
  receive(connId: string, frame: Uint8Array): void {
    try {
      const conn = this.conns.get(connId);
      if (!conn || !conn.open) return;
      const now = this.clock();
      conn.lastSeen = now;
      const worker = this.workerOf(conn);
      if (worker) worker.lastSeen = now;
      let decoded: Message;
      try {
        decoded = decodeMessage(frame, this.decodeLimits(conn));
      } catch (error) {
        if (!isProtocolError(error)) throw error;
        this.onProtocolError(conn, error);
        return;
      }
      this.dispatch(conn, decoded);
    } catch (error) {
      this.internalError(error, connId);
    }
  }

  /** The connection is gone (closed by the peer or the network). Its outstanding blocks are re-issued at once. Idempotent. */
  close(connId: string): void {
    try {
      const conn = this.conns.get(connId);
      if (conn) this.forget(conn, 'closed');
    } catch (error) {
      this.internalError(error, undefined);
    }
  }

  /**
   * Timers; call every ~100 ms. Drops connections silent for `heartbeatTimeoutMs` (and
   * ones that sent no `hello` in that time), re-issues blocks of tasks past their
   * deadline, and hands out blocks that were waiting for a worker.
   */
  tick(): void {
    try {
      const now = this.clock();
      const timeout = this.options.heartbeatTimeoutMs;
      for (const conn of [...this.conns.values()]) {
        if (!conn.open) continue;
        if (conn.role === 'pending' && now - conn.openedAt >= timeout) {
          this.fatal(conn, CoordinatorErrorCode.HEARTBEAT_TIMEOUT, `no hello within ${timeout} ms`, CloseCode.HEARTBEAT_TIMEOUT, 'no hello');
        } else if (conn.role === 'worker' && now - conn.lastSeen >= timeout) {
          this.fatal(conn, CoordinatorErrorCode.HEARTBEAT_TIMEOUT, `no message for ${now - conn.lastSeen} ms; the heartbeat timeout is ${timeout} ms`, CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
        }
      }
      const phase = this.phase;
      if (phase) {
        for (const task of [...phase.tasks.values()]) {
          if (this.phase !== phase) break;
          if (task.live && task.missing.size > 0 && now >= task.deadlineAt) {
            const worker = this.workers.get(task.workerId);
            if (worker) this.penalise(worker);
            this.kill(phase, task, 'deadline');
          }
        }
      }
      this.drainPending();
    } catch (error) {
      this.internalError(error, undefined);
    }
  }

  // -------------------------------------------------------------------------------------------
  // reports

  /**
   * The run as JSON, for dashboards and the HTTP API.
   * @param options.historyLimit keep only the last this many per-step records (default all)
   */
  snapshot(options: { historyLimit?: number } = {}): RunSnapshot {
    const limit = options.historyLimit ?? Number.POSITIVE_INFINITY;
    const last = this.stepHistory[this.stepHistory.length - 1];
    const history = limit >= this.stepHistory.length ? this.stepHistory : this.stepHistory.slice(this.stepHistory.length - Math.max(0, limit));
    const snapshot: RunSnapshot = {
      runId: this.config.runId,
      status: this.statusValue,
      step: this.stepValue,
      totalSteps: this.config.totalSteps,
      epoch: this.schedule.epochOf(this.stepValue),
      lr: this.learningRate,
      loss: last?.loss ?? null,
      samplesPerSecond: last?.samplesPerSecond ?? null,
      config: this.plainConfig(),
      model: this.modelSummary(),
      data: {
        train: { name: this.trainData.name, length: this.trainData.length },
        test: this.testData ? { name: this.testData.name, length: this.testData.length } : null,
        evalSamples: this.run.evalSamples,
      },
      workers: this.workerSummaries(),
      history: history.map((s) => ({ ...s, backends: [...s.backends] })),
      evals: this.evalHistory.map((e) => ({ ...e })),
      totals: {
        resultsAccepted: this.totals.resultsAccepted,
        resultsRejected: this.totals.resultsRejected,
        shardsReissued: this.totals.shardsReissued,
        checkpoints: this.totals.checkpoints,
        samplesTrained: this.totals.samplesTrained,
      },
      startedAt: this.startedAt,
      time: this.clock(),
    };
    return jsonSafe(snapshot) as RunSnapshot;
  }

  /** Metrics in the Prometheus text format (for `GET /metrics`); every series has a `run` label. */
  metricsText(): string {
    const run = this.config.runId;
    const last = this.stepHistory[this.stepHistory.length - 1];
    const lastEval = this.evalHistory[this.evalHistory.length - 1];
    const gauge = (name: string, help: string, value: number | undefined): MetricFamily => ({
      name,
      help,
      type: 'gauge',
      samples: value === undefined ? [] : [{ labels: { run }, value }],
    });
    const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'counter', samples: [{ labels: { run }, value }] });
    const workerGroups = new Map<string, { backend: string; environment: string; trusted: string; count: number }>();
    const live = this.liveWorkers();
    for (const w of live) {
      const key = `${w.capabilities.backend}|${w.capabilities.environment}|${w.trusted}`;
      const group = workerGroups.get(key) ?? { backend: w.capabilities.backend, environment: w.capabilities.environment, trusted: String(w.trusted), count: 0 };
      group.count++;
      workerGroups.set(key, group);
    }
    const families: MetricFamily[] = [
      {
        name: 'swarmgrad_info',
        help: 'Run facts as labels (value 1).',
        type: 'gauge',
        samples: [{ labels: { run, model: this.model.name, dataset: this.config.dataset.name, codec: this.config.codec }, value: 1 }],
      },
      {
        name: 'swarmgrad_status',
        help: 'Run status (1 for the current status, 0 for the others).',
        type: 'gauge',
        samples: RUN_STATUSES.map((status) => ({ labels: { run, status }, value: status === this.statusValue ? 1 : 0 })),
      },
      gauge('swarmgrad_step', 'Steps applied.', this.stepValue),
      gauge('swarmgrad_total_steps', 'Steps the run will take.', this.config.totalSteps),
      gauge('swarmgrad_epoch', 'Epoch of the next step.', this.schedule.epochOf(this.stepValue)),
      gauge('swarmgrad_parameters', 'Model parameter count.', this.parameterCount),
      gauge('swarmgrad_learning_rate', 'Learning rate of the next step.', this.learningRate),
      gauge('swarmgrad_loss', 'Mean training loss of the last step.', last?.loss),
      gauge('swarmgrad_samples_per_second', 'Training throughput of the last step (samples/s).', last?.samplesPerSecond),
      gauge('swarmgrad_step_duration_ms', 'Wall time of the last step (ms).', last?.stepMs),
      gauge('swarmgrad_step_compute_ms', 'Compute time of the slowest task of the last step (ms).', last?.computeMs),
      gauge('swarmgrad_step_transfer_ms', 'Round trip minus compute of the slowest task of the last step (ms).', last?.transferMs),
      gauge('swarmgrad_step_wait_ms', 'Last step time not spent in its slowest task (ms).', last?.waitMs),
      {
        name: 'swarmgrad_workers',
        help: 'Connected workers.',
        type: 'gauge',
        samples:
          workerGroups.size === 0
            ? [{ labels: { run }, value: 0 }]
            : [...workerGroups.values()].map((g) => ({ labels: { run, backend: g.backend, environment: g.environment, trusted: g.trusted }, value: g.count })),
      },
      {
        name: 'swarmgrad_worker_samples_per_second',
        help: "Scheduler's throughput estimate per connected worker (samples/s).",
        type: 'gauge',
        samples: live.map((w) => ({ labels: { run, worker: w.id, backend: w.capabilities.backend }, value: this.rateOf(w) })),
      },
      gauge('swarmgrad_dashboards', 'Subscribed dashboard connections.', [...this.conns.values()].filter((c) => c.subscribed).length),
      counter('swarmgrad_results_accepted_total', 'Result messages that delivered at least one new block.', this.totals.resultsAccepted),
      {
        name: 'swarmgrad_rejected_results_total',
        help: 'Rejected or dropped messages from workers, by error code.',
        type: 'counter',
        samples: [...this.rejectedByCode.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([code, value]) => ({ labels: { run, code }, value })),
      },
      counter('swarmgrad_shards_reissued_total', 'Micro-shards handed out again (deadline, disconnect, rejection, worker error).', this.totals.shardsReissued),
      counter('swarmgrad_samples_trained_total', 'Training samples in applied steps.', this.totals.samplesTrained),
      gauge('swarmgrad_eval_accuracy', 'Accuracy of the last evaluation.', lastEval?.accuracy),
      gauge('swarmgrad_eval_loss', 'Mean loss of the last evaluation.', lastEval?.loss),
      gauge('swarmgrad_eval_step', 'Steps applied at the last evaluation.', lastEval?.step),
      counter('swarmgrad_checkpoints_total', 'Checkpoints written.', this.totals.checkpoints),
      counter('swarmgrad_checkpoint_failures_total', 'Checkpoints that failed.', this.totals.checkpointFailures),
    ];
    return formatPrometheus(families);
  }

  // -------------------------------------------------------------------------------------------
  // message handling

  private dispatch(conn: Conn, msg: Message): void {
    if (conn.role === 'pending') {
      if (msg.type === 'hello') this.onHello(conn, msg);
      else if (msg.type === 'heartbeat') this.echo(conn, msg);
      else this.fatal(conn, CoordinatorErrorCode.HELLO_REQUIRED, `the first message must be a hello; got ${msg.type}`, CloseCode.PROTOCOL_ERROR, 'hello required');
      return;
    }
    if (conn.role === 'worker') {
      const worker = this.workerOf(conn);
      if (!worker) return;
      switch (msg.type) {
        case 'result':
          this.onResult(conn, worker, msg);
          return;
        case 'heartbeat':
          this.echo(conn, msg);
          return;
        case 'error':
          this.onWorkerError(worker, msg);
          return;
        case 'bye':
          this.closeConn(conn, CloseCode.NORMAL, 'bye', `bye: ${msg.reason}`);
          return;
        case 'hello':
          this.reject(conn, CoordinatorErrorCode.DUPLICATE_HELLO, 'this connection already said hello', { strike: true });
          return;
        case 'subscribe':
        case 'admin':
          this.reject(conn, CoordinatorErrorCode.NOT_A_DASHBOARD, `${msg.type} is for dashboard connections; this is a worker`, { strike: true });
          return;
        default:
          this.reject(conn, CoordinatorErrorCode.UNEXPECTED_MESSAGE, `workers do not send ${msg.type} messages`, { strike: true });
          return;
      }
    }
    switch (msg.type) {
      case 'subscribe':
        this.onSubscribe(conn, msg);
        return;
      case 'admin':
        this.onAdmin(conn, msg);
        return;
      case 'heartbeat':
        this.echo(conn, msg);
        return;
      case 'bye':
        this.closeConn(conn, CloseCode.NORMAL, 'bye', `bye: ${msg.reason}`);
        return;
      case 'error':
        return;
      case 'hello':
        this.reject(conn, CoordinatorErrorCode.DUPLICATE_HELLO, 'this connection already said hello', { strike: true });
        return;
      case 'result':
        this.reject(conn, CoordinatorErrorCode.NOT_A_WORKER, 'results are for worker connections; this is a dashboard', { strike: true, countAsResult: true });
        return;
      default:
        this.reject(conn, CoordinatorErrorCode.UNEXPECTED_MESSAGE, `dashboards do not send ${msg.type} messages`, { strike: true });
    }
  }

  private onHello(conn: Conn, hello: Extract<Message, { type: 'hello' }>): void {
    if (hello.role === 'dashboard') {
      conn.role = 'dashboard';
      return;
    }
    if (this.statusValue === 'finished' || this.statusValue === 'stopped') {
      this.fatal(conn, CoordinatorErrorCode.RUN_FINISHED, `run ${this.config.runId} is ${this.statusValue}; no work is left`, CloseCode.NORMAL, `run ${this.statusValue}`);
      return;
    }
    const trusted = this.authenticate(conn, hello);
    if (trusted === null) return;
    const codecs = hello.capabilities.codecs;
    const codec: GradientCodecName | undefined = codecs.includes(this.config.codec) ? this.config.codec : codecs.includes('f32') ? 'f32' : undefined;
    if (codec === undefined) {
      this.fatal(
        conn,
        CoordinatorErrorCode.CODEC_UNSUPPORTED,
        `worker offers codecs ${codecs.join(', ')}; this run needs ${this.config.codec === 'f32' ? 'f32' : `${this.config.codec} or f32`}`,
        CloseCode.POLICY_VIOLATION,
        'codec unsupported',
      );
      return;
    }
    const now = this.clock();
    const known = hello.workerId === undefined ? undefined : this.workers.get(hello.workerId);
    let worker: WorkerRecord;
    if (known && known.connId === null) {
      worker = known;
      worker.capabilities = hello.capabilities;
      worker.name = hello.name ?? worker.name;
      worker.trusted = trusted;
      worker.codec = codec;
      if (worker.rateSource !== 'measured' && hello.capabilities.samplesPerSecond !== undefined && hello.capabilities.samplesPerSecond > 0) {
        worker.rate = hello.capabilities.samplesPerSecond;
        worker.rateSource = 'hint';
      }
    } else {
      this.workerCounter++;
      let id = `w${this.workerCounter}`;
      while (this.workers.has(id)) id = `w${++this.workerCounter}`;
      worker = {
        id,
        order: this.workerCounter,
        name: hello.name ?? null,
        capabilities: hello.capabilities,
        trusted,
        codec,
        connId: null,
        remoteAddress: conn.remoteAddress,
        rate: hello.capabilities.samplesPerSecond ?? 0,
        rateSource: hello.capabilities.samplesPerSecond !== undefined && hello.capabilities.samplesPerSecond > 0 ? 'hint' : 'default',
        tasksDone: 0,
        shardsDone: 0,
        rejected: 0,
        joinedAt: now,
        lastSeen: now,
        lastError: null,
      };
      this.workers.set(id, worker);
    }
    worker.connId = conn.id;
    worker.remoteAddress = conn.remoteAddress;
    worker.lastSeen = now;
    conn.role = 'worker';
    conn.workerId = worker.id;
    this.send(conn, {
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      workerId: worker.id,
      runId: this.config.runId,
      trusted,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      heartbeatTimeoutMs: this.options.heartbeatTimeoutMs,
      codec,
      modelSpec: this.config.modelSpec as unknown as JsonObject,
      parameterCount: this.parameterCount,
      microShardSize: this.config.microShardSize,
      dataset: this.config.dataset,
      limits: { ...this.options.limits },
    });
    this.emit(this.workerEvent(worker, 'joined', null));
    // A worker that joins mid-step only gets blocks that wait for a worker (see README: scheduling).
    this.drainPending();
  }

  /** True/false: trusted or not; null: refused (already closed). */
  private authenticate(conn: Conn, hello: WorkerHelloMessage): boolean | null {
    if (this.token === undefined) return true;
    if (hello.token === undefined) {
      if (this.options.allowVolunteers) return false;
      this.fatal(conn, CoordinatorErrorCode.AUTH_FAILED, 'this coordinator requires a lab token; volunteers are not admitted', CloseCode.POLICY_VIOLATION, 'authentication failed');
      return null;
    }
    if (!safeEqual(hello.token, this.token)) {
      this.fatal(conn, CoordinatorErrorCode.AUTH_FAILED, 'wrong lab token', CloseCode.POLICY_VIOLATION, 'authentication failed');
      return null;
    }
    return true;
  }

  /**
   * The scheduler's throughput estimate: measured or hinted, else the mean of the other
   * workers' estimates (so a newcomer counts as an average worker), else the default.
   */
  private rateOf(worker: WorkerRecord): number {
    if (worker.rateSource !== 'default') return Math.max(worker.rate, 1e-6);
    const known = [...this.workers.values()].filter((w) => w.rateSource !== 'default' && w.connId !== null);
    if (known.length === 0) return DEFAULT_SAMPLES_PER_SECOND;
    return known.reduce((sum, w) => sum + Math.max(w.rate, 1e-6), 0) / known.length;
  }

  /** Halves a worker's estimate (a missed deadline or a rejected result). */
  private penalise(worker: WorkerRecord): void {
    worker.rate = this.rateOf(worker) * DEADLINE_PENALTY;
    worker.rateSource = 'measured';
  }

  private echo(conn: Conn, heartbeat: HeartbeatMessage): void {
    this.send(conn, { type: 'heartbeat', sentAt: this.clock(), echo: heartbeat.sentAt });
  }

  private onWorkerError(worker: WorkerRecord, error: ErrorMessage): void {
    worker.lastError = `${error.code}: ${error.message}`.slice(0, 500);
    const phase = this.phase;
    const taskId = error.ref?.taskId;
    if (!phase || taskId === undefined) return;
    const task = phase.tasks.get(taskId);
    if (task && task.workerId === worker.id) this.kill(phase, task, 'workerError');
  }

  private onSubscribe(conn: Conn, msg: SubscribeMessage): void {
    if (msg.runId !== undefined && msg.runId !== this.config.runId) {
      this.reject(conn, CoordinatorErrorCode.UNKNOWN_RUN, `no run ${msg.runId} here; this coordinator runs ${this.config.runId}`, { strike: false });
      return;
    }
    if (msg.adminToken !== undefined && !this.adminAllowed(msg.adminToken)) {
      this.reject(conn, CoordinatorErrorCode.ADMIN_REFUSED, 'wrong admin token; subscribed read-only', { strike: true });
      if (!conn.open) return;
    }
    conn.subscribed = true;
    this.send(conn, {
      type: 'event',
      runId: this.config.runId,
      seq: this.seq,
      event: { kind: 'snapshot', snapshot: this.snapshot({ historyLimit: DASHBOARD_HISTORY_LIMIT }) as unknown as JsonObject },
    });
  }

  private onAdmin(conn: Conn, msg: AdminMessage): void {
    if (msg.runId !== undefined && msg.runId !== this.config.runId) {
      this.reject(conn, CoordinatorErrorCode.UNKNOWN_RUN, `no run ${msg.runId} here; this coordinator runs ${this.config.runId}`, { strike: false });
      return;
    }
    if (!this.adminAllowed(msg.adminToken)) {
      const why = this.adminToken === undefined ? 'admin actions are disabled (no admin token configured)' : 'wrong admin token';
      this.reject(conn, CoordinatorErrorCode.ADMIN_REFUSED, `${msg.action} refused: ${why}`, { strike: true });
      return;
    }
    try {
      switch (msg.action) {
        case 'pause':
          this.pause();
          break;
        case 'resume':
          this.resume();
          break;
        case 'stop':
          this.stop();
          break;
        case 'setLearningRate':
          this.setLearningRate(msg.value);
          break;
      }
    } catch (error) {
      if (!(error instanceof CoordinatorError)) throw error;
      this.reject(conn, error.code, error.message, { strike: false });
    }
  }

  private adminAllowed(token: string): boolean {
    return this.adminToken !== undefined && safeEqual(token, this.adminToken);
  }

  private onResult(conn: Conn, worker: WorkerRecord, msg: ResultMessage): void {
    const now = this.clock();
    const phase = this.phase;
    const currentStep = phase ? phase.step : this.stepValue;
    const task = phase?.tasks.get(msg.taskId);
    const ref = { step: msg.step, taskId: msg.taskId };
    if (msg.runId !== this.config.runId) {
      this.rejectResult(conn, CoordinatorErrorCode.BAD_RESULT, `result is for run ${msg.runId}; this coordinator runs ${this.config.runId}`, ref, true);
      return;
    }
    if (!phase || !task) {
      if (this.retired.get(msg.taskId) === worker.id || msg.step < currentStep) {
        this.rejectResult(conn, CoordinatorErrorCode.STALE_RESULT, `result for ${msg.kind} step ${msg.step} (task ${msg.taskId}) arrived after that work was complete`, ref, false);
      } else if (msg.step > currentStep) {
        this.rejectResult(conn, CoordinatorErrorCode.BAD_RESULT, `result for step ${msg.step}; the coordinator is at step ${currentStep}`, ref, true);
      } else {
        this.rejectResult(conn, CoordinatorErrorCode.UNKNOWN_TASK, `task ${msg.taskId} was never given to worker ${worker.id}`, ref, true);
      }
      return;
    }
    if (task.workerId !== worker.id) {
      this.rejectResult(conn, CoordinatorErrorCode.UNKNOWN_TASK, `task ${msg.taskId} was never given to worker ${worker.id}`, ref, true);
      return;
    }
    if (msg.kind !== phase.kind || msg.step !== phase.step) {
      this.rejectResult(conn, CoordinatorErrorCode.BAD_RESULT, `task ${task.id} is ${phase.kind} step ${phase.step}; the result says ${msg.kind} step ${msg.step}`, ref, true, phase, task);
      return;
    }
    // Validate the whole result before accepting any block of it.
    const checked: { unit: Unit; lossSum: number; sampleCount: number; correct: number; grads: Float32Array | null }[] = [];
    for (const block of msg.blocks) {
      const unit = task.units.find((u) => u.start === block.start && u.count === block.count);
      if (!unit) {
        const list = task.units.map((u) => `${u.start}+${u.count}`).join(', ');
        this.rejectResult(conn, CoordinatorErrorCode.BAD_RESULT, `block ${block.start}+${block.count} is not a block of task ${task.id} (${list})`, ref, true, phase, task);
        return;
      }
      if (block.sampleCount !== unit.samples) {
        this.rejectResult(
          conn,
          CoordinatorErrorCode.BAD_RESULT,
          `block ${block.start}+${block.count} of step ${phase.step} reports ${block.sampleCount} samples; it has ${unit.samples} (${block.count} × ${phase.shardSize})`,
          ref,
          true,
          phase,
          task,
        );
        return;
      }
      let grads: Float32Array | null = null;
      if (msg.kind === 'train' && 'gradient' in block) {
        if (block.gradient.codec !== worker.codec) {
          this.rejectResult(conn, CoordinatorErrorCode.BAD_RESULT, `block ${block.start}+${block.count} uses codec ${block.gradient.codec}; this worker was told to use ${worker.codec}`, ref, true, phase, task);
          return;
        }
        try {
          grads = decodeGradient(block.gradient, this.parameterCount);
        } catch (error) {
          if (!isProtocolError(error)) throw error;
          this.rejectResult(conn, error.code, `block ${block.start}+${block.count} of step ${phase.step}: ${error.message}`, ref, true, phase, task);
          return;
        }
      }
      checked.push({ unit, lossSum: block.lossSum, sampleCount: block.sampleCount, correct: block.correct ?? 0, grads });
    }
    task.computeMs += msg.timing.computeMs;
    let duplicates = 0;
    let fresh = 0;
    for (const item of checked) {
      const start = item.unit.start;
      if (task.answered.has(start)) {
        duplicates++;
        continue;
      }
      task.answered.add(start);
      if (phase.accepted.has(start)) {
        duplicates++;
        continue;
      }
      fresh++;
      phase.accepted.set(start, {
        unit: item.unit,
        task,
        backend: msg.backend,
        receivedAt: now,
        value: item.grads ? { grads: item.grads, lossSum: item.lossSum, count: item.sampleCount } : { grads: new Float32Array(0), lossSum: item.lossSum, count: item.sampleCount },
        correct: item.correct,
      });
      for (const holder of phase.holders.get(start) ?? []) holder.missing.delete(start);
      phase.holders.delete(start);
      phase.pending.delete(start);
      if (phase.kind === 'train') worker.shardsDone += item.unit.count;
    }
    if (fresh > 0) this.totals.resultsAccepted++;
    if (!task.completed && task.answered.size === task.units.length) {
      task.completed = true;
      worker.tasksDone++;
      const seconds = Math.max(1, now - task.sentAt) / 1000;
      const observed = task.samples / seconds;
      worker.rate = worker.rateSource === 'measured' ? (1 - EWMA_WEIGHT) * worker.rate + EWMA_WEIGHT * observed : observed;
      worker.rateSource = 'measured';
    }
    if (duplicates > 0) {
      this.rejectResult(
        conn,
        CoordinatorErrorCode.DUPLICATE_RESULT,
        `${duplicates} block(s) of task ${task.id} were already delivered (first result wins); dropped`,
        ref,
        false,
      );
    }
    if (phase.accepted.size === phase.units.length && this.phase === phase) this.completePhase(phase);
  }

  private onProtocolError(conn: Conn, error: ProtocolError): void {
    if (conn.role === 'pending') {
      this.fatal(conn, error.code, error.message, CloseCode.PROTOCOL_ERROR, 'protocol error');
      return;
    }
    this.reject(conn, error.code, error.message, { strike: true, countAsResult: conn.role === 'worker' });
  }

  // -------------------------------------------------------------------------------------------
  // rejections and connection teardown

  private rejectResult(
    conn: Conn,
    code: string,
    text: string,
    ref: { step: number; taskId: string },
    strike: boolean,
    phase?: Phase,
    failTask?: TaskRecord,
  ): void {
    // Re-issue first, so the blocks never wait on a worker that is about to be dropped.
    if (phase && failTask && this.phase === phase) {
      const worker = this.workers.get(failTask.workerId);
      if (worker && failTask.live) this.penalise(worker);
      this.kill(phase, failTask, 'rejected');
    }
    this.reject(conn, code, text, { strike, ref, countAsResult: true });
  }

  /** Sends an `error`; with a strike, counts it and closes the connection at `maxStrikes`. */
  private reject(conn: Conn, code: string, text: string, options: { strike: boolean; ref?: { step?: number; taskId?: string }; countAsResult?: boolean }): void {
    const worker = this.workerOf(conn);
    if (options.countAsResult === true) {
      this.rejectedByCode.set(code, (this.rejectedByCode.get(code) ?? 0) + 1);
      if (options.strike) this.totals.resultsRejected++;
    }
    let fatal = false;
    if (options.strike) {
      conn.strikes++;
      if (worker) worker.rejected++;
      fatal = conn.strikes >= this.options.maxStrikes;
    }
    const suffix = fatal ? ` (strike ${conn.strikes} of ${this.options.maxStrikes}; closing)` : '';
    const errorMessage: ErrorMessage = { type: 'error', code, message: `${text}${suffix}`, fatal };
    if (options.ref) errorMessage.ref = { ...options.ref };
    this.send(conn, errorMessage);
    this.emit({
      kind: 'rejected',
      workerId: worker?.id ?? null,
      code,
      message: text,
      step: options.ref?.step ?? null,
      strike: options.strike,
      fatal,
    });
    if (fatal) this.closeConn(conn, CloseCode.POLICY_VIOLATION, 'too many strikes', 'too many strikes');
  }

  /** Sends a fatal `error` and closes the connection. */
  private fatal(conn: Conn, code: string, text: string, closeCode: number, reason: string): void {
    this.send(conn, { type: 'error', code, message: text, fatal: true });
    const worker = this.workerOf(conn);
    if (conn.role !== 'dashboard') {
      this.emit({ kind: 'rejected', workerId: worker?.id ?? null, code, message: text, step: null, strike: false, fatal: true });
    }
    this.closeConn(conn, closeCode, reason, reason);
  }

  private closeConn(conn: Conn, code: number, reason: string, why: string): void {
    if (!conn.open) return;
    this.forget(conn, why);
    try {
      this.transport.close(conn.id, code, reason);
    } catch (error) {
      this.internalError(error, undefined);
    }
  }

  /** Forgets a connection; a worker's live tasks are re-issued. */
  private forget(conn: Conn, why: string): void {
    if (!conn.open) return;
    conn.open = false;
    this.conns.delete(conn.id);
    const worker = this.workerOf(conn);
    if (!worker || worker.connId !== conn.id) return;
    worker.connId = null;
    const phase = this.phase;
    if (phase) {
      for (const task of [...phase.tasks.values()]) {
        if (task.connId === conn.id && task.live) this.kill(phase, task, 'disconnect');
      }
    }
    this.emit(this.workerEvent(worker, 'left', why));
  }

  private closeWorkers(reason: string): void {
    for (const conn of [...this.conns.values()]) {
      if (conn.role === 'dashboard') continue;
      if (conn.role === 'worker') this.send(conn, { type: 'bye', reason });
      this.closeConn(conn, CloseCode.NORMAL, reason, reason);
    }
  }

  // -------------------------------------------------------------------------------------------
  // scheduling

  private liveWorkers(): WorkerRecord[] {
    return [...this.workers.values()].filter((w) => w.connId !== null).sort((a, b) => a.order - b.order);
  }

  private queuedSamples(phase: Phase, workerId: string): number {
    let total = 0;
    for (const task of phase.tasks.values()) {
      if (!task.live || task.workerId !== workerId) continue;
      for (const unit of task.units) if (task.missing.has(unit.start)) total += unit.samples;
    }
    return total;
  }

  /** A task can no longer be counted on: its units that nobody else holds are re-issued. */
  private kill(phase: Phase, task: TaskRecord, reason: ReissueReason): void {
    if (!task.live) return;
    task.live = false;
    const orphans: Unit[] = [];
    for (const unit of task.units) {
      if (!task.missing.has(unit.start)) continue;
      const holders = phase.holders.get(unit.start);
      holders?.delete(task);
      if (!phase.accepted.has(unit.start) && (holders === undefined || holders.size === 0) && !phase.pending.has(unit.start)) orphans.push(unit);
    }
    if (orphans.length > 0) this.reissue(phase, orphans, task.workerId, reason);
  }

  /** Hands `units` to the least-loaded other live worker(s); the same worker if it is the only one; else they wait for one. */
  private reissue(phase: Phase, units: Unit[], fromWorker: string, reason: ReissueReason): void {
    const shards = units.reduce((sum, u) => sum + u.count, 0);
    phase.shardsReissued += shards;
    this.totals.shardsReissued += shards;
    const live = this.liveWorkers();
    let eligible = live.filter((w) => w.id !== fromWorker);
    if (eligible.length === 0) eligible = live;
    const toWorkers = eligible.length === 0 ? [] : this.assign(phase, units, eligible);
    if (eligible.length === 0) for (const unit of units) phase.pending.add(unit.start);
    this.emit({
      kind: 'reissue',
      step: phase.step,
      taskKind: phase.kind,
      reason,
      fromWorker,
      toWorkers,
      blocks: units.map((u) => ({ start: u.start, count: u.count })),
    });
  }

  private drainPending(): void {
    const phase = this.phase;
    if (!phase || phase.pending.size === 0) return;
    const live = this.liveWorkers();
    if (live.length === 0) return;
    const units = [...phase.pending].sort((a, b) => a - b).map((start) => phase.unitByStart.get(start)!);
    phase.pending.clear();
    this.assign(phase, units, live);
  }

  /** Greedy earliest-finish assignment of `units` over `workers`, then one task per group. Returns the workers that got work. */
  private assign(phase: Phase, units: Unit[], workers: WorkerRecord[]): string[] {
    const loads = workers.map((w) => ({ id: w.id, samplesPerSecond: this.rateOf(w), queuedSamples: this.queuedSamples(phase, w.id) }));
    const byWorker = assignGreedy(units, loads);
    const caps = phase.kind === 'train' ? this.trainCaps : this.evalCaps;
    for (const [workerId, list] of byWorker) {
      const worker = this.workers.get(workerId)!;
      for (const group of groupIntoTasks(list, caps)) this.sendTask(phase, worker, group);
    }
    return [...byWorker.keys()];
  }

  private sendTask(phase: Phase, worker: WorkerRecord, units: Unit[]): void {
    const conn = worker.connId === null ? undefined : this.conns.get(worker.connId);
    if (!conn) {
      for (const unit of units) phase.pending.add(unit.start);
      return;
    }
    const now = this.clock();
    if (conn.paramsStep !== phase.step) {
      this.send(conn, { type: 'params', runId: this.config.runId, step: phase.step, params: phase.params });
      conn.paramsStep = phase.step;
    }
    const indices = this.taskIndices(phase, units);
    const data = phase.kind === 'train' ? this.trainData : this.testData!;
    // Training batches carry their epoch, so augmenting datasets stay a pure function of (seed, epoch, index).
    // Image datasets send 8-bit pixels (+ their normalisation) instead of float32: a quarter of the bytes.
    const context = phase.kind === 'train' ? { epoch: this.schedule.epochOf(phase.step) } : undefined;
    const pixelBatch = data.batchPixels?.(indices, context);
    const batch = (pixelBatch ? { y: pixelBatch.y } : data.batch(indices, context)) as { x?: Float32Array; y: Int32Array | Float32Array };
    const queued = this.queuedSamples(phase, worker.id);
    const expectedMs = ((queued + indices.length) / this.rateOf(worker)) * 1000;
    const deadlineMs = Math.ceil(Math.max(this.options.minDeadlineMs, this.options.deadlineFactor * expectedMs));
    const taskId = `${phase.kind === 'train' ? 's' : 'e'}${phase.step}-${++this.taskCounter}`;
    const task: TaskRecord = {
      id: taskId,
      workerId: worker.id,
      connId: conn.id,
      units,
      missing: new Set(units.map((u) => u.start)),
      answered: new Set(),
      samples: indices.length,
      sentAt: now,
      deadlineAt: now + deadlineMs,
      live: true,
      completed: false,
      reissue: units.some((u) => u.issues > 0),
      computeMs: 0,
    };
    phase.tasks.set(taskId, task);
    for (const unit of units) {
      unit.issues++;
      let holders = phase.holders.get(unit.start);
      if (!holders) phase.holders.set(unit.start, (holders = new Set()));
      holders.add(task);
    }
    const message: TaskMessage = {
      type: 'task',
      taskId,
      runId: this.config.runId,
      step: phase.step,
      kind: phase.kind,
      blocks: units.map((u) => ({ start: u.start, count: u.count })),
      microShardSize: phase.shardSize,
      indices,
      deadlineMs,
      ...(pixelBatch
        ? { pixels: pixelBatch.pixels, ...(pixelBatch.normalization && { pixelNormalization: { mean: [...pixelBatch.normalization.mean], std: [...pixelBatch.normalization.std] } }) }
        : { x: batch.x! }),
    };
    if (phase.kind === 'eval') message.split = 'test';
    if (batch.y instanceof Float32Array) message.targets = batch.y;
    else message.labels = batch.y;
    this.send(conn, message);
  }

  private taskIndices(phase: Phase, units: Unit[]): Uint32Array {
    const total = units.reduce((sum, u) => sum + u.samples, 0);
    const out = new Uint32Array(total);
    let offset = 0;
    for (const unit of units) {
      const first = unit.start * phase.shardSize;
      if (phase.kind === 'train') {
        out.set(phase.indices.subarray(first, first + unit.samples), offset);
      } else {
        for (let i = 0; i < unit.samples; i++) out[offset + i] = first + i;
      }
      offset += unit.samples;
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // the step pipeline

  /** Moves the run on when nothing is in flight: evaluation, checkpoint, finish or the next step. */
  private advance(): void {
    if (this.phase || this.checkpointInFlight || this.settling) return;
    const status = this.statusValue;
    if (status === 'waiting' || status === 'finished' || status === 'stopped') return;
    if (this.pendingEval) {
      if (status === 'paused') return;
      this.startEval();
      return;
    }
    if (this.pendingCheckpoint) {
      this.startCheckpoint();
      return;
    }
    if (this.stepValue >= this.config.totalSteps) {
      this.finish();
      return;
    }
    if (status === 'paused') return;
    this.startTrainStep();
  }

  private startTrainStep(): void {
    const step = this.stepValue;
    const m = this.config.microShardSize;
    const live = this.liveWorkers();
    const blockSize = blockSizeFor(this.shardCount, live.length, this.maxBlockShards);
    const unitOf = (block: ShardBlock): Unit => ({ block, start: block.start, count: block.count, samples: block.count * m, issues: 0 });
    const planned = planBlocks(this.shardCount, blockSize).map(unitOf);
    if (live.length === 0) {
      const phase = this.newPhase('train', step, this.shardCount, m, planned, this.schedule.batch(step).indices);
      this.phase = phase;
      for (const unit of planned) phase.pending.add(unit.start);
      return;
    }
    // The greedy decides each worker's share; each then gets a contiguous run of blocks
    // (largest share first), whose sibling blocks merge into their parents: a worker sends
    // one gradient per merged block instead of one per block, with the same bits (a parent
    // is exactly left + right).
    const loads = live.map((w) => ({ id: w.id, samplesPerSecond: this.rateOf(w), queuedSamples: 0 }));
    const shares = [...assignGreedy(planned, loads)].sort((a, b) => b[1].length - a[1].length);
    const byWorker = new Map<string, Unit[]>();
    let next = 0;
    for (const [workerId, list] of shares) {
      byWorker.set(workerId, mergeSiblingBlocks(planned.slice(next, next + list.length), this.maxBlockShards, (block) => unitOf(block)));
      next += list.length;
    }
    const units = [...byWorker.values()].flat().sort((a, b) => a.start - b.start);
    const phase = this.newPhase('train', step, this.shardCount, m, units, this.schedule.batch(step).indices);
    this.phase = phase;
    const caps = this.trainCaps;
    for (const [workerId, list] of byWorker) {
      const worker = this.workers.get(workerId)!;
      for (const group of groupIntoTasks(list, caps)) this.sendTask(phase, worker, group);
    }
  }

  private startEval(): void {
    this.pendingEval = false;
    const size = this.config.evalShardSize;
    const samples = this.run.evalSamples;
    const count = Math.ceil(samples / size);
    const units: Unit[] = [];
    for (let s = 0; s < count; s++) {
      const block = { start: s, count: 1 };
      units.push({ block, start: s, count: 1, samples: Math.min(size, samples - s * size), issues: 0 });
    }
    const phase = this.newPhase('eval', this.stepValue, count, size, units, new Uint32Array(0));
    this.phase = phase;
    if (this.statusValue === 'running') this.setStatus('evaluating');
    const live = this.liveWorkers();
    if (live.length === 0) for (const unit of units) phase.pending.add(unit.start);
    else this.assign(phase, units, live);
  }

  private newPhase(kind: TaskKind, step: number, shardCount: number, shardSize: number, units: Unit[], indices: Uint32Array): Phase {
    return {
      kind,
      step,
      epoch: this.schedule.epochOf(step),
      shardCount,
      shardSize,
      units,
      unitByStart: new Map(units.map((u) => [u.start, u])),
      accepted: new Map(),
      holders: new Map(),
      pending: new Set(),
      tasks: new Map(),
      startedAt: this.clock(),
      shardsReissued: 0,
      indices,
      params: this.currentParams,
    };
  }

  private retirePhase(phase: Phase): void {
    this.retired = new Map([...phase.tasks.values()].map((t) => [t.id, t.workerId]));
    if (this.phase === phase) this.phase = null;
  }

  private completePhase(phase: Phase): void {
    this.retirePhase(phase);
    if (phase.kind === 'train') this.applyStep(phase);
    else this.finishEval(phase);
    this.advance();
  }

  private applyStep(phase: Phase): void {
    const now = this.clock();
    const B = this.config.batchSize;
    const blocks = phase.units.map((unit) => ({ block: { start: unit.start, count: unit.count }, value: phase.accepted.get(unit.start)!.value! }));
    const root = combineNodes(phase.shardCount, blocks);
    const grad = new Float32Array(this.parameterCount);
    const sum = root.grads;
    for (let i = 0; i < grad.length; i++) grad[i] = sum[i]! / B;
    // A fresh array per step: messages already handed to the transport keep the old one unchanged.
    const next = this.currentParams.slice();
    const lr = this.optimizer.step(next, grad, this.lrOverride ?? undefined);
    this.currentParams = next;

    let slowest: Accepted | undefined;
    for (const accepted of phase.accepted.values()) {
      if (!slowest || accepted.receivedAt - accepted.task.sentAt > slowest.receivedAt - slowest.task.sentAt) slowest = accepted;
    }
    const stepMs = Math.max(0, now - phase.startedAt);
    const roundTrip = slowest ? Math.max(0, slowest.receivedAt - slowest.task.sentAt) : 0;
    const computeMs = slowest ? slowest.task.computeMs : 0;
    const workers = new Set<string>();
    const backends = new Set<Backend>();
    const accounted: AccountedBlock[] = [];
    for (const unit of phase.units) {
      const accepted = phase.accepted.get(unit.start)!;
      workers.add(accepted.task.workerId);
      backends.add(accepted.backend);
      accounted.push({
        start: unit.start,
        count: unit.count,
        workerId: accepted.task.workerId,
        backend: accepted.backend,
        taskId: accepted.task.id,
        reissued: accepted.task.reissue,
      });
    }
    const metrics: StepMetrics = {
      kind: 'step',
      step: phase.step,
      epoch: phase.epoch,
      loss: root.lossSum / B,
      lr,
      samplesPerSecond: stepMs > 0 ? (B * 1000) / stepMs : 0,
      stepMs,
      computeMs,
      transferMs: Math.max(0, roundTrip - computeMs),
      waitMs: Math.max(0, stepMs - roundTrip),
      workers: workers.size,
      backends: [...backends].sort(),
      shardsReissued: phase.shardsReissued,
      time: now,
    };
    this.stepValue = phase.step + 1;
    this.totals.samplesTrained += B;
    const shards: AccountedShard[] = [];
    for (const block of accounted) {
      for (let shard = block.start; shard < block.start + block.count; shard++) shards.push({ shard, workerId: block.workerId, backend: block.backend });
    }
    this.accountingLog.push({ step: phase.step, shardCount: phase.shardCount, blocks: accounted, shards });
    const safe = jsonSafe(metrics) as StepMetrics;
    this.stepHistory.push(safe);
    this.emit(safe);
    if (now - this.workersEventAt >= WORKERS_EVENT_INTERVAL_MS) {
      this.workersEventAt = now;
      this.emit(jsonSafe({ kind: 'workers', workers: this.workerSummaries(), time: now }) as WorkersEvent);
    }
    const step = this.stepValue;
    const total = this.config.totalSteps;
    const evalEvery = this.config.evalEvery;
    this.pendingEval = this.run.evalSamples > 0 && (step >= total || (evalEvery > 0 && step % evalEvery === 0));
    const every = this.config.checkpointEvery;
    this.pendingCheckpoint = this.onCheckpoint !== undefined && (step >= total || (every > 0 && step % every === 0));
  }

  private finishEval(phase: Phase): void {
    let lossSum = 0;
    let correct = 0;
    let samples = 0;
    for (const unit of phase.units) {
      const accepted = phase.accepted.get(unit.start)!;
      lossSum += accepted.value!.lossSum;
      correct += accepted.correct;
      samples += unit.samples;
    }
    const result = jsonSafe({
      kind: 'eval',
      step: phase.step,
      loss: samples > 0 ? lossSum / samples : 0,
      accuracy: samples > 0 ? correct / samples : 0,
      samples,
      time: this.clock(),
    }) as EvalResult;
    this.evalHistory.push(result);
    this.emit(result);
    if (this.statusValue === 'evaluating') this.setStatus('running');
  }

  private startCheckpoint(): void {
    this.pendingCheckpoint = false;
    const checkpoint = this.checkpoint();
    this.checkpointInFlight = this.writeCheckpoint(checkpoint).then((ok) => {
      this.checkpointInFlight = null;
      if (!ok && (this.statusValue === 'running' || this.statusValue === 'evaluating')) this.setStatus('paused');
      this.advance();
    });
  }

  private async writeCheckpoint(checkpoint: Checkpoint): Promise<boolean> {
    try {
      await this.onCheckpoint!(checkpoint);
      this.lastCheckpointStep = checkpoint.step;
      this.totals.checkpoints++;
      this.emit({ kind: 'checkpoint', step: checkpoint.step, ok: true, error: null });
      return true;
    } catch (error) {
      this.totals.checkpointFailures++;
      this.emit({ kind: 'checkpoint', step: checkpoint.step, ok: false, error: message(error) });
      return false;
    }
  }

  private finish(): void {
    this.closeWorkers('run finished');
    this.setStatus('finished');
    void this.settle();
  }

  /** After finish or stop: waits for a checkpoint in flight, takes the stop checkpoint, resolves `done`. */
  private async settle(): Promise<void> {
    if (this.settling) return;
    this.settling = true;
    try {
      if (this.checkpointInFlight) await this.checkpointInFlight;
      if (this.statusValue === 'stopped' && this.onCheckpoint !== undefined && this.stepValue > this.lastCheckpointStep) {
        await this.writeCheckpoint(this.checkpoint());
      }
    } catch (error) {
      this.internalError(error, undefined);
    }
    this.resolveDone(this.snapshot());
  }

  // -------------------------------------------------------------------------------------------
  // helpers

  private applyResume(checkpoint: Checkpoint): void {
    if (typeof checkpoint !== 'object' || checkpoint === null || checkpoint.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
      throw new CoordinatorError(CoordinatorErrorCode.CHECKPOINT_FORMAT, `resume must be a Checkpoint of format version ${CHECKPOINT_FORMAT_VERSION}`);
    }
    const mismatch = (text: string, cause?: unknown): CoordinatorError =>
      new CoordinatorError(CoordinatorErrorCode.RESUME_MISMATCH, text, cause === undefined ? undefined : { cause });
    const normalise = (field: (typeof TRAJECTORY_FIELDS)[number], run: RunConfig): string => {
      const value: unknown = run[field];
      if (field === 'codec') return canonicalJson(value ?? 'f32');
      if (field === 'optimizer') {
        try {
          return canonicalJson(validateOptimizerConfig(value));
        } catch {
          return canonicalJson(value);
        }
      }
      return canonicalJson(value);
    };
    const ours = this.config as RunConfig;
    const theirs = checkpoint.run;
    if (typeof theirs !== 'object' || theirs === null) throw mismatch('checkpoint has no run config');
    const differing = TRAJECTORY_FIELDS.filter((field) => normalise(field, ours) !== normalise(field, theirs));
    if (differing.length > 0) {
      throw mismatch(
        `checkpoint belongs to another run: ${differing.map((f) => `run.${f} is ${normalise(f, theirs).slice(0, 120)} in the checkpoint, ${normalise(f, ours).slice(0, 120)} here`).join('; ')}`,
      );
    }
    if (!Number.isSafeInteger(checkpoint.step) || checkpoint.step < 0 || checkpoint.step > this.config.totalSteps) {
      throw mismatch(`checkpoint is at step ${checkpoint.step}; this run has totalSteps ${this.config.totalSteps}`);
    }
    if (!(checkpoint.params instanceof Float32Array) || checkpoint.params.length !== this.parameterCount) {
      throw mismatch(`checkpoint has ${checkpoint.params?.length} parameters; model ${this.model.name} has ${this.parameterCount}`);
    }
    if (checkpoint.optimizer?.stepCount !== checkpoint.step) {
      throw mismatch(`checkpoint's optimizer has taken ${checkpoint.optimizer?.stepCount} steps; the checkpoint is at step ${checkpoint.step}`);
    }
    try {
      this.optimizer.loadState(checkpoint.optimizer);
    } catch (error) {
      throw mismatch(`checkpoint's optimizer state does not fit: ${message(error)}`, error);
    }
    if (checkpoint.lr !== null && (typeof checkpoint.lr !== 'number' || !Number.isFinite(checkpoint.lr) || checkpoint.lr <= 0)) {
      throw mismatch(`checkpoint lr is ${String(checkpoint.lr)}; expected null or a number > 0`);
    }
    this.currentParams = checkpoint.params.slice();
    this.stepValue = checkpoint.step;
    this.lrOverride = checkpoint.lr;
    this.lastCheckpointStep = checkpoint.step;
    for (const record of checkpoint.history?.steps ?? []) this.stepHistory.push({ ...record, backends: [...record.backends] });
    for (const record of checkpoint.history?.evals ?? []) this.evalHistory.push({ ...record });
  }

  private sampleBytes(data: Dataset): number {
    const { x, y } = data.batch([0]) as { x: Float32Array; y: Int32Array | Float32Array };
    return x.length * 4 + y.length * 4 + 4;
  }

  private decodeLimits(conn: Conn): Partial<DecodeLimits> {
    const limits: CoordinatorLimits = this.options.limits;
    const base: Partial<DecodeLimits> = { maxShardsPerTask: limits.maxShardsPerTask, parameterCount: this.parameterCount, modelName: this.model.name };
    base.maxFrameBytes = conn.role === 'worker' ? limits.maxFrameBytes : Math.min(SMALL_FRAME_BYTES, limits.maxFrameBytes);
    return base;
  }

  private workerOf(conn: Conn): WorkerRecord | undefined {
    return conn.workerId === null ? undefined : this.workers.get(conn.workerId);
  }

  private send(conn: Conn, msg: Message): void {
    if (!conn.open) return;
    try {
      this.transport.send(conn.id, msg);
    } catch (error) {
      this.internalError(error, undefined);
    }
  }

  private setStatus(next: RunStatus): void {
    const previous = this.statusValue;
    if (previous === next) return;
    this.statusValue = next;
    this.emit({ kind: 'status', status: next, previous, step: this.stepValue });
  }

  private badState(action: string, expected: string): CoordinatorError {
    return new CoordinatorError(CoordinatorErrorCode.BAD_STATE, `cannot ${action} a run that is ${this.statusValue}; expected ${expected}`);
  }

  private emit(event: CoordinatorEvent): void {
    this.seq++;
    const seq = this.seq;
    for (const listener of [...this.listeners]) {
      try {
        listener(event, seq);
      } catch {
        // Listeners must not throw; the engine keeps going.
      }
    }
    let wire: RunEvent | undefined;
    for (const conn of this.conns.values()) {
      if (!conn.subscribed || !conn.open) continue;
      wire ??= jsonSafe(event) as RunEvent;
      this.send(conn, { type: 'event', runId: this.config.runId, seq, event: wire });
    }
  }

  private internalError(error: unknown, connId: string | undefined): void {
    const text = `internal error: ${message(error)}`;
    if (connId !== undefined) {
      const conn = this.conns.get(connId);
      if (conn) this.send(conn, { type: 'error', code: CoordinatorErrorCode.INTERNAL, message: text });
    }
    this.emit({ kind: 'error', message: text });
  }

  private workerEvent(worker: WorkerRecord, action: 'joined' | 'left', reason: string | null): CoordinatorEvent {
    return {
      kind: 'worker',
      action,
      workerId: worker.id,
      name: worker.name,
      backend: worker.capabilities.backend,
      environment: worker.capabilities.environment,
      adapter: worker.capabilities.adapter ?? null,
      trusted: worker.trusted,
      reason,
    };
  }

  private workerSummaries(): WorkerSummary[] {
    return [...this.workers.values()].sort((a, b) => a.order - b.order).map((w) => this.workerSummary(w));
  }

  private workerSummary(w: WorkerRecord): WorkerSummary {
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

  private modelSummary(): ModelSummary {
    return {
      name: this.model.name,
      parameterCount: this.parameterCount,
      inputShape: [...this.model.inputShape],
      outputShape: [...this.model.outputShape],
      loss: this.model.loss,
      layers: summarize(this.model).map((row) => ({
        index: row.index,
        type: row.type,
        description: row.description,
        outputShape: [...row.outputShape],
        paramCount: row.paramCount,
      })),
    };
  }

  private plainConfig(): RunConfig {
    return JSON.parse(JSON.stringify(this.config)) as RunConfig;
  }
}
