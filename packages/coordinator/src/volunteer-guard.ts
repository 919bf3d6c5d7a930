/**
 * The engine side of volunteer verification: refuses banned peers at `hello`, decides for
 * each task sent to an untrusted worker whether it is held/checked (its blocks then also go
 * to a trusted worker as a shadow task) or accepted, routes held results into the
 * `VerificationStage`, and acts on what the comparisons find: credit for verified results;
 * for a mismatch a ban, a fatal `VERIFICATION_FAILED`, and a rollback to the step before the
 * cheater's first unchecked contribution. It also keeps the replay ring and reports the
 * verification state (snapshot fields and Prometheus families).
 */
import type { Backend, BanRecord, ResultMessage, RollbackRecord, VerificationEvent, VerificationReport, WorkerHelloMessage, WorkerVerification } from '@swarmgrad/protocol';
import type { Optimizer, OptimizerState } from '@swarmgrad/nn-core';
import type { BanEntry, BanList } from './ban-list.js';
import { CreditLedger } from './credit-ledger.js';
import { CloseCode, CoordinatorErrorCode } from './errors.js';
import type { Conn, Membership, WorkerRecord } from './membership.js';
import type { Peers } from './peers.js';
import type { MetricFamily } from './prometheus.js';
import { ReplayRing, type StepState } from './replay-ring.js';
import type { VolunteerScheduling } from './scheduler.js';
import { implausibleTrainResult } from './result-compare.js';
import type { ResultGate, ResultVerdict, ValidatedBlock, ValidatedResult } from './result-gate.js';
import { ACCEPT } from './result-gate.js';
import type { VerificationPolicy, VolunteerMode } from './verification-policy.js';
import { VerificationStage, type LateTask, type StageBlock, type StageOutcome, type TrustedValue } from './verification-stage.js';
import { jsonSafe, type Phase, type TaskRecord, type Unit } from './work.js';

/** What the guard needs from the engine. */
export interface GuardContext {
  mode: VolunteerMode;
  untrustedShare: number;
  banMs: number;
  replaySteps: number;
  /** The final audit's length in steps (see `VerificationOptions.auditSteps`). */
  auditSteps: number;
  /** The run's length in steps. */
  totalSteps: number;
  policy: VerificationPolicy;
  bans: BanList;
  batchSize: number;
  membership: Membership;
  peers: () => Peers;
  clock: () => number;
  /** Hands `units` to trusted workers only (a shadow of a held task); returns false if none is connected (they then wait). */
  shadow(phase: Phase, units: Unit[]): boolean;
  /** Emits an event (the coordinator's reporter). */
  emit(event: VerificationEvent): void;
  /** Rolls the run back to the state before `step` (`state`), abandoning the phase in flight, and emits the event. */
  rollback(state: StepState, record: RollbackRecord): void;
  /** The step the run is at (the phase in flight's, or the next one). */
  currentStep(): number;
}

const KEEP = 100;

/** A validated block as the verification stage compares it. */
function stageBlock(b: ValidatedBlock): StageBlock {
  return { start: b.start, count: b.count, lossSum: b.lossSum, sampleCount: b.sampleCount, correct: b.correct, grads: b.grads ?? new Float32Array(0) };
}

/** See the module comment. */
export class VolunteerGuard implements ResultGate, VolunteerScheduling {
  readonly stage: VerificationStage;
  readonly credit = new CreditLedger();
  readonly ring: ReplayRing;
  private readonly rollbacks: RollbackRecord[] = [];
  private readonly overhead: VerificationReport['overhead'] = [];
  private samplesApplied = 0;
  private eventAt = 0;
  /** True while a caught cheater is being dealt with: no phase completes meanwhile (it may be rolled back). */
  private catching = false;

  constructor(private readonly ctx: GuardContext) {
    this.stage = new VerificationStage({ mode: ctx.mode, policy: ctx.policy, bans: ctx.bans, credit: this.credit });
    this.ring = new ReplayRing(ctx.replaySteps);
  }

  /** True while there is nothing to report: no volunteer seen, no ban. */
  get idle(): boolean {
    return this.ctx.policy.list().length === 0 && this.ctx.bans.size === 0;
  }

  /** Most of a step's samples planned for untrusted workers (1 unless verifying). */
  get untrustedShare(): number {
    return this.ctx.untrustedShare;
  }

  /** Verify mode: re-issued, waiting and evaluation units go to trusted workers only. */
  maySpare(worker: WorkerRecord): boolean {
    return worker.trusted || !this.verifying;
  }

  /** Whether volunteers' work is verified (mode `verify`). */
  get verifying(): boolean {
    return this.ctx.mode === 'verify';
  }

  /** Refuses (fatal `BANNED`, closed) an untrusted hello whose claimed worker id or address is banned. Returns whether it did. */
  refuseBanned(conn: Conn, hello: WorkerHelloMessage, trusted: boolean): boolean {
    const ban = trusted ? undefined : this.ctx.bans.find({ workerId: hello.workerId ?? null, address: conn.remoteAddress }, this.ctx.clock());
    if (!ban) return false;
    const until = Number.isFinite(ban.until) ? ` until ${new Date(ban.until).toISOString()}` : ' for good';
    this.ctx.peers().fatal(conn, CoordinatorErrorCode.BANNED, `${ban.kind} ${ban.value} is banned${until}: ${ban.reason}`, CloseCode.POLICY_VIOLATION, 'banned');
    return true;
  }

  /** The gate the aggregator asks: plausibility first (see `admit`), then the user's gate. */
  gate(user: ResultGate): ResultGate {
    return { admit: (result) => { const own = this.admit(result); return own.action === 'reject' ? own : user.admit(result); } };
  }

  /** Lifts a ban; returns whether one was lifted. */
  liftBan(key: string): boolean {
    const lifted = this.ctx.bans.lift(key);
    if (lifted) this.emitReport(true);
    return lifted;
  }

  /** Emits the `verification` event: after steps at most once a second (when there is anything to report), at once when `force`d. */
  emitReport(force: boolean): void {
    const now = this.ctx.clock();
    if (!force && (now - this.eventAt < 1000 || this.idle)) return;
    this.eventAt = now;
    this.ctx.emit({ kind: 'verification', report: jsonSafe(redactAddresses(this.report())) as VerificationReport, time: now });
  }

  /**
   * The hello an untrusted worker is admitted with: no claimed worker id (it gets a fresh one
   * and starts on probation, so another volunteer's id gains nothing) and no throughput hint
   * (it is measured). Trusted workers' hellos pass unchanged.
   */
  admissionHello(hello: WorkerHelloMessage, trusted: boolean): WorkerHelloMessage {
    if (trusted || this.ctx.mode === 'trust') return hello;
    const { workerId: _claimed, ...rest } = hello;
    const { samplesPerSecond: _hint, ...capabilities } = hello.capabilities;
    return { ...rest, capabilities };
  }

  /** The gate: every train block must be plausible (an all-zero gradient with a positive loss is refused from anyone). */
  admit(result: ValidatedResult): ResultVerdict {
    if (result.kind !== 'train') return ACCEPT;
    for (const block of result.blocks) {
      if (!block.grads) continue;
      const why = implausibleTrainResult({ grads: block.grads, lossSum: block.lossSum, sampleCount: block.sampleCount, correct: block.correct });
      if (why) return { action: 'reject', code: CoordinatorErrorCode.IMPLAUSIBLE_RESULT, message: `block ${block.start}+${block.count} of step ${result.step}: ${why}`, strike: true };
    }
    return ACCEPT;
  }

  /**
   * Before a train step starts: keeps the state to roll back to (when verifying), copying
   * the optimizer's buffers into those of the state the ring drops.
   */
  stepStarting(step: number, params: Float32Array, optimizer: Pick<Optimizer, 'state'>, lr: number | null): void {
    if (this.verifying) this.ring.push(stepState(step, params, optimizer.state(this.ring.spare(step)), lr));
  }

  /** A task went to `worker`: for a held/checked volunteer task, its blocks also go to a trusted worker. */
  taskSent(phase: Phase, task: TaskRecord, worker: WorkerRecord): void {
    if (phase.kind !== 'train' || worker.trusted || !this.verifying) return;
    if (this.stage.decide(worker.id, false, this.inAudit(phase.step)) === 'accept') return;
    // The volunteer's task no longer counts as holding its units: the shadow does.
    for (const unit of task.units) phase.holders.get(unit.start)?.delete(task);
    this.stage.register(task.id, worker.id, phase.step, task.units.map((u) => u.start), task.samples);
    if (!this.ctx.shadow(phase, task.units)) for (const unit of task.units) phase.pending.add(unit.start);
  }

  /** Whether `step` is one of the run's last `auditSteps` steps, where every volunteer result is checked. */
  private inAudit(step: number): boolean {
    return step >= this.ctx.totalSteps - this.ctx.auditSteps;
  }

  /** Whether results of this task are held for verification. */
  isHeld(taskId: string): boolean {
    return this.stage.isHeld(taskId);
  }

  /**
   * A validated result of a held volunteer task: its blocks are compared with the trusted
   * recomputation (now, or when that arrives), never aggregated. Measures the worker's
   * throughput like any completed task.
   */
  held(phase: Phase, task: TaskRecord, worker: WorkerRecord, msg: ResultMessage, blocks: readonly ValidatedBlock[], now: number): void {
    task.computeMs += msg.timing.computeMs;
    const fresh: StageBlock[] = [];
    for (const b of blocks) {
      if (task.answered.has(b.start)) continue;
      task.answered.add(b.start);
      task.missing.delete(b.start);
      fresh.push(stageBlock(b));
    }
    if (!task.completed && task.answered.size === task.units.length) {
      task.completed = true;
      this.ctx.membership.taskCompleted(worker, task.samples, now - task.sentAt);
    }
    this.settle(this.stage.claim(task.id, msg.backend, fresh, (start) => this.trustedValue(phase, start)));
  }

  /** Blocks of `task` were accepted into `phase`: unchecked volunteer contributions are noted; trusted values are compared with waiting claims. */
  accepted(phase: Phase, task: TaskRecord, worker: WorkerRecord, freshSamples: number): void {
    if (phase.kind !== 'train' || freshSamples === 0) return;
    if (!worker.trusted) {
      if (this.verifying) this.stage.noteUnchecked(worker.id, phase.step, freshSamples);
      return;
    }
    this.settle(this.stage.trustedArrived(phase.step, (start) => this.trustedValue(phase, start)));
  }

  /** The step is whole: held task `task` is no longer waited for; a late answer to it is still compared (`lateResult`). */
  givenUp(phase: Phase, task: TaskRecord): void {
    this.stage.givenUp({ task, step: phase.step, shardSize: phase.shardSize }, (start) => this.trustedValue(phase, start));
  }

  /** A held task given up whose answer may still come (see `givenUp`). */
  lateTask(taskId: string): LateTask | undefined {
    return this.stage.lateTask(taskId);
  }

  /** A validated late answer to a given-up held task: compared; returns true when it was a lie (the volunteer is caught). */
  lateResult(late: LateTask, msg: ResultMessage, blocks: readonly ValidatedBlock[]): boolean {
    const outcomes = this.stage.claimLate(late.task.id, msg.backend, blocks.map(stageBlock)) ?? [];
    this.settle(outcomes);
    return outcomes.some((o) => o.kind === 'mismatch');
  }

  /** A task died (deadline, disconnect, rejection): a held one is no longer waited for. */
  taskDied(task: TaskRecord): void {
    this.stage.taskDied(task.id);
  }

  /** Whether a complete phase may be applied (no held result it still waits for). */
  canComplete(phase: Phase): boolean {
    return !this.catching && (phase.kind !== 'train' || this.stage.outstanding(phase.step) === 0);
  }

  /** A train step was applied. */
  stepApplied(step: number): void {
    const oldest = this.ring.oldestStep ?? step;
    const stats = this.stage.stepApplied(step, oldest);
    this.samplesApplied += this.ctx.batchSize;
    this.overhead.push({ step, ...stats, fraction: stats.shadowSamples / this.ctx.batchSize });
    if (this.overhead.length > KEEP) this.overhead.shift();
    this.emitReport(false);
  }

  /** The verification report. */
  report(): VerificationReport {
    const now = this.ctx.clock();
    const records = this.ctx.policy.list();
    for (const w of this.ctx.membership.workers.values()) if (w.trusted && !records.some((r) => r.workerId === w.id)) records.push(this.ctx.policy.record(w.id, true));
    return {
      mode: this.ctx.mode,
      untrustedShare: this.ctx.untrustedShare,
      probationResults: this.ctx.policy.probationResults,
      rateFloor: this.ctx.policy.rateFloor,
      replaySteps: this.ring.capacity,
      auditSteps: this.ctx.auditSteps,
      workers: records,
      bans: this.ctx.bans.list(now).map(banRecord),
      credit: this.credit.leaderboard(20),
      rollbacks: this.rollbacks.slice(),
      overhead: this.overhead.slice(),
      totals: { ...this.stage.totals, overheadFraction: this.samplesApplied > 0 ? this.stage.totals.shadowSamples / this.samplesApplied : 0 },
    };
  }

  /** One worker's standing (for the JSON API and volunteer pages). */
  workerVerification(workerId: string): WorkerVerification {
    const known = this.ctx.policy.list().find((r) => r.workerId === workerId) ?? (this.ctx.membership.workers.get(workerId)?.trusted ? this.ctx.policy.record(workerId, true) : undefined);
    const ban = this.ctx.bans.find({ workerId }, this.ctx.clock());
    return { workerId, level: known?.level ?? null, record: known ?? null, credit: this.credit.get(workerId), ban: ban ? banRecord(ban) : null };
  }

  /** Prometheus families (counters and gauges of verification). */
  metrics(run: string): MetricFamily[] {
    const t = this.stage.totals;
    const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'counter', samples: [{ labels: { run }, value }] });
    const levels = new Map<string, number>();
    for (const r of this.ctx.policy.list()) levels.set(r.level, (levels.get(r.level) ?? 0) + 1);
    return [
      counter('swarmgrad_verified_results_total', 'Volunteer results that matched a trusted recomputation.', t.verified),
      counter('swarmgrad_verification_failures_total', 'Volunteer results that did not match (each bans its sender).', t.mismatches),
      counter('swarmgrad_verification_shadow_samples_total', 'Samples trusted workers recomputed to check volunteers.', t.shadowSamples),
      counter('swarmgrad_unchecked_samples_total', 'Volunteer samples aggregated without a check.', t.uncheckedSamples),
      counter('swarmgrad_rollbacks_total', 'Rollbacks after a detected cheater.', t.rollbacks),
      counter('swarmgrad_rollbacks_incomplete_total', 'Rollbacks that could not reach the cheater’s first unchecked contribution (older than the replay ring).', t.rollbacksIncomplete),
      counter('swarmgrad_replayed_steps_total', 'Steps recomputed after rollbacks.', t.replayedSteps),
      { name: 'swarmgrad_bans', help: 'Bans in force.', type: 'gauge', samples: [{ labels: { run }, value: this.ctx.bans.list(this.ctx.clock()).length }] },
      { name: 'swarmgrad_verification_overhead_ratio', help: 'Trusted samples spent on checks / samples trained, so far.', type: 'gauge', samples: [{ labels: { run }, value: this.report().totals.overheadFraction }] },
      { name: 'swarmgrad_volunteers', help: 'Volunteers by verification level.', type: 'gauge', samples: [...levels].map(([level, value]) => ({ labels: { run, level }, value })) },
    ];
  }

  private trustedValue(phase: Phase, start: number): TrustedValue | undefined {
    const accepted = phase.accepted.get(start);
    if (!accepted || !accepted.value) return undefined;
    if (!this.ctx.membership.workers.get(accepted.task.workerId)?.trusted) return undefined;
    return { grads: accepted.value.grads, lossSum: accepted.value.lossSum, sampleCount: accepted.value.count, correct: accepted.correct, backend: accepted.backend };
  }

  private settle(outcomes: StageOutcome[]): void {
    for (const outcome of outcomes) {
      if (outcome.kind !== 'verified') continue;
      const worker = this.ctx.membership.workers.get(outcome.workerId);
      this.credit.credit(outcome.workerId, worker?.name ?? null, outcome.samples);
    }
    for (const outcome of outcomes) if (outcome.kind === 'mismatch') this.caught(outcome);
  }

  /** A mismatch: ban, close, and undo everything the cheater contributed. */
  private caught(outcome: Extract<StageOutcome, { kind: 'mismatch' }>): void {
    this.catching = true;
    try {
      this.ban(outcome);
    } finally {
      this.catching = false;
    }
  }

  private ban(outcome: Extract<StageOutcome, { kind: 'mismatch' }>): void {
    const now = this.ctx.clock();
    const worker = this.ctx.membership.workers.get(outcome.workerId);
    const reason = `result does not match the trusted recomputation: ${outcome.reason}`;
    this.ctx.bans.ban({ workerId: outcome.workerId, address: worker?.remoteAddress ?? null }, reason, now, this.ctx.banMs);
    const firstUnchecked = this.stage.firstUncheckedStep(outcome.workerId);
    this.stage.dropWorker(outcome.workerId);
    const conn = worker ? this.ctx.membership.connOf(worker) : undefined;
    if (conn) this.ctx.peers().fatal(conn, CoordinatorErrorCode.VERIFICATION_FAILED, `${reason}; banned`, CloseCode.POLICY_VIOLATION, 'verification failed');
    if (firstUnchecked === undefined) return;
    const oldest = this.ring.oldestStep;
    if (oldest === undefined) return;
    const target = Math.max(firstUnchecked, oldest);
    const state = this.ring.get(target);
    if (!state) return;
    const record: RollbackRecord = { fromStep: this.ctx.currentStep(), toStep: target, workerId: outcome.workerId, reason, complete: firstUnchecked >= oldest, time: now };
    this.rollbacks.push(record);
    if (this.rollbacks.length > KEEP) this.rollbacks.shift();
    this.stage.rolledBack(target, record.fromStep - target, record.complete);
    this.ctx.rollback(state, record);
    this.emitReport(true);
  }
}

/** A ban as reported (Infinity → null). */
export function banRecord(entry: BanEntry): BanRecord {
  return { ...entry, until: Number.isFinite(entry.until) ? entry.until : null };
}

/** A step's state for the ring: parameters (never mutated once stepped past), an optimizer state copy, the lr override. */
export function stepState(step: number, params: Float32Array, optimizer: OptimizerState, lr: number | null): StepState {
  return { step, params, optimizer, lr };
}

/** The verification report as anyone may see it: banned addresses are not shown (admins see them). */
export function redactAddresses(report: VerificationReport): VerificationReport {
  return { ...report, bans: report.bans.map((ban) => (ban.kind === 'address' ? { ...ban, key: 'address:(hidden)', value: '(hidden)' } : ban)) };
}
