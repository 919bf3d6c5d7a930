/**
 * The scheduler: how a step's micro-shards are cut into aligned blocks, how blocks are
 * spread over workers and packed into `task` messages, their deadlines, and re-issue when
 * a task fails. First the pure helpers, then the `Scheduler` that applies them to a phase.
 * None of this affects the numbers a step produces (the tree sum does not depend on who
 * computed which block); it only affects speed.
 *
 * Shares follow measured facts only (before anyone has, lab workers go first): once any
 * connected worker has completed a task, a
 * step is planned over those proven workers (by their measured speed), and up to
 * `PROBES_PER_PHASE` unproven workers (new or silent ones, longest unprobed first) each get
 * a copy of one block as a probe. A probe never delays a step: its block is also planned
 * for a proven worker, and the first result counts. Re-issued blocks go to proven workers
 * when there are any. A worker whose connection has a backlog (`writable` false) gets no
 * new task until it drains, and one whose heartbeat says `paused` none until it resumes.
 */
import type { Message, ShardBlock, TaskMessage } from '@swarmgrad/protocol';
import type { BatchSchedule, Dataset } from '@swarmgrad/data';
import { microShards } from '@swarmgrad/data';
import type { ReissueEvent, ReissueReason } from './events.js';
import type { CoordinatorLimits, ResolvedEngineOptions, ResolvedRun } from './config.js';
import { CoordinatorError, CoordinatorErrorCode } from './errors.js';
import type { Conn, Membership, WorkerRecord } from './membership.js';
import { createPhase, makeUnit, type Phase, type TaskRecord, type Unit } from './work.js';
import { assignWithUntrustedCap } from './untrusted-share.js';
import { ParamsFanout } from './params-fanout.js';

/** Unproven workers given a probe block per step or evaluation. */
export const PROBES_PER_PHASE = 2;
/**
 * A proven worker that has been given no task for this many training steps is probed again:
 * its estimate may be stale (one slow first task — a relay waiting for its workers, a GPU
 * compiling its shaders — would otherwise starve it for the rest of the run).
 */
export const REPROBE_AFTER_STEPS = 8;

/** Largest power of two ≤ `n` (n ≥ 1). */
export function floorPowerOfTwo(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/**
 * Block size for a step: the largest power of two ≤ M / workers (at least 1), capped at
 * the largest power of two ≤ `maxBlock`.
 */
export function blockSizeFor(shardCount: number, workerCount: number, maxBlock: number): number {
  const perWorker = Math.floor(shardCount / Math.max(1, workerCount));
  return Math.min(floorPowerOfTwo(Math.max(1, perWorker)), floorPowerOfTwo(Math.max(1, maxBlock)));
}

/**
 * Cuts `[0, shardCount)` into aligned blocks of `blockSize` shards (a power of two); where
 * the last block would cross `shardCount` it is split into smaller aligned blocks, so
 * every block lies inside the step (`sampleCount = count × m` always holds).
 * @example planBlocks(6, 4) // [{start: 0, count: 4}, {start: 4, count: 2}]
 */
export function planBlocks(shardCount: number, blockSize: number): ShardBlock[] {
  const blocks: ShardBlock[] = [];
  let start = 0;
  while (start < shardCount) {
    let count = blockSize;
    while (start + count > shardCount) count /= 2;
    blocks.push({ start, count });
    start += count;
  }
  return blocks;
}

/** A worker as the greedy assignment sees it. */
export interface WorkerLoad {
  id: string;
  /** Estimated throughput, samples per second (> 0). */
  samplesPerSecond: number;
  /** Samples it already has to compute. */
  queuedSamples: number;
}

/** A unit of work: a block and how many samples it holds. */
export interface WorkUnit {
  block: ShardBlock;
  samples: number;
}

/**
 * Greedy list scheduling by earliest estimated finish: each unit, in order, goes to the
 * worker whose queue would finish it first ((queued + samples) / rate); ties go to the
 * worker listed first. Returns each worker's units in the order given (workers with no
 * unit are absent). `workers` is not modified.
 */
export function assignGreedy<U extends WorkUnit>(units: readonly U[], workers: readonly WorkerLoad[]): Map<string, U[]> {
  const queued = workers.map((w) => w.queuedSamples);
  const out = new Map<string, U[]>();
  if (workers.length === 0) return out;
  for (const unit of units) {
    let best = 0;
    let bestFinish = Number.POSITIVE_INFINITY;
    for (let i = 0; i < workers.length; i++) {
      const finish = (queued[i]! + unit.samples) / workers[i]!.samplesPerSecond;
      if (finish < bestFinish) {
        bestFinish = finish;
        best = i;
      }
    }
    queued[best] = queued[best]! + unit.samples;
    const id = workers[best]!.id;
    const list = out.get(id);
    if (list) list.push(unit);
    else out.set(id, [unit]);
  }
  return out;
}

/** Caps on one task. */
export interface TaskCaps {
  /** Most micro-shards (summed block counts). */
  maxShards: number;
  /** Most blocks (a train result carries one gradient per block, so the result frame bounds it). */
  maxBlocks: number;
  /** Most samples (the task frame carries them inline). */
  maxSamples: number;
}

/**
 * Sorts units by block start and packs them, in order, into tasks that respect `caps`
 * (a unit that alone exceeds a cap still gets a task of its own).
 */
export function groupIntoTasks<U extends WorkUnit>(units: readonly U[], caps: TaskCaps): U[][] {
  const sorted = [...units].sort((a, b) => a.block.start - b.block.start);
  const tasks: U[][] = [];
  let current: U[] = [];
  let shards = 0;
  let samples = 0;
  for (const unit of sorted) {
    const fits =
      current.length + 1 <= caps.maxBlocks && shards + unit.block.count <= caps.maxShards && samples + unit.samples <= caps.maxSamples;
    if (!fits && current.length > 0) {
      tasks.push(current);
      current = [];
      shards = 0;
      samples = 0;
    }
    current.push(unit);
    shards += unit.block.count;
    samples += unit.samples;
  }
  if (current.length > 0) tasks.push(current);
  return tasks;
}

/**
 * Merges sibling blocks given to the same worker into their parent block, repeatedly:
 * `{s, c}` and `{s + c, c}` with `s % 2c === 0` become `{s, 2c}` while `2c <= maxBlock`. The
 * parent's tree value is exactly `left + right`, so the step's result does not change by a
 * bit, but the worker sends one gradient instead of two. `make` builds the merged unit.
 * @example mergeSiblingBlocks([{0,2},{2,2},{6,2}], 8, …) // [{0,4},{6,2}]
 */
export function mergeSiblingBlocks<U extends WorkUnit>(units: readonly U[], maxBlock: number, make: (block: ShardBlock, parts: readonly U[]) => U): U[] {
  let current = [...units].sort((a, b) => a.block.start - b.block.start);
  for (let merged = true; merged; ) {
    merged = false;
    const next: U[] = [];
    for (let i = 0; i < current.length; i++) {
      const left = current[i]!;
      const right = current[i + 1];
      const { start, count } = left.block;
      if (right && right.block.count === count && right.block.start === start + count && start % (2 * count) === 0 && 2 * count <= maxBlock) {
        next.push(make({ start, count: 2 * count }, [left, right]));
        i++;
        merged = true;
      } else {
        next.push(left);
      }
    }
    current = next;
  }
  return current;
}

function sampleBytes(data: Dataset): number {
  const { x, y } = data.batch([0]) as { x: Float32Array; y: Int32Array | Float32Array };
  return x.length * 4 + y.length * 4 + 4;
}

/** Frame bytes kept free for a message's fields besides its big arrays. */
const FRAME_SLACK = 64 * 1024;

/**
 * Task sizes: a task frame carries its samples inline; a train result carries one gradient
 * per block. @throws CoordinatorError `BAD_CONFIG` when a frame cannot hold one shard.
 */
export function taskCaps(run: ResolvedRun, limits: CoordinatorLimits, trainData: Dataset, testData: Dataset | undefined): { train: TaskCaps; eval: TaskCaps; maxBlockShards: number } {
  const { config } = run;
  const bytesPerSample = Math.max(sampleBytes(trainData), testData ? sampleBytes(testData) : 0);
  const maxSamples = Math.floor((limits.maxFrameBytes - FRAME_SLACK) / bytesPerSample);
  const largestShard = Math.max(config.microShardSize, config.evalShardSize);
  if (maxSamples < largestShard) {
    throw new CoordinatorError(CoordinatorErrorCode.BAD_CONFIG, 
      `limits.maxFrameBytes ${limits.maxFrameBytes} cannot hold a task of one shard (${largestShard} samples of ${bytesPerSample} bytes); raise it or lower the shard size`,
    );
  }
  const maxBlocks = Math.max(1, Math.floor((limits.maxFrameBytes - FRAME_SLACK) / (4 * run.plan.paramCount + 64)));
  return {
    train: { maxShards: limits.maxShardsPerTask, maxBlocks, maxSamples },
    eval: { maxShards: limits.maxShardsPerTask, maxBlocks: limits.maxShardsPerTask, maxSamples },
    maxBlockShards: floorPowerOfTwo(Math.min(limits.maxShardsPerTask, Math.floor(maxSamples / config.microShardSize))),
  };
}

// ---------------------------------------------------------------------------------------------
// the scheduler proper

/** A task's samples: float32 inputs, or 8-bit pixels with the normalisation workers apply. */
interface TaskSamples {
  x?: Float32Array;
  pixels?: Uint8Array;
  normalization?: { mean: Iterable<number>; std: Iterable<number> };
  y: Int32Array | Float32Array;
}

/**
 * With an untrusted share cap, the largest block size at which every untrusted worker can
 * still get a block within the cap (else blocks would be too big for any volunteer).
 */
function capBlockSize(shardCount: number, live: readonly WorkerRecord[], cap: number): number {
  const untrusted = live.filter((w) => !w.trusted).length;
  if (cap >= 1 || untrusted === 0 || untrusted === live.length) return Number.POSITIVE_INFINITY;
  return floorPowerOfTwo(Math.max(1, Math.floor((cap * shardCount) / untrusted)));
}

/** What the scheduler needs from the run and from the coordinator. */
export interface SchedulerContext {
  run: ResolvedRun;
  /** Frame limits (they bound task sizes) and the deadline rule: max(minDeadlineMs, deadlineFactor × expected time). */
  options: Pick<ResolvedEngineOptions, 'limits' | 'minDeadlineMs' | 'deadlineFactor' | 'paramsDelta'>;
  schedule: BatchSchedule;
  trainData: Dataset;
  testData: Dataset | undefined;
  membership: Membership;
  clock: () => number;
  /** Sends a message on a connection (the coordinator's guarded transport). */
  send(conn: Conn, message: Message): void;
  /** Blocks were handed out again (`shards` micro-shards); the coordinator counts and reports it. */
  reissued(event: ReissueEvent, shards: number): void;
  /** Volunteer verification's say in scheduling (absent: every worker is alike). */
  volunteers?: VolunteerScheduling;
  /** False while a connection has a backlog of unsent bytes: it gets no new task (default: always writable). */
  writable?(conn: Conn): boolean;
}

/** How volunteer verification shapes scheduling (see `VolunteerGuard`). */
export interface VolunteerScheduling {
  /** Most of a step's samples planned for untrusted workers (1: no cap). */
  untrustedShare: number;
  /** Whether `worker` may take re-issued, waiting or evaluation units (verify mode: trusted workers only). */
  maySpare(worker: WorkerRecord, phase: Phase): boolean;
  /** A task was sent to `worker` (the guard may shadow it on a trusted worker). */
  taskSent(phase: Phase, task: TaskRecord, worker: WorkerRecord): void;
}

/** A planned phase and each worker's share of it, before any task is sent. */
export interface PhasePlan {
  phase: Phase;
  /** Worker id → its units (a worker's share is one contiguous run of blocks). */
  shares: Map<string, Unit[]>;
  /** Probes: unproven worker id → a copy of one planned block (also in `shares`). */
  probes?: Map<string, Unit>;
}

/** Who gets work now: the regular workforce and the workers to probe. */
interface Workforce {
  regular: WorkerRecord[];
  probes: WorkerRecord[];
}

/**
 * Turns phases into tasks: plans a step's blocks, sends each worker its share, watches
 * deadlines, re-issues the blocks of failed tasks, and hands waiting blocks to workers that
 * join. Owns the scheduling fields of a `Phase` (`tasks`, `holders`, `pending`).
 */
export class Scheduler {
  private taskCounter = 0;
  /** Training steps planned so far (the clock of `REPROBE_AFTER_STEPS`). */
  private trainPhases = 0;
  /** What goes out as `params` (full vectors or deltas), and what was sent. */
  readonly params: ParamsFanout;
  private readonly caps: { train: TaskCaps; eval: TaskCaps; maxBlockShards: number };

  /** @throws CoordinatorError `BAD_CONFIG` when a frame of `options.limits` cannot hold a task of one shard. */
  constructor(private readonly ctx: SchedulerContext) {
    this.caps = taskCaps(ctx.run, ctx.options.limits, ctx.trainData, ctx.testData);
    this.params = new ParamsFanout(ctx.run.config.runId, ctx.options.paramsDelta);
  }

  /**
   * Plans training step `step` at `params`. The greedy decides each worker's share; each
   * then gets a contiguous run of blocks (largest share first), whose sibling blocks merge
   * into their parents: a worker sends one gradient per merged block instead of one per
   * block, with the same bits (a parent is exactly left + right). With no worker connected
   * every block waits for one. Send the shares with `sendShares`.
   */
  planTrainStep(step: number, params: Float32Array): PhasePlan {
    const { shardCount, config } = this.ctx.run;
    const { membership } = this.ctx;
    const { maxBlockShards } = this.caps;
    const m = config.microShardSize;
    this.trainPhases++;
    const { regular: live, probes: candidates } = this.workforce();
    const cap = this.ctx.volunteers?.untrustedShare ?? 1;
    // Probed workers count too: their probe is one planned block, so blocks must fit the untrusted share.
    const unproven = candidates.filter((w) => !live.includes(w));
    const blockSize = Math.min(blockSizeFor(shardCount, live.length, maxBlockShards), capBlockSize(shardCount, [...live, ...unproven], cap));
    const unitOf = (block: ShardBlock): Unit => makeUnit(block.start, block.count, block.count * m);
    const planned = planBlocks(shardCount, blockSize).map(unitOf);
    const init = this.phaseInit('train', step, shardCount, m, this.ctx.schedule.batch(step).indices, params);
    if (live.length === 0) {
      const phase = createPhase(init, planned);
      for (const unit of planned) phase.pending.add(unit.start);
      return { phase, shares: new Map() };
    }
    const rateOf = membership.rates();
    const loads = live.map((w) => ({ id: w.id, samplesPerSecond: rateOf(w), queuedSamples: 0, trusted: w.trusted }));
    const capped = cap < 1 ? assignWithUntrustedCap(planned, loads, cap) : { byWorker: assignGreedy(planned, loads), unassigned: [] };
    // A stale worker that got a share after all needs no probe.
    const probes = candidates.filter((w) => !capped.byWorker.has(w.id));
    // Trusted workers' shares come first, so untrusted ones get the last (never larger) blocks and stay within the cap.
    const trustedFirst = (id: string) => (membership.workers.get(id)?.trusted ? 0 : 1);
    const byShare = [...capped.byWorker].sort((a, b) => trustedFirst(a[0]) - trustedFirst(b[0]) || b[1].length - a[1].length);
    const shares = new Map<string, Unit[]>();
    let next = 0;
    for (const [workerId, list] of byShare) {
      // While workers are probed, blocks stay unmerged: a probe is one small block, within the untrusted share.
      const run = planned.slice(next, next + list.length);
      shares.set(workerId, probes.length === 0 ? mergeSiblingBlocks(run, maxBlockShards, (block) => unitOf(block)) : run);
      next += list.length;
    }
    const waiting = planned.slice(next);
    const units = [...shares.values(), waiting].flat().sort((a, b) => a.start - b.start);
    const phase = createPhase(init, units);
    for (const unit of waiting) phase.pending.add(unit.start);
    return { phase, shares, probes: this.probePlan(probes, [...shares.values()].flat()) };
  }

  /** Each probed worker gets one block, smallest first, spread over the plan. */
  private probePlan(probes: WorkerRecord[], units: Unit[]): Map<string, Unit> {
    const plan = new Map<string, Unit>();
    if (probes.length === 0 || units.length === 0) return plan;
    const bySize = [...units].sort((a, b) => a.count - b.count || a.start - b.start);
    probes.forEach((worker, i) => plan.set(worker.id, bySize[i % bySize.length]!));
    return plan;
  }

  /**
   * Connected workers that may get new work now (not backed up), split into the regular
   * workforce (the proven ones when any connected worker is proven, else all) and the
   * unproven ones to probe (at most `PROBES_PER_PHASE`, longest unprobed first).
   */
  private workforce(): Workforce {
    const { membership } = this.ctx;
    const live = membership.liveWorkers();
    const available = live.filter((w) => {
      if (w.paused) return false;
      const conn = membership.connOf(w);
      return conn !== undefined && (this.ctx.writable?.(conn) ?? true);
    });
    if (!live.some((w) => membership.proven(w))) {
      // Nobody has shown a speed yet: lab workers (trusted by the operator's token) first.
      const trusted = available.filter((w) => w.trusted);
      return { regular: trusted.length > 0 ? trusted : available, probes: [] };
    }
    const byProbedAt = (a: WorkerRecord, b: WorkerRecord) => a.probedAt - b.probedAt || a.order - b.order;
    const unproven = available.filter((w) => !membership.proven(w)).sort(byProbedAt);
    const regular = available.filter((w) => membership.proven(w));
    // Proven means it completed a task, so `sendTask` has set its lastTaskPhase.
    const stale = regular.filter((w) => this.trainPhases - w.lastTaskPhase > REPROBE_AFTER_STEPS).sort(byProbedAt);
    return { regular, probes: [...unproven, ...stale].slice(0, PROBES_PER_PHASE) };
  }

  /** A phase of `kind` at `step` over `units` (each waits to be assigned). */
  planPhase(kind: Phase['kind'], step: number, shardCount: number, shardSize: number, units: Unit[], params: Float32Array): Phase {
    return createPhase(this.phaseInit(kind, step, shardCount, shardSize, new Uint32Array(0), params), units);
  }

  /** Sends each worker its planned share, packed into tasks, then the probes. */
  sendShares(plan: PhasePlan): void {
    const caps = plan.phase.kind === 'train' ? this.caps.train : this.caps.eval;
    for (const [workerId, list] of plan.shares) {
      const worker = this.ctx.membership.workers.get(workerId);
      if (!worker) continue;
      for (const group of groupIntoTasks(list, caps)) this.sendTask(plan.phase, worker, group);
    }
    for (const [workerId, unit] of plan.probes ?? []) {
      const worker = this.ctx.membership.workers.get(workerId);
      if (!worker) continue;
      worker.probedAt = this.ctx.clock();
      this.sendTask(plan.phase, worker, [unit]);
    }
  }

  /** Hands `units` to the workforce (greedy) and probes some unproven workers, or leaves them waiting when nobody may take work. */
  assignOrWait(phase: Phase, units: Unit[]): void {
    const live = this.spareWorkers(phase);
    if (live.length === 0) for (const unit of units) phase.pending.add(unit.start);
    else this.assign(phase, units, live);
    const hooks = this.ctx.volunteers;
    const probes = this.workforce().probes.filter((w) => !hooks || hooks.maySpare(w, phase));
    if (live.length > 0) this.sendShares({ phase, shares: new Map(), probes: this.probePlan(probes, units) });
  }

  /** Hands blocks that wait for a worker to the workforce. */
  drainPending(phase: Phase): void {
    if (phase.pending.size === 0) return;
    const live = this.spareWorkers(phase);
    if (live.length === 0) return;
    const units = [...phase.pending].sort((a, b) => a - b).map((start) => phase.unitByStart.get(start)!);
    phase.pending.clear();
    this.assign(phase, units, live);
  }

  /** Live tasks of `phase` with blocks still missing past their deadline at `now`. */
  overdue(phase: Phase, now: number): TaskRecord[] {
    return [...phase.tasks.values()].filter((task) => task.live && task.missing.size > 0 && now >= task.deadlineAt);
  }

  /** Live tasks of `phase` sent on connection `connId`. */
  tasksOn(phase: Phase, connId: string): TaskRecord[] {
    return [...phase.tasks.values()].filter((task) => task.connId === connId && task.live);
  }

  /** A task can no longer be counted on: its units that nobody else holds are re-issued. */
  kill(phase: Phase, task: TaskRecord, reason: ReissueReason): void {
    if (!task.live) return;
    task.live = false;
    const orphans: Unit[] = [];
    for (const unit of task.units) {
      if (!task.missing.has(unit.start)) continue;
      const holders = phase.holders.get(unit.start);
      holders?.delete(task);
      if (!phase.accepted.has(unit.start) && (holders === undefined || holders.size === 0) && !phase.pending.has(unit.start)) orphans.push(unit);
    }
    if (orphans.length > 0) this.reissue(phase, orphans, task.workerId, reason);
  }

  /** Hands `units` to the least-loaded other live worker(s); the same worker if it is the only one; else they wait for one. */
  private reissue(phase: Phase, units: Unit[], fromWorker: string, reason: ReissueReason): void {
    const shards = units.reduce((sum, u) => sum + u.count, 0);
    phase.shardsReissued += shards;
    const live = this.spareWorkers(phase);
    let eligible = live.filter((w) => w.id !== fromWorker);
    if (eligible.length === 0) eligible = live;
    const toWorkers = eligible.length === 0 ? [] : this.assign(phase, units, eligible);
    if (eligible.length === 0) for (const unit of units) phase.pending.add(unit.start);
    const blocks = units.map((u) => ({ start: u.start, count: u.count }));
    this.ctx.reissued({ kind: 'reissue', step: phase.step, taskKind: phase.kind, reason, fromWorker, toWorkers, blocks }, shards);
  }

  /**
   * Hands `units` (a held volunteer task's) to trusted workers as well, so a trusted value of
   * each is computed. Returns false when no trusted worker is connected.
   */
  shadow(phase: Phase, units: Unit[]): boolean {
    const trusted = this.ctx.membership.liveWorkers().filter((w) => w.trusted && !w.paused);
    if (trusted.length === 0) return false;
    this.assign(phase, units, trusted);
    return true;
  }

  /** Connected workers that may take re-issued, waiting and evaluation units. */
  private spareWorkers(phase: Phase): WorkerRecord[] {
    const live = this.workforce().regular;
    const hooks = this.ctx.volunteers;
    return hooks ? live.filter((w) => hooks.maySpare(w, phase)) : live;
  }

  /** Greedy earliest-finish assignment of `units` over `workers`, then one task per group. Returns the workers that got work. */
  private assign(phase: Phase, units: Unit[], workers: WorkerRecord[]): string[] {
    const membership = this.ctx.membership;
    const rateOf = membership.rates();
    const loads = workers.map((w) => ({ id: w.id, samplesPerSecond: rateOf(w), queuedSamples: this.queuedSamples(phase, w.id) }));
    const byWorker = assignGreedy(units, loads);
    this.sendShares({ phase, shares: byWorker });
    return [...byWorker.keys()];
  }

  private queuedSamples(phase: Phase, workerId: string): number {
    let total = 0;
    for (const task of phase.tasks.values()) {
      if (!task.live || task.workerId !== workerId) continue;
      for (const unit of task.units) if (task.missing.has(unit.start)) total += unit.samples;
    }
    return total;
  }

  private sendTask(phase: Phase, worker: WorkerRecord, units: Unit[]): void {
    const conn = this.ctx.membership.connOf(worker);
    if (!conn) {
      for (const unit of units) phase.pending.add(unit.start);
      return;
    }
    if (conn.paramsStep !== phase.step) this.ctx.send(conn, this.params.messageFor(conn, worker, phase.step, phase.params));
    const indices = taskIndices(phase, units);
    const data = phase.kind === 'train' ? this.ctx.trainData : this.ctx.testData!;
    // Training batches carry their epoch, so augmenting datasets stay a pure function of (seed, epoch, index).
    // Image datasets send 8-bit pixels (+ their normalisation) instead of float32: a quarter of the bytes.
    const context = phase.kind === 'train' ? { epoch: this.ctx.schedule.epochOf(phase.step) } : undefined;
    const pixelBatch = data.batchPixels?.(indices, context);
    const batch: TaskSamples = pixelBatch
      ? { y: pixelBatch.y, pixels: pixelBatch.pixels, ...(pixelBatch.normalization && { normalization: pixelBatch.normalization }) }
      : (data.batch(indices, context) as TaskSamples);
    const now = this.ctx.clock();
    const queued = this.queuedSamples(phase, worker.id);
    const expectedMs = ((queued + indices.length) / this.ctx.membership.rateOf(worker)) * 1000;
    const deadlineMs = Math.ceil(Math.max(this.ctx.options.minDeadlineMs, this.ctx.options.deadlineFactor * expectedMs));
    const task = this.recordTask(phase, worker, conn, units, indices.length, now, deadlineMs);
    worker.lastTaskPhase = this.trainPhases;
    this.ctx.send(conn, this.taskMessage(phase, task, indices, deadlineMs, batch));
    this.ctx.volunteers?.taskSent(phase, task, worker);
  }

  private recordTask(phase: Phase, worker: WorkerRecord, conn: Conn, units: Unit[], samples: number, now: number, deadlineMs: number): TaskRecord {
    const task: TaskRecord = {
      id: `${phase.kind === 'train' ? 's' : 'e'}${phase.step}-${++this.taskCounter}`,
      workerId: worker.id,
      connId: conn.id,
      units,
      missing: new Set(units.map((u) => u.start)),
      answered: new Set(),
      samples,
      sentAt: now,
      deadlineAt: now + deadlineMs,
      live: true,
      completed: false,
      reissue: units.some((u) => u.issues > 0),
      computeMs: 0,
    };
    phase.tasks.set(task.id, task);
    for (const unit of units) {
      unit.issues++;
      let holders = phase.holders.get(unit.start);
      if (!holders) phase.holders.set(unit.start, (holders = new Set()));
      holders.add(task);
    }
    return task;
  }

  private taskMessage(phase: Phase, task: TaskRecord, indices: Uint32Array, deadlineMs: number, batch: TaskSamples): TaskMessage {
    const message: TaskMessage = {
      type: 'task',
      taskId: task.id,
      runId: this.ctx.run.config.runId,
      step: phase.step,
      kind: phase.kind,
      blocks: task.units.map((u) => ({ start: u.start, count: u.count })),
      microShardSize: phase.shardSize,
      indices,
      deadlineMs,
      ...(batch.pixels
        ? { pixels: batch.pixels, ...(batch.normalization && { pixelNormalization: { mean: [...batch.normalization.mean], std: [...batch.normalization.std] } }) }
        : { x: batch.x! }),
    };
    if (phase.kind === 'eval') message.split = 'test';
    if (batch.y instanceof Float32Array) message.targets = batch.y;
    else message.labels = batch.y;
    return message;
  }

  private phaseInit(kind: Phase['kind'], step: number, shardCount: number, shardSize: number, indices: Uint32Array, params: Float32Array) {
    return { kind, step, epoch: this.ctx.schedule.epochOf(step), shardCount, shardSize, indices, params, startedAt: this.ctx.clock() };
  }
}

/**
 * The dataset indices of a task's units, in unit order. Train: the units' micro-shards of
 * the step's batch (cut by `@swarmgrad/data`'s `microShards`, the one definition of
 * micro-shard `s` = batch positions `[s·m, s·m + m)`). Eval: test samples in order.
 */
export function taskIndices(phase: Pick<Phase, 'kind' | 'shardSize' | 'indices'>, units: readonly Pick<Unit, 'start' | 'count' | 'samples'>[]): Uint32Array {
  const total = units.reduce((sum, u) => sum + u.samples, 0);
  const out = new Uint32Array(total);
  const shards = phase.kind === 'train' ? microShards(phase.indices, phase.shardSize) : [];
  let offset = 0;
  for (const unit of units) {
    if (phase.kind === 'train') {
      for (let s = unit.start; s < unit.start + unit.count; s++) {
        out.set(shards[s]!, offset);
        offset += phase.shardSize;
      }
      continue;
    }
    const first = unit.start * phase.shardSize;
    for (let i = 0; i < unit.samples; i++) out[offset + i] = first + i;
    offset += unit.samples;
  }
  return out;
}
