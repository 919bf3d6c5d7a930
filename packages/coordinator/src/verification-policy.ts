/**
 * Which untrusted results get a trusted recomputation (BOINC-style adaptive replication):
 * a new volunteer is on probation and every one of its results is held and checked; after
 * `probationResults` verified results it is spot-checked at a rate that halves with each
 * further verified result, down to `rateFloor`, never to zero.
 */

import type { VerificationRecord, VolunteerMode } from '@swarmgrad/protocol';

export type { VerificationRecord, VolunteerMode } from '@swarmgrad/protocol';

/** The volunteer modes, for flag parsing. */
export const VOLUNTEER_MODES: readonly VolunteerMode[] = ['off', 'verify', 'trust'];

/** Options of {@link VerificationPolicy}. */
export interface VerificationPolicyOptions {
  /** Verified results a volunteer needs before its results are aggregated without a check (default 5). */
  probationResults?: number;
  /** Lowest spot-check probability once trusted by history, in (0, 1] (default 0.1). */
  rateFloor?: number;
  /** Uniform random numbers in [0, 1); default `crypto.getRandomValues` (unpredictable to workers). Inject a seeded one in tests. */
  random?: () => number;
}

/** What to do with one untrusted result (a task's worth of blocks). */
export type VerificationDecision = 'hold' | 'check' | 'accept';

/** Default {@link VerificationPolicyOptions.probationResults}. */
export const DEFAULT_PROBATION_RESULTS = 5;
/** Default {@link VerificationPolicyOptions.rateFloor}. */
export const DEFAULT_RATE_FLOOR = 0.1;

function cryptoRandom(): number {
  const word = new Uint32Array(1);
  globalThis.crypto.getRandomValues(word);
  return word[0]! / 2 ** 32;
}

/**
 * The per-worker verification state machine. It decides, records outcomes and reports; it
 * never touches results itself (the engine's verification stage does).
 */
export class VerificationPolicy {
  /** Verified results needed to leave probation. */
  readonly probationResults: number;
  /** Lowest spot-check rate. */
  readonly rateFloor: number;
  private readonly random: () => number;
  private readonly records = new Map<string, VerificationRecord>();

  /** @throws TypeError for a negative probation or a floor outside (0, 1]. */
  constructor(options: VerificationPolicyOptions = {}) {
    const probation = options.probationResults ?? DEFAULT_PROBATION_RESULTS;
    const floor = options.rateFloor ?? DEFAULT_RATE_FLOOR;
    if (!Number.isInteger(probation) || probation < 0) throw new TypeError(`probationResults must be an integer ≥ 0; got ${probation}`);
    if (!(floor > 0 && floor <= 1)) throw new TypeError(`rateFloor must be in (0, 1]; got ${floor}`);
    this.probationResults = probation;
    this.rateFloor = floor;
    this.random = options.random ?? cryptoRandom;
  }

  /**
   * Spot-check probability after `verified` verified results: 1 on probation, then halved
   * with each further verified result (1, ½, ¼, …), never below the floor.
   */
  rateFor(verified: number): number {
    if (verified <= this.probationResults) return 1;
    return Math.max(this.rateFloor, 2 ** -(verified - this.probationResults));
  }

  /** The record of `workerId` (created on first use; `trusted` fixes the level). */
  record(workerId: string, trusted = false): VerificationRecord {
    let rec = this.records.get(workerId);
    if (!rec) {
      rec = { workerId, level: trusted ? 'trusted' : 'probation', verified: 0, pending: 0, rejected: 0, unchecked: 0, rate: trusted ? 0 : this.rateFor(0) };
      this.records.set(workerId, rec);
    }
    return rec;
  }

  /**
   * Decides what happens to the next result of an untrusted worker: `hold` (probation: not
   * aggregated until verified), `check` (aggregated only once verified, like hold, but
   * chosen by the spot-check draw), or `accept` (aggregated unchecked). Decide when the task
   * is handed out, so the trusted recomputation can run alongside. With `audit` (the run's
   * final steps) a result that the draw would accept is checked instead.
   */
  decide(workerId: string, audit = false): VerificationDecision {
    const rec = this.record(workerId);
    if (rec.level === 'trusted') return 'accept';
    if (rec.level === 'rejected') return 'hold';
    if (rec.verified + rec.pending < this.probationResults || rec.level === 'probation') return 'hold';
    if (audit) return 'check';
    return this.random() < rec.rate ? 'check' : 'accept';
  }

  /** A held/checked result is waiting for its recomputation. */
  pending(workerId: string): void {
    this.record(workerId).pending++;
  }

  /** The pending result was withdrawn (its step rolled back or its task died). */
  withdrawn(workerId: string): void {
    const rec = this.record(workerId);
    rec.pending = Math.max(0, rec.pending - 1);
  }

  /** A result was aggregated without a check. */
  unchecked(workerId: string): void {
    this.record(workerId).unchecked++;
  }

  /** A result matched its trusted recomputation: the worker's history grows and its rate thins. */
  verified(workerId: string): void {
    const rec = this.record(workerId);
    rec.pending = Math.max(0, rec.pending - 1);
    rec.verified++;
    if (rec.level === 'probation' && rec.verified >= this.probationResults) rec.level = 'spot-checked';
    if (rec.level !== 'trusted') rec.rate = this.rateFor(rec.verified);
  }

  /** A result did not match: the worker is rejected for good (the caller bans it). */
  rejected(workerId: string): void {
    const rec = this.record(workerId);
    rec.pending = Math.max(0, rec.pending - 1);
    rec.rejected++;
    rec.level = 'rejected';
    rec.rate = 1;
  }

  /** Every worker's record, in first-seen order. */
  list(): VerificationRecord[] {
    return [...this.records.values()].map((r) => ({ ...r }));
  }

  /** Forgets a worker that left and holds nothing pending (bounds the table). */
  forget(workerId: string): void {
    const rec = this.records.get(workerId);
    if (rec && rec.pending === 0 && rec.level !== 'rejected') this.records.delete(workerId);
  }
}
