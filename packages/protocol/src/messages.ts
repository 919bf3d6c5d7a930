/**
 * The swarmgrad wire messages: one union tagged by `type`.
 *
 * This module holds types and the name tables they are built from; it has no behaviour.
 * A value of these types that came off the wire has been through `decodeMessage` (or
 * `validateMessage`), which guarantees every constraint documented here.
 *
 * Direction tags in the docs: W = worker, C = coordinator, D = dashboard.
 */

/** Version of this wire protocol. `hello` and `welcome` carry it; a peer speaking another version is refused with `VERSION_MISMATCH`. */
export const PROTOCOL_VERSION = 1 as const;

/** Every message `type`, in the order the README lists them. */
export const MESSAGE_TYPES = [
  'hello',
  'welcome',
  'params',
  'task',
  'result',
  'heartbeat',
  'error',
  'bye',
  'subscribe',
  'event',
  'admin',
] as const;

/**
 * Compute backends a worker may run on: `webgpu`, `wasm`, `cpu` (fastest kind first), then
 * `wasm-step` (the compiled WebAssembly training step of `@swarmgrad/nn`, over `wasm`; its
 * bits differ from `wasm`'s) and `wasm-fma` (the same step with fused multiply-add GEMMs,
 * only where the engine fuses; its bits differ from both). A worker's `auto` tries them as
 * webgpu, wasm-fma, wasm-step, wasm, cpu.
 */
export const BACKENDS = ['webgpu', 'wasm', 'cpu', 'wasm-step', 'wasm-fma'] as const;
/** A compute backend, see {@link BACKENDS}. */
export type Backend = (typeof BACKENDS)[number];

/** Runtime environments a worker may run in. */
export const ENVIRONMENTS = ['node', 'browser'] as const;
/** Where a worker runs: a Node process or a browser (page or Web Worker). */
export type Environment = (typeof ENVIRONMENTS)[number];

/** Gradient codecs, exact first. See `gradient-codecs.ts` and the README. */
export const GRADIENT_CODECS = ['f32', 'f16', 'int8'] as const;
/** Name of a gradient codec: `f32` (exact, default), `f16` (IEEE half), `int8` (per-chunk scale). */
export type GradientCodecName = (typeof GRADIENT_CODECS)[number];

/** Parameter delta encodings (see `params-delta.ts`); a worker lists those it can apply in `capabilities.paramsEncodings`. */
export const PARAMS_ENCODINGS = ['xor-deflate'] as const;
/** Name of a parameter delta encoding: `xor-deflate` (XOR of float32 bit patterns, byte planes, raw DEFLATE; exact). */
export type ParamsEncodingName = (typeof PARAMS_ENCODINGS)[number];

/** What a task asks for: a training gradient, or an evaluation (loss and accuracy, no gradient). */
export const TASK_KINDS = ['train', 'eval'] as const;
/** Task kind: `train` (gradient sums) or `eval` (loss and correct counts only). */
export type TaskKind = (typeof TASK_KINDS)[number];

/** Dataset splits a task may index into. */
export const DATASET_SPLITS = ['train', 'test'] as const;
/** A dataset split. */
export type DatasetSplit = (typeof DATASET_SPLITS)[number];

/** Roles of a connecting peer. */
export const ROLES = ['worker', 'dashboard'] as const;
/** Role of a connecting peer. */
export type Role = (typeof ROLES)[number];

/** Worker states a heartbeat may report. */
export const WORKER_STATUSES = ['idle', 'busy', 'paused'] as const;
/** What a worker is doing when it sends a heartbeat. */
export type WorkerStatus = (typeof WORKER_STATUSES)[number];

/** Dashboard admin actions. */
export const ADMIN_ACTIONS = ['pause', 'resume', 'stop', 'setLearningRate', 'liftBan'] as const;
/** A dashboard admin action. */
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

/** Any JSON value (finite numbers only; no `undefined`, typed arrays or class instances). */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
/** A JSON object. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/**
 * An aligned block of micro-shards: `count` is a power of two and `start % count === 0`.
 * It covers micro-shards `start .. start + count - 1` of its step's global batch.
 */
export interface ShardBlock {
  /** Index of the first micro-shard; a multiple of `count`. */
  start: number;
  /** Number of micro-shards; a power of two (1, 2, 4, ...). */
  count: number;
}

/** Limits both peers agree on for a connection; the coordinator announces them in `welcome`. */
export interface WireLimits {
  /** Largest frame, in bytes, that the receiver accepts (checked before decoding). */
  maxFrameBytes: number;
  /** Largest number of micro-shards (summed over blocks) in one task or result. */
  maxShardsPerTask: number;
}

// ---------------------------------------------------------------------------------------------
// Gradients on the wire

/** `f32`: the exact gradient, 4 bytes per value. The default, and the only codec that keeps steps bitwise deterministic. */
export interface F32Gradient {
  codec: 'f32';
  /** Number of values (the model's parameter count). */
  length: number;
  /** The values themselves; `payload.length === length`, all finite. */
  payload: Float32Array;
}

/** `f16`: IEEE-754 binary16 bit patterns, 2 bytes per value; overflow saturates to ±65504. */
export interface F16Gradient {
  codec: 'f16';
  /** Number of values. */
  length: number;
  /** Half-precision bit patterns; `payload.length === length`, none Inf or NaN. */
  payload: Uint16Array;
}

/** `int8`: value `i` is `payload[i] * scales[floor(i / chunkSize)]`; ~1 byte per value. */
export interface Int8Gradient {
  codec: 'int8';
  /** Number of values. */
  length: number;
  /** Values per scale (the last chunk may be shorter). */
  chunkSize: number;
  /** One scale per chunk, `ceil(length / chunkSize)` of them, finite, `0 <= scale <= MAX_INT8_SCALE`. */
  scales: Float32Array;
  /** Quantised values, `payload.length === length`. */
  payload: Int8Array;
}

/** A gradient as it travels in a `result`, tagged by `codec`. */
export type EncodedGradient = F32Gradient | F16Gradient | Int8Gradient;

// ---------------------------------------------------------------------------------------------
// hello / welcome

/** What a worker can do; sent in its `hello`. */
export interface WorkerCapabilities {
  /** Backend the worker computes on. */
  backend: Backend;
  /** GPU adapter description (WebGPU only), e.g. `"llvmpipe (compatibility)"`. */
  adapter?: string;
  /** Node process or browser. */
  environment: Environment;
  /** Logical cores available to the worker. */
  cores?: number;
  /** Browser user agent or `node/<version> <platform>`. */
  userAgent?: string;
  /** Gradient codecs the worker can encode, in its order of preference; at least one. */
  codecs: GradientCodecName[];
  /** Measured training throughput from the worker's self-benchmark (samples per second), a hint for the scheduler. */
  samplesPerSecond?: number;
  /** Parameter delta encodings the worker can apply; a sender may then send `params` with `delta` instead of the full vector. Absent: full params only. */
  paramsEncodings?: ParamsEncodingName[];
}

/** W→C. First message of a worker connection. */
export interface WorkerHelloMessage {
  type: 'hello';
  /** Must equal `PROTOCOL_VERSION`. */
  protocolVersion: number;
  role: 'worker';
  /** The id a previous `welcome` gave this worker, to resume its identity after a reconnect. */
  workerId?: string;
  /** The `resumeToken` of that `welcome`: without it (or with a wrong one) a coordinator that issues tokens gives a fresh id. */
  resumeToken?: string;
  /** Lab token; absent for volunteers (who join untrusted). */
  token?: string;
  /** A human label (host name, "volunteer in Firefox"), shown on dashboards. */
  name?: string;
  capabilities: WorkerCapabilities;
}

/** D→C. First message of a dashboard connection. */
export interface DashboardHelloMessage {
  type: 'hello';
  /** Must equal `PROTOCOL_VERSION`. */
  protocolVersion: number;
  role: 'dashboard';
  /** Optional token, if the coordinator restricts read access. */
  token?: string;
  /** A human label. */
  name?: string;
}

/** W→C or D→C: the first message of every connection. */
export type HelloMessage = WorkerHelloMessage | DashboardHelloMessage;

/** The dataset a run trains on: a `name` plus whatever the data package needs (opaque JSON). */
export interface DatasetDescriptor {
  /** Dataset name, e.g. `"mnist"`. */
  name: string;
  [key: string]: JsonValue;
}

/** C→W. Answer to a worker's `hello`: who it is and what it will compute. */
export interface WelcomeMessage {
  type: 'welcome';
  /** The coordinator's `PROTOCOL_VERSION`. */
  protocolVersion: number;
  /** Id of this worker; send it back in `hello.workerId` after a reconnect. */
  workerId: string;
  /** A secret only this worker and the coordinator know; send it back in `hello.resumeToken` with `workerId` to resume this identity. */
  resumeToken?: string;
  /** Id of the run the worker joins. */
  runId: string;
  /** Whether the coordinator trusts this worker's results without spot checks (lab token accepted). */
  trusted: boolean;
  /** Send a `heartbeat` at least this often (milliseconds). */
  heartbeatIntervalMs: number;
  /** The coordinator drops a worker silent for this long (milliseconds). Default when absent: 3 × `heartbeatIntervalMs`. */
  heartbeatTimeoutMs?: number;
  /** Codec the worker must use for gradients (one of its `capabilities.codecs`). */
  codec: GradientCodecName;
  /** The model, as an `@swarmgrad/nn` JSON spec (validated there, opaque here). */
  modelSpec: JsonObject;
  /** Number of model parameters P: the length of every `params` vector and every gradient. */
  parameterCount: number;
  /** Samples per micro-shard (m). */
  microShardSize: number;
  /** Which data to load. */
  dataset: DatasetDescriptor;
  /** Limits the coordinator enforces on frames it receives (and that the worker should enforce too). */
  limits: WireLimits;
}

// ---------------------------------------------------------------------------------------------
// params / task / result

/** C→W. The full parameter vector a step's gradients must be computed at. */
export interface ParamsMessage {
  type: 'params';
  runId: string;
  /** Step these parameters belong to (parameters *before* step `step` is applied). */
  step: number;
  /** All P parameters, in the `@swarmgrad/nn` layout; finite. Empty (length 0) when `delta` is present. */
  params: Float32Array;
  /**
   * Instead of the full vector, only to a worker that listed `delta.encoding` in its
   * `capabilities.paramsEncodings` and was sent the params of `baseStep` on this connection:
   * apply `bytes` to those (`applyParamsDelta`) to get this step's exact parameters.
   */
  delta?: ParamsDelta;
}

/** A lossless parameter delta (see `ParamsMessage.delta`). */
export interface ParamsDelta {
  encoding: ParamsEncodingName;
  /** The step whose parameters the delta applies to (< `step`). */
  baseStep: number;
  /** The encoded delta. */
  bytes: Uint8Array;
}

/** C→W. Compute the gradient sums (or evaluation counts) of some aligned blocks of a step's micro-shards. */
export interface TaskMessage {
  type: 'task';
  /** Unique id of this task; echoed in the `result`. */
  taskId: string;
  runId: string;
  /** Step whose `params` to compute at. */
  step: number;
  kind: TaskKind;
  /** Split the `indices` refer to. Default when absent: `train` for train tasks, `test` for eval tasks. */
  split?: DatasetSplit;
  /** The blocks to compute, ascending and disjoint; at least one. */
  blocks: ShardBlock[];
  /** Samples per micro-shard (m). */
  microShardSize: number;
  /**
   * Sample indices of every micro-shard of the task, blocks in order, shards in order, m per
   * shard: shard `s` of the task uses `indices[s*m .. s*m + m)`. For `train` tasks the
   * length is exactly (total shards × m); for `eval` tasks the task's last shard may be
   * short (the evaluation set need not divide by m).
   */
  indices: Uint32Array;
  /** Milliseconds after receipt by which the result must arrive; later, the blocks are given to another worker. */
  deadlineMs: number;
  /**
   * The samples themselves, so that a worker needs no copy of the dataset (browsers, lab
   * machines without the data): `x` holds the samples of `indices` in order, each of the
   * model's input size (NHWC / NWC, float32). Absent when the worker loads `dataset` itself.
   */
  x?: Float32Array;
  /**
   * The samples as 8-bit pixels instead of `x` (never both): one byte per input value, NHWC,
   * the samples of `indices` in order. The worker turns them into float32 inputs with
   * `x[i] = fround((fround(v / 255) − mean[c]) / std[c])`, `c = i mod channels` (channels = the
   * length of `pixelNormalization.mean`, else 1 — then `x = fround(v / 255)`), computed as
   * `@swarmgrad/data`'s `normalizationTable` does, so the bits equal the coordinator's own `x`.
   * A quarter of the bytes of `x`.
   */
  pixels?: Uint8Array;
  /** The per-channel normalisation of `pixels` (only with `pixels`): `mean` and `std` (> 0), one per channel. */
  pixelNormalization?: { mean: number[]; std: number[] };
  /** Integer labels of the samples of `indices`, for classification; one per index. */
  labels?: Int32Array;
  /** Float targets of the samples of `indices`, for regression; the same number per index. */
  targets?: Float32Array;
}

/** One block's result in a `train` result. */
export interface TrainBlockResult extends ShardBlock {
  /** Sum of the per-sample losses over the block's samples. */
  lossSum: number;
  /** Number of samples summed (count × m). */
  sampleCount: number;
  /** Correctly classified samples, if the worker counted them. */
  correct?: number;
  /** Sum of the per-sample gradients over the block, in the fixed pairwise tree order. */
  gradient: EncodedGradient;
}

/** One block's result in an `eval` result. */
export interface EvalBlockResult extends ShardBlock {
  /** Sum of the per-sample losses. */
  lossSum: number;
  /** Number of samples evaluated. */
  sampleCount: number;
  /** Correctly classified samples. */
  correct: number;
}

/** Where a worker spent its time on a task (milliseconds, the worker's clock). */
export interface ResultTiming {
  /** Forward + backward (or forward only) compute. */
  computeMs: number;
  /** Loading and preparing samples. */
  dataMs?: number;
  /** Encoding gradients. */
  encodeMs?: number;
  /** From receipt of the task to sending this result. */
  totalMs?: number;
}

interface ResultBase {
  type: 'result';
  /** The task's id. */
  taskId: string;
  runId: string;
  /** The task's step. */
  step: number;
  /** How long it took. */
  timing: ResultTiming;
  /** Backend that computed it. */
  backend: Backend;
}

/** W→C. Gradient sums for some or all blocks of a train task. */
export interface TrainResultMessage extends ResultBase {
  kind: 'train';
  /** Results of blocks of the task, ascending and disjoint (a worker may send a task's blocks in several results). */
  blocks: TrainBlockResult[];
}

/** W→C. Loss and accuracy counts for some or all blocks of an eval task. */
export interface EvalResultMessage extends ResultBase {
  kind: 'eval';
  /** Results of blocks of the task, ascending and disjoint. */
  blocks: EvalBlockResult[];
}

/** W→C. A task's results; narrow on `kind`. */
export type ResultMessage = TrainResultMessage | EvalResultMessage;

// ---------------------------------------------------------------------------------------------
// heartbeat / error / bye

/** Any direction. Liveness; answer a heartbeat with one whose `echo` is its `sentAt` to let the peer measure round trips. */
export interface HeartbeatMessage {
  type: 'heartbeat';
  /** Sender's clock, milliseconds since the Unix epoch. */
  sentAt: number;
  /** The `sentAt` of the heartbeat this one answers. */
  echo?: number;
  /** Worker status. */
  status?: WorkerStatus;
  /** Worker's recent throughput (samples per second). */
  samplesPerSecond?: number;
}

/** What an `error` refers to. */
export interface ErrorRef {
  taskId?: string;
  step?: number;
}

/** Any direction. Something went wrong; `fatal` means the sender closes the connection next. */
export interface ErrorMessage {
  type: 'error';
  /** Stable code (a `ProtocolErrorCode`, or a coordinator/worker code). */
  code: string;
  /** Human-readable explanation. */
  message: string;
  fatal?: boolean;
  ref?: ErrorRef;
}

/** Any direction. The sender is closing the connection on purpose. */
export interface ByeMessage {
  type: 'bye';
  /** Why, e.g. `"run finished"`, `"worker shutting down"`. */
  reason: string;
}

// ---------------------------------------------------------------------------------------------
// dashboards

/** D→C. Start receiving `event`s of a run (the current run when `runId` is absent). */
export interface SubscribeMessage {
  type: 'subscribe';
  runId?: string;
  /** Admin token, to be allowed to send `admin` messages on this connection. */
  adminToken?: string;
}

/** A run event: a `kind` plus JSON fields, e.g. `{ kind: 'step', step: 12, loss: 0.31, backends: ['webgpu'] }`. */
export interface RunEvent {
  kind: string;
  [key: string]: JsonValue;
}

/** C→D. Something happened in a run (metrics for a step, a worker joined, ...). */
export interface EventMessage {
  type: 'event';
  runId: string;
  /** Monotonic sequence number per run, to spot gaps. */
  seq?: number;
  event: RunEvent;
}

interface AdminBase {
  type: 'admin';
  /** Token that authorises admin actions. */
  adminToken: string;
  /** Run to act on (the current run when absent). */
  runId?: string;
}

/** D→C. Pause, resume or stop the run. */
export interface AdminControlMessage extends AdminBase {
  action: 'pause' | 'resume' | 'stop';
}

/** D→C. Change the learning rate from the next step on. */
export interface AdminSetLearningRateMessage extends AdminBase {
  action: 'setLearningRate';
  /** The new learning rate; finite and > 0. */
  value: number;
}

/** D→C. Lift a ban of an untrusted worker (`worker:<id>`, `address:<ip>`, or a bare worker id or address). */
export interface AdminLiftBanMessage extends AdminBase {
  action: 'liftBan';
  /** The ban's key, as the snapshot's `bans[].key` shows it. */
  value: string;
}

/** D→C. An admin command; narrow on `action`. */
export type AdminMessage = AdminControlMessage | AdminSetLearningRateMessage | AdminLiftBanMessage;

// ---------------------------------------------------------------------------------------------
// unions

/** Every wire message. */
export type Message =
  | HelloMessage
  | WelcomeMessage
  | ParamsMessage
  | TaskMessage
  | ResultMessage
  | HeartbeatMessage
  | ErrorMessage
  | ByeMessage
  | SubscribeMessage
  | EventMessage
  | AdminMessage;

/** A message `type` tag. */
export type MessageType = Message['type'];

/** The message(s) with a given `type`. */
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

/** Messages a worker sends. */
export type WorkerToCoordinatorMessage =
  | WorkerHelloMessage
  | ResultMessage
  | HeartbeatMessage
  | ErrorMessage
  | ByeMessage;

/** Messages a coordinator sends to a worker. */
export type CoordinatorToWorkerMessage =
  | WelcomeMessage
  | ParamsMessage
  | TaskMessage
  | HeartbeatMessage
  | ErrorMessage
  | ByeMessage;

/** Messages a dashboard sends. */
export type DashboardToCoordinatorMessage =
  | DashboardHelloMessage
  | SubscribeMessage
  | AdminMessage
  | HeartbeatMessage
  | ByeMessage;

/** Messages a coordinator sends to a dashboard. */
export type CoordinatorToDashboardMessage = EventMessage | HeartbeatMessage | ErrorMessage | ByeMessage;
