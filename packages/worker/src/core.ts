/**
 * The environment-free compute core of a swarmgrad worker: it consumes decoded coordinator
 * messages (`welcome`, `params`, `task`) and produces the messages to send back (`result`,
 * `error`, `heartbeat`). No sockets, no `node:` imports, no DOM: the Node adapter and the
 * browser Web Worker adapter both drive it through `session.ts`.
 *
 * The determinism contract: for every block of a task, each micro-shard's gradient is one
 * `model.gradients` call on exactly that shard's samples, and the shard gradients are
 * combined with `sumBlock` (the fixed pairwise tree of `@swarmgrad/nn`). Shards are never
 * batched together, so a block's sum is bitwise identical on every worker of one backend.
 */
import type { Dataset } from '@swarmgrad/data';
import { createModel, NnError, sumBlock, type Model, type ModelSpec, type TreeValue } from '@swarmgrad/nn';
import {
  Int8Encoder,
  encodeGradient,
  encodedGradientBytes,
  firstNonFiniteFloat,
  type Backend,
  type CoordinatorToWorkerMessage,
  type DatasetDescriptor,
  type DatasetSplit,
  type ErrorMessage,
  type ErrorRef,
  type EvalBlockResult,
  type HeartbeatMessage,
  type ParamsMessage,
  type ResultMessage,
  type TaskMessage,
  type TrainBlockResult,
  type WelcomeMessage,
  type WorkerStatus,
  type WorkerToCoordinatorMessage,
} from '@swarmgrad/protocol';
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

interface BlockValue {
  start: number;
  count: number;
  lossSum: number;
  sampleCount: number;
  correct: number;
  grads: Float32Array | undefined;
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
    this.declineQueued('the worker is paused');
    this.#changed();
  }

  /** Takes tasks again after {@link pause}. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
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
    // Params for an earlier step than some held: the coordinator rolled the run back (after a
    // detected cheater) and replays from there; the later steps' params are void.
    for (const step of [...this.#params.keys()]) if (step > message.step) this.#params.delete(step);
    this.#params.set(message.step, message.params);
    if (this.#params.size > this.#maxParamSteps) {
      const steps = [...this.#params.keys()].sort((a, b) => a - b);
      for (const step of steps.slice(0, steps.length - this.#maxParamSteps)) this.#params.delete(step);
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
      const blocks = await this.#compute(task, model, params, samples, layout);
      const computeMs = monotonicMs() - computeStart;

      // The run may have changed (reconnect to another run) while computing: drop the result.
      if (this.#welcome?.runId !== task.runId) return;
      const sampleCount = blocks.reduce((sum, block) => sum + block.sampleCount, 0);
      const encodeStart = monotonicMs();
      const results = this.#results(task, welcome, blocks);
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
    if (task.x !== undefined) {
      const samples: TaskSamples = { x: task.x };
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

  /**
   * Computes every block of the task. Task-local shard `s` holds samples
   * `[s*m, min(s*m + m, n))`; blocks take the task's shards in order. A block may hold fewer
   * shards than its `count` when it reaches past the step's last shard M (only the last
   * block can): then it is the tree node over `start .. start + present - 1` with
   * `shardCount = start + present`, exactly as the coordinator's tree treats it.
   */
  async #compute(task: TaskMessage, model: Model, params: Float32Array, samples: TaskSamples, layout: SampleLayout): Promise<BlockValue[]> {
    const m = task.microShardSize;
    const n = task.indices.length;
    const shardsInTask = Math.ceil(n / m);
    const shardSamples = (shard: number): { x: Float32Array; y: Int32Array | Float32Array } => {
      const from = shard * m;
      const to = Math.min(from + m, n);
      // Copies, not views: every backend sees a plain array holding exactly this shard.
      return {
        x: samples.x.slice(from * layout.sampleSize, to * layout.sampleSize),
        y: layout.y.slice(from * layout.yPerSample, to * layout.yPerSample),
      };
    };

    const values: BlockValue[] = [];
    let firstShard = 0;
    for (const block of task.blocks) {
      const present = Math.min(block.count, shardsInTask - firstShard);
      if (present <= 0) {
        throw new WorkerError(
          WorkerErrorCode.BAD_TASK,
          `task ${task.taskId}: block {start: ${block.start}, count: ${block.count}} has no samples (${n} indices of ${m} per shard cover ${shardsInTask} shards)`,
        );
      }
      const base = firstShard - block.start; // task-local shard of micro-shard `leaf` is leaf + base
      if (task.kind === 'train') {
        const value = await sumBlock(block, block.start + present, async (leaf): Promise<TreeValue> => {
          await this.#maybeYield();
          const { x, y } = shardSamples(leaf + base);
          const result = await model.gradients(params, x, y);
          return { grads: result.grads, lossSum: result.lossSum, count: result.count };
        });
        values.push({ start: block.start, count: block.count, lossSum: value.lossSum, sampleCount: value.count, correct: 0, grads: value.grads });
      } else {
        let lossSum = 0;
        let correct = 0;
        let sampleCount = 0;
        for (let shard = firstShard; shard < firstShard + present; shard++) {
          await this.#maybeYield();
          const { x, y } = shardSamples(shard);
          const result = await model.evaluate(params, x, y);
          lossSum += result.lossSum;
          correct += result.correct;
          sampleCount += result.count;
        }
        values.push({ start: block.start, count: block.count, lossSum, sampleCount, correct, grads: undefined });
      }
      firstShard += present;
      checkFinite(task, values[values.length - 1]!);
    }
    return values;
  }

  /** Builds the result message(s); blocks are split over several results when one frame would exceed the coordinator's limit. */
  #results(task: TaskMessage, welcome: WelcomeMessage, blocks: BlockValue[]): Array<Untimed<ResultMessage>> {
    const base = { type: 'result' as const, taskId: task.taskId, runId: task.runId, step: task.step, backend: this.#backend };
    if (task.kind === 'eval') {
      const evalBlocks: EvalBlockResult[] = blocks.map((b) => ({ start: b.start, count: b.count, lossSum: b.lossSum, sampleCount: b.sampleCount, correct: b.correct }));
      return [{ ...base, kind: 'eval', blocks: evalBlocks }];
    }
    const codec = welcome.codec;
    const encoded: TrainBlockResult[] = blocks.map((b) => ({
      start: b.start,
      count: b.count,
      lossSum: b.lossSum,
      sampleCount: b.sampleCount,
      // Error feedback: the one int8 encoder sees every block gradient, in order.
      gradient: encodeGradient(codec, b.grads!, codec === 'int8' ? this.#int8 : undefined),
    }));
    const perBlock = encodedGradientBytes(codec, welcome.parameterCount) + 256;
    const budget = welcome.limits.maxFrameBytes - 1024;
    const groups: TrainBlockResult[][] = [];
    let group: TrainBlockResult[] = [];
    for (const block of encoded) {
      if (group.length > 0 && (group.length + 1) * perBlock > budget) {
        groups.push(group);
        group = [];
      }
      group.push(block);
    }
    groups.push(group);
    return groups.map((g) => ({ ...base, kind: 'train' as const, blocks: g }));
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

/** A result message before its timing is known. */
type Untimed<T> = T extends unknown ? Omit<T, 'timing'> : never;

/** Where a task's labels or targets are and how big one sample is. */
interface SampleLayout {
  sampleSize: number;
  y: Int32Array | Float32Array;
  yPerSample: number;
}

/** Checks that a task's samples fit the model; throws `BAD_TASK` (or `MISSING_SAMPLES`) saying what is wrong. */
function checkSamples(task: TaskMessage, samples: TaskSamples, model: Model): SampleLayout {
  const n = task.indices.length;
  const sampleSize = model.inputShape.reduce((a, b) => a * b, 1);
  if (!(samples.x instanceof Float32Array) || samples.x.length !== n * sampleSize) {
    throw new WorkerError(
      WorkerErrorCode.BAD_TASK,
      `task ${task.taskId} has ${samples.x?.length ?? 0} input values for ${n} samples; model ${model.name} takes [${model.inputShape.join(', ')}] = ${sampleSize} per sample`,
    );
  }
  if (model.plan.loss === 'softmaxCrossEntropy') {
    if (!(samples.labels instanceof Int32Array) || samples.labels.length !== n) {
      throw new WorkerError(
        samples.labels === undefined ? WorkerErrorCode.MISSING_SAMPLES : WorkerErrorCode.BAD_TASK,
        `task ${task.taskId}: model ${model.name} is a classifier and needs one Int32 label per sample (${n}), got ${samples.labels?.length ?? 'none'}`,
      );
    }
    return { sampleSize, y: samples.labels, yPerSample: 1 };
  }
  const outputs = model.outputShape[0] ?? 1;
  if (!(samples.targets instanceof Float32Array) || samples.targets.length !== n * outputs) {
    throw new WorkerError(
      samples.targets === undefined ? WorkerErrorCode.MISSING_SAMPLES : WorkerErrorCode.BAD_TASK,
      `task ${task.taskId}: model ${model.name} is a regression with ${outputs} outputs and needs ${n * outputs} float targets, got ${samples.targets?.length ?? 'none'}`,
    );
  }
  return { sampleSize, y: samples.targets, yPerSample: outputs };
}

/** Gradients and losses must be finite on the wire; a diverged model is reported instead of sent. */
function checkFinite(task: TaskMessage, block: BlockValue): void {
  const where = `task ${task.taskId} (step ${task.step}) block {start: ${block.start}, count: ${block.count}}`;
  if (!Number.isFinite(block.lossSum)) {
    throw new WorkerError(WorkerErrorCode.COMPUTE_FAILED, `${where}: loss sum is ${block.lossSum}; the model has diverged at these parameters`);
  }
  if (block.grads !== undefined) {
    const bad = firstNonFiniteFloat(block.grads);
    if (bad >= 0) {
      throw new WorkerError(WorkerErrorCode.COMPUTE_FAILED, `${where}: gradient value ${bad} is ${block.grads[bad]}; gradients must be finite`);
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
