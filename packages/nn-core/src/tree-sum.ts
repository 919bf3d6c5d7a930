/**
 * The fixed pairwise summation tree of the determinism contract. Micro-shard `i` of a step
 * is leaf `i`; the tree over `M` leaves is the complete binary tree over
 * `[0, 2^ceil(log2 M))` where a node covering `[start, start + size)` (size a power of two,
 * start a multiple of size) is the float32 element-wise sum `left + right` of its halves,
 * and a node whose right half starts at or past `M` is its left half unchanged.
 *
 * A worker given the aligned block `{ start, count }` returns that node's value; the
 * coordinator combines block values with {@link combineNodes} up to the root. Float32
 * addition is done in exactly this order everywhere, so the result is bitwise identical
 * however the blocks were spread over workers.
 */
import type { ShardBlock } from '@swarmgrad/protocol';

/** An aligned block of micro-shards, declared by the wire contract (`@swarmgrad/protocol`). */
export type { ShardBlock };

/** True when `block` is a node of the tree over `shardCount` leaves. */
export function isAlignedBlock(block: ShardBlock, shardCount: number): boolean {
  const { start, count } = block;
  return (
    Number.isInteger(start) &&
    Number.isInteger(count) &&
    count >= 1 &&
    (count & (count - 1)) === 0 &&
    start >= 0 &&
    start % count === 0 &&
    start < shardCount &&
    count <= treeWidth(shardCount)
  );
}

/** `2^ceil(log2 shardCount)`: the number of leaves of the full tree. */
export function treeWidth(shardCount: number): number {
  let width = 1;
  while (width < shardCount) width *= 2;
  return width;
}

/** A node value: the gradient sum of its leaves and the float64 sum of their losses. */
export interface TreeValue {
  grads: Float32Array;
  lossSum: number;
  count: number;
}

/** `left + right` in float32, element by element (the only addition the tree uses). */
export function addNodes(left: TreeValue, right: TreeValue): TreeValue {
  const out = new Float32Array(left.grads.length);
  const a = left.grads;
  const b = right.grads;
  for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
  return { grads: out, lossSum: left.lossSum + right.lossSum, count: left.count + right.count };
}

/**
 * The value of node `block` from a function giving each leaf (micro-shard) value, computed
 * in tree order. Leaves past `shardCount` are absent. Leaves are requested in increasing
 * order, one at a time (so a worker can compute them lazily).
 */
export async function sumBlock(block: ShardBlock, shardCount: number, leaf: (index: number) => Promise<TreeValue>): Promise<TreeValue> {
  if (block.count === 1) return leaf(block.start);
  const half = block.count / 2;
  const left = await sumBlock({ start: block.start, count: half }, shardCount, leaf);
  if (block.start + half >= shardCount) return left;
  const right = await sumBlock({ start: block.start + half, count: half }, shardCount, leaf);
  return addNodes(left, right);
}

/**
 * Completes the tree from block values that together cover `[0, shardCount)` exactly once
 * (any aligned decomposition). Throws `RangeError` when the blocks overlap or leave a gap.
 */
export function combineNodes(shardCount: number, blocks: ReadonlyArray<{ block: ShardBlock; value: TreeValue }>): TreeValue {
  const byStart = new Map<number, { block: ShardBlock; value: TreeValue }>();
  for (const b of blocks) {
    if (byStart.has(b.block.start)) throw new RangeError(`two blocks start at shard ${b.block.start}`);
    byStart.set(b.block.start, b);
  }
  let used = 0;
  const node = (start: number, count: number): TreeValue => {
    const own = byStart.get(start);
    if (own && own.block.count === count) {
      used++;
      return own.value;
    }
    if (own && own.block.count > count) throw new RangeError(`block {start: ${start}, count: ${own.block.count}} is not aligned to the tree`);
    if (count === 1) throw new RangeError(`no block covers shard ${start}`);
    const half = count / 2;
    const left = node(start, half);
    return start + half >= shardCount ? left : addNodes(left, node(start + half, half));
  };
  const root = node(0, treeWidth(shardCount));
  if (used !== blocks.length) throw new RangeError(`${blocks.length - used} blocks overlap others`);
  return root;
}
