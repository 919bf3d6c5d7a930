/**
 * The relay's work book: downstream workers, the jobs (sub-tasks) cut from upstream tasks,
 * which worker holds which job, and the partial block sums collected so far. Transport-free:
 * it returns what to send; `relay.ts` does the sockets.
 */
import type { TreeValue } from '@swarmgrad/nn/core';
import type { EvalBlockResult, ResultMessage, ShardBlock, TaskMessage, TrainBlockResult, WelcomeMessage } from '@swarmgrad/protocol';
import { RelayErrorCode } from './errors.js';
import { combinePieces, pieceSize, splitTask, type Piece } from './split.js';

/** Throughput assumed for a worker that has not told or shown its own (samples/s). */
const DEFAULT_RATE = 100;
/** Weight of a new observation in a worker's throughput estimate. */
const EWMA = 0.3;

/**
 * A sub-task's deadline: half the upstream task's, so that a stalled worker's sub-blocks are
 * re-issued inside the relay before the coordinator gives up on the whole block.
 */
function innerDeadline(upstreamMs: number): number {
  return Math.max(1, Math.floor(upstreamMs / 2));
}

/** A connected, welcomed downstream worker. */
export interface DownWorker {
  connId: string;
  id: string;
  name: string | null;
  rate: number;
  queuedSamples: number;
  tasksDone: number;
  lastSeen: number;
}

/** A sub-task handed (or to be handed) to one downstream worker. */
interface Job {
  id: string;
  up: UpTask;
  message: TaskMessage;
  samples: number;
  /** Train jobs: the one piece it computes. */
  piece?: Piece;
  /** Eval jobs: block starts already forwarded. */
  forwarded?: Set<number>;
  holder: string | null;
  sentAt: number;
  deadlineAt: number;
  done: boolean;
}

/** An upstream task and the block sums collected for it. */
interface UpTask {
  task: TaskMessage;
  parents: Map<number, ParentState>;
  computeMs: number;
}

/** One upstream block and the piece sums collected for it. */
interface ParentState {
  block: ShardBlock;
  expected: number;
  values: Array<{ block: ShardBlock; value: TreeValue; correct?: number }>;
}

/** What the relay must do after an event: frames to send upstream and to workers. */
export interface Outbox {
  upstream: ResultMessage[];
  down: Array<{ connId: string; message: TaskMessage }>;
  /** Refusals to send to a worker (non-fatal). */
  refusals: Array<{ connId: string; code: string; message: string; taskId?: string }>;
}

/** Counters the relay reports. */
export interface WorkStats {
  upstreamTasks: number;
  jobsIssued: number;
  jobsReissued: number;
  blocksReturned: number;
}

/** See the module comment. */
export class WorkBook {
  readonly workers = new Map<string, DownWorker>();
  /** Every worker that ever joined, in join order. */
  readonly everyWorker: DownWorker[] = [];
  private readonly jobs = new Map<string, Job>();
  private readonly pending: Job[] = [];
  private nextWorker = 1;
  readonly stats: WorkStats = { upstreamTasks: 0, jobsIssued: 0, jobsReissued: 0, blocksReturned: 0 };

  constructor(
    private readonly welcome: WelcomeMessage,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Adds a welcomed worker; returns its record. */
  addWorker(connId: string, name: string | undefined, rateHint: number | undefined): DownWorker {
    const worker: DownWorker = { connId, id: `r${this.nextWorker++}`, name: name ?? null, rate: rateHint && rateHint > 0 ? rateHint : DEFAULT_RATE, queuedSamples: 0, tasksDone: 0, lastSeen: this.clock() };
    this.workers.set(connId, worker);
    this.everyWorker.push(worker);
    return worker;
  }

  /** Forgets a worker and puts the jobs it held back in front of the queue. */
  removeWorker(connId: string, out: Outbox): void {
    if (!this.workers.delete(connId)) return;
    for (const job of this.jobs.values()) if (job.holder === connId && !job.done) this.requeue(job);
    this.dispatch(out);
  }

  /** A worker sent a frame that failed to decode (its result, most likely): its jobs go to others. */
  reissueHeldBy(connId: string, out: Outbox): void {
    const worker = this.workers.get(connId);
    if (!worker) return;
    worker.rate /= 2;
    for (const job of this.jobs.values()) if (job.holder === connId && !job.done && (!job.forwarded || job.forwarded.size === 0)) this.requeue(job);
    this.dispatch(out);
  }

  /** Sum of the workers' throughput estimates (samples/s): what the relay reports upstream. */
  get rate(): number {
    let sum = 0;
    for (const w of this.workers.values()) sum += w.rate;
    return sum;
  }

  /** True while some job is out or waiting. */
  get busy(): boolean {
    for (const job of this.jobs.values()) if (!job.done) return true;
    return false;
  }

  /** Takes an upstream task: train tasks are cut into aligned pieces, eval tasks go whole. */
  addTask(task: TaskMessage, out: Outbox): void {
    this.stats.upstreamTasks++;
    const up: UpTask = { task, parents: new Map(), computeMs: 0 };
    const m = task.microShardSize;
    if (task.kind === 'eval') {
      this.enqueue({ id: `${task.taskId}~e`, up, message: { ...task, taskId: `${task.taskId}~e`, deadlineMs: innerDeadline(task.deadlineMs) }, samples: task.indices.length, forwarded: new Set(), holder: null, sentAt: 0, deadlineAt: 0, done: false });
    } else {
      const shards = task.blocks.reduce((a, b) => a + b.count, 0);
      const pieces = splitTask(task, pieceSize(shards, this.workers.size));
      for (const block of task.blocks) up.parents.set(block.start, { block, expected: 0, values: [] });
      pieces.forEach((piece, i) => {
        up.parents.get(piece.parent.start)!.expected++;
        const id = `${task.taskId}~${i}`;
        const message: TaskMessage = { type: 'task', taskId: id, runId: task.runId, step: task.step, kind: 'train', blocks: [piece.block], microShardSize: m, indices: piece.indices, deadlineMs: innerDeadline(task.deadlineMs) };
        if (task.split) message.split = task.split;
        if (piece.x) message.x = piece.x;
        if (piece.pixels) message.pixels = piece.pixels;
        if (task.pixelNormalization) message.pixelNormalization = task.pixelNormalization;
        if (piece.labels) message.labels = piece.labels;
        if (piece.targets) message.targets = piece.targets;
        this.enqueue({ id, up, message, samples: piece.indices.length, piece, holder: null, sentAt: 0, deadlineAt: 0, done: false });
      });
    }
    this.dispatch(out);
  }

  /** Drops every job of a step before `step` (new parameters arrived: that work is stale upstream). */
  dropBefore(step: number): void {
    for (const [id, job] of this.jobs) {
      if (job.message.step >= step) continue;
      this.release(job);
      job.done = true;
      this.jobs.delete(id);
    }
    for (let i = this.pending.length - 1; i >= 0; i--) if (this.pending[i]!.done) this.pending.splice(i, 1);
  }

  /** Hands waiting jobs to the workers whose queues would finish first. */
  dispatch(out: Outbox): void {
    while (this.pending.length > 0 && this.workers.size > 0) {
      const job = this.pending.shift()!;
      if (job.done) continue;
      let best: DownWorker | undefined;
      let bestFinish = Infinity;
      for (const w of this.workers.values()) {
        const finish = (w.queuedSamples + job.samples) / w.rate;
        if (finish < bestFinish) [best, bestFinish] = [w, finish];
      }
      const now = this.clock();
      job.holder = best!.connId;
      job.sentAt = now;
      job.deadlineAt = now + job.message.deadlineMs;
      best!.queuedSamples += job.samples;
      this.stats.jobsIssued++;
      out.down.push({ connId: best!.connId, message: job.message });
    }
  }

  /** Re-issues jobs past their deadline (the holder's estimate is halved). */
  expire(out: Outbox): void {
    const now = this.clock();
    for (const job of this.jobs.values()) {
      if (job.done || job.holder === null || now < job.deadlineAt) continue;
      const holder = this.workers.get(job.holder);
      if (holder) holder.rate /= 2;
      this.requeue(job);
    }
    this.dispatch(out);
  }

  /** A worker declined or failed a task (`error` with `ref.taskId`): someone else does it. */
  declined(connId: string, taskId: string, out: Outbox): void {
    const job = this.jobs.get(taskId);
    if (!job || job.done || job.holder !== connId) return;
    this.requeue(job);
    this.dispatch(out);
  }

  /** Accepts (or refuses) a worker's result; completed blocks go upstream. */
  result(connId: string, result: ResultMessage, out: Outbox): void {
    const job = this.jobs.get(result.taskId);
    const refuse = (code: string, message: string): void => void out.refusals.push({ connId, code, message, taskId: result.taskId });
    if (!job) return refuse(RelayErrorCode.STALE_RESULT, `task ${result.taskId} is not (or no longer) open at this relay`);
    if (job.done || job.holder !== connId) return refuse(RelayErrorCode.STALE_RESULT, `task ${result.taskId} was done or handed to another worker`);
    if (result.kind !== job.message.kind || result.step !== job.message.step || result.runId !== job.message.runId) return this.bad(job, refuse, 'kind, step or run differs from the task');
    const worker = this.workers.get(connId)!;
    if (result.kind === 'train') {
      const problem = this.checkTrain(job, result.blocks);
      if (problem) return this.bad(job, refuse, problem);
      const b = result.blocks[0]!;
      const parent = job.up.parents.get(job.piece!.parent.start)!;
      const grads = b.gradient.payload as Float32Array;
      parent.values.push({ block: job.piece!.block, value: { grads, lossSum: b.lossSum, count: b.sampleCount }, ...(b.correct !== undefined ? { correct: b.correct } : {}) });
      job.up.computeMs += result.timing.computeMs;
      this.finish(job, worker);
      if (parent.values.length === parent.expected) out.upstream.push(this.combine(job.up, parent, result));
    } else {
      const problem = this.checkEval(job, result.blocks);
      if (problem) return this.bad(job, refuse, problem);
      for (const b of result.blocks) job.forwarded!.add(b.start);
      out.upstream.push({ ...result, taskId: job.up.task.taskId });
      if (job.forwarded!.size === job.message.blocks.length) this.finish(job, worker);
    }
    this.dispatch(out);
  }

  private checkTrain(job: Job, blocks: TrainBlockResult[]): string | undefined {
    const want = job.piece!.block;
    const b = blocks[0];
    if (blocks.length !== 1 || !b || b.start !== want.start || b.count !== want.count) return `expected exactly block {start: ${want.start}, count: ${want.count}}`;
    if (b.gradient.codec !== 'f32') return `gradient codec ${b.gradient.codec}; a relay takes f32 only`;
    if (b.gradient.length !== this.welcome.parameterCount) return `gradient of ${b.gradient.length} values; the model has ${this.welcome.parameterCount}`;
    if (b.sampleCount !== job.samples) return `sampleCount ${b.sampleCount}; the block has ${job.samples} samples`;
    return undefined;
  }

  private checkEval(job: Job, blocks: EvalBlockResult[]): string | undefined {
    for (const b of blocks) {
      if (!job.message.blocks.some((t) => t.start === b.start && t.count === b.count)) return `block {start: ${b.start}, count: ${b.count}} is not in the task`;
      if (job.forwarded!.has(b.start)) return `block {start: ${b.start}} was already delivered`;
    }
    return undefined;
  }

  private bad(job: Job, refuse: (code: string, message: string) => void, why: string): void {
    refuse(RelayErrorCode.BAD_RESULT, `result for ${job.id}: ${why}`);
    const holder = job.holder === null ? undefined : this.workers.get(job.holder);
    if (holder) holder.rate /= 2;
    // An eval job partly forwarded already cannot be re-issued without duplicates upstream.
    if (!job.forwarded || job.forwarded.size === 0) this.requeue(job);
  }

  /** The block's sum in tree order, as one upstream `result`. */
  private combine(up: UpTask, parent: ParentState, last: ResultMessage): ResultMessage {
    const value = combinePieces(parent.block, parent.values);
    const counted = parent.values.every((v) => v.correct !== undefined);
    const block: TrainBlockResult = {
      start: parent.block.start,
      count: parent.block.count,
      lossSum: value.lossSum,
      sampleCount: value.count,
      ...(counted ? { correct: parent.values.reduce((a, v) => a + v.correct!, 0) } : {}),
      gradient: { codec: 'f32', length: value.grads.length, payload: value.grads },
    };
    this.stats.blocksReturned++;
    return { type: 'result', kind: 'train', taskId: up.task.taskId, runId: up.task.runId, step: up.task.step, timing: { computeMs: up.computeMs }, backend: last.backend, blocks: [block] };
  }

  private finish(job: Job, worker: DownWorker): void {
    const now = this.clock();
    job.done = true;
    this.jobs.delete(job.id);
    worker.tasksDone++;
    worker.queuedSamples = Math.max(0, worker.queuedSamples - job.samples);
    const observed = job.samples / (Math.max(1, now - job.sentAt) / 1000);
    worker.rate = (1 - EWMA) * worker.rate + EWMA * observed;
  }

  private enqueue(job: Job): void {
    this.jobs.set(job.id, job);
    this.pending.push(job);
  }

  private release(job: Job): void {
    const holder = job.holder === null ? undefined : this.workers.get(job.holder);
    if (holder) holder.queuedSamples = Math.max(0, holder.queuedSamples - job.samples);
    job.holder = null;
  }

  private requeue(job: Job): void {
    this.release(job);
    this.stats.jobsReissued++;
    this.pending.unshift(job);
  }
}
