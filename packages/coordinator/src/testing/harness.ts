/**
 * Test support: the real engine driven by an in-memory transport, a fake clock and fake
 * workers that compute real gradients (plain float32 JS, the fixed tree order). Every
 * message goes through the real protocol codec both ways, so the engine's tasks must pass
 * the worker-side decoder and the workers' results the coordinator's.
 */
import {
  applyParamsDelta,
  decodeMessage,
  encodeGradient,
  encodeMessage,
  PROTOCOL_VERSION,
  type Backend,
  type GradientCodecName,
  type Message,
  type ResultMessage,
  type TaskMessage,
  type TrainBlockResult,
  type WelcomeMessage,
} from '@swarmgrad/protocol';
import {
  createOptimizer,
  initParams,
  planModel,
  sumBlock,
  treeWidth,
  type OptimizerConfig,
  type TreeValue,
} from '@swarmgrad/nn-core';
import { Prng, batchForStep, syntheticDataset, type Dataset } from '@swarmgrad/data';
import { Coordinator, type CoordinatorOptions, type CoordinatorTransport } from '../coordinator.js';
import type { RunConfig } from '../config.js';
import type { CoordinatorEvent } from '../events.js';
import { evaluate, leafGradient, tinyModel } from './linear-model.js';

export const INPUTS = 4;
export const CLASSES = 3;

/** The synthetic 2×2 (4-feature), 3-class data sets the tests use. */
export function tinyData(): { train: Dataset; test: Dataset } {
  return {
    train: syntheticDataset({ seed: 11, length: 240, height: 2, width: 2, channels: 1, numClasses: CLASSES, noise: 0.4, name: 'tiny/train' }),
    test: syntheticDataset({ seed: 12, length: 50, height: 2, width: 2, channels: 1, numClasses: CLASSES, noise: 0.4, name: 'tiny/test' }),
  };
}

/** A run config for the tiny model; override any field. */
export function tinyRun(overrides: Partial<RunConfig> = {}): RunConfig {
  const optimizer: OptimizerConfig = { type: 'adam', lr: 0.05 };
  return {
    runId: 'test-run',
    modelSpec: tinyModel(INPUTS, CLASSES),
    dataset: { name: 'synthetic' },
    batchSize: 24,
    microShardSize: 4,
    optimizer,
    seed: 7,
    totalSteps: 6,
    ...overrides,
  };
}

/** The single-process reference: batches → micro-shards → leaf gradients → tree → / B → optimizer. */
export async function referenceParams(run: RunConfig, trainData: Dataset, steps = run.totalSteps): Promise<Float32Array> {
  const plan = planModel(run.modelSpec);
  const params = initParams(plan, run.seed);
  const optimizer = createOptimizer(run.optimizer, params.length);
  const m = run.microShardSize;
  const shards = run.batchSize / m;
  for (let step = 0; step < steps; step++) {
    const { indices } = batchForStep({ seed: run.seed, datasetLength: trainData.length, batchSize: run.batchSize, step });
    const { x, y } = trainData.batch(indices);
    const root = await sumBlock({ start: 0, count: treeWidth(shards) }, shards, async (leaf) => leafGradient(params, x, y, leaf * m, m, INPUTS, CLASSES));
    const grad = new Float32Array(params.length);
    for (let i = 0; i < grad.length; i++) grad[i] = root.grads[i]! / run.batchSize;
    optimizer.step(params, grad);
  }
  return params;
}

/** What a fake worker does with a task when the harness delivers it. */
export type TaskAction = 'answer' | 'ignore' | 'die';

/** Options of a fake worker. */
export interface FakeWorkerOptions {
  name?: string;
  backend?: Backend;
  token?: string;
  workerId?: string;
  /** Sent with `workerId` (the `resumeToken` of an earlier welcome). */
  resumeToken?: string;
  codecs?: GradientCodecName[];
  samplesPerSecond?: number;
  /** Decide per task (default: answer). Called with the worker and the task when the harness gets to it. */
  onTask?: (worker: FakeWorker, task: TaskMessage) => TaskAction;
  /** Send one result per block instead of one per task. */
  splitResults?: boolean;
  /** Send every result twice. */
  duplicateResults?: boolean;
  /** Rewrite a result before it is sent (to forge bad results). */
  tamper?: (result: ResultMessage, task: TaskMessage) => ResultMessage;
  /** Simulated compute time per task (ms of fake clock, reported as computeMs). */
  computeMs?: number;
  /** Simulated compute time per sample (ms of fake clock the answer waits, on top of `computeMs`). */
  computeMsPerSample?: number;
  /** Stop sending heartbeats (to provoke the heartbeat timeout). */
  silent?: boolean;
  /** List `xor-deflate` in `capabilities.paramsEncodings` (apply params deltas); `'fail'`: list it, then answer a delta with `MISSING_PARAMS`. */
  paramsDelta?: boolean | 'fail';
}

/** A fake worker: decodes what the coordinator sends, computes real gradients, answers through the real codec. */
export class FakeWorker {
  readonly received: Message[] = [];
  readonly tasks: TaskMessage[] = [];
  readonly params = new Map<number, Float32Array>();
  welcome: WelcomeMessage | undefined;
  closed: { code: number; reason: string } | undefined;
  lastHeartbeat = 0;
  answered = 0;
  /** `params` messages that came as a delta. */
  deltas = 0;
  /** What its heartbeats report (`paused`: it takes no work). */
  status: 'busy' | 'idle' | 'paused' = 'busy';

  constructor(
    readonly harness: Harness,
    readonly connId: string,
    readonly options: FakeWorkerOptions,
  ) {}

  /** Opens the connection and sends `hello`. */
  connect(): this {
    const { coordinator } = this.harness;
    coordinator.open(this.connId, { remoteAddress: '127.0.0.1' });
    const capabilities: Extract<Message, { type: 'hello'; role: 'worker' }>['capabilities'] = {
      backend: this.options.backend ?? 'cpu',
      environment: 'node',
      codecs: this.options.codecs ?? ['f32'],
    };
    if (this.options.samplesPerSecond !== undefined) capabilities.samplesPerSecond = this.options.samplesPerSecond;
    if (this.options.paramsDelta) capabilities.paramsEncodings = ['xor-deflate'];
    const hello: Message = { type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'worker', capabilities };
    if (this.options.token !== undefined) hello.token = this.options.token;
    if (this.options.workerId !== undefined) hello.workerId = this.options.workerId;
    if (this.options.resumeToken !== undefined) hello.resumeToken = this.options.resumeToken;
    if (this.options.name !== undefined) hello.name = this.options.name;
    this.sendMessage(hello);
    this.lastHeartbeat = this.harness.clock.now;
    return this;
  }

  get workerId(): string | undefined {
    return this.welcome?.workerId;
  }

  get isOpen(): boolean {
    return this.closed === undefined && this.harness.network.peers.get(this.connId) === this;
  }

  /** Sends a message (encoded with the real codec). */
  sendMessage(message: Message): void {
    this.harness.coordinator.receive(this.connId, encodeMessage(message));
  }

  /** Sends raw bytes. */
  sendFrame(frame: Uint8Array): void {
    this.harness.coordinator.receive(this.connId, frame);
  }

  /** Closes the connection from the worker side (as the adapter would report it). */
  disconnect(): void {
    if (!this.isOpen) return;
    this.closed = { code: 1006, reason: 'worker died' };
    this.harness.network.peers.delete(this.connId);
    this.harness.coordinator.close(this.connId);
  }

  /** Called by the network with each message the coordinator sends. */
  deliver(frame: Uint8Array): void {
    const limits = this.welcome ? { parameterCount: this.welcome.parameterCount, maxFrameBytes: this.welcome.limits.maxFrameBytes } : {};
    const message = decodeMessage(frame, limits);
    this.received.push(message);
    switch (message.type) {
      case 'welcome':
        this.welcome = message;
        break;
      case 'params':
        if (!message.delta) {
          this.params.set(message.step, message.params);
          break;
        }
        this.deltas++;
        if (this.options.paramsDelta === 'fail' || !this.params.has(message.delta.baseStep)) {
          this.sendMessage({ type: 'error', code: 'MISSING_PARAMS', message: `cannot apply the delta to step ${message.delta.baseStep}`, ref: { step: message.step } });
          break;
        }
        this.params.set(message.step, applyParamsDelta(this.params.get(message.delta.baseStep)!, message.delta.bytes));
        break;
      case 'task':
        this.tasks.push(message);
        this.harness.enqueue(() => this.handleTask(message));
        break;
      default:
        break;
    }
  }

  private async handleTask(task: TaskMessage): Promise<void> {
    if (!this.isOpen) return;
    const action = this.options.onTask?.(this, task) ?? 'answer';
    if (action === 'ignore') return;
    if (action === 'die') {
      this.disconnect();
      return;
    }
    const results = await this.compute(task);
    if (this.options.computeMs !== undefined) this.harness.clock.advance(this.options.computeMs);
    if (this.options.computeMsPerSample !== undefined) this.harness.clock.advance(this.options.computeMsPerSample * task.indices.length);
    for (const result of results) {
      if (!this.isOpen) return;
      const final = this.options.tamper ? this.options.tamper(result, task) : result;
      this.sendMessage(final);
      if (this.options.duplicateResults && this.isOpen) this.sendMessage(final);
    }
    this.answered++;
  }

  /** The correct result(s) of a task. */
  async compute(task: TaskMessage): Promise<ResultMessage[]> {
    const params = this.params.get(task.step);
    if (!params && this.options.paramsDelta === 'fail') {
      // As GradientWorker does: the task is answered with MISSING_PARAMS (the coordinator re-issues it).
      this.sendMessage({ type: 'error', code: 'MISSING_PARAMS', message: `no params for step ${task.step}`, ref: { step: task.step, taskId: task.taskId } });
      return [];
    }
    if (!params) {
      this.harness.failures.push(`${this.connId}: task ${task.taskId} for step ${task.step} arrived before its params`);
      return [];
    }
    const x = task.x!;
    const labels = task.labels!;
    const m = task.microShardSize;
    const backend = this.options.backend ?? 'cpu';
    const timing = { computeMs: this.options.computeMs ?? 1 };
    if (task.kind === 'eval') {
      let offset = 0;
      const blocks = task.blocks.map((block) => {
        const count = Math.min(block.count * m, task.indices.length - offset);
        const { lossSum, correct } = evaluate(params, x, labels, offset, count, INPUTS, CLASSES);
        offset += count;
        return { start: block.start, count: block.count, lossSum, sampleCount: count, correct };
      });
      return [{ type: 'result', taskId: task.taskId, runId: task.runId, step: task.step, kind: 'eval', backend, timing, blocks }];
    }
    const blockResults: TrainBlockResult[] = [];
    let shardOffset = 0;
    for (const block of task.blocks) {
      const base = shardOffset;
      // Blocks always lie inside [0, M), so start + count is a valid shard count for the subtree.
      const value: TreeValue = await sumBlock(block, block.start + block.count, async (leaf) =>
        leafGradient(params, x, labels, (base + leaf - block.start) * m, m, INPUTS, CLASSES),
      );
      shardOffset += block.count;
      blockResults.push({
        start: block.start,
        count: block.count,
        lossSum: value.lossSum,
        sampleCount: value.count,
        gradient: encodeGradient(this.welcome?.codec ?? 'f32', value.grads),
      });
    }
    const make = (blocks: typeof blockResults): ResultMessage => ({
      type: 'result',
      taskId: task.taskId,
      runId: task.runId,
      step: task.step,
      kind: 'train',
      backend,
      timing,
      blocks,
    });
    return this.options.splitResults ? blockResults.map((b) => make([b])) : [make(blockResults)];
  }
}

/** The fake transport: encodes every message and hands it to the peer's decoder. */
export class FakeNetwork implements CoordinatorTransport {
  readonly peers = new Map<string, FakeWorker | FakeDashboard>();
  readonly closed = new Map<string, { code: number; reason: string }>();
  readonly sent: { connId: string; message: Message }[] = [];

  send(connId: string, message: Message): void {
    this.sent.push({ connId, message });
    this.peers.get(connId)?.deliver(encodeMessage(message));
  }

  close(connId: string, code: number, reason: string): void {
    this.closed.set(connId, { code, reason });
    const peer = this.peers.get(connId);
    if (peer) peer.closed = { code, reason };
    this.peers.delete(connId);
  }

  /** Messages sent to `connId`, optionally of one type. */
  to<T extends Message['type']>(connId: string, type?: T): Extract<Message, { type: T }>[] {
    return this.sent.filter((s) => s.connId === connId && (type === undefined || s.message.type === type)).map((s) => s.message) as Extract<Message, { type: T }>[];
  }
}

/** A fake dashboard connection. */
export class FakeDashboard {
  readonly received: Message[] = [];
  closed: { code: number; reason: string } | undefined;

  constructor(
    readonly harness: Harness,
    readonly connId: string,
  ) {}

  connect(): this {
    this.harness.coordinator.open(this.connId);
    this.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'dashboard' });
    return this;
  }

  send(message: Message): void {
    this.harness.coordinator.receive(this.connId, encodeMessage(message));
  }

  deliver(frame: Uint8Array): void {
    this.received.push(decodeMessage(frame));
  }

  errors(): string[] {
    return this.received.filter((m) => m.type === 'error').map((m) => (m as { code: string }).code);
  }
}

/** A manual clock. */
export class FakeClock {
  now = 1_700_000_000_000;
  advance(ms: number): void {
    this.now += ms;
  }
}

/** Wires an engine, a fake network, a fake clock and fake workers together. */
export class Harness {
  readonly clock = new FakeClock();
  readonly network = new FakeNetwork();
  readonly events: CoordinatorEvent[] = [];
  readonly failures: string[] = [];
  readonly rng: Prng;
  coordinator!: Coordinator;
  finished = false;
  private readonly queue: (() => Promise<void>)[] = [];
  private connCounter = 0;
  /** Fake ms added per idle round (no deliverable work). */
  tickMs = 100;

  constructor(seed = 1) {
    this.rng = Prng.fromSeed(seed);
  }

  /** Creates the coordinator (run, data, transport and clock filled in unless given). */
  create(options: Partial<CoordinatorOptions> = {}): Coordinator {
    const data = tinyData();
    this.coordinator = new Coordinator({
      run: tinyRun(),
      trainData: data.train,
      testData: data.test,
      transport: this.network,
      clock: () => this.clock.now,
      ...options,
    });
    this.coordinator.on((event) => {
      this.events.push(event);
      if (event.kind === 'error') this.failures.push(event.message);
    });
    void this.coordinator.done.then(() => {
      this.finished = true;
    });
    return this.coordinator;
  }

  /** Adds and connects a fake worker. */
  addWorker(options: FakeWorkerOptions = {}): FakeWorker {
    const worker = new FakeWorker(this, `conn-${++this.connCounter}`, options);
    this.network.peers.set(worker.connId, worker);
    return worker.connect();
  }

  /** Adds a dashboard connection (hello sent). */
  addDashboard(): FakeDashboard {
    const dashboard = new FakeDashboard(this, `dash-${++this.connCounter}`);
    this.network.peers.set(dashboard.connId, dashboard);
    return dashboard.connect();
  }

  enqueue(action: () => Promise<void>): void {
    this.queue.push(action);
  }

  /** Number of queued deliveries. */
  get queued(): number {
    return this.queue.length;
  }

  /** Delivers one queued action, chosen at random. Returns false when none is queued. */
  async deliverOne(): Promise<boolean> {
    if (this.queue.length === 0) return false;
    const index = this.rng.nextInt(this.queue.length);
    const [action] = this.queue.splice(index, 1);
    await action!();
    return true;
  }

  /** One idle round: let promises settle, send due heartbeats, advance the clock, tick. */
  async idle(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    if (this.queue.length > 0 || this.finished) return;
    this.clock.advance(this.tickMs);
    this.heartbeats();
    this.coordinator.tick();
  }

  /** Sends heartbeats for workers whose interval elapsed (unless silent). */
  heartbeats(): void {
    for (const peer of [...this.network.peers.values()]) {
      if (!(peer instanceof FakeWorker) || !peer.isOpen || peer.options.silent || !peer.welcome) continue;
      if (this.clock.now - peer.lastHeartbeat >= peer.welcome.heartbeatIntervalMs) {
        peer.lastHeartbeat = this.clock.now;
        peer.sendMessage({ type: 'heartbeat', sentAt: this.clock.now, status: peer.status });
      }
    }
  }

  /** Runs random deliveries and idle rounds until `until()` (default: the run is done). */
  async run(until: () => boolean = () => this.finished, maxRounds = 200_000): Promise<void> {
    for (let round = 0; round < maxRounds; round++) {
      if (until()) return;
      if (!(await this.deliverOne())) await this.idle();
    }
    throw new Error(`harness: not done after ${maxRounds} rounds (status ${this.coordinator.status}, step ${this.coordinator.step})`);
  }
}
