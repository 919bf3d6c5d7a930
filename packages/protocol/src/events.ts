/**
 * What a coordinator reports to the outside: run events (pushed to subscribed dashboards in
 * `event` messages and to in-process listeners), the JSON `RunSnapshot` served by the HTTP
 * API, the per-step accounting of which worker computed which micro-shards, and the
 * `RunConfig` they carry. Everything here crosses a process boundary, so it is declared
 * once, here, and imported by the coordinator, the server and the dashboard alike.
 *
 * Every event is a JSON object tagged by `kind` (absent values are `null`, numbers are
 * finite), so it travels unchanged in a protocol `event` message.
 *
 * `RunConfig` names the model spec and optimizer config as type parameters: their
 * vocabulary (layer and optimizer types) belongs to the model library, which this package
 * does not depend on. On the wire both are JSON objects; the coordinator instantiates them
 * with the model library's `ModelSpec` and `OptimizerConfig` (and so may a dashboard).
 */
import type { Backend, DatasetDescriptor, Environment, GradientCodecName, JsonObject, ShardBlock, TaskKind } from './messages.js';

/** What a run trains and how. Plain JSON: it travels in snapshots and checkpoints. */
export interface RunConfig<TModelSpec = JsonObject, TOptimizer = JsonObject> {
  /** Id of the run (1..256 characters); workers and dashboards see it in every message. */
  runId: string;
  /** The model, an `@swarmgrad/nn` spec; sent to workers in `welcome`. */
  modelSpec: TModelSpec;
  /** Which data the run trains on (sent to workers in `welcome`; the samples themselves travel inline in tasks). */
  dataset: DatasetDescriptor;
  /** Global batch size B per step (integer ≥ 1, ≤ the training set's length, a multiple of `microShardSize`). */
  batchSize: number;
  /** Samples per micro-shard m (integer ≥ 1). A step has M = B / m micro-shards. */
  microShardSize: number;
  /** Optimizer, as `@swarmgrad/nn`'s `OptimizerConfig` (its schedule gives the learning rate per step). */
  optimizer: TOptimizer;
  /** Seed of the sampling schedule (integer in [0, 2^32)). Parameters are initialised from it too unless a checkpoint is resumed. */
  seed: number;
  /** Steps to train (integer ≥ 0). */
  totalSteps: number;
  /** Evaluate every this many steps (integer ≥ 0; 0 = only at the end). Needs test data. */
  evalEvery?: number;
  /** Evaluate on the first this many test samples, in order (integer ≥ 1; default all). */
  evalSamples?: number;
  /** Samples per evaluation shard (integer ≥ 1; default `microShardSize`). */
  evalShardSize?: number;
  /** Checkpoint every this many steps (integer ≥ 0; 0 = only at the end). */
  checkpointEvery?: number;
  /**
   * Gradient codec workers should use (default `f32`). `f32` is exact and the only codec
   * that keeps steps bitwise deterministic; a worker that cannot use the run's codec is
   * told to use `f32` instead.
   */
  codec?: GradientCodecName;
}

/** Lifecycle of a run. `waiting` until `start()`; `finished` and `stopped` are final. */
export type RunStatus = 'waiting' | 'running' | 'paused' | 'evaluating' | 'finished' | 'stopped';

/** The run statuses, in lifecycle order. */
export const RUN_STATUSES: readonly RunStatus[] = ['waiting', 'running', 'paused', 'evaluating', 'finished', 'stopped'];

/**
 * `step`: one optimizer step was applied. Also the per-step record of the metrics history
 * (in snapshots and checkpoints).
 */
export type StepMetrics = {
  kind: 'step';
  /** Index (0-based) of the step just applied; afterwards `coordinator.step === step + 1`. */
  step: number;
  /** Epoch of the step's batch. */
  epoch: number;
  /** Mean training loss over the step's global batch (loss sum / B). */
  loss: number;
  /** Learning rate the optimizer used. */
  lr: number;
  /** B / (stepMs / 1000); 0 when the step took no measurable time. */
  samplesPerSecond: number;
  /** From handing out the step's first tasks to applying the step (ms, coordinator clock). */
  stepMs: number;
  /** The slowest accepted task's reported compute time (ms, summed over its results). */
  computeMs: number;
  /** The slowest task's round trip minus its compute time (transfer, queueing and decoding; ms). */
  transferMs: number;
  /** stepMs minus the slowest task's round trip (scheduling, waiting for workers, re-issues; ms). */
  waitMs: number;
  /** Distinct workers whose blocks were accepted. */
  workers: number;
  /** Distinct backends that computed accepted blocks, sorted. */
  backends: Backend[];
  /** Micro-shards handed out again during the step (deadline, disconnect, rejected result, worker error). */
  shardsReissued: number;
  /** Coordinator clock when the step was applied (ms). */
  time: number;
};

/** `eval`: an evaluation finished. Also the record kept in the eval history. */
export type EvalResult = {
  kind: 'eval';
  /** Steps applied when evaluating (the parameters of step `step`). */
  step: number;
  /** Mean loss over the evaluated samples. */
  loss: number;
  /** Fraction of evaluated samples classified correctly. */
  accuracy: number;
  /** Number of test samples evaluated. */
  samples: number;
  /** Coordinator clock when the evaluation finished (ms). */
  time: number;
};

/** `worker`: a worker joined (after its `welcome`) or left (closed, dropped, struck out). */
export type WorkerEvent = {
  kind: 'worker';
  action: 'joined' | 'left';
  workerId: string;
  name: string | null;
  backend: Backend;
  environment: Environment;
  adapter: string | null;
  trusted: boolean;
  /** Why it left (`closed`, `bye: …`, `heartbeat timeout`, `too many strikes`, `run finished`); null on join. */
  reason: string | null;
};

/** `status`: the run's status changed. */
export type StatusEvent = {
  kind: 'status';
  status: RunStatus;
  previous: RunStatus;
  /** Steps applied at the change. */
  step: number;
};

/** Why blocks were handed out again. */
export type ReissueReason = 'deadline' | 'disconnect' | 'rejected' | 'workerError';

/** `reissue`: blocks of the current step (or evaluation) were handed to other workers. */
export type ReissueEvent = {
  kind: 'reissue';
  step: number;
  taskKind: TaskKind;
  reason: ReissueReason;
  /** The worker that held them. */
  fromWorker: string;
  /** Workers that got them; empty when no worker is connected (they wait for one). */
  toWorkers: string[];
  blocks: { start: number; count: number }[];
};

/** `rejected`: a message from a peer was refused or dropped (the peer got an `error` with the same code). */
export type RejectedEvent = {
  kind: 'rejected';
  workerId: string | null;
  /** A `CoordinatorErrorCode` or a `ProtocolErrorCode`. */
  code: string;
  message: string;
  /** The step the message referred to, if any. */
  step: number | null;
  /** Whether it counted as a strike against the connection. */
  strike: boolean;
  /** Whether the connection was closed because of it. */
  fatal: boolean;
};

/** `checkpoint`: `onCheckpoint` finished (ok) or failed (the run is then paused). */
export type CheckpointEvent = {
  kind: 'checkpoint';
  step: number;
  ok: boolean;
  error: string | null;
};

/** `lr`: `setLearningRate` (or an admin message) changed the learning rate, from step `step` on. */
export type LearningRateEvent = {
  kind: 'lr';
  lr: number;
  step: number;
};

/** `error`: something failed inside the engine (a bug or a throwing listener); the run continues. */
export type ErrorEvent = {
  kind: 'error';
  message: string;
};

/** Every event `on` listeners receive. Dashboards additionally get one `snapshot` event when they subscribe. */
export type CoordinatorEvent =
  | StepMetrics
  | EvalResult
  | WorkerEvent
  | StatusEvent
  | ReissueEvent
  | RejectedEvent
  | CheckpointEvent
  | LearningRateEvent
  | ErrorEvent
  | WorkersEvent;

/** The first event a subscribed dashboard receives; its `seq` is the last event's, so the next event has `seq + 1`. */
export type SnapshotEvent<TConfig = RunConfig> = {
  kind: 'snapshot';
  snapshot: RunSnapshot<TConfig>;
};

/** One row of the snapshot's workers table (a type alias, so that it is JSON for `RunEvent`). */
export type WorkerSummary = {
  id: string;
  name: string | null;
  connected: boolean;
  environment: Environment;
  backend: Backend;
  adapter: string | null;
  cores: number | null;
  userAgent: string | null;
  remoteAddress: string | null;
  /** Whether its hello carried the lab token (or no token is configured). */
  trusted: boolean;
  /** The gradient codec it was told to use. */
  codec: GradientCodecName;
  /** The scheduler's throughput estimate (samples/s): measured round trips (EWMA), halved for each missed deadline. */
  samplesPerSecond: number;
  /** Whether `samplesPerSecond` comes from measurements (false: the hello's hint or a default). */
  measured: boolean;
  /** Tasks it answered completely. */
  tasksDone: number;
  /** Micro-shards (train) it computed whose result was accepted. */
  shardsDone: number;
  /** Results of its that were rejected with a strike. */
  rejected: number;
  /** Clock (ms) when it first joined, and when a message from it last arrived. */
  joinedAt: number;
  lastSeen: number;
  /** The last `error` the worker reported (`CODE: message`), or null. */
  lastError: string | null;
};

/**
 * `workers`: the workers table with its counters (tasks, shards, throughput, last seen), so
 * dashboards stay current without asking: after a step, at most once per second.
 */
export type WorkersEvent = {
  kind: 'workers';
  workers: WorkerSummary[];
  time: number;
};

/** Model facts shown on dashboards. */
export interface ModelSummary {
  name: string;
  parameterCount: number;
  inputShape: number[];
  outputShape: number[];
  loss: string;
  layers: { index: number; type: string; description: string; outputShape: number[]; paramCount: number }[];
}

/** Everything a dashboard needs to draw a run; plain JSON. */
export interface RunSnapshot<TConfig = RunConfig> {
  runId: string;
  status: RunStatus;
  /** Steps applied. */
  step: number;
  totalSteps: number;
  /** Epoch of the next step's batch. */
  epoch: number;
  /** Learning rate of the next step. */
  lr: number;
  /** Loss of the last step; null before the first. */
  loss: number | null;
  /** Throughput of the last step; null before the first. */
  samplesPerSecond: number | null;
  /** The run config, defaults filled in. */
  config: TConfig;
  model: ModelSummary;
  data: { train: { name: string; length: number }; test: { name: string; length: number } | null; evalSamples: number };
  workers: WorkerSummary[];
  /** Per-step metrics, oldest first (the last `historyLimit` when limited). */
  history: StepMetrics[];
  /** Every evaluation, oldest first. */
  evals: EvalResult[];
  totals: {
    resultsAccepted: number;
    resultsRejected: number;
    shardsReissued: number;
    checkpoints: number;
    samplesTrained: number;
  };
  /** Clock (ms) at `start()` (null before), and now. */
  startedAt: number | null;
  time: number;
}

/** Who computed one accepted block of a completed step. */
export interface AccountedBlock extends ShardBlock {
  workerId: string;
  backend: Backend;
  taskId: string;
  /** Whether the accepted result came from a re-issued task. */
  reissued: boolean;
}

/** Who computed one micro-shard of a completed step. */
export interface AccountedShard {
  /** Micro-shard index in `[0, shardCount)`. */
  shard: number;
  workerId: string;
  backend: Backend;
}

/** The accounting of one completed step: the accepted blocks, ascending, covering `[0, shardCount)` exactly once. */
export interface StepAccounting {
  step: number;
  shardCount: number;
  blocks: AccountedBlock[];
  /** One entry per micro-shard, in shard order, each counted once (derived from `blocks`). */
  shards: AccountedShard[];
}
