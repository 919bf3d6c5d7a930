import { describe, expect, it } from 'vitest';
import { Xoshiro128 } from './prng.js';
import { combineNodes, isAlignedBlock, sumBlock, treeWidth, type ShardBlock, type TreeValue } from './tree-sum.js';

const rng = new Xoshiro128(3);
const leaves: TreeValue[] = Array.from({ length: 13 }, (_, i) => ({
  grads: Float32Array.from({ length: 50 }, () => (rng.nextFloat() - 0.5) * 10 ** ((i % 7) - 3)),
  lossSum: rng.nextFloat(),
  count: 4,
}));
const leaf = async (i: number): Promise<TreeValue> => leaves[i]!;

/** Every aligned decomposition of [0, M) into blocks, chosen at random. */
function randomCover(M: number, r: Xoshiro128): ShardBlock[] {
  const out: ShardBlock[] = [];
  const split = (start: number, count: number): void => {
    if (start >= M) return;
    if (count === 1 || r.nextFloat() < 0.3) out.push({ start, count });
    else {
      split(start, count / 2);
      split(start + count / 2, count / 2);
    }
  };
  split(0, treeWidth(M));
  return out;
}

describe('pairwise tree sum', () => {
  it('gives bitwise-identical roots for every aligned decomposition', async () => {
    for (const M of [1, 2, 5, 8, 13]) {
      const whole = await sumBlock({ start: 0, count: treeWidth(M) }, M, leaf);
      expect(whole.count).toBe(4 * M);
      const r = new Xoshiro128(M);
      for (let trial = 0; trial < 20; trial++) {
        const blocks = randomCover(M, r);
        const values = await Promise.all(blocks.map(async (block) => ({ block, value: await sumBlock(block, M, leaf) })));
        values.reverse(); // arrival order must not matter
        const root = combineNodes(M, values);
        expect(Buffer.from(root.grads.buffer).equals(Buffer.from(whole.grads.buffer))).toBe(true);
        expect(root.lossSum).toBe(whole.lossSum);
      }
    }
  });

  it('matches an explicit pairwise sum', async () => {
    const M = 5;
    const root = await sumBlock({ start: 0, count: 8 }, M, leaf);
    const add = (a: Float32Array, b: Float32Array) => a.map((v, i) => v + b[i]!);
    const g = leaves.map((l) => l.grads);
    const expected = add(add(add(g[0]!, g[1]!), add(g[2]!, g[3]!)), g[4]!);
    expect(root.grads).toEqual(expected);
  });

  it('rejects gaps, overlaps and misaligned blocks', async () => {
    const v = (start: number, count: number) => ({ block: { start, count }, value: leaves[0]! });
    expect(() => combineNodes(4, [v(0, 2)])).toThrow(RangeError);
    expect(() => combineNodes(4, [v(0, 2), v(2, 2), v(3, 1)])).toThrow(RangeError);
    expect(() => combineNodes(4, [v(0, 4), v(0, 2)])).toThrow(RangeError);
    expect(isAlignedBlock({ start: 2, count: 4 }, 8)).toBe(false);
    expect(isAlignedBlock({ start: 4, count: 4 }, 5)).toBe(true);
    expect(isAlignedBlock({ start: 8, count: 4 }, 8)).toBe(false);
    expect(isAlignedBlock({ start: 0, count: 3 }, 8)).toBe(false);
  });
});
