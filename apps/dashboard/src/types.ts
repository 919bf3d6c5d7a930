/**
 * The JSON the dashboard reads: run events and snapshots, the HTTP API's run listings and
 * past runs, and the insights routes' answers. All of them are `@swarmgrad/protocol`'s types
 * (imported as types only), which the server builds its answers with too.
 */
import type { ModelSpec, OptimizerConfig } from '@swarmgrad/nn-core';
import type {
  CoordinatorEvent,
  ModelSummary,
  PastRun as WirePastRun,
  RunConfig as WireRunConfig,
  RunSnapshot as WireRunSnapshot,
  SnapshotEvent as WireSnapshotEvent,
} from '@swarmgrad/protocol';

export type {
  CheckpointEvent,
  ErrorEvent,
  EvalResult,
  LearningRateEvent,
  ModelSummary,
  RejectedEvent,
  ReissueEvent,
  RollbackEvent,
  RunStatus,
  VerificationEvent,
  VerificationReport,
  StatusEvent,
  StepMetrics,
  WorkerEvent,
  WorkerSummary,
} from '@swarmgrad/protocol';

// The HTTP API's answers (`@swarmgrad/protocol`'s `http.ts`, route by route).
export type {
  ActivationLayer,
  ActivationsInsight,
  ConfusionInsight,
  FiltersInsight,
  InsightHeader,
  InsightIndex,
  InsightLayer,
  InsightsLimits,
  MisclassifiedInsight,
  Patch,
  PatchesInsight,
  RunList,
  RunListing,
  TestSetInfo,
} from '@swarmgrad/protocol';

/** A run's config, with the model spec and optimizer typed by the model library. */
export type RunConfig = WireRunConfig<ModelSpec, OptimizerConfig>;
/** Everything the dashboard draws a run from. */
export type RunSnapshot = WireRunSnapshot<RunConfig>;
/** The first event after subscribing. */
export type SnapshotEvent = WireSnapshotEvent<RunConfig>;

/** Every event a subscribed dashboard receives. */
export type RunEvent = CoordinatorEvent | SnapshotEvent;
/** One layer row of the model summary. */
export type ModelLayerSummary = ModelSummary['layers'][number];
/** The run's counters in a snapshot. */
export type RunTotals = RunSnapshot['totals'];
/** `GET /api/runs/:id` for a past run (read from its newest checkpoint). */
export type PastRun = WirePastRun<RunConfig>;
