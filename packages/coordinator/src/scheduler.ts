/**
 * Pure scheduling helpers: how a step's micro-shards are cut into aligned blocks and how
 * blocks are spread over workers. None of this affects the numbers a step produces (the
 * tree sum does not depend on who computed which block); it only affects speed.
 */
import type { ShardBlock } from '@swarmgrad/protocol';

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
