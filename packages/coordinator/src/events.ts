/**
 * What the engine reports: run events (pushed to `on` listeners and to subscribed
 * dashboards as protocol `event` messages), the JSON `RunSnapshot`, and the per-step
 * accounting of which worker computed which micro-shards.
 *
 * The types are declared once, in `@swarmgrad/protocol` (they cross process boundaries);
 * this module re-exports them, with `RunSnapshot` and `SnapshotEvent` carrying this
 * package's `RunConfig` (model spec and optimizer typed by `@swarmgrad/nn`).
 */
import type { RunSnapshot as WireRunSnapshot, SnapshotEvent as WireSnapshotEvent } from '@swarmgrad/protocol';
import type { RunConfig } from './config.js';

export { RUN_STATUSES } from '@swarmgrad/protocol';
export type {
  AccountedBlock,
  AccountedShard,
  CheckpointEvent,
  CoordinatorEvent,
  ErrorEvent,
  EvalResult,
  LearningRateEvent,
  ModelSummary,
  RejectedEvent,
  ReissueEvent,
  ReissueReason,
  RunStatus,
  StatusEvent,
  StepAccounting,
  StepMetrics,
  WorkerEvent,
  WorkerSummary,
  WorkersEvent,
} from '@swarmgrad/protocol';

/** Everything a dashboard needs to draw a run; plain JSON (see `@swarmgrad/protocol`). */
export type RunSnapshot = WireRunSnapshot<RunConfig>;

/** The first event a subscribed dashboard receives (see `@swarmgrad/protocol`). */
export type SnapshotEvent = WireSnapshotEvent<RunConfig>;
