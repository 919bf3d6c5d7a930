/**
 * The run engine: a thin state machine over its collaborators. It owns the run's status,
 * step, parameters and learning rate, routes frames to handlers, and moves the run on
 * (step → evaluation → checkpoint → next step). The work itself is done by:
 * `Membership` (connections, workers, tokens, heartbeats, strikes), `Scheduler` (blocks,
 * tasks, deadlines, re-issue), `Aggregator` (results exactly once through the `ResultGate`,
 * tree sum, optimizer step), `evaluation.ts`, `Reporter` (events, snapshot, accounting,
 * metrics), `CheckpointPolicy`, `Peers` (sending, refusing, closing) and `DashboardChannel`
 * (subscribe, admin actions). Transport-free: frames in (`receive`), messages out
 * (`transport.send`), time from an injected clock, timers driven by `tick()`.
 */
import { decodeMessage, isProtocolError, type Message } from '@swarmgrad/protocol';
import { createOptimizer, initParams, type ModelPlan, type Optimizer } from '@swarmgrad/nn-core';
import { BatchSchedule } from '@swarmgrad/data';
import { Aggregator, nonFiniteState } from './aggregator.js';
import { CHECKPOINT_FORMAT_VERSION, type Checkpoint } from './checkpoint.js';
import { CheckpointPolicy, checkResume } from './checkpoint-policy.js';
import { resolveEngineOptions, resolveRunConfig, type CoordinatorLimits, type ResolvedEngineOptions, type ResolvedRun, type RunConfig } from './config.js';
import { CloseCode, CoordinatorError, CoordinatorErrorCode } from './errors.js';
import { evalDueAfter, planEvalUnits, summarizeEval } from './evaluation.js';
import type { RunSnapshot, RunStatus, StepAccounting } from './events.js';
import { Membership, decodeLimitsFor, type Conn } from './membership.js';
import { DashboardChannel } from './dashboards.js';
import { badConfig, checkOptions, type CoordinatorOptions } from './options.js';
import { Peers } from './peers.js';
import { MessageRouter } from './router.js';
import { Reporter, plainConfig, type CoordinatorListener, type RunView } from './reporting.js';
import { PASS_THROUGH_GATE } from './result-gate.js';
import type { StepState } from './replay-ring.js';
import { resolveVerification, type ResolvedVerification } from './verification-options.js';
import { VolunteerGuard, redactAddresses } from './volunteer-guard.js';
import { Scheduler } from './scheduler.js';
import { paramsFamilies } from './metrics.js';
import { formatPrometheus } from './prometheus.js';
import { errorText, jsonSafe, type Phase, type TaskRecord } from './work.js';
import type { RollbackRecord, WorkerVerification } from './events.js';

export { DEFAULT_SAMPLES_PER_SECOND, SMALL_FRAME_BYTES } from './membership.js';
export { WORKERS_EVENT_INTERVAL_MS, type CoordinatorListener } from './reporting.js';
export type { CoordinatorOptions, CoordinatorTransport } from './options.js';

/** Tasks of retired phases remembered for late results (oldest forgotten first). */
const RETIRED_TASKS_KEPT = 1024;
/** Most per-step metrics records a dashboard's first `snapshot` event carries. */
export const DASHBOARD_HISTORY_LIMIT = 1000;

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
  private readonly clock: () => number;
  private readonly schedule: BatchSchedule;
  private readonly optimizer: Optimizer;
  /** A step produced non-finite state: the optimizer's state is not to be checkpointed. */
  private poisoned = false;
  private readonly membership: Membership;
  private readonly scheduler: Scheduler;
  private readonly aggregator: Aggregator;
  private readonly reporter: Reporter;
  private readonly checkpoints: CheckpointPolicy;
  private readonly peers: Peers;
  private readonly dashboards: DashboardChannel;
  private readonly router: MessageRouter;
  /** Volunteer verification (see `volunteer-guard.ts`). */
  private readonly guard: VolunteerGuard;
  private resolveDone!: (snapshot: RunSnapshot) => void;

  private statusValue: RunStatus = 'waiting';
  private stepValue = 0;
  private currentParams: Float32Array;
  private lrOverride: number | null = null;
  /** The step or evaluation in flight. */
  private phase: Phase | null = null;
  /** Task id → worker id of the last completed or abandoned phase (to tell stale results from unknown ones). */
  /** Tasks of recently retired phases by id, at most `RETIRED_TASKS_KEPT` (a late result is told STALE_RESULT; a late answer still counts as a measurement). */
  private readonly retired = new Map<string, TaskRecord>();
  private pendingEval = false;
  /** After a rollback: results for steps before it are stale (see `rollback`). */
  private staleBelow = 0;
  private settling = false;
  private startedAt: number | null = null;

  /**
   * @throws CoordinatorError `BAD_CONFIG` for an invalid run config or option (the message
   *   names it), `RESUME_MISMATCH` when `resume` belongs to another run or model,
   *   `CHECKPOINT_FORMAT` when `resume` is not a checkpoint object.
   */
  constructor(options: CoordinatorOptions) {
    checkOptions(options);
    this.run = resolveRunConfig(options.run, options.trainData, options.testData);
    this.config = this.run.config;
    this.model = this.run.plan;
    this.parameterCount = this.run.plan.paramCount;
    this.shardCount = this.run.shardCount;
    this.options = resolveEngineOptions(options, this.parameterCount);
    this.limits = Object.freeze({ ...this.options.limits });
    this.clock = options.clock ?? Date.now;
    try {
      const { seed, batchSize, microShardSize } = this.config;
      this.schedule = new BatchSchedule({ seed, datasetLength: options.trainData.length, batchSize, microShardSize });
    } catch (error) {
      throw badConfig(`run: ${errorText(error)}`, error);
    }
    this.optimizer = createOptimizer(this.config.optimizer, this.parameterCount);
    const send = (conn: Conn, message: Message): void => this.peers.send(conn, message);
    const { heartbeatTimeoutMs, maxStrikes } = this.options;
    const verification = resolveVerification(options.verification, this.options.allowVolunteers);
    const allowVolunteers = verification.mode !== 'off';
    this.membership = new Membership({ clock: this.clock, token: options.token, adminToken: options.adminToken, allowVolunteers, heartbeatTimeoutMs, maxStrikes });
    this.guard = this.createGuard(verification);
    this.peers = new Peers(options.transport, this.membership, () => this.reporter, (_worker, connId) => this.router.workerGone(connId));
    this.reporter = new Reporter({ run: this.run, trainData: options.trainData, testData: options.testData, membership: this.membership, clock: this.clock, send, view: () => this.view() });
    this.scheduler = new Scheduler({
      run: this.run,
      options: this.options,
      schedule: this.schedule,
      trainData: options.trainData,
      testData: options.testData,
      membership: this.membership,
      clock: this.clock,
      send,
      writable: (conn) => options.transport.writable?.(conn.id) ?? true,
      reissued: (event, shards) => {
        this.reporter.totals.shardsReissued += shards;
        this.reporter.emit(event);
      },
      volunteers: this.guard,
    });
    this.aggregator = new Aggregator(this.guard.gate(options.resultGate ?? PASS_THROUGH_GATE), this.optimizer, this.parameterCount, this.config.batchSize);
    this.dashboards = new DashboardChannel({
      runId: this.config.runId,
      membership: this.membership,
      peers: this.peers,
      seq: () => this.reporter.seq,
      snapshot: (admin) => this.snapshot({ historyLimit: DASHBOARD_HISTORY_LIMIT, admin }),
      control: this,
    });
    this.router = this.createRouter();
    this.checkpoints = new CheckpointPolicy(options.onCheckpoint, (step, ok, error) => this.reporter.checkpointReported(step, ok, error));
    this.currentParams = initParams(this.model, this.config.seed);
    if (options.resume !== undefined) this.applyResume(options.resume);
    this.pendingEval = this.stepValue >= this.config.totalSteps && this.run.evalSamples > 0;
    this.checkpoints.pending = options.resume === undefined && this.stepValue >= this.config.totalSteps && this.checkpoints.enabled;
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
    return this.reporter.accounting();
  }

  /**
   * The run's state after `step` steps, for `encodeCheckpoint`. Valid at any time: while a
   * step is in flight the parameters are still those of `step`.
   */
  checkpoint(): Checkpoint {
    return {
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      run: plainConfig(this.run),
      step: this.stepValue,
      params: this.currentParams.slice(),
      optimizer: this.optimizer.state(),
      lr: this.lrOverride,
      history: this.reporter.history(),
      createdAt: this.clock(),
    };
  }

  /** Subscribes to the event stream; returns the function that unsubscribes. Listeners must not throw (exceptions are swallowed). */
  on(listener: CoordinatorListener): () => void {
    return this.reporter.on(listener);
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
    this.peers.closeWorkers('run stopped');
    this.setStatus('stopped');
    void this.settle();
  }

  /**
   * Sets the learning rate of every later step (overriding the optimizer's schedule).
   * @throws CoordinatorError `BAD_CONFIG` unless `lr` is finite and > 0; `BAD_STATE` once the run ended.
   */
  setLearningRate(lr: number): void {
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr <= 0) throw badConfig(`learning rate must be a finite number > 0; got ${String(lr)}`);
    if (this.statusValue === 'finished' || this.statusValue === 'stopped') throw this.badState('setLearningRate', 'not finished or stopped');
    this.lrOverride = lr;
    this.reporter.emit({ kind: 'lr', lr, step: this.stepValue });
  }

  // -------------------------------------------------------------------------------------------
  // transport events

  /** A connection opened. Its first message must be a `hello` within `heartbeatTimeoutMs`. */
  open(connId: string, info: { remoteAddress?: string } = {}): void {
    try {
      this.membership.open(connId, info.remoteAddress ?? null);
    } catch (error) {
      this.peers.internalError(error, undefined);
    }
  }

  /**
   * A binary frame arrived on `connId`. Decodes it (a `ProtocolError` becomes an `error`
   * with its code and a strike) and handles the message. Frames on a connection that was
   * never opened, or that the engine already closed, are ignored. Never throws.
   */
  receive(connId: string, frame: Uint8Array): void {
    try {
      const conn = this.membership.conns.get(connId);
      if (!conn || !conn.open) return;
      this.membership.touch(conn, this.clock());
      let decoded: Message;
      try {
        decoded = decodeMessage(frame, decodeLimitsFor(conn, this.options.limits, this.model));
      } catch (error) {
        if (!isProtocolError(error)) throw error;
        this.router.onProtocolError(conn, error);
        return;
      }
      this.router.dispatch(conn, decoded);
    } catch (error) {
      this.peers.internalError(error, connId);
    }
  }

  /** The connection is gone (closed by the peer or the network). Its outstanding blocks are re-issued at once. Idempotent. */
  close(connId: string): void {
    try {
      const conn = this.membership.conns.get(connId);
      if (conn) this.peers.forget(conn, 'closed');
    } catch (error) {
      this.peers.internalError(error, undefined);
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
      for (const { conn, missing, silentMs } of this.membership.expired(now)) {
        if (!conn.open) continue;
        if (missing === 'hello') this.peers.fatal(conn, CoordinatorErrorCode.HEARTBEAT_TIMEOUT, `no hello within ${timeout} ms`, CloseCode.HEARTBEAT_TIMEOUT, 'no hello');
        else this.peers.fatal(conn, CoordinatorErrorCode.HEARTBEAT_TIMEOUT, `no message for ${silentMs} ms; the heartbeat timeout is ${timeout} ms`, CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
      }
      const phase = this.phase;
      if (phase) this.router.expireOverdue(phase, now);
      if (this.phase) this.scheduler.drainPending(this.phase);
    } catch (error) {
      this.peers.internalError(error, undefined);
    }
  }

  // -------------------------------------------------------------------------------------------
  // reports

  /**
   * The run as JSON, for dashboards and the HTTP API.
   * @param options.historyLimit keep only the last this many per-step records (default all)
   * @param options.admin include what identifies workers (addresses, names, user agents, adapters, core counts, error texts) and server paths; default false: only ids and counters
   */
  snapshot(options: { historyLimit?: number; admin?: boolean } = {}): RunSnapshot {
    const admin = options.admin ?? false;
    const snapshot = this.reporter.snapshot(options.historyLimit ?? Number.POSITIVE_INFINITY, admin);
    const report = this.guard.report();
    snapshot.verification = jsonSafe(admin ? report : redactAddresses(report)) as NonNullable<RunSnapshot['verification']>;
    return snapshot;
  }

  /** Whether `token` is the admin token (constant-time; never true when none is configured). For adapters that authorise HTTP reads. */
  isAdminToken(token: string): boolean {
    return this.membership.adminAllowed(token);
  }

  /** Whether `token` is the lab token (a transport may let its holders past connection caps). */
  isLabToken(token: string): boolean {
    return this.membership.labTokenAllowed(token);
  }

  /** One worker's verification standing and verified credit (for the JSON API and volunteer pages). */
  verificationOf(workerId: string): WorkerVerification {
    return jsonSafe(this.guard.workerVerification(workerId)) as WorkerVerification;
  }

  /** Lifts a ban (`worker:<id>`, `address:<ip>`, or a bare id/address); returns whether one was lifted. Also the admin action `liftBan`. */
  liftBan(key: string): boolean {
    return this.guard.liftBan(key);
  }

  /** Metrics in the Prometheus text format (for `GET /metrics`); every series has a `run` label. */
  metricsText(): string {
    return this.reporter.metricsText() + formatPrometheus([...this.guard.metrics(this.config.runId), ...paramsFamilies(this.config.runId, this.scheduler.params.sent)]);
  }

  // -------------------------------------------------------------------------------------------
  // the state machine

  /** Moves the run on when nothing is in flight: evaluation, checkpoint, finish or the next step. */
  private advance(): void {
    if (this.phase || this.checkpoints.inFlight || this.settling) return;
    const status = this.statusValue;
    if (status === 'waiting' || status === 'finished' || status === 'stopped') return;
    if (this.pendingEval) {
      if (status !== 'paused') this.startEval();
      return;
    }
    if (this.checkpoints.pending) {
      this.checkpoints.start(this.checkpoint(), (ok) => {
        if (!ok && (this.statusValue === 'running' || this.statusValue === 'evaluating')) this.setStatus('paused');
        this.advance();
      });
      return;
    }
    if (this.stepValue >= this.config.totalSteps) {
      this.finish();
      return;
    }
    if (status !== 'paused') this.startTrainStep();
  }

  private startTrainStep(): void {
    this.guard.stepStarting(this.stepValue, this.currentParams, this.optimizer, this.lrOverride);
    const plan = this.scheduler.planTrainStep(this.stepValue, this.currentParams);
    this.phase = plan.phase;
    this.scheduler.sendShares(plan);
  }

  private startEval(): void {
    this.pendingEval = false;
    const size = this.config.evalShardSize;
    const units = planEvalUnits(this.run.evalSamples, size);
    const phase = this.scheduler.planPhase('eval', this.stepValue, units.length, size, units, this.currentParams);
    this.phase = phase;
    if (this.statusValue === 'running') this.setStatus('evaluating');
    this.scheduler.assignOrWait(phase, units);
  }

  private retirePhase(phase: Phase): void {
    for (const task of phase.tasks.values()) this.retired.set(task.id, task);
    for (const id of this.retired.keys()) {
      if (this.retired.size <= RETIRED_TASKS_KEPT) break;
      this.retired.delete(id);
    }
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
    const applied = this.aggregator.applyStep(phase, this.currentParams, this.lrOverride);
    const bad = nonFiniteState(applied.params, applied.loss, this.optimizer);
    if (bad !== null) {
      this.refuseStep(phase.step, bad);
      return;
    }
    this.currentParams = applied.params;
    this.stepValue = phase.step + 1;
    this.reporter.recordStep(phase, applied, now);
    this.guard.stepApplied(phase.step);
    const step = this.stepValue;
    this.pendingEval = evalDueAfter(step, { totalSteps: this.config.totalSteps, evalEvery: this.config.evalEvery, evalSamples: this.run.evalSamples });
    this.checkpoints.pending = this.checkpoints.dueAfter(step, this.config);
  }

  /** The message router, reading the live phase/status/step through a host view of this engine. */
  private createRouter(): MessageRouter {
    const { run, clock, membership, scheduler, aggregator, reporter, peers, dashboards, guard, retired } = this;
    const deps = { run, options: this.options, parameterCount: this.parameterCount, clock, membership, scheduler, aggregator, reporter, peers, dashboards, guard, retired };
    const engine = this; // the host's getters read this engine's live state
    return new MessageRouter(deps, {
      get phase() {
        return engine.phase;
      },
      get status() {
        return engine.statusValue;
      },
      get step() {
        return engine.stepValue;
      },
      get staleBelow() {
        return engine.staleBelow;
      },
      completePhase: (phase) => this.completePhase(phase),
    });
  }

  private createGuard(verification: ResolvedVerification): VolunteerGuard {
    return new VolunteerGuard({
      ...verification,
      batchSize: this.config.batchSize,
      totalSteps: this.config.totalSteps,
      membership: this.membership,
      peers: () => this.peers,
      clock: this.clock,
      shadow: (phase, units) => this.scheduler.shadow(phase, units),
      rollback: (state, record) => this.rollback(state, record),
      emit: (event) => this.reporter.emit(event),
      currentStep: () => this.phase?.step ?? this.stepValue,
    });
  }

  /**
   * A detected cheater had unchecked blocks in step `state.step` or later: abandon the phase
   * in flight, restore the state before that step, drop the records of the replayed steps,
   * and go on from there (deterministically, so the replay lands on the clean trajectory).
   */
  private rollback(state: StepState, record: RollbackRecord): void {
    if (this.phase) this.retirePhase(this.phase);
    this.staleBelow = Math.max(this.staleBelow, record.fromStep + 1);
    this.currentParams = state.params;
    this.optimizer.loadState(state.optimizer);
    this.lrOverride = state.lr;
    this.stepValue = state.step;
    this.pendingEval = false;
    this.checkpoints.pending = false;
    this.reporter.rollBack(state.step);
    this.reporter.emit(jsonSafe({ kind: 'rollback', ...record }) as RollbackRecord & { kind: 'rollback' });
    this.advance();
  }

  /**
   * A step produced non-finite parameters, loss or optimizer state: the step is refused,
   * the run stops with a `NON_FINITE_STATE` error event, and no stop checkpoint is written
   * (the optimizer already holds the bad state; the last periodic checkpoint is the good one).
   */
  private refuseStep(step: number, what: string): void {
    this.poisoned = true;
    this.reporter.emit({ kind: 'error', message: `${CoordinatorErrorCode.NON_FINITE_STATE}: step ${step} produced ${what}; the step is refused and the run stopped (resume from the last checkpoint, e.g. with a lower learning rate)` });
    this.stop();
  }

  private finishEval(phase: Phase): void {
    this.reporter.recordEval(summarizeEval(phase, this.clock()));
    if (this.statusValue === 'evaluating') this.setStatus('running');
  }

  private finish(): void {
    this.peers.closeWorkers('run finished');
    this.setStatus('finished');
    void this.settle();
  }

  /** After finish or stop: waits for a checkpoint in flight, takes the stop checkpoint, resolves `done`. */
  private async settle(): Promise<void> {
    if (this.settling) return;
    this.settling = true;
    try {
      if (this.checkpoints.inFlight) await this.checkpoints.inFlight;
      if (this.statusValue === 'stopped' && !this.poisoned && this.checkpoints.needsStopCheckpoint(this.stepValue)) await this.checkpoints.write(this.checkpoint());
    } catch (error) {
      this.peers.internalError(error, undefined);
    }
    this.resolveDone(this.snapshot({ admin: true }));
  }

  // -------------------------------------------------------------------------------------------
  // helpers

  private applyResume(checkpoint: Checkpoint): void {
    checkResume(checkpoint, { config: this.config as RunConfig, parameterCount: this.parameterCount, modelName: this.model.name, optimizer: this.optimizer });
    this.currentParams = checkpoint.params.slice();
    this.stepValue = checkpoint.step;
    this.lrOverride = checkpoint.lr;
    this.checkpoints.lastStep = checkpoint.step;
    this.reporter.loadHistory(checkpoint.history);
  }

  private view(): RunView {
    return { status: this.statusValue, step: this.stepValue, epoch: this.schedule.epochOf(this.stepValue), lr: this.learningRate, startedAt: this.startedAt };
  }

  private setStatus(next: RunStatus): void {
    const previous = this.statusValue;
    if (previous === next) return;
    this.statusValue = next;
    this.reporter.emit({ kind: 'status', status: next, previous, step: this.stepValue });
  }

  private badState(action: string, expected: string): CoordinatorError {
    return new CoordinatorError(CoordinatorErrorCode.BAD_STATE, `cannot ${action} a run that is ${this.statusValue}; expected ${expected}`);
  }

}

