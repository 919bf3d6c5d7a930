import { describe, expect, it } from 'vitest';
import { assignGreedy, blockSizeFor, floorPowerOfTwo, groupIntoTasks, mergeSiblingBlocks, planBlocks } from './scheduler.js';
import { isAlignedBlock } from '@swarmgrad/nn/core';

describe('scheduler', () => {
  it('picks the largest power of two ≤ M / workers, capped', () => {
    expect(floorPowerOfTwo(1)).toBe(1);
    expect(floorPowerOfTwo(7)).toBe(4);
    expect(blockSizeFor(16, 3, 1024)).toBe(4);
    expect(blockSizeFor(16, 1, 1024)).toBe(16);
    expect(blockSizeFor(6, 7, 1024)).toBe(1);
    expect(blockSizeFor(64, 0, 1024)).toBe(64);
    expect(blockSizeFor(64, 1, 12)).toBe(8);
  });

  it('cuts [0, M) into aligned blocks that stay inside the step', () => {
    for (let M = 1; M <= 40; M++) {
      for (const size of [1, 2, 4, 8, 16, 32, 64]) {
        const blocks = planBlocks(M, size);
        let next = 0;
        for (const block of blocks) {
          expect(block.start).toBe(next);
          expect(isAlignedBlock(block, M)).toBe(true);
          expect(block.count).toBeLessThanOrEqual(size);
          next = block.start + block.count;
        }
        expect(next).toBe(M);
      }
    }
    expect(planBlocks(6, 4)).toEqual([
      { start: 0, count: 4 },
      { start: 4, count: 2 },
    ]);
  });

  it('assigns greedily by earliest finish, in proportion to throughput', () => {
    const units = Array.from({ length: 8 }, (_, i) => ({ block: { start: i, count: 1 }, samples: 10 }));
    const out = assignGreedy(units, [
      { id: 'fast', samplesPerSecond: 300, queuedSamples: 0 },
      { id: 'slow', samplesPerSecond: 100, queuedSamples: 0 },
    ]);
    expect(out.get('fast')!.length).toBe(6);
    expect(out.get('slow')!.length).toBe(2);
    const busy = assignGreedy(units.slice(0, 2), [
      { id: 'busy', samplesPerSecond: 100, queuedSamples: 1000 },
      { id: 'idle', samplesPerSecond: 100, queuedSamples: 0 },
    ]);
    expect([...busy.keys()]).toEqual(['idle']);
    expect(assignGreedy(units, []).size).toBe(0);
  });

  it('groups units into tasks under the caps', () => {
    const units = [3, 0, 2, 1, 4].map((start) => ({ block: { start, count: 1 }, samples: 4 }));
    expect(groupIntoTasks(units, { maxShards: 2, maxBlocks: 10, maxSamples: 100 }).map((t) => t.map((u) => u.block.start))).toEqual([[0, 1], [2, 3], [4]]);
    expect(groupIntoTasks(units, { maxShards: 10, maxBlocks: 10, maxSamples: 12 }).map((t) => t.length)).toEqual([3, 2]);
    expect(groupIntoTasks(units, { maxShards: 10, maxBlocks: 1, maxSamples: 100 })).toHaveLength(5);
  });
});

describe('mergeSiblingBlocks', () => {
  const unit = (start: number, count: number) => ({ block: { start, count }, samples: count * 4 });
  const make = (block: { start: number; count: number }) => ({ block, samples: block.count * 4 });
  const blocks = (units: Array<{ block: { start: number; count: number } }>) => units.map((u) => [u.block.start, u.block.count]);

  it('merges siblings into their parent, repeatedly', () => {
    expect(blocks(mergeSiblingBlocks([unit(0, 2), unit(2, 2), unit(6, 2)], 8, make))).toEqual([[0, 4], [6, 2]]);
    expect(blocks(mergeSiblingBlocks([unit(3, 1), unit(0, 1), unit(1, 1), unit(2, 1)], 8, make))).toEqual([[0, 4]]);
  });
  it('leaves non-siblings (same size but not aligned to the parent) and respects the size cap', () => {
    expect(blocks(mergeSiblingBlocks([unit(2, 2), unit(4, 2)], 8, make))).toEqual([[2, 2], [4, 2]]);
    expect(blocks(mergeSiblingBlocks([unit(0, 4), unit(4, 4)], 4, make))).toEqual([[0, 4], [4, 4]]);
    expect(blocks(mergeSiblingBlocks([unit(0, 2), unit(2, 1)], 8, make))).toEqual([[0, 2], [2, 1]]);
  });
});
