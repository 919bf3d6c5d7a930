/**
 * `CoordinatorOptions.verification`: how untrusted volunteers are handled (see the README's
 * "Verification of untrusted volunteers").
 */
import { BanList, DEFAULT_BAN_MS } from './ban-list.js';
import { CoordinatorError, CoordinatorErrorCode } from './errors.js';
import { DEFAULT_REPLAY_STEPS } from './replay-ring.js';
import { DEFAULT_UNTRUSTED_SHARE } from './untrusted-share.js';
import { DEFAULT_PROBATION_RESULTS, DEFAULT_RATE_FLOOR, VOLUNTEER_MODES, VerificationPolicy, type VolunteerMode } from './verification-policy.js';

/** Options of volunteer verification; every field is optional. */
export interface VerificationOptions {
  /** `verify` (default): probation + spot checks; `trust`: volunteers' results count unchecked; `off`: volunteers are refused (like `allowVolunteers: false`). */
  mode?: VolunteerMode;
  /** Most of a step's samples handed to untrusted workers, in [0, 1] (default 0.5). */
  untrustedShare?: number;
  /** Verified results before a volunteer leaves probation (default 5). */
  probationResults?: number;
  /** Lowest spot-check probability, in (0, 1] (default 0.1). */
  rateFloor?: number;
  /** Steps of state kept for rollback and replay (default 64). */
  replaySteps?: number;
  /**
   * The final audit: in the run's last this many steps every volunteer result is checked
   * (none is aggregated unchecked), so a volunteer still lying near the end is caught, and its
   * earlier unchecked lies rolled back, before the final checkpoint (default 8; 0: off).
   */
  auditSteps?: number;
  /** How long a ban lasts, ms (default 24 h; Infinity: for good). */
  banMs?: number;
  /** The ban list (e.g. `persistentBanList` from `@swarmgrad/coordinator/node`, so bans survive a restart). Default: in memory. */
  bans?: BanList;
  /** Random numbers in [0, 1) for the spot-check draw (default `crypto.getRandomValues`; inject only in tests). */
  random?: () => number;
}

/** The options with defaults filled in. */
export interface ResolvedVerification {
  mode: VolunteerMode;
  untrustedShare: number;
  replaySteps: number;
  auditSteps: number;
  banMs: number;
  bans: BanList;
  policy: VerificationPolicy;
}

/** Default {@link VerificationOptions.auditSteps}. */
export const DEFAULT_AUDIT_STEPS = 8;

function bad(text: string): CoordinatorError {
  return new CoordinatorError(CoordinatorErrorCode.BAD_CONFIG, `verification.${text}`);
}

/**
 * Fills in defaults and checks ranges. `allowVolunteers: false` forces mode `off`.
 * @throws CoordinatorError `BAD_CONFIG` naming the field.
 */
export function resolveVerification(options: VerificationOptions | undefined, allowVolunteers: boolean): ResolvedVerification {
  const o = options ?? {};
  const mode = allowVolunteers ? (o.mode ?? 'verify') : 'off';
  if (!VOLUNTEER_MODES.includes(mode)) throw bad(`mode must be one of ${VOLUNTEER_MODES.join(', ')}; got ${String(mode)}`);
  const untrustedShare = o.untrustedShare ?? DEFAULT_UNTRUSTED_SHARE;
  if (typeof untrustedShare !== 'number' || !(untrustedShare >= 0 && untrustedShare <= 1)) throw bad(`untrustedShare must be in [0, 1]; got ${String(untrustedShare)}`);
  const replaySteps = o.replaySteps ?? DEFAULT_REPLAY_STEPS;
  if (!Number.isInteger(replaySteps) || replaySteps < 1) throw bad(`replaySteps must be an integer ≥ 1; got ${String(replaySteps)}`);
  const auditSteps = o.auditSteps ?? DEFAULT_AUDIT_STEPS;
  if (!Number.isInteger(auditSteps) || auditSteps < 0) throw bad(`auditSteps must be an integer ≥ 0; got ${String(auditSteps)}`);
  const banMs = o.banMs ?? DEFAULT_BAN_MS;
  if (typeof banMs !== 'number' || !(banMs > 0)) throw bad(`banMs must be > 0 (Infinity: for good); got ${String(banMs)}`);
  if (o.bans !== undefined && !(o.bans instanceof BanList)) throw bad('bans must be a BanList');
  let policy: VerificationPolicy;
  try {
    policy = new VerificationPolicy({
      probationResults: o.probationResults ?? DEFAULT_PROBATION_RESULTS,
      rateFloor: o.rateFloor ?? DEFAULT_RATE_FLOOR,
      ...(o.random ? { random: o.random } : {}),
    });
  } catch (error) {
    throw bad((error as Error).message);
  }
  return { mode, untrustedShare: mode === 'verify' ? untrustedShare : 1, replaySteps, auditSteps, banMs, bans: o.bans ?? new BanList(), policy };
}
