/**
 * Pure helpers of the relay: cutting an upstream train task's aligned blocks into aligned
 * sub-blocks (with their slice of the task's samples), and combining the sub-block sums back
 * into each block's sum with the fixed tree of the determinism contract.
 */
import { combineNodes, type TreeValue } from '@swarmgrad/nn/core';
import type { ShardBlock, TaskMessage } from '@swarmgrad/protocol';

/** One sub-block of an upstream block, with the task fields a downstream worker needs. */
export interface Piece {
  /** The upstream block this piece belongs to. */
  parent: ShardBlock;
  /** The aligned sub-block (a node of the tree inside `parent`). */
  block: ShardBlock;
  indices: Uint32Array;
  x?: Float32Array;
  /** 8-bit samples (image data); the task's `pixelNormalization` applies unchanged. */
  pixels?: Uint8Array;
  labels?: Int32Array;
  targets?: Float32Array;
}

/** Largest power of two ≤ n (n ≥ 1). */
export function floorPowerOfTwo(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/**
 * The piece size for a task of `shards` micro-shards over `workers` workers: the largest power
 * of two ≤ shards / workers (at least 1), so every worker can get at least one piece.
 */
export function pieceSize(shards: number, workers: number): number {
  return floorPowerOfTwo(Math.max(1, Math.floor(shards / Math.max(1, workers))));
}

/**
 * Cuts every block of a train task into aligned sub-blocks of at most `size` shards (a block
 * no larger stays whole) and slices the task's indices and inline samples to match. Sub-blocks
 * of an aligned block are aligned, so each is a node of the fixed tree.
 */
export function splitTask(task: TaskMessage, size: number): Piece[] {
  const m = task.microShardSize;
  const perIndex = (array: { length: number } | undefined): number => (array === undefined || task.indices.length === 0 ? 0 : array.length / task.indices.length);
  const xWidth = perIndex(task.x);
  const pixelWidth = perIndex(task.pixels);
  const targetWidth = perIndex(task.targets);
  const pieces: Piece[] = [];
  let offset = 0; // shards of the task before the current block
  for (const parent of task.blocks) {
    const step = Math.min(size, parent.count);
    for (let k = 0; k < parent.count; k += step) {
      const from = (offset + k) * m;
      const to = (offset + k + step) * m;
      const piece: Piece = { parent, block: { start: parent.start + k, count: step }, indices: task.indices.slice(from, to) };
      if (task.x) piece.x = task.x.slice(from * xWidth, to * xWidth);
      if (task.pixels) piece.pixels = task.pixels.slice(from * pixelWidth, to * pixelWidth);
      if (task.labels) piece.labels = task.labels.slice(from, to);
      if (task.targets) piece.targets = task.targets.slice(from * targetWidth, to * targetWidth);
      pieces.push(piece);
    }
    offset += parent.count;
  }
  return pieces;
}

/**
 * The value of `parent` from values of aligned sub-blocks that cover it exactly once, in the
 * fixed tree order. A block inside the step is a full subtree (the coordinator hands out only
 * blocks inside `[0, M)`), so the tree over `parent` is the tree over `[0, parent.count)`
 * shifted by `parent.start`. Throws `RangeError` on a gap or overlap.
 */
export function combinePieces(parent: ShardBlock, pieces: ReadonlyArray<{ block: ShardBlock; value: TreeValue }>): TreeValue {
  if (pieces.length === 1 && pieces[0]!.block.start === parent.start && pieces[0]!.block.count === parent.count) return pieces[0]!.value;
  const shifted = pieces.map((p) => ({ block: { start: p.block.start - parent.start, count: p.block.count }, value: p.value }));
  return combineNodes(parent.count, shifted);
}
