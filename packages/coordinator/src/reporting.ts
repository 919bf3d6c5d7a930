/**
 * Reporting: the event stream (listeners and subscribed dashboards), the in-memory metrics
 * and eval history, the per-step accounting, the counters, the JSON snapshot and the
 * Prometheus text. It observes the run; nothing it does changes what is computed.
 */
import type { JsonValue, Message, RunEvent } from '@swarmgrad/protocol';
import { summarize, type ModelPlan } from '@swarmgrad/nn-core';
import type { Dataset } from '@swarmgrad/data';
import type { ResolvedRun, RunConfig } from './config.js';
import type { AccountedBlock, AccountedShard, CoordinatorEvent, EvalResult, ModelSummary, RunSnapshot, RunStatus, StepAccounting, StepMetrics, WorkerSummary, WorkersEvent } from './events.js';
import { redactSummary, type Conn, type Membership } from './membership.js';
import { runMetrics } from './metrics.js';
import type { AppliedStep } from './aggregator.js';
import { jsonSafe, type Accepted, type Phase } from './work.js';

/** A listener of the event stream; `seq` numbers events from 1, monotonic per coordinator. */
export type CoordinatorListener = (event: CoordinatorEvent, seq: number) => void;

/** Completed steps whose accounting is kept in memory (the oldest is dropped first; checkpoints keep the metrics history). */
export const ACCOUNTING_STEPS_KEPT = 2000;

/** Fewest milliseconds between two `workers` events (sent after steps). */
export const WORKERS_EVENT_INTERVAL_MS = 1000;

/** The run's moving state, as the coordinator reports it. */
export interface RunView {
  status: RunStatus;
  step: number;
  epoch: number;
  lr: number;
  startedAt: number | null;
}

/** What the reporter needs to know about the run. */
export interface ReportingContext {
  run: ResolvedRun;
  trainData: Dataset;
  testData: Dataset | undefined;
  membership: Membership;
  clock: () => number;
  /** Sends a message on a connection (the coordinator's guarded transport). */
  send(conn: Conn, message: Message): void;
  /** The run's current status, step, epoch and learning rate. */
  view(): RunView;
}

/** The run's counters. */
export interface RunTotals {
  resultsAccepted: number;
  resultsRejected: number;
  shardsReissued: number;
  checkpoints: number;
  checkpointFailures: number;
  samplesTrained: number;
}

/** Records what happened and tells listeners, dashboards and scrapers. */
export class Reporter {
  /** Per-step metrics, oldest first. */
  readonly stepHistory: StepMetrics[] = [];
  /** Every evaluation, oldest first. */
  readonly evalHistory: EvalResult[] = [];
  /** Counters since the coordinator was created. */
  readonly totals: RunTotals = { resultsAccepted: 0, resultsRejected: 0, shardsReissued: 0, checkpoints: 0, checkpointFailures: 0, samplesTrained: 0 };
  /** Rejected or dropped worker messages by error code. */
  readonly rejectedByCode = new Map<string, number>();
  private readonly accountingLog: StepAccounting[] = [];
  private readonly listeners = new Set<CoordinatorListener>();
  private seqValue = 0;
  /** Clock of the last `workers` event (0: none yet). */
  private workersEventAt = 0;

  constructor(private readonly ctx: ReportingContext) {}

  /** Sequence number of the last event (0: none yet). */
  get seq(): number {
    return this.seqValue;
  }

  /** Subscribes to the event stream; returns the function that unsubscribes. */
  on(listener: CoordinatorListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Numbers `event`, hands it to every listener (exceptions are swallowed) and to every subscribed dashboard. */
  emit(event: CoordinatorEvent): void {
    const seq = ++this.seqValue;
    for (const listener of [...this.listeners]) {
      try {
        listener(event, seq);
      } catch {
        // Listeners must not throw; the engine keeps going.
      }
    }
    let wire: RunEvent | undefined;
    let publicWire: RunEvent | undefined;
    for (const conn of this.ctx.membership.conns.values()) {
      if (!conn.subscribed || !conn.open) continue;
      wire ??= jsonSafe(event) as RunEvent;
      if (!conn.admin) publicWire ??= publicEvent(wire);
      this.ctx.send(conn, { type: 'event', runId: this.ctx.run.config.runId, seq, event: conn.admin ? wire : publicWire! });
    }
  }

  /** Whether anyone reads events: a listener or a subscribed dashboard. */
  private hasAudience(): boolean {
    if (this.listeners.size > 0) return true;
    for (const conn of this.ctx.membership.conns.values()) if (conn.subscribed && conn.open) return true;
    return false;
  }

  /** Counts a refused worker message (a strike also counts as a rejected result). */
  countRejected(code: string, strike: boolean): void {
    this.rejectedByCode.set(code, (this.rejectedByCode.get(code) ?? 0) + 1);
    if (strike) this.totals.resultsRejected++;
  }

  /** A checkpoint write finished: counts it and emits `checkpoint`. */
  checkpointReported(step: number, ok: boolean, error: string | null): void {
    if (ok) this.totals.checkpoints++;
    else this.totals.checkpointFailures++;
    this.emit({ kind: 'checkpoint', step, ok, error });
  }

  /**
   * A training step was applied: records its metrics and accounting, emits `step`, and at
   * most once per `WORKERS_EVENT_INTERVAL_MS` a `workers` event.
   */
  recordStep(phase: Phase, applied: AppliedStep, now: number): void {
    const B = this.ctx.run.config.batchSize;
    const blocks = accountBlocks(phase);
    const metrics = stepMetrics(phase, applied, blocks, now, B);
    this.totals.samplesTrained += B;
    const shards: AccountedShard[] = [];
    for (const block of blocks) {
      for (let shard = block.start; shard < block.start + block.count; shard++) shards.push({ shard, workerId: block.workerId, backend: block.backend });
    }
    this.accountingLog.push({ step: phase.step, shardCount: phase.shardCount, blocks, shards });
    if (this.accountingLog.length > ACCOUNTING_STEPS_KEPT) this.accountingLog.shift();
    this.stepHistory.push(metrics);
    this.emit(metrics);
    // The table is built only for someone who reads it.
    if (now - this.workersEventAt >= WORKERS_EVENT_INTERVAL_MS && this.hasAudience()) {
      this.workersEventAt = now;
      this.emit(jsonSafe({ kind: 'workers', workers: this.ctx.membership.summaries(true), time: now }) as WorkersEvent);
    }
  }

  /**
   * The run rolled back to the state before `step`: the records of steps ≥ `step` (and of
   * evaluations after it) are dropped; the replay records them again.
   */
  rollBack(step: number): void {
    const B = this.ctx.run.config.batchSize;
    const dropped = this.stepHistory.filter((s) => s.step >= step).length;
    this.stepHistory.splice(0, this.stepHistory.length, ...this.stepHistory.filter((s) => s.step < step));
    this.evalHistory.splice(0, this.evalHistory.length, ...this.evalHistory.filter((e) => e.step <= step));
    this.accountingLog.splice(0, this.accountingLog.length, ...this.accountingLog.filter((a) => a.step < step));
    this.totals.samplesTrained -= dropped * B;
  }

  /** An evaluation finished: records and emits it. */
  recordEval(result: EvalResult): void {
    this.evalHistory.push(result);
    this.emit(result);
  }

  /** Per completed step (oldest first): which worker and backend computed each block (copies). */
  accounting(): StepAccounting[] {
    return this.accountingLog.map((entry) => ({
      ...entry,
      blocks: entry.blocks.map((block) => ({ ...block })),
      shards: entry.shards.map((shard) => ({ ...shard })),
    }));
  }

  /** Copies of the metrics and eval history (for checkpoints). */
  history(): { steps: StepMetrics[]; evals: EvalResult[] } {
    return { steps: this.stepHistory.map((s) => ({ ...s })), evals: this.evalHistory.map((e) => ({ ...e })) };
  }

  /** Restores the history of a resumed checkpoint. */
  loadHistory(history: { steps?: StepMetrics[]; evals?: EvalResult[] } | undefined): void {
    for (const record of history?.steps ?? []) this.stepHistory.push({ ...record, backends: [...record.backends] });
    for (const record of history?.evals ?? []) this.evalHistory.push({ ...record });
  }

  /** The run as JSON (see `Coordinator.snapshot`); without `admin`, nothing that identifies a worker or names a server path. */
  snapshot(historyLimit: number, admin = false): RunSnapshot {
    const { run, trainData, testData, membership } = this.ctx;
    const view = this.ctx.view();
    const steps = this.stepHistory;
    const last = steps[steps.length - 1];
    const history = historyLimit >= steps.length ? steps : steps.slice(steps.length - Math.max(0, historyLimit));
    const snapshot: RunSnapshot = {
      runId: run.config.runId,
      status: view.status,
      step: view.step,
      totalSteps: run.config.totalSteps,
      epoch: view.epoch,
      lr: view.lr,
      loss: last?.loss ?? null,
      samplesPerSecond: last?.samplesPerSecond ?? null,
      config: admin ? plainConfig(run) : publicConfig(plainConfig(run)),
      model: modelSummary(run.plan),
      data: {
        train: { name: trainData.name, length: trainData.length },
        test: testData ? { name: testData.name, length: testData.length } : null,
        evalSamples: run.evalSamples,
      },
      workers: membership.summaries(admin),
      history: history.map((s) => ({ ...s, backends: [...s.backends] })),
      evals: this.evalHistory.map((e) => ({ ...e })),
      totals: {
        resultsAccepted: this.totals.resultsAccepted,
        resultsRejected: this.totals.resultsRejected,
        shardsReissued: this.totals.shardsReissued,
        checkpoints: this.totals.checkpoints,
        samplesTrained: this.totals.samplesTrained,
      },
      startedAt: view.startedAt,
      time: this.ctx.clock(),
    };
    return jsonSafe(snapshot) as RunSnapshot;
  }

  /** Metrics in the Prometheus text format (see `Coordinator.metricsText`). */
  metricsText(): string {
    const { run, membership } = this.ctx;
    return runMetrics({
      run,
      view: this.ctx.view(),
      lastStep: this.stepHistory[this.stepHistory.length - 1],
      lastEval: this.evalHistory[this.evalHistory.length - 1],
      membership,
      dashboards: [...membership.conns.values()].filter((c) => c.subscribed).length,
      totals: this.totals,
      rejectedByCode: this.rejectedByCode,
    });
  }
}

/** The run config as plain JSON (a deep copy). */
export function plainConfig(run: ResolvedRun): RunConfig {
  return JSON.parse(JSON.stringify(run.config)) as RunConfig;
}

/** Model facts for dashboards. */
export function modelSummary(model: ModelPlan): ModelSummary {
  return {
    name: model.name,
    parameterCount: model.paramCount,
    inputShape: [...model.inputShape],
    outputShape: [...model.outputShape],
    loss: model.loss,
    layers: summarize(model).map((row) => ({
      index: row.index,
      type: row.type,
      description: row.description,
      outputShape: [...row.outputShape],
      paramCount: row.paramCount,
    })),
  };
}

/** Who computed each block of a complete phase, in block order. */
function accountBlocks(phase: Phase): AccountedBlock[] {
  return phase.units.map((unit) => {
    const accepted = phase.accepted.get(unit.start)!;
    return {
      start: unit.start,
      count: unit.count,
      workerId: accepted.task.workerId,
      backend: accepted.backend,
      taskId: accepted.task.id,
      reissued: accepted.task.reissue,
    };
  });
}

/** The `step` event of an applied step: loss, timing split by the slowest accepted task, who took part. */
function stepMetrics(phase: Phase, applied: AppliedStep, blocks: readonly AccountedBlock[], now: number, batchSize: number): StepMetrics {
  let slowest: Accepted | undefined;
  for (const accepted of phase.accepted.values()) {
    if (!slowest || accepted.receivedAt - accepted.task.sentAt > slowest.receivedAt - slowest.task.sentAt) slowest = accepted;
  }
  const stepMs = Math.max(0, now - phase.startedAt);
  const roundTrip = slowest ? Math.max(0, slowest.receivedAt - slowest.task.sentAt) : 0;
  const computeMs = slowest ? slowest.task.computeMs : 0;
  const metrics: StepMetrics = {
    kind: 'step',
    step: phase.step,
    epoch: phase.epoch,
    loss: applied.loss,
    lr: applied.lr,
    samplesPerSecond: stepMs > 0 ? (batchSize * 1000) / stepMs : 0,
    stepMs,
    computeMs,
    transferMs: Math.max(0, roundTrip - computeMs),
    waitMs: Math.max(0, stepMs - roundTrip),
    workers: new Set(blocks.map((b) => b.workerId)).size,
    backends: [...new Set(blocks.map((b) => b.backend))].sort(),
    shardsReissued: phase.shardsReissued,
    time: now,
  };
  return jsonSafe(metrics) as StepMetrics;
}

/** A run event as a dashboard without the admin token sees it: no worker names, adapters, addresses, user agents, error texts or paths. */
export function publicEvent(event: RunEvent): RunEvent {
  switch (event.kind) {
    case 'worker':
      return { ...event, name: null, adapter: null };
    case 'workers':
      return { ...event, workers: (event['workers'] as unknown as WorkerSummary[]).map(redactSummary) as unknown as JsonValue };
    case 'checkpoint':
      return { ...event, error: event['error'] === null ? null : 'the checkpoint write failed (details for admins)' };
    case 'error':
      return String(event['message']).startsWith('internal error') ? { ...event, message: 'internal error (details for admins)' } : event;
    default:
      return event;
  }
}

/** The run config without server paths (an `idx` dataset's folder). */
function publicConfig(config: RunConfig): RunConfig {
  if (!('dir' in config.dataset)) return config;
  const { dir: _hidden, ...dataset } = config.dataset;
  return { ...config, dataset: { ...dataset } };
}
