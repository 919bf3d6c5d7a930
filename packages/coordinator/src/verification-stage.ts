/**
 * The verification stage: sits between "a result was received and validated" and "a result
 * is aggregated". It decides, when a task goes to an untrusted worker, whether that task is
 * held (probation), checked (spot check) or accepted unchecked; keeps the claimed blocks of
 * held/checked tasks until the trusted recomputation of the same blocks is accepted;
 * compares them; and remembers which steps took unchecked blocks from which volunteer, so a
 * detected cheater's contributions can be undone by a rollback. It owns the policy, the ban
 * list and the credit ledger; the engine owns tasks, phases and the run state.
 */
import type { Backend } from '@swarmgrad/protocol';
import type { BanList } from './ban-list.js';
import type { CreditLedger } from './credit-ledger.js';
import { compareResults, CROSS_BACKEND_TOLERANCE, type ComparableResult } from './result-compare.js';
import type { VerificationDecision, VerificationPolicy, VolunteerMode } from './verification-policy.js';
import type { TaskRecord } from './work.js';

/** Steps back for which a held task given up can still be compared when its answer comes late. */
export const LATE_STEPS_KEPT = 2;

/** A held task the step stopped waiting for: what a late answer to it is validated against (the engine's task record, kept by reference). */
export interface LateTask {
  task: TaskRecord;
  step: number;
  shardSize: number;
}

/** A block as the stage sees it (claimed by a volunteer, or accepted from a trusted worker). */
export interface StageBlock extends ComparableResult {
  start: number;
  count: number;
}

/** The trusted value accepted for a unit. */
export interface TrustedValue extends ComparableResult {
  backend: Backend;
}

/** One held or checked task of a volunteer. */
interface VerifyRecord {
  taskId: string;
  workerId: string;
  step: number;
  /** Unit starts the task covers. */
  starts: number[];
  /** Blocks the volunteer claimed, not yet compared (unit start → block). */
  claimed: Map<number, StageBlock & { backend: Backend }>;
  /** Unit starts already compared. */
  compared: Set<number>;
  /** The volunteer answered every unit, or its task died: nothing more to wait for. */
  settled: boolean;
  /** The trusted recomputation matched every unit so far. */
  samplesVerified: number;
  /** This task was counted in the policy's `pending` (released once). */
  pendingCounted: boolean;
  /** A block of this task was inconclusive across backends: the task is not counted as verified. */
  inconclusive: boolean;
}

/**
 * A volunteer is treated as caught once at least this many of its blocks were inconclusive
 * across backends (see `CROSS_BACKEND_INCONCLUSIVE_BOUND`) and they are more than
 * {@link INCONCLUSIVE_SHARE_CAUGHT} of its cross-backend comparisons. Honest backends
 * measured one such block in ~850 (wasm-fma against cpu, micro-shards of 8). Four of the first
 * 200 comparisons then has a chance of about 1e-4. A volunteer that shifts every result
 * within the band is caught at its fourth checked block.
 */
export const INCONCLUSIVE_BLOCKS_CAUGHT = 4;
/** See {@link INCONCLUSIVE_BLOCKS_CAUGHT}. */
export const INCONCLUSIVE_SHARE_CAUGHT = 0.02;

/** What a comparison found. */
export type StageOutcome = { kind: 'verified'; workerId: string; samples: number } | { kind: 'mismatch'; workerId: string; taskId: string; step: number; start: number; count: number; reason: string };

/** Options of {@link VerificationStage}. */
export interface VerificationStageOptions {
  mode: VolunteerMode;
  policy: VerificationPolicy;
  bans: BanList;
  credit: CreditLedger;
  /** Cross-backend relative tolerance (default 1e-5). */
  tolerance?: number;
}

/** Per-step verification counters, for the step event and metrics. */
export interface StepVerification {
  /** Samples recomputed by trusted workers only to check volunteers (shadow tasks). */
  shadowSamples: number;
  /** Volunteer samples aggregated unchecked. */
  uncheckedSamples: number;
}

/** See the module comment. */
export class VerificationStage {
  readonly mode: VolunteerMode;
  readonly policy: VerificationPolicy;
  readonly bans: BanList;
  readonly credit: CreditLedger;
  private readonly tolerance: number;
  private readonly records = new Map<string, VerifyRecord>();
  /** Held tasks given up when their step went on, with the trusted values to compare a late answer with. */
  private readonly late = new Map<string, { rec: VerifyRecord; trusted: Map<number, TrustedValue>; task: LateTask }>();
  /** Volunteer id → steps in which it has unchecked blocks aggregated (ascending). */
  private readonly uncheckedSteps = new Map<string, number[]>();
  /** Volunteers with unchecked blocks in steps older than the replay ring (their history there was pruned). */
  private readonly beyondRing = new Set<string>();
  private readonly perStep = new Map<number, StepVerification>();
  /** Volunteer id → its cross-backend comparisons so far, and how many were inconclusive. */
  private readonly crossBackend = new Map<string, { compared: number; inconclusive: number }>();
  /** Totals for metrics. */
  readonly totals = { verified: 0, mismatches: 0, shadowSamples: 0, uncheckedSamples: 0, rollbacks: 0, rollbacksIncomplete: 0, replayedSteps: 0 };

  constructor(options: VerificationStageOptions) {
    this.mode = options.mode;
    this.policy = options.policy;
    this.bans = options.bans;
    this.credit = options.credit;
    this.tolerance = options.tolerance ?? CROSS_BACKEND_TOLERANCE;
  }

  /** What to do with a task for `workerId` (trusted workers and `trust` mode: always `accept`; `audit`: never `accept` for a volunteer). */
  decide(workerId: string, trusted: boolean, audit = false): VerificationDecision {
    if (trusted || this.mode !== 'verify') return 'accept';
    return this.policy.decide(workerId, audit);
  }

  /** Registers a held/checked task of a volunteer (its units also went to a trusted worker as a shadow of `shadowSamples` samples). */
  register(taskId: string, workerId: string, step: number, starts: number[], shadowSamples: number): void {
    this.records.set(taskId, { taskId, workerId, step, starts, claimed: new Map(), compared: new Set(), settled: false, samplesVerified: 0, pendingCounted: true, inconclusive: false });
    this.policy.pending(workerId);
    this.stepStats(step).shadowSamples += shadowSamples;
    this.totals.shadowSamples += shadowSamples;
  }

  /** Whether results of `taskId` must be held (not aggregated). */
  isHeld(taskId: string): boolean {
    return this.records.has(taskId);
  }

  /**
   * A validated result of a held task: its blocks are stored and compared with whatever
   * trusted values are already in (`trustedValue(start)`). Returns what the comparisons found.
   */
  claim(taskId: string, backend: Backend, blocks: readonly StageBlock[], trustedValue: (start: number) => TrustedValue | undefined): StageOutcome[] {
    const rec = this.records.get(taskId);
    if (!rec) return [];
    for (const block of blocks) if (!rec.compared.has(block.start)) rec.claimed.set(block.start, { ...block, backend });
    if (rec.starts.every((s) => rec.claimed.has(s) || rec.compared.has(s))) rec.settled = true;
    return this.compareReady(rec, trustedValue);
  }

  /** Trusted values were accepted for some units of `step`: compares the claims waiting for them. */
  trustedArrived(step: number, trustedValue: (start: number) => TrustedValue | undefined): StageOutcome[] {
    const out: StageOutcome[] = [];
    for (const rec of this.records.values()) if (rec.step === step && rec.claimed.size > 0) out.push(...this.compareReady(rec, trustedValue));
    return out;
  }

  /**
   * The step no longer waits for held task `taskId` (every block of it is in): keeps the
   * trusted values of its unanswered units, so an answer that comes after the step went on
   * is still compared — a lie is caught; a match earns nothing (it came too late to count).
   * Kept for the last `LATE_STEPS_KEPT` steps only, and until the answer is compared.
   */
  givenUp(task: LateTask, trustedValue: (start: number) => TrustedValue | undefined): void {
    const taskId = task.task.id;
    const rec = this.records.get(taskId);
    if (!rec) return;
    rec.settled = true;
    const trusted = new Map<number, TrustedValue>();
    for (const start of rec.starts) {
      const value = rec.claimed.has(start) || rec.compared.has(start) ? undefined : trustedValue(start);
      if (value) trusted.set(start, value);
    }
    if (trusted.size > 0) this.late.set(taskId, { rec, trusted, task });
  }

  /** A held task given up whose answer may still come and be compared (see `givenUp`). */
  lateTask(taskId: string): LateTask | undefined {
    return this.late.get(taskId)?.task;
  }

  /** An answer to a held task given up (see `givenUp`); undefined when none is kept for it. */
  claimLate(taskId: string, backend: Backend, blocks: readonly StageBlock[]): StageOutcome[] | undefined {
    const entry = this.late.get(taskId);
    if (!entry) return undefined;
    const { rec, trusted } = entry;
    for (const block of blocks) if (trusted.has(block.start) && !rec.compared.has(block.start)) rec.claimed.set(block.start, { ...block, backend });
    const out = this.compareReady(rec, (start) => trusted.get(start));
    if (out.some((o) => o.kind === 'mismatch') || [...trusted.keys()].every((start) => rec.compared.has(start))) this.late.delete(taskId);
    return out;
  }

  /** A held task died (deadline, disconnect): the step no longer waits for it. */
  taskDied(taskId: string): void {
    const rec = this.records.get(taskId);
    if (rec) rec.settled = true;
  }

  /** Held tasks of `step` the step still waits for (their volunteer may yet answer). */
  outstanding(step: number): number {
    let n = 0;
    for (const rec of this.records.values()) if (rec.step === step && (!rec.settled || rec.claimed.size > 0)) n++;
    return n;
  }

  /** Unchecked blocks of a volunteer were aggregated in `step` (`samples` samples). */
  noteUnchecked(workerId: string, step: number, samples: number): void {
    const steps = this.uncheckedSteps.get(workerId) ?? [];
    if (steps[steps.length - 1] !== step) steps.push(step);
    this.uncheckedSteps.set(workerId, steps);
    this.policy.unchecked(workerId);
    this.stepStats(step).uncheckedSamples += samples;
    this.totals.uncheckedSamples += samples;
  }

  /**
   * The earliest step in which `workerId` has unchecked blocks aggregated, if any;
   * `-Infinity` when some are older than the replay ring (a rollback cannot reach them).
   */
  firstUncheckedStep(workerId: string): number | undefined {
    if (this.beyondRing.has(workerId)) return Number.NEGATIVE_INFINITY;
    return this.uncheckedSteps.get(workerId)?.[0];
  }

  /**
   * The run rolled back to `step`: everything recorded for steps ≥ `step` is forgotten
   * (those steps will be recomputed), including held tasks of the step in flight.
   */
  rolledBack(step: number, replayed: number, complete: boolean): void {
    for (const [id, entry] of this.late) if (entry.rec.step >= step) this.late.delete(id);
    for (const [id, rec] of this.records) {
      if (rec.step < step) continue;
      if (rec.pendingCounted) this.policy.withdrawn(rec.workerId);
      this.records.delete(id);
    }
    for (const [worker, steps] of this.uncheckedSteps) {
      const kept = steps.filter((s) => s < step);
      if (kept.length) this.uncheckedSteps.set(worker, kept);
      else this.uncheckedSteps.delete(worker);
    }
    for (const s of [...this.perStep.keys()]) if (s >= step) this.perStep.delete(s);
    this.totals.rollbacks++;
    this.totals.replayedSteps += replayed;
    if (!complete) this.totals.rollbacksIncomplete++;
  }

  /** A step was applied: its held records are done; older unchecked history beyond `keepFrom` is dropped. Returns its counters. */
  stepApplied(step: number, keepFrom: number): StepVerification {
    for (const [id, rec] of this.records) if (rec.step <= step) this.releaseRecord(id, rec);
    for (const [id, entry] of this.late) if (entry.rec.step <= step - LATE_STEPS_KEPT) this.late.delete(id);
    for (const [worker, steps] of this.uncheckedSteps) {
      const kept = steps.filter((s) => s >= keepFrom);
      if (kept.length < steps.length) this.beyondRing.add(worker);
      if (kept.length) this.uncheckedSteps.set(worker, kept);
      else this.uncheckedSteps.delete(worker);
    }
    const stats = this.perStep.get(step) ?? { shadowSamples: 0, uncheckedSamples: 0 };
    for (const s of [...this.perStep.keys()]) if (s <= step) this.perStep.delete(s);
    return stats;
  }

  /** Forgets a caught volunteer's records (it is banned; its held work is void). */
  dropWorker(workerId: string): void {
    for (const [id, entry] of this.late) if (entry.rec.workerId === workerId) this.late.delete(id);
    for (const [id, rec] of this.records) if (rec.workerId === workerId) this.records.delete(id);
    this.uncheckedSteps.delete(workerId);
    this.beyondRing.delete(workerId);
    this.crossBackend.delete(workerId);
  }

  private releaseRecord(id: string, rec: VerifyRecord): void {
    if (rec.pendingCounted) this.policy.withdrawn(rec.workerId);
    this.records.delete(id);
  }

  private compareReady(rec: VerifyRecord, trustedValue: (start: number) => TrustedValue | undefined): StageOutcome[] {
    const out: StageOutcome[] = [];
    for (const [start, claimed] of rec.claimed) {
      const reference = trustedValue(start);
      if (!reference) continue;
      rec.claimed.delete(start);
      rec.compared.add(start);
      const sameBackend = claimed.backend === reference.backend;
      const comparison = compareResults(claimed, reference, { sameBackend, tolerance: this.tolerance });
      let reason = comparison.reason;
      if (!sameBackend) {
        const tally = this.crossBackend.get(rec.workerId) ?? { compared: 0, inconclusive: 0 };
        this.crossBackend.set(rec.workerId, tally);
        tally.compared++;
        if (comparison.inconclusive) {
          tally.inconclusive++;
          if (!(tally.inconclusive >= INCONCLUSIVE_BLOCKS_CAUGHT && tally.inconclusive > INCONCLUSIVE_SHARE_CAUGHT * tally.compared)) {
            // Possibly honest: neither credited nor held against the volunteer (the step uses the trusted value).
            rec.inconclusive = true;
            continue;
          }
          reason += `; ${tally.inconclusive} of this volunteer's ${tally.compared} cross-backend comparisons were inconclusive`;
        }
      }
      if (!comparison.match) {
        this.totals.mismatches++;
        rec.pendingCounted = false;
        this.policy.rejected(rec.workerId);
        this.credit.revoke(rec.workerId);
        out.push({ kind: 'mismatch', workerId: rec.workerId, taskId: rec.taskId, step: rec.step, start, count: claimed.count, reason: `${reason} (step ${rec.step}, block ${start}+${claimed.count}, ${comparison.mode} check)` });
        return out;
      }
      rec.samplesVerified += claimed.sampleCount;
    }
    if (rec.settled && rec.claimed.size === 0 && rec.compared.size === rec.starts.length && rec.pendingCounted) {
      rec.pendingCounted = false;
      if (rec.inconclusive) {
        this.policy.withdrawn(rec.workerId); // neither verified nor rejected
        return out;
      }
      this.policy.verified(rec.workerId);
      this.totals.verified++;
      out.push({ kind: 'verified', workerId: rec.workerId, samples: rec.samplesVerified });
    }
    return out;
  }

  private stepStats(step: number): StepVerification {
    let stats = this.perStep.get(step);
    if (!stats) this.perStep.set(step, (stats = { shadowSamples: 0, uncheckedSamples: 0 }));
    return stats;
  }
}
