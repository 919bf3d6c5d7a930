/**
 * What the dashboard knows about one run, kept up to date from the live event stream (the
 * live run) or read once from the HTTP API (a past run, from its newest checkpoint).
 */
import { planModel, summarize } from '@swarmgrad/nn-core';
import type {
  EvalResult,
  ModelSummary,
  PastRun,
  RunConfig,
  RunEvent,
  RunSnapshot,
  RunStatus,
  RunTotals,
  StepMetrics,
  VerificationReport,
  WorkerSummary,
} from './types.js';

/** Parts of a {@link RunState} that changed, so views redraw only those. */
export type Change = 'status' | 'steps' | 'evals' | 'workers' | 'config' | 'log' | 'verification';

/** The event of one kind. */
type EventOf<K extends RunEvent['kind']> = Extract<RunEvent, { kind: K }>;

/** One line of the event log. */
export interface LogEntry {
  time: number;
  kind: string;
  text: string;
  tone: 'info' | 'good' | 'warn' | 'bad';
}

/** Most step records kept in memory; older ones are thinned out (every other one dropped). */
export const MAX_STEPS = 20_000;
/** Most event-log lines kept (the oldest are dropped). */
export const MAX_LOG = 200;

export class RunState {
  runId: string;
  /** The server's current run (false: a past run read from its checkpoint). */
  readonly live: boolean;
  status: RunStatus | string = 'waiting';
  step = 0;
  totalSteps = 0;
  epoch = 0;
  lr: number | null = null;
  config: RunConfig | null = null;
  model: ModelSummary | null = null;
  data: RunSnapshot['data'] | null = null;
  workers = new Map<string, WorkerSummary & { leftReason?: string | null }>();
  history: StepMetrics[] = [];
  evals: EvalResult[] = [];
  totals: RunTotals | null = null;
  /** Volunteer verification (snapshot field, `verification` events). */
  verification: VerificationReport | null = null;
  startedAt: number | null = null;
  /** Server clock minus this page's clock, from the last snapshot. */
  clockOffset = 0;
  log: LogEntry[] = [];
  /** Past runs only. */
  out: string | null = null;
  paramsSha256: string | null = null;
  /** Last seq applied (live). */
  seq = 0;

  constructor(runId: string, live: boolean) {
    this.runId = runId;
    this.live = live;
  }

  /** A past run as `GET /api/runs/:id` returns it. */
  static fromPast(run: PastRun): RunState {
    const state = new RunState(run.runId, false);
    state.status = run.status;
    state.step = run.step;
    state.out = run.out;
    state.paramsSha256 = run.paramsSha256 ?? null;
    if (run.config) {
      state.config = run.config;
      state.totalSteps = run.config.totalSteps;
      state.model = modelSummaryOf(run.config);
    }
    state.history = run.history?.steps ?? [];
    state.evals = run.history?.evals ?? [];
    const last = state.history[state.history.length - 1];
    if (last) {
      state.epoch = last.epoch;
      state.lr = last.lr;
    }
    // The checkpoint keeps no event log: rebuild the evaluations' lines.
    const evals = state.evals;
    state.evals = [];
    for (const e of evals) state.apply(e);
    state.addLog(Math.max(last?.time ?? 0, state.lastEval?.time ?? 0) || Date.now(), 'checkpoint', `read from the checkpoint at step ${run.step} in ${run.out}`, 'info', new Set());
    return state;
  }

  get finished(): boolean {
    return this.status === 'finished' || this.status === 'stopped';
  }

  get lastStep(): StepMetrics | undefined {
    return this.history[this.history.length - 1];
  }

  get lastEval(): EvalResult | undefined {
    return this.evals[this.evals.length - 1];
  }

  /** Applies one event from the stream; returns what changed. */
  apply(event: RunEvent, seq?: number): Set<Change> {
    const changed = new Set<Change>();
    if (seq !== undefined && event.kind !== 'snapshot') this.seq = Math.max(this.seq, seq);
    switch (event.kind) {
      case 'snapshot':
        this.applySnapshot(event.snapshot, changed);
        if (seq !== undefined) this.seq = seq;
        break;
      case 'step':
        this.applyStep(event, changed);
        break;
      case 'eval':
        this.applyEval(event, changed);
        break;
      case 'worker':
        this.applyWorkerEvent(event, changed);
        break;
      case 'status':
        this.status = event.status;
        changed.add('status');
        this.addLog(this.now(), 'status', `${event.previous} → ${event.status} at step ${event.step}`, event.status === 'stopped' ? 'bad' : event.status === 'paused' ? 'warn' : 'info', changed);
        break;
      case 'lr':
        this.lr = event.lr;
        changed.add('status');
        this.addLog(this.now(), 'lr', `learning rate set to ${event.lr} from step ${event.step}`, 'info', changed);
        break;
      case 'checkpoint':
        if (this.totals && event.ok) this.totals.checkpoints++;
        this.addLog(this.now(), 'checkpoint', event.ok ? `checkpoint at step ${event.step}` : `checkpoint at step ${event.step} failed: ${event.error ?? 'unknown error'} — the run is paused`, event.ok ? 'info' : 'bad', changed);
        break;
      case 'reissue':
        this.applyReissue(event, changed);
        break;
      case 'rejected':
        this.applyRejected(event, changed);
        break;
      case 'error':
        this.addLog(this.now(), 'error', event.message, 'bad', changed);
        break;
      case 'workers':
        this.applyWorkers(event.workers);
        changed.add('workers');
        break;
      case 'verification':
        this.verification = event.report;
        changed.add('verification');
        break;
      case 'rollback':
        this.applyRollback(event, changed);
        break;
    }
    return changed;
  }

  /** The server's clock now (the page's clock corrected by the last snapshot). */
  now(): number {
    return Date.now() + this.clockOffset;
  }

  /** Adds a line that did not come from the engine (admin feedback, connection notes). */
  note(text: string, tone: LogEntry['tone'] = 'info'): Set<Change> {
    const changed = new Set<Change>();
    this.addLog(this.now(), 'dashboard', text, tone, changed);
    return changed;
  }

  private applyStep(event: EventOf<'step'>, changed: Set<Change>): void {
    if (this.lastStep && event.step <= this.lastStep.step) return;
    this.history.push(event);
    this.thin();
    this.step = event.step + 1;
    this.epoch = event.epoch;
    changed.add('steps').add('status');
  }

  private applyEval(event: EventOf<'eval'>, changed: Set<Change>): void {
    if (this.lastEval && event.step <= this.lastEval.step) return;
    this.evals.push(event);
    changed.add('evals');
    this.addLog(event.time, 'eval', `evaluation at step ${event.step}: accuracy ${(event.accuracy * 100).toFixed(2)}%, loss ${event.loss.toFixed(4)} on ${event.samples.toLocaleString('en-US')} images`, 'good', changed);
  }

  private applyWorkerEvent(event: EventOf<'worker'>, changed: Set<Change>): void {
    const known = this.workers.get(event.workerId);
    const base: WorkerSummary = known ?? {
      id: event.workerId, name: event.name, connected: true, environment: event.environment, backend: event.backend,
      adapter: event.adapter, cores: null, userAgent: null, remoteAddress: null, trusted: event.trusted, codec: 'f32',
      samplesPerSecond: 0, measured: false, tasksDone: 0, shardsDone: 0, rejected: 0, joinedAt: this.now(), lastSeen: this.now(), lastError: null,
    };
    this.workers.set(event.workerId, {
      ...base, name: event.name, backend: event.backend, environment: event.environment, adapter: event.adapter, trusted: event.trusted,
      connected: event.action === 'joined', leftReason: event.action === 'left' ? event.reason : null,
      ...(event.action === 'joined' ? { lastSeen: this.now() } : {}),
    });
    changed.add('workers');
    const who = `${event.workerId}${event.name ? ` (${event.name})` : ''}`;
    this.addLog(this.now(), 'worker', event.action === 'joined'
      ? `worker ${who} joined · ${event.environment}, ${event.backend}${event.adapter ? ` (${event.adapter})` : ''}${event.trusted ? '' : ' · volunteer'}`
      : `worker ${who} left${event.reason ? ` — ${event.reason}` : ''}`, event.action === 'joined' ? 'info' : 'warn', changed);
  }

  private applyReissue(event: EventOf<'reissue'>, changed: Set<Change>): void {
    const shards = event.blocks.reduce((sum, b) => sum + b.count, 0);
    const to = event.toWorkers.length ? `to ${event.toWorkers.join(', ')}` : '(waiting for a worker)';
    this.addLog(this.now(), 'reissue', `${event.taskKind} step ${event.step}: ${shards} micro-shard${shards === 1 ? '' : 's'} of ${event.fromWorker} re-issued ${to} (${event.reason})`, 'warn', changed);
  }

  private applyRejected(event: EventOf<'rejected'>, changed: Set<Change>): void {
    const w = event.workerId ? this.workers.get(event.workerId) : undefined;
    if (w && event.strike) {
      w.rejected++;
      changed.add('workers');
    }
    this.addLog(this.now(), 'rejected', `${event.code}${event.workerId ? ` from ${event.workerId}` : ''}: ${event.message}${event.fatal ? ' (connection closed)' : ''}`, event.fatal ? 'bad' : 'warn', changed);
  }

  private applyRollback(event: EventOf<'rollback'>, changed: Set<Change>): void {
    // The steps from toStep on are replayed: their old records (and later evaluations) are void.
    this.history = this.history.filter((h) => h.step < event.toStep);
    this.evals = this.evals.filter((e) => e.step <= event.toStep);
    this.step = event.toStep;
    changed.add('steps').add('evals').add('status');
    this.addLog(event.time, 'rollback', `rolled back from step ${event.fromStep} to ${event.toStep} after ${event.workerId} was caught: ${event.reason}${event.complete ? '' : ' (its first unchecked contribution is older than the replay ring: not undone)'}`, 'bad', changed);
  }

  private applySnapshot(s: RunSnapshot, changed: Set<Change>): void {
    this.runId = s.runId;
    this.status = s.status;
    this.step = s.step;
    this.totalSteps = s.totalSteps;
    this.epoch = s.epoch;
    this.lr = s.lr;
    this.config = s.config;
    this.model = s.model;
    this.data = s.data;
    this.totals = s.totals;
    this.startedAt = s.startedAt;
    this.clockOffset = s.time - Date.now();
    // Keep what came before the snapshot's (limited) history window.
    const first = s.history[0]?.step ?? Infinity;
    this.history = this.history.filter((h) => h.step < first).concat(s.history);
    if (s.evals.length >= this.evals.length) this.evals = s.evals;
    this.applyWorkers(s.workers);
    this.verification = s.verification ?? null;
    changed.add('status').add('steps').add('evals').add('workers').add('config').add('verification');
  }

  /** Takes the engine's workers table (from a snapshot or a `workers` event). */
  private applyWorkers(workers: readonly WorkerSummary[]): void {
    for (const w of workers) {
      const known = this.workers.get(w.id);
      this.workers.set(w.id, { ...w, leftReason: w.connected ? null : known?.leftReason ?? null });
    }
  }

  private thin(): void {
    if (this.history.length <= MAX_STEPS) return;
    const half = this.history.length >> 1;
    this.history = this.history.filter((_, i) => i >= half || i % 2 === 0);
  }

  /** Appends to the event log (also used to rebuild a past run's log). */
  addLog(time: number, kind: string, text: string, tone: LogEntry['tone'], changed: Set<Change>): void {
    this.log.push({ time, kind, text, tone });
    if (this.log.length > MAX_LOG) this.log.splice(0, this.log.length - MAX_LOG);
    changed.add('log');
  }
}

/** The model summary of a run config (past runs carry no snapshot): computed from its spec. */
export function modelSummaryOf(config: RunConfig): ModelSummary | null {
  try {
    const plan = planModel(config.modelSpec);
    return {
      name: plan.name,
      parameterCount: plan.paramCount,
      inputShape: plan.inputShape,
      outputShape: plan.outputShape,
      loss: plan.loss,
      layers: summarize(plan).map((row) => ({ ...row, type: row.type as string })),
    };
  } catch {
    return null;
  }
}
