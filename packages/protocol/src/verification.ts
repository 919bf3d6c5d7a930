/**
 * Volunteer verification as the coordinator reports it (snapshot field `verification`,
 * `verification` and `rollback` events, the JSON API): plain JSON types, declared here once
 * because they cross process boundaries (coordinator → dashboards, volunteer pages). Type
 * aliases, not interfaces, so that they are JSON for `RunEvent`.
 */

/** How untrusted volunteers are handled: refused, verified (probation + spot checks), or trusted unchecked. */
export type VolunteerMode = 'off' | 'verify' | 'trust';

/** One worker's verification standing. */
export type VerificationRecord = {
  workerId: string;
  /** `trusted` (lab token), `probation` (every result held and checked), `spot-checked` (sampled at `rate`), `rejected` (a mismatch; banned). */
  level: 'trusted' | 'probation' | 'spot-checked' | 'rejected';
  /** Results that matched a trusted recomputation. */
  verified: number;
  /** Results waiting for their trusted recomputation. */
  pending: number;
  /** Results that did not match (≥ 1 means banned). */
  rejected: number;
  /** Results aggregated without a check. */
  unchecked: number;
  /** Probability that its next result is checked. */
  rate: number;
};

/** One ban, as reported (`until` null: for good). */
export type BanRecord = {
  /** `worker:<id>` or `address:<ip>`: what the admin action `liftBan` takes. */
  key: string;
  kind: 'worker' | 'address';
  value: string;
  reason: string;
  since: number;
  until: number | null;
};

/** A volunteer's verified credit. */
export type CreditEntry = {
  workerId: string;
  /** Self-declared display name (not an identity). */
  name: string | null;
  /** Results verified by a trusted recomputation (only these earn credit). */
  verifiedResults: number;
  /** Training samples in them. */
  verifiedSamples: number;
  /** True once caught cheating (its credit is zeroed). */
  revoked: boolean;
};

/** One rollback after a detected cheater. */
export type RollbackRecord = {
  /** The step in flight when the cheater was caught. */
  fromStep: number;
  /** The first step replayed: the state before it was restored. */
  toStep: number;
  workerId: string;
  reason: string;
  /** False when the cheater's first unchecked contribution was older than the replay ring (not undone). */
  complete: boolean;
  time: number;
};

/** The verification state of a run. */
export type VerificationReport = {
  mode: VolunteerMode;
  /** Most of a step's samples handed to untrusted workers. */
  untrustedShare: number;
  probationResults: number;
  rateFloor: number;
  /** Steps of state kept for rollback. */
  replaySteps: number;
  /** The run's last this many steps check every volunteer result (the final audit). */
  auditSteps: number;
  workers: VerificationRecord[];
  /** Bans in force. */
  bans: BanRecord[];
  /** Verified-credit leaderboard (top 20). */
  credit: CreditEntry[];
  /** The last 100 rollbacks, oldest first. */
  rollbacks: RollbackRecord[];
  /** Per applied step (the last 100): trusted samples recomputed for checks, volunteer samples aggregated unchecked, checks ÷ the step's samples. */
  overhead: Array<{ step: number; shadowSamples: number; uncheckedSamples: number; fraction: number }>;
  totals: { verified: number; mismatches: number; shadowSamples: number; uncheckedSamples: number; rollbacks: number; rollbacksIncomplete: number; replayedSteps: number; overheadFraction: number };
};

/** `rollback`: the run went back to the state before `toStep` and replays from there; history from `toStep` on (evaluations after it) is void. */
export type RollbackEvent = { kind: 'rollback' } & RollbackRecord;

/** `verification`: the verification report, after steps (at most once a second) and at once after a ban or rollback. */
export type VerificationEvent = { kind: 'verification'; report: VerificationReport; time: number };

/** One worker's standing, from `GET /api/runs/current/verification?worker=ID`. */
export type WorkerVerification = {
  workerId: string;
  /** Null when the coordinator does not know the worker. */
  level: VerificationRecord['level'] | null;
  record: VerificationRecord | null;
  credit: CreditEntry;
  ban: BanRecord | null;
};
