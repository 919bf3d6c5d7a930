/**
 * `@swarmgrad/coordinator` — the transport-free swarmgrad run engine: membership,
 * deterministic scheduling and aggregation, the optimizer step, evaluation, checkpoints
 * and metrics. Environment-free (no `node:` imports); file helpers live in
 * `@swarmgrad/coordinator/node`.
 *
 * @packageDocumentation
 */
export {
  Coordinator,
  DASHBOARD_HISTORY_LIMIT,
  WORKERS_EVENT_INTERVAL_MS,
  DEFAULT_SAMPLES_PER_SECOND,
  SMALL_FRAME_BYTES,
  type CoordinatorListener,
  type CoordinatorOptions,
  type CoordinatorTransport,
} from './coordinator.js';
export { CloseCode, CoordinatorError, CoordinatorErrorCode, isCoordinatorError } from './errors.js';
export {
  ENGINE_DEFAULTS,
  TRAJECTORY_FIELDS,
  resolveRunConfig,
  type CoordinatorLimits,
  type EngineOptionsInput,
  type ResolvedRun,
  type RunConfig,
} from './config.js';
export {
  RUN_STATUSES,
  type AccountedBlock,
  type AccountedShard,
  type CheckpointEvent,
  type CoordinatorEvent,
  type ErrorEvent,
  type EvalResult,
  type LearningRateEvent,
  type ModelSummary,
  type RejectedEvent,
  type ReissueEvent,
  type ReissueReason,
  type RunSnapshot,
  type RunStatus,
  type SnapshotEvent,
  type StatusEvent,
  type StepAccounting,
  type StepMetrics,
  type WorkerEvent,
  type WorkerSummary,
  type WorkersEvent,
} from './events.js';
export { CHECKPOINT_FORMAT_VERSION, CHECKPOINT_MAGIC, decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpoint.js';
export { Sha256, paramsSha256, sha256, toHex } from './sha256.js';
export {
  assignGreedy,
  blockSizeFor,
  floorPowerOfTwo,
  groupIntoTasks,
  planBlocks,
  type TaskCaps,
  type WorkUnit,
  type WorkerLoad,
} from './scheduler.js';
export { formatPrometheus, type MetricFamily } from './prometheus.js';
export {
  ACCEPT,
  PASS_THROUGH_GATE,
  type ResultGate,
  type ResultVerdict,
  type ValidatedBlock,
  type ValidatedResult,
} from './result-gate.js';
export { BanList, DEFAULT_BAN_MS, MAX_BANS, isLoopbackAddress, type BanEntry, type BanListJson } from './ban-list.js';
export { CreditLedger, MAX_CREDIT_ENTRIES } from './credit-ledger.js';
export { CROSS_BACKEND_INCONCLUSIVE_BOUND, CROSS_BACKEND_TOLERANCE, bitwiseEqual, compareResults, implausibleTrainResult, relativeError, type Comparison, type ComparableResult, type CompareOptions } from './result-compare.js';
export { DEFAULT_PROBATION_RESULTS, DEFAULT_RATE_FLOOR, VOLUNTEER_MODES, VerificationPolicy, type VerificationDecision, type VerificationPolicyOptions } from './verification-policy.js';
export { DEFAULT_REPLAY_STEPS, ReplayRing, type StepState } from './replay-ring.js';
export { DEFAULT_UNTRUSTED_SHARE, assignWithUntrustedCap } from './untrusted-share.js';
export { DEFAULT_AUDIT_STEPS, resolveVerification, type ResolvedVerification, type VerificationOptions } from './verification-options.js';
export type { BanRecord, CreditEntry, RollbackEvent, RollbackRecord, VerificationEvent, VerificationRecord, VerificationReport, VolunteerMode, WorkerVerification } from './events.js';
