/**
 * The JSON the dashboard reads: run events and snapshots (as `@swarmgrad/coordinator`'s
 * `events.ts` defines them), the HTTP API's run listings and past runs (`apps/server`'s
 * `runs.ts`), and the insights routes (`apps/server/src/insights.ts`). Written out here
 * because the dashboard only needs their JSON shapes, not the engine.
 */
import type { ModelSpec, OptimizerConfig } from '@swarmgrad/nn/core';

export type RunStatus = 'waiting' | 'running' | 'paused' | 'evaluating' | 'finished' | 'stopped';

export interface StepMetrics {
  kind: 'step';
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  samplesPerSecond: number;
  stepMs: number;
  computeMs: number;
  transferMs: number;
  waitMs: number;
  workers: number;
  backends: string[];
  shardsReissued: number;
  time: number;
}

export interface EvalResult {
  kind: 'eval';
  step: number;
  loss: number;
  accuracy: number;
  samples: number;
  time: number;
}

export interface WorkerEvent {
  kind: 'worker';
  action: 'joined' | 'left';
  workerId: string;
  name: string | null;
  backend: string;
  environment: string;
  adapter: string | null;
  trusted: boolean;
  reason: string | null;
}

export interface StatusEvent {
  kind: 'status';
  status: RunStatus;
  previous: RunStatus;
  step: number;
}

export interface ReissueEvent {
  kind: 'reissue';
  step: number;
  taskKind: string;
  reason: string;
  fromWorker: string;
  toWorkers: string[];
  blocks: { start: number; count: number }[];
}

export interface RejectedEvent {
  kind: 'rejected';
  workerId: string | null;
  code: string;
  message: string;
  step: number | null;
  strike: boolean;
  fatal: boolean;
}

export interface CheckpointEvent {
  kind: 'checkpoint';
  step: number;
  ok: boolean;
  error: string | null;
}

export interface LearningRateEvent {
  kind: 'lr';
  lr: number;
  step: number;
}

export interface ErrorEvent {
  kind: 'error';
  message: string;
}

export interface SnapshotEvent {
  kind: 'snapshot';
  snapshot: RunSnapshot;
}

export type RunEvent =
  | StepMetrics
  | EvalResult
  | WorkerEvent
  | StatusEvent
  | ReissueEvent
  | RejectedEvent
  | CheckpointEvent
  | LearningRateEvent
  | ErrorEvent
  | SnapshotEvent;

export interface RunConfig {
  runId: string;
  modelSpec: ModelSpec;
  dataset: { name: string; [key: string]: unknown };
  batchSize: number;
  microShardSize: number;
  optimizer: OptimizerConfig;
  seed: number;
  totalSteps: number;
  evalEvery?: number;
  evalSamples?: number;
  evalShardSize?: number;
  checkpointEvery?: number;
  codec?: string;
}

export interface WorkerSummary {
  id: string;
  name: string | null;
  connected: boolean;
  environment: string;
  backend: string;
  adapter: string | null;
  cores: number | null;
  userAgent: string | null;
  remoteAddress: string | null;
  trusted: boolean;
  codec: string;
  samplesPerSecond: number;
  measured: boolean;
  tasksDone: number;
  shardsDone: number;
  rejected: number;
  joinedAt: number;
  lastSeen: number;
  lastError: string | null;
}

export interface ModelLayerSummary {
  index: number;
  type: string;
  description: string;
  outputShape: number[];
  paramCount: number;
}

export interface ModelSummary {
  name: string;
  parameterCount: number;
  inputShape: number[];
  outputShape: number[];
  loss: string;
  layers: ModelLayerSummary[];
}

export interface RunTotals {
  resultsAccepted: number;
  resultsRejected: number;
  shardsReissued: number;
  checkpoints: number;
  samplesTrained: number;
}

export interface RunSnapshot {
  runId: string;
  status: RunStatus;
  step: number;
  totalSteps: number;
  epoch: number;
  lr: number;
  loss: number | null;
  samplesPerSecond: number | null;
  config: RunConfig;
  model: ModelSummary;
  data: { train: { name: string; length: number }; test: { name: string; length: number } | null; evalSamples: number };
  workers: WorkerSummary[];
  history: StepMetrics[];
  evals: EvalResult[];
  totals: RunTotals;
  startedAt: number | null;
  time: number;
}

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
