/**
 * The JSON the dashboard reads: run events and snapshots (types from
 * `@swarmgrad/protocol`, imported as types only), the HTTP API's run listings and past runs
 * (`apps/server`'s `runs.ts`), and the insights routes (`apps/server/src/insights.ts`).
 */
import type { ModelSpec, OptimizerConfig } from '@swarmgrad/nn/core';
import type {
  CoordinatorEvent,
  EvalResult,
  ModelSummary,
  RunConfig as WireRunConfig,
  RunSnapshot as WireRunSnapshot,
  SnapshotEvent as WireSnapshotEvent,
  StepMetrics,
} from '@swarmgrad/protocol';

export type {
  CheckpointEvent,
  ErrorEvent,
  EvalResult,
  LearningRateEvent,
  ModelSummary,
  RejectedEvent,
  ReissueEvent,
  RunStatus,
  StatusEvent,
  StepMetrics,
  WorkerEvent,
  WorkerSummary,
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

/** A row of `GET /api/runs`. */
export interface RunListing {
  runId: string;
  status: string;
  step: number;
  live: boolean;
  out?: string;
  testAccuracy?: number | null;
}

/** `GET /api/runs/:id` for a past run (read from its newest checkpoint). */
export interface PastRun {
  runId: string;
  status: string;
  step: number;
  out: string;
  testAccuracy: number | null;
  live: false;
  config?: RunConfig;
  history?: { steps: StepMetrics[]; evals: EvalResult[] };
  paramsSha256?: string;
}

// ---------------------------------------------------------------------------------------------
// insights (apps/server/src/insights.ts)

/** Fields every insights answer starts with. */
export interface InsightHeader {
  runId: string;
  step: number;
  live: boolean;
  model: string;
}

export interface InsightLayer {
  index: number;
  type: string;
  description: string;
  outputShape: number[];
  receptiveField: [number, number];
}

export interface TestSetInfo {
  name: string;
  length: number;
  shape: [number, number, number];
  numClasses: number;
  classNames: string[];
}

export interface InsightIndex extends Omit<InsightHeader, 'model'> {
  model: {
    name: string;
    inputShape: number[];
    outputShape: number[];
    layers: (Omit<InsightLayer, 'receptiveField'> & { visual: boolean; receptiveField: [number, number] | null })[];
  };
  test: TestSetInfo;
  limits: { confusionSamples: number; patchSamples: number; misclassified: number; patches: number; channels: number };
}

export interface FiltersInsight extends InsightHeader {
  layer: InsightLayer;
  /** `[kh, kw, cin, cout]`. */
  shape: [number, number, number, number];
  count: number;
  /** One array per filter, `kh × kw × cin` values (HWC). */
  filters: number[][];
  bias: number[] | null;
  min: number;
  max: number;
}

export interface ActivationLayer extends InsightLayer {
  /** `[h, w, channels shown]`. */
  shape: [number, number, number];
  /** Channels the layer has (maps beyond the limit are not sent). */
  channels: number;
  data: number[];
  min: number[];
  max: number[];
}

export interface ActivationsInsight extends InsightHeader {
  image: { index: number; label: number; predicted: number | null; probabilities: number[] | null; shape: [number, number, number]; data: number[] };
  test: TestSetInfo;
  layers: ActivationLayer[];
}

export interface Patch {
  image: number;
  label: number;
  activation: number;
  y: number;
  x: number;
  top: number;
  left: number;
  data: number[];
}

export interface PatchesInsight extends InsightHeader {
  layer: InsightLayer;
  filter: number;
  channels: number;
  samples: number;
  receptiveField: { height: number; width: number; depth: number };
  patches: Patch[];
}

export interface ConfusionInsight extends InsightHeader {
  samples: number;
  classes: number;
  classNames: string[];
  matrix: number[][];
  accuracy: number;
  loss: number;
}

export interface MisclassifiedInsight extends InsightHeader {
  samples: number;
  total: number;
  shape: [number, number, number];
  classNames: string[];
  images: { index: number; label: number; predicted: number; confidence: number; data: number[] }[];
}
