/**
 * The environment-free compute core of a swarmgrad worker: it consumes decoded coordinator
 * messages (`welcome`, `params`, `task`) and produces the messages to send back (`result`,
 * `error`, `heartbeat`). No sockets, no `node:` imports, no DOM: the Node adapter and the
 * browser Web Worker adapter both drive it through `session.ts`.
 *
 * What one task computes, by the determinism contract, is in `blocks.ts`; this file owns the
 * queue, parameters, status and errors around it.
 */
import { pixelsToSamples, type Dataset } from '@swarmgrad/data';
import { createModel, NnError, type Model, type ModelSpec } from '@swarmgrad/nn';
import {
  applyParamsDelta,
  Int8Encoder,
  type Backend,
  type CoordinatorToWorkerMessage,
  type DatasetDescriptor,
  type DatasetSplit,
  type ErrorMessage,
  type ErrorRef,
  type HeartbeatMessage,
  type ParamsMessage,
  type ResultMessage,
  type TaskMessage,
  type WelcomeMessage,
  type WorkerStatus,
  type WorkerToCoordinatorMessage,
} from '@swarmgrad/protocol';
import { checkSamples, computeBlocks, resultMessages } from './blocks.js';
import { WorkerError, WorkerErrorCode, messageOf } from './errors.js';
import { monotonicMs, sleep, yieldToEventLoop } from './timers.js';

/** A task's samples: inputs plus labels (classification) or targets (regression). */
export interface TaskSamples {
  /** The samples of `task.indices` in order, NHWC / NWC float32. */
  x: Float32Array;
  /** One integer label per sample (models with the `softmaxCrossEntropy` loss). */
  labels?: Int32Array;
  /** `outputs` float targets per sample (models with the `meanSquaredError` loss). */
  targets?: Float32Array;
}

/** What a {@link SampleSource} is asked for. */
export interface SampleRequest {
  task: TaskMessage;
  /** The dataset of the run, from `welcome.dataset`. */
  dataset: DatasetDescriptor;
  /** The split `task.indices` refers to (the task's `split`, or its default). */
  split: DatasetSplit;
}

/**
 * Loads the samples of a task that carries none inline (`task.x` absent). Only needed
 * when the coordinator is configured not to send samples; by default it always does.
 */
export type SampleSource = (request: SampleRequest) => TaskSamples | Promise<TaskSamples>;

/** A {@link SampleSource} over `@swarmgrad/data` datasets held by the worker, one per split. */
export function sampleSourceFromDatasets(datasets: Partial<Record<DatasetSplit, Dataset>>): SampleSource {
  return ({ task, split }) => {
    const dataset = datasets[split];
    if (dataset === undefined) {
      throw new WorkerError(WorkerErrorCode.MISSING_SAMPLES, `task ${task.taskId} needs the ${split} split, which this worker has not loaded`);
    }
    const batch = dataset.batch(task.indices);
    return { x: batch.x, labels: batch.y };
  };
}

/** What a worker is doing: `idle`, `busy` (computing a task) or `paused` (takes no tasks; it may still be finishing one). */
export type WorkerState = WorkerStatus;

/** The last error the worker reported or was told about. */
export interface WorkerLastError {
  /** A {@link WorkerErrorCode}, a `ProtocolErrorCode`, or the coordinator's code. */
  code: string;
  message: string;
  /** `local` (this worker found it) or `coordinator` (an `error` message it received). */
  source: 'local' | 'coordinator';
  /** `Date.now()` when it happened. */
  at: number;
}

/** A snapshot of a {@link GradientWorker}; every field is plain data (safe to post to a page). */
export interface GradientWorkerStatus {
  /** `paused` while paused (even while the current task finishes), else `busy` while computing, else `idle`. */
  state: WorkerState;
  /** Backend the results are reported as computed on. */
  backend: Backend;
  /** Run joined by the last `welcome`, if any. */
  runId?: string;
  /** Model name of that run. */
  modelName?: string;
  /** Gradient codec the coordinator asked for. */
  codec?: WelcomeMessage['codec'];
  /** The task being computed. */
  currentTask?: { taskId: string; step: number; kind: TaskMessage['kind']; shards: number };
  /** Tasks waiting behind the current one. */
  queuedTasks: number;
  /** Tasks whose result was produced. */
  tasksDone: number;
  /** Tasks answered with an `error` (missing params, bad samples, compute failure). */
  tasksFailed: number;
  /** Tasks handed back with `TASK_DECLINED` (paused or shutting down). */
  tasksDeclined: number;
  /** Samples in the tasks done (train and eval). */
  samplesDone: number;
  /** Training throughput, samples per second: an exponentially weighted moving average over train tasks (compute time only, slowdown included). */
  samplesPerSecond?: number;
  /** Latest step of any task done. */
  lastStep?: number;
  lastError?: WorkerLastError;
}

/** Options of {@link GradientWorker}. */
export interface GradientWorkerOptions {
  /** Where the worker's messages go (results, errors); the session sends them as frames. */
  send: (message: WorkerToCoordinatorMessage) => void;
  /** Backend reported in results (the active tfjs backend; see `chooseBackend`). */
  backend: Backend;
  /** Artificial delay added to every task before it is computed, to emulate a straggler (ms, counted as compute time). Default 0. */
  slowdownMs?: number;
  /** Loads samples for tasks that carry none inline. Default: none (such tasks fail with `MISSING_SAMPLES`). */
  sampleSource?: SampleSource;
  /** Throughput estimate to start from (e.g. the self-benchmark's), until the first train task is measured. */
  initialSamplesPerSecond?: number;
  /** Weight of the newest measurement in the throughput moving average, in (0, 1]. Default 0.3. */
  throughputSmoothing?: number;
  /** How many steps' parameters to keep (the most recent steps). Default 4. */
  maxParamSteps?: number;
  /** Called after every change of {@link GradientWorker.status}. */
  onChange?: (status: GradientWorkerStatus) => void;
  /** Builds the model from `welcome.modelSpec`. Default: `createModel` of `@swarmgrad/nn`. */
  createModel?: (spec: ModelSpec) => Model;
}

interface QueuedTask {
  task: TaskMessage;
  /** `monotonicMs()` at receipt. */
  receivedAt: number;
}

/** Yield to the event loop at least this often while computing (ms), so heartbeats and frames get through. */
const YIELD_EVERY_MS = 25;

/**
 * A swarmgrad gradient worker, minus the connection. Feed it every decoded coordinator
 * message with {@link handle}; it answers through `options.send`.
 *
 * - `welcome`: builds the model (`createModel(modelSpec)`), checks `parameterCount`, keeps
 *   the run id, codec and limits. A model it cannot build or whose parameter count differs
 *   is fatal: it sends a fatal `error` and `handle` throws a {@link WorkerError}.
 * - `params`: kept per step (the `maxParamSteps` most recent steps); params for an earlier
 *   step than some held (a coordinator rollback) drop the later ones.
 * - `task`: queued and computed one at a time in arrival order, at the params of
 *   `task.step` (`MISSING_PARAMS` error when it has none), and answered with a `result`
 *   (or with an `error` whose `ref` names the task).
 *
 * Pausing: {@link pause} lets the current task finish and hands every queued and every
 * later task back at once with an `error` `TASK_DECLINED` (non-fatal, `ref` = the task),
 * so the coordinator reissues the blocks without waiting for their deadline; heartbeats
 * report `status: 'paused'` until {@link resume}.
 */
export class GradientWorker {
  readonly #send: (message: WorkerToCoordinatorMessage) => void;
  readonly #slowdownMs: number;
  readonly #sampleSource: SampleSource | undefined;
  readonly #smoothing: number;
  readonly #maxParamSteps: number;
  readonly #onChange: ((status: GradientWorkerStatus) => void) | undefined;
  readonly #createModel: (spec: ModelSpec) => Model;
  #backend: Backend;

  #welcome: WelcomeMessage | undefined;
  #model: Model | undefined;
  #specKey: string | undefined;
  #int8: Int8Encoder | undefined;
  readonly #params = new Map<number, Float32Array>();

  readonly #queue: QueuedTask[] = [];
  #current: QueuedTask | undefined;
  #running = false;
  #paused = false;
  #idleWaiters: Array<() => void> = [];
  #lastYield = 0;

  #tasksDone = 0;
  #tasksFailed = 0;
  #tasksDeclined = 0;
  #samplesDone = 0;
  #samplesPerSecond: number | undefined;
  #lastStep: number | undefined;
  #lastError: WorkerLastError | undefined;

  constructor(options: GradientWorkerOptions) {
    if (typeof options?.send !== 'function') throw new TypeError('GradientWorker: options.send must be a function');
    const slowdownMs = options.slowdownMs ?? 0;
    if (!Number.isFinite(slowdownMs) || slowdownMs < 0) throw new TypeError(`GradientWorker: slowdownMs must be a finite number >= 0, got ${slowdownMs}`);
    const smoothing = options.throughputSmoothing ?? 0.3;
    if (!(smoothing > 0 && smoothing <= 1)) throw new TypeError(`GradientWorker: throughputSmoothing must be in (0, 1], got ${smoothing}`);
    const maxParamSteps = options.maxParamSteps ?? 4;
    if (!Number.isInteger(maxParamSteps) || maxParamSteps < 1) throw new TypeError(`GradientWorker: maxParamSteps must be an integer >= 1, got ${maxParamSteps}`);
    this.#send = options.send;
    this.#backend = options.backend;
    this.#slowdownMs = slowdownMs;
    this.#sampleSource = options.sampleSource;
    this.#smoothing = smoothing;
    this.#maxParamSteps = maxParamSteps;
    this.#onChange = options.onChange;
    this.#createModel = options.createModel ?? createModel;
    const initial = options.initialSamplesPerSecond;
    if (initial !== undefined && Number.isFinite(initial) && initial > 0) this.#samplesPerSecond = initial;
  }

  /** The `welcome` of the run this worker computes for, if any. */
  get welcome(): WelcomeMessage | undefined {
    return this.#welcome;
  }

  /** The model built from the last `welcome`. */
  get model(): Model | undefined {
    return this.#model;
  }

  /** True while a task is being computed or waiting. */
  get busy(): boolean {
    return this.#running || this.#queue.length > 0;
  }

  /** True between {@link pause} and {@link resume}. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Changes the backend reported in results (after a new `useBackend`). */
  setBackend(backend: Backend): void {
    this.#backend = backend;
    this.#changed();
  }

  /**
   * Consumes one decoded coordinator message. `welcome`, `params` and `task` are acted on;
   * `heartbeat`, `error` and `bye` are the session's business and ignored here.
   *
   * @throws WorkerError `INVALID_MODEL` or `PARAMETER_COUNT_MISMATCH` for a `welcome` this
   *   worker cannot serve (after sending the fatal `error` to the coordinator).
   */
  handle(message: CoordinatorToWorkerMessage): void {
    switch (message.type) {
      case 'welcome':
        this.#onWelcome(message);
        return;
      case 'params':
        this.#onParams(message);
        return;
      case 'task':
        this.#onTask(message);
        return;
      default:
        return;
    }
  }

  /** Stops taking tasks: the current one finishes, queued and later ones are declined (`TASK_DECLINED`). */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    // Says so first: the coordinator then hands the declined blocks to others, not back here.
    if (this.#welcome) this.#send(this.heartbeat());
    this.declineQueued('the worker is paused');
    this.#changed();
  }

  /** Takes tasks again after {@link pause} (and tells the coordinator at once). */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#welcome) this.#send(this.heartbeat());
    this.#changed();
  }

  /** Hands every queued (not started) task back with `TASK_DECLINED`; returns how many. */
  declineQueued(reason: string): number {
    const declined = this.#queue.splice(0);
    for (const { task } of declined) this.#decline(task, reason);
    if (declined.length > 0) this.#changed();
    return declined.length;
  }

  /**
   * Forgets queued tasks without telling anyone (the connection they came on is gone, and
   * the coordinator reissues them). The current task still finishes; its result is sent if
   * the worker is still in the same run by then. Returns how many were dropped.
   */
  dropQueued(): number {
    const dropped = this.#queue.splice(0).length;
    if (dropped > 0) {
      this.#settleIdle();
      this.#changed();
    }
    return dropped;
  }

  /** Resolves once no task is running or queued. */
  whenIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** A `heartbeat` carrying this worker's state and throughput; `echo` answers a peer's heartbeat. */
  heartbeat(echo?: number): HeartbeatMessage {
    const message: HeartbeatMessage = { type: 'heartbeat', sentAt: Date.now(), status: this.#state() };
    if (echo !== undefined) message.echo = echo;
    if (this.#samplesPerSecond !== undefined) message.samplesPerSecond = roundRate(this.#samplesPerSecond);
    return message;
  }

  /** Records an error found outside the core (a frame that failed to decode, a coordinator `error`), for {@link status}. */
  noteError(code: string, message: string, source: WorkerLastError['source']): void {
    this.#lastError = { code, message, source, at: Date.now() };
    this.#changed();
  }

  /** A snapshot of what the worker is doing and has done. */
  status(): GradientWorkerStatus {
    const status: GradientWorkerStatus = {
      state: this.#state(),
      backend: this.#backend,
      queuedTasks: this.#queue.length,
      tasksDone: this.#tasksDone,
      tasksFailed: this.#tasksFailed,
      tasksDeclined: this.#tasksDeclined,
      samplesDone: this.#samplesDone,
    };
    if (this.#welcome !== undefined) {
      status.runId = this.#welcome.runId;
      status.codec = this.#welcome.codec;
    }
    if (this.#model !== undefined) status.modelName = this.#model.name;
    if (this.#current !== undefined) {
      const { task } = this.#current;
      status.currentTask = { taskId: task.taskId, step: task.step, kind: task.kind, shards: shardTotal(task) };
    }
    if (this.#samplesPerSecond !== undefined) status.samplesPerSecond = roundRate(this.#samplesPerSecond);
    if (this.#lastStep !== undefined) status.lastStep = this.#lastStep;
    if (this.#lastError !== undefined) status.lastError = { ...this.#lastError };
    return status;
  }

  // -------------------------------------------------------------------------------------------
  // messages

  #onWelcome(welcome: WelcomeMessage): void {
    let model: Model;
    try {
      model = this.#createModel(welcome.modelSpec as unknown as ModelSpec);
    } catch (cause) {
      throw this.#fatal(
        new WorkerError(WorkerErrorCode.INVALID_MODEL, `run ${welcome.runId}: cannot build the model of the welcome: ${messageOf(cause)}`, { cause }),
      );
    }
    if (model.paramCount !== welcome.parameterCount) {
      throw this.#fatal(
        new WorkerError(
          WorkerErrorCode.PARAMETER_COUNT_MISMATCH,
          `run ${welcome.runId}: welcome says ${welcome.parameterCount} parameters; model ${model.name} as built by this worker has ${model.paramCount}`,
        ),
      );
    }
    const specKey = JSON.stringify(welcome.modelSpec);
    const sameRun = this.#welcome?.runId === welcome.runId && this.#specKey === specKey;
    if (!sameRun) {
      this.#params.clear();
      this.#int8 = undefined;
    }
    // One error-feedback encoder per worker and run: kept across reconnects to the same run.
    if (welcome.codec === 'int8') this.#int8 ??= new Int8Encoder(welcome.parameterCount);
    this.#welcome = welcome;
    this.#model = model;
    this.#specKey = specKey;
    this.#changed();
  }

  #onParams(message: ParamsMessage): void {
    if (!this.#accepts(message.runId, { step: message.step }, 'params')) return;
    const params = message.delta ? this.#applyDelta(message) : message.params;
    if (params === undefined) return;
    // Params for an earlier step than some held: the coordinator rolled the run back (after a
    // detected cheater) and replays from there; the later steps' params are void.
    for (const step of [...this.#params.keys()]) if (step > message.step) this.#params.delete(step);
    this.#params.set(message.step, params);
    if (this.#params.size > this.#maxParamSteps) {
      const steps = [...this.#params.keys()].sort((a, b) => a - b);
      for (const step of steps.slice(0, steps.length - this.#maxParamSteps)) this.#params.delete(step);
    }
  }

  /** The exact parameters a `params` delta makes of the step it names; undefined (after a `MISSING_PARAMS` error) when that base is not held or the delta is bad. */
  #applyDelta(message: ParamsMessage): Float32Array | undefined {
    const { baseStep, bytes } = message.delta!;
    const base = this.#params.get(baseStep);
    try {
      if (base === undefined) throw new Error(`it applies to the params of step ${baseStep}, which this worker does not hold`);
      return applyParamsDelta(base, bytes);
    } catch (cause) {
      this.#reportError(new WorkerError(WorkerErrorCode.MISSING_PARAMS, `params delta of step ${message.step} not applied: ${messageOf(cause)}; send the full params`, { cause }), { step: message.step });
      return undefined;
    }
  }

  #onTask(task: TaskMessage): void {
    if (!this.#accepts(task.runId, { taskId: task.taskId, step: task.step }, 'task')) return;
    if (this.#paused) {
      this.#decline(task, 'the worker is paused');
      this.#changed();
      return;
    }
    this.#queue.push({ task, receivedAt: monotonicMs() });
    this.#changed();
    void this.#drain();
  }

  /** True when a `params`/`task` of `runId` can be served; otherwise answers with an error. */
  #accepts(runId: string, ref: ErrorRef, what: string): boolean {
    if (this.#welcome === undefined) {
      this.#reportError(new WorkerError(WorkerErrorCode.NOT_READY, `${what} for run ${runId} arrived before any welcome`), ref);
      return false;
    }
    if (runId !== this.#welcome.runId) {
      this.#reportError(
        new WorkerError(WorkerErrorCode.RUN_MISMATCH, `${what} is for run ${runId}; this worker joined run ${this.#welcome.runId}`),
        ref,
      );
      return false;
    }
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // tasks

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (!this.#paused) {
        const next = this.#queue.shift();
        if (next === undefined) break;
        this.#current = next;
        this.#changed();
        await this.#run(next);
        this.#current = undefined;
      }
    } finally {
      this.#running = false;
      this.#current = undefined;
      this.#settleIdle();
      this.#changed();
    }
  }

  async #run({ task, receivedAt }: QueuedTask): Promise<void> {
    const ref: ErrorRef = { taskId: task.taskId, step: task.step };
    const welcome = this.#welcome;
    const model = this.#model;
    if (welcome === undefined || model === undefined || welcome.runId !== task.runId) return; // run changed meanwhile
    try {
      const params = this.#params.get(task.step);
      if (params === undefined) {
        const held = [...this.#params.keys()].sort((a, b) => a - b);
        throw new WorkerError(
          WorkerErrorCode.MISSING_PARAMS,
          `task ${task.taskId} is for step ${task.step}; this worker holds params for ${held.length === 0 ? 'no step' : `steps ${held.join(', ')}`}`,
        );
      }
      const dataStart = monotonicMs();
      const samples = await this.#samples(task, welcome);
      const dataMs = monotonicMs() - dataStart;
      const layout = checkSamples(task, samples, model);

      const computeStart = monotonicMs();
      if (this.#slowdownMs > 0) await sleep(this.#slowdownMs);
      const blocks = await computeBlocks(task, model, params, samples, layout, () => this.#maybeYield());
      const computeMs = monotonicMs() - computeStart;

      // The run may have changed (reconnect to another run) while computing: drop the result.
      if (this.#welcome?.runId !== task.runId) return;
      const sampleCount = blocks.reduce((sum, block) => sum + block.sampleCount, 0);
      const encodeStart = monotonicMs();
      const results = resultMessages(task, welcome, blocks, this.#backend, this.#int8);
      const encodeMs = monotonicMs() - encodeStart;
      const timing = { computeMs: round3(computeMs), dataMs: round3(dataMs), encodeMs: round3(encodeMs), totalMs: round3(monotonicMs() - receivedAt) };
      for (const result of results) this.#send({ ...result, timing } as ResultMessage);

      this.#tasksDone++;
      this.#samplesDone += sampleCount;
      this.#lastStep = task.step;
      if (task.kind === 'train' && computeMs > 0) {
        const rate = (sampleCount * 1000) / computeMs;
        this.#samplesPerSecond = this.#samplesPerSecond === undefined ? rate : this.#samplesPerSecond + this.#smoothing * (rate - this.#samplesPerSecond);
      }
    } catch (error) {
      this.#tasksFailed++;
      this.#reportError(asTaskError(error, task), ref);
    }
  }

  async #samples(task: TaskMessage, welcome: WelcomeMessage): Promise<TaskSamples> {
    if (task.x !== undefined || task.pixels !== undefined) {
      // 8-bit pixels become exactly the float32 samples the coordinator's dataset would give.
      const x = task.x ?? pixelsToSamples(task.pixels!, task.pixelNormalization?.mean.length ?? 1, task.pixelNormalization);
      const samples: TaskSamples = { x };
      if (task.labels !== undefined) samples.labels = task.labels;
      if (task.targets !== undefined) samples.targets = task.targets;
      return samples;
    }
    if (this.#sampleSource === undefined) {
      throw new WorkerError(
        WorkerErrorCode.MISSING_SAMPLES,
        `task ${task.taskId} carries no samples (task.x) and this worker has no dataset of its own; the coordinator must send samples inline`,
      );
    }
    const split = task.split ?? (task.kind === 'train' ? 'train' : 'test');
    try {
      return await this.#sampleSource({ task, dataset: welcome.dataset, split });
    } catch (cause) {
      if (cause instanceof WorkerError) throw cause;
      throw new WorkerError(WorkerErrorCode.MISSING_SAMPLES, `task ${task.taskId}: loading samples failed: ${messageOf(cause)}`, { cause });
    }
  }

  async #maybeYield(): Promise<void> {
    const now = monotonicMs();
    if (now - this.#lastYield < YIELD_EVERY_MS) return;
    await yieldToEventLoop();
    this.#lastYield = monotonicMs();
  }

  // -------------------------------------------------------------------------------------------
  // errors and status

  #decline(task: TaskMessage, reason: string): void {
    this.#tasksDeclined++;
    this.#send(errorMessage(WorkerErrorCode.TASK_DECLINED, `task ${task.taskId} handed back: ${reason}`, { taskId: task.taskId, step: task.step }));
  }

  #reportError(error: WorkerError, ref?: ErrorRef): void {
    this.#lastError = { code: error.code, message: error.message, source: 'local', at: Date.now() };
    this.#send(errorMessage(error.code, error.message, ref));
    this.#changed();
  }

  #fatal(error: WorkerError): WorkerError {
    this.#lastError = { code: error.code, message: error.message, source: 'local', at: Date.now() };
    const message = errorMessage(error.code, error.message);
    message.fatal = true;
    this.#send(message);
    this.#changed();
    return error;
  }

  #state(): WorkerState {
    if (this.#paused) return 'paused';
    return this.#current !== undefined || this.#queue.length > 0 ? 'busy' : 'idle';
  }

  #settleIdle(): void {
    if (this.busy) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #changed(): void {
    if (this.#onChange === undefined) return;
    try {
      this.#onChange(this.status());
    } catch {
      // A status listener must not break the worker.
    }
  }
}

function asTaskError(error: unknown, task: TaskMessage): WorkerError {
  if (error instanceof WorkerError) return error;
  if (error instanceof NnError && error.code === 'BAD_INPUT') {
    return new WorkerError(WorkerErrorCode.BAD_TASK, `task ${task.taskId}: ${error.message}`, { cause: error });
  }
  return new WorkerError(WorkerErrorCode.COMPUTE_FAILED, `task ${task.taskId} (step ${task.step}) failed: ${messageOf(error)}`, { cause: error });
}

function errorMessage(code: string, message: string, ref?: ErrorRef): ErrorMessage {
  const error: ErrorMessage = { type: 'error', code, message };
  if (ref !== undefined) error.ref = ref;
  return error;
}

function shardTotal(task: TaskMessage): number {
  return Math.ceil(task.indices.length / task.microShardSize);
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function roundRate(rate: number): number {
  return Math.round(rate * 100) / 100;
}
