import { sumBlock, type TreeValue } from '@swarmgrad/nn/core';
import type { TaskMessage } from '@swarmgrad/protocol';
import { describe, expect, it } from 'vitest';
import { combinePieces, pieceSize, splitTask } from './split.js';

/** Leaf values with float32 sums that depend on the addition order. */
function leaves(count: number, length: number, seed: number): TreeValue[] {
  let s = seed;
  const rand = (): number => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 10 ** ((s % 7) - 3);
  return Array.from({ length: count }, () => ({ grads: Float32Array.from({ length }, rand), lossSum: rand(), count: 4 }));
}

function task(blocks: Array<{ start: number; count: number }>, m: number): TaskMessage {
  const shards = blocks.reduce((a, b) => a + b.count, 0);
  const indices = Uint32Array.from({ length: shards * m }, (_, i) => 1000 + i);
  return {
    type: 'task', taskId: 't', runId: 'r', step: 3, kind: 'train', blocks, microShardSize: m, indices, deadlineMs: 5000,
    x: Float32Array.from({ length: indices.length * 3 }, (_, i) => i), labels: Int32Array.from(indices, (v) => v % 10),
  };
}

describe('relay split', () => {
  it('pieceSize gives every worker a piece where it can', () => {
    expect(pieceSize(16, 1)).toBe(16);
    expect(pieceSize(16, 3)).toBe(4);
    expect(pieceSize(4, 8)).toBe(1);
    expect(pieceSize(12, 2)).toBe(4);
  });

  it('slices 8-bit pixel samples like float32 ones (image data sends pixels)', () => {
    const indices = Uint32Array.from({ length: 8 }, (_, i) => i);
    const task = { type: 'task', taskId: 't', runId: 'r', step: 0, kind: 'train', blocks: [{ start: 0, count: 4 }], microShardSize: 2, indices, deadlineMs: 1000,
      pixels: Uint8Array.from({ length: 8 * 3 }, (_, i) => i), labels: Int32Array.from(indices) } as TaskMessage;
    const pieces = splitTask(task, 2);
    expect(pieces.map((p) => [...p.pixels!])).toEqual([Array.from({ length: 12 }, (_, i) => i), Array.from({ length: 12 }, (_, i) => 12 + i)]);
    expect(pieces.every((p) => p.x === undefined)).toBe(true);
  });

  it('slices indices, samples and labels of each aligned sub-block', () => {
    const pieces = splitTask(task([{ start: 8, count: 4 }, { start: 12, count: 2 }], 2), 2);
    expect(pieces.map((p) => p.block)).toEqual([{ start: 8, count: 2 }, { start: 10, count: 2 }, { start: 12, count: 2 }]);
    expect(pieces.map((p) => p.parent.start)).toEqual([8, 8, 12]);
    expect([...pieces[1]!.indices]).toEqual([1004, 1005, 1006, 1007]);
    expect([...pieces[1]!.x!]).toEqual(Array.from({ length: 12 }, (_, i) => 12 + i));
    expect([...pieces[2]!.labels!]).toEqual([8, 9, 0, 1]);
  });

  it('combining sub-block sums gives the block sum of the fixed tree, bit for bit, for every piece size', async () => {
    const leafValues = leaves(16, 257, 7);
    for (const parent of [{ start: 0, count: 16 }, { start: 8, count: 8 }, { start: 4, count: 4 }]) {
      const want = await sumBlock(parent, parent.start + parent.count, async (i) => leafValues[i]!);
      for (let size = 1; size <= parent.count; size *= 2) {
        const pieces = [];
        for (let s = parent.start; s < parent.start + parent.count; s += size) {
          pieces.push({ block: { start: s, count: size }, value: await sumBlock({ start: s, count: size }, s + size, async (i) => leafValues[i]!) });
        }
        const got = combinePieces(parent, pieces.reverse());
        expect(Buffer.from(got.grads.buffer).equals(Buffer.from(want.grads.buffer))).toBe(true);
        expect(got.lossSum).toBe(want.lossSum);
      }
    }
    // A different (wrong) order of additions gives other bits: the check above can fail.
    const flat = new Float32Array(257);
    for (const leaf of leafValues) for (let i = 0; i < flat.length; i++) flat[i] = flat[i]! + leaf.grads[i]!;
    const tree = await sumBlock({ start: 0, count: 16 }, 16, async (i) => leafValues[i]!);
    expect(Buffer.from(flat.buffer).equals(Buffer.from(tree.grads.buffer))).toBe(false);
  });

  it('refuses pieces that leave a gap or overlap', () => {
    const v = leaves(2, 3, 1);
    expect(() => combinePieces({ start: 0, count: 4 }, [{ block: { start: 0, count: 2 }, value: v[0]! }])).toThrow(RangeError);
    expect(() => combinePieces({ start: 0, count: 2 }, [{ block: { start: 0, count: 1 }, value: v[0]! }, { block: { start: 0, count: 1 }, value: v[1]! }])).toThrow(RangeError);
  });
});
