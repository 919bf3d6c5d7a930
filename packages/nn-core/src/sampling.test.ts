import { describe, expect, it } from 'vitest';
import { NnErrorCode } from './errors.js';
import { BatchSchedule, batchForStep, epochPermutation, microShards, shardRange } from './sampling.js';

const throwsCode = (code: string) => expect.objectContaining({ name: 'NnError', code });

/**
 * An independent implementation of the README's algorithm in BigInt arithmetic:
 * mix32 key → splitmix32 → xoshiro128** → bitmask-rejection nextInt → Fisher–Yates from the top.
 */
function referencePermutation(seed: number, epoch: number, length: number): number[] {
  const M = 0xffffffffn;
  const mul = (a: bigint, b: bigint): bigint => (a * b) & M;
  const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & M;
  const mix = (x: bigint): bigint => {
    x = mul(x ^ (x >> 16n), 0x85ebca6bn);
    x = mul(x ^ (x >> 13n), 0xc2b2ae35n);
    return x ^ (x >> 16n);
  };
  const splitmix = (key: bigint): bigint[] => {
    const out: bigint[] = [];
    let state = key;
    for (let i = 0; i < 4; i++) {
      state = (state + 0x9e3779b9n) & M;
      out.push(mix(state));
    }
    return out;
  };
  const key = mix((mix(BigInt(seed)) + BigInt(epoch)) & M);
  let [s0, s1, s2, s3] = splitmix(key) as [bigint, bigint, bigint, bigint];
  const next = (): bigint => {
    const result = mul(rotl(mul(s1, 5n), 7n), 9n);
    const t = (s1 << 9n) & M;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11n);
    return result;
  };
  const nextInt = (bound: number): number => {
    let mask = 0n;
    while (mask < BigInt(bound - 1)) mask = (mask << 1n) | 1n;
    for (;;) {
      const x = Number(next() & mask);
      if (x < bound) return x;
    }
  };
  const perm = Array.from({ length }, (_, i) => i);
  for (let i = length - 1; i >= 1; i--) {
    const j = nextInt(i + 1);
    [perm[i], perm[j]] = [perm[j] as number, perm[i] as number];
  }
  return perm;
}

function isPermutation(perm: Uint32Array, length: number): boolean {
  if (perm.length !== length) return false;
  const seen = new Uint8Array(length);
  for (const v of perm) {
    if (v >= length || seen[v] === 1) return false;
    seen[v] = 1;
  }
  return true;
}

describe('epochPermutation', () => {
  it('is a permutation for every length, including 0 and 1', () => {
    for (const length of [0, 1, 2, 3, 17, 1000, 60_000]) expect(isPermutation(epochPermutation(5, 2, length), length)).toBe(true);
  });

  it('matches an independent BigInt implementation of the documented algorithm', () => {
    for (const [seed, epoch, length] of [[42, 0, 1000], [42, 1, 1000], [0, 0, 257], [0xffffffff, 0xffffffff, 100], [7, 3, 2]] as const) {
      expect(Array.from(epochPermutation(seed, epoch, length))).toEqual(referencePermutation(seed, epoch, length));
    }
  });

  it('pins golden values for seed 42 (a platform or refactoring change must fail here)', () => {
    expect(Array.from(epochPermutation(42, 0, 10))).toEqual([1, 2, 3, 6, 5, 0, 4, 9, 8, 7]);
    expect(Array.from(epochPermutation(42, 1, 10))).toEqual([0, 8, 1, 9, 2, 5, 4, 7, 3, 6]);
    expect(Array.from(epochPermutation(42, 0, 60_000).subarray(0, 10))).toEqual([
      8879, 20968, 48796, 42551, 40908, 14904, 21539, 26405, 11703, 59076,
    ]);
    expect(Array.from(epochPermutation(0, 0, 16))).toEqual([2, 15, 9, 13, 1, 11, 12, 5, 0, 6, 14, 10, 3, 7, 4, 8]);
  });

  it('is deterministic and differs across epochs and seeds', () => {
    const a = epochPermutation(42, 0, 5000);
    expect(epochPermutation(42, 0, 5000)).toEqual(a);
    expect(epochPermutation(42, 1, 5000)).not.toEqual(a);
    expect(epochPermutation(43, 0, 5000)).not.toEqual(a);
    expect(epochPermutation(0, 0, 5000)).not.toEqual(epochPermutation(0, 1, 5000));
    // Every position varies with the epoch, the last one (the first swap) included.
    const lasts = new Set<number>();
    const firsts = new Set<number>();
    for (let epoch = 0; epoch < 20; epoch++) {
      const perm = epochPermutation(42, epoch, 5000);
      lasts.add(perm[4999] as number);
      firsts.add(perm[0] as number);
    }
    expect(lasts.size).toBeGreaterThan(15);
    expect(firsts.size).toBeGreaterThan(15);
  });

  it('is roughly uniform over the 6 permutations of 3 elements', () => {
    const counts = new Map<string, number>();
    for (let epoch = 0; epoch < 6000; epoch++) {
      const key = Array.from(epochPermutation(1, epoch, 3)).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    for (const c of counts.values()) expect(Math.abs(c - 1000)).toBeLessThan(170); // ~5.5 sigma
  });

  it('rejects bad arguments with BAD_OPTIONS', () => {
    expect(() => epochPermutation(-1, 0, 10)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => epochPermutation(1, 2 ** 32, 10)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => epochPermutation(1, 0, 2.5)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
  });
});

describe('batchForStep / BatchSchedule', () => {
  it('partitions the first stepsPerEpoch·B positions of each epoch, dropping the last partial batch', () => {
    const seed = 9;
    const datasetLength = 103;
    const batchSize = 10; // 10 steps per epoch, 3 samples dropped per epoch
    const schedule = new BatchSchedule({ seed, datasetLength, batchSize });
    expect(schedule.stepsPerEpoch).toBe(10);
    for (const epoch of [0, 1, 2]) {
      const perm = epochPermutation(seed, epoch, datasetLength);
      const seen: number[] = [];
      for (let k = 0; k < 10; k++) {
        const step = epoch * 10 + k;
        const batch = batchForStep({ seed, datasetLength, batchSize, step });
        expect(batch.epoch).toBe(epoch);
        expect(batch.stepInEpoch).toBe(k);
        expect(batch.indices).toEqual(perm.subarray(k * 10, k * 10 + 10));
        expect(schedule.batch(step)).toEqual(batch);
        seen.push(...batch.indices);
      }
      expect(new Set(seen).size).toBe(100);
      expect(seen).toEqual(Array.from(perm.subarray(0, 100)));
    }
    // Step 10 is the first step of epoch 1.
    expect(schedule.batch(10).indices).toEqual(epochPermutation(seed, 1, datasetLength).subarray(0, 10));
  });

  it('covers the whole dataset each epoch when B divides the length', () => {
    const schedule = new BatchSchedule({ seed: 1, datasetLength: 64, batchSize: 16 });
    const all = [0, 1, 2, 3].flatMap((s) => Array.from(schedule.batch(4 + s).indices));
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: 64 }, (_, i) => i));
  });

  it('pins a golden batch (seed 42, MNIST-sized, step 937 = first step of epoch 1)', () => {
    const batch = batchForStep({ seed: 42, datasetLength: 60_000, batchSize: 64, step: 937 });
    expect(batch.epoch).toBe(1);
    expect(batch.stepInEpoch).toBe(0);
    expect(Array.from(batch.indices.subarray(0, 5))).toEqual([20467, 33428, 30467, 14253, 32605]);
  });

  it('returns fresh arrays the caller may modify', () => {
    const schedule = new BatchSchedule({ seed: 2, datasetLength: 20, batchSize: 5 });
    const first = schedule.batch(0).indices;
    const copy = first.slice();
    first.fill(0);
    expect(schedule.batch(0).indices).toEqual(copy);
    const perm = schedule.permutation(0);
    perm.fill(0);
    expect(schedule.batch(1).indices).toEqual(epochPermutation(2, 0, 20).subarray(5, 10));
  });

  it('cuts a step into micro-shards and aligned shard blocks', () => {
    const schedule = new BatchSchedule({ seed: 4, datasetLength: 1000, batchSize: 32, microShardSize: 4 });
    expect(schedule.numMicroShards).toBe(8);
    const { indices } = schedule.batch(40);
    const shards = schedule.microShards(40);
    expect(shards.length).toBe(8);
    expect(shards.flatMap((s) => Array.from(s))).toEqual(Array.from(indices));
    for (let s = 0; s < 8; s++) {
      expect(schedule.microShard(40, s)).toEqual(shards[s]);
      const { start, end } = shardRange(s, 4);
      expect(indices.subarray(start, end)).toEqual(shards[s]);
    }
    expect(schedule.shardBlock(40, 4, 4)).toEqual(indices.subarray(16, 32));
    expect(() => schedule.shardBlock(40, 6, 4)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => schedule.microShard(40, 8)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => schedule.microShard(40, -1)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
  });

  it('rejects bad options and steps with BAD_OPTIONS', () => {
    const bad = (options: Record<string, number>): void => {
      expect(() => new BatchSchedule({ seed: 1, datasetLength: 100, batchSize: 10, ...options })).toThrow(
        throwsCode(NnErrorCode.BAD_OPTIONS),
      );
    };
    bad({ batchSize: 0 });
    bad({ batchSize: 101 });
    bad({ batchSize: 10, microShardSize: 3 });
    bad({ microShardSize: 0 });
    bad({ datasetLength: 0 });
    bad({ seed: -5 });
    const schedule = new BatchSchedule({ seed: 1, datasetLength: 100, batchSize: 10 });
    for (const step of [-1, 0.5, Number.NaN, 10 * 2 ** 32]) {
      expect(() => schedule.batch(step)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    }
    expect(() => schedule.permutation(-1)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(schedule.epochOf(10 * 2 ** 32 - 1)).toBe(2 ** 32 - 1);
  });
});

describe('microShards', () => {
  it('returns consecutive views that partition the batch exactly', () => {
    const indices = Uint32Array.from({ length: 12 }, (_, i) => 100 + i);
    const shards = microShards(indices, 3);
    expect(shards.map((s) => Array.from(s))).toEqual([
      [100, 101, 102],
      [103, 104, 105],
      [106, 107, 108],
      [109, 110, 111],
    ]);
    expect(shards[1]?.buffer).toBe(indices.buffer); // views, not copies
    expect(microShards(indices, 12)).toHaveLength(1);
    expect(microShards(new Uint32Array(0), 4)).toHaveLength(0);
  });

  it('rejects a batch that is not a multiple of the micro-shard size', () => {
    expect(() => microShards(new Uint32Array(10), 3)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => microShards(new Uint32Array(10), 0)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => shardRange(1, 0)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => shardRange(-1, 2)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
  });
});

describe('shardRange with the samples present', () => {
  it('cuts the last shard short and covers every sample exactly once', () => {
    for (const [m, n] of [[4, 10], [3, 12], [5, 1], [7, 50]] as const) {
      const seen: number[] = [];
      for (let s = 0; s * m < n; s++) {
        const { start, end } = shardRange(s, m, n);
        expect(end - start).toBe(Math.min(m, n - s * m));
        for (let i = start; i < end; i++) seen.push(i);
      }
      expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
    }
  });

  it('rejects a shard that starts past the samples present', () => {
    expect(() => shardRange(3, 4, 12)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => shardRange(0, 4, 0)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => shardRange(0, 4, -1)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
  });
});
