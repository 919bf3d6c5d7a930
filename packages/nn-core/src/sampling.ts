/**
 * Seeded sampling: which samples make up step `t`'s global batch and how that batch is cut into
 * micro-shards — the first three stages of the determinism contract (epoch permutation → batch
 * → micro-shards; the fourth, the fixed summation tree, is `tree-sum.ts`). The coordinator,
 * every worker and the tests, in any language, must compute exactly these indices. The
 * algorithm is written out in the README; golden values in `sampling.test.ts` pin it.
 */
import { NnError, NnErrorCode } from './errors.js';
import { Prng, checkUint32 } from './prng.js';

function checkLength(value: unknown, what: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 0xffffffff) {
    throw new NnError(NnErrorCode.BAD_OPTIONS, `${what} is ${String(value)}, expected an integer in [${min}, 2^32)`);
  }
  return value;
}

/**
 * The permutation of `0 … length-1` used in epoch `epoch` of a run seeded with `seed`.
 * It depends only on `(seed, epoch, length)`:
 *
 * ```
 * rng  = Prng.fromKeys(seed, epoch)
 * perm = [0, 1, …, length-1]
 * for i = length-1 down to 1:  j = rng.nextInt(i + 1); swap(perm[i], perm[j])
 * ```
 *
 * @param seed - run seed, integer in `[0, 2^32)`
 * @param epoch - 0-based epoch, integer in `[0, 2^32)`
 * @param length - dataset length, integer in `[0, 2^32)`
 * @throws {@link NnError} `BAD_OPTIONS`
 * @example
 * ```ts
 * epochPermutation(42, 0, 10); // a fresh Uint32Array holding 0..9 in a fixed order
 * ```
 */
export function epochPermutation(seed: number, epoch: number, length: number): Uint32Array {
  checkUint32(seed, 'seed');
  checkUint32(epoch, 'epoch');
  checkLength(length, 'length', 0);
  const rng = Prng.fromKeys(seed, epoch);
  const perm = new Uint32Array(length);
  for (let i = 0; i < length; i++) perm[i] = i;
  for (let i = length - 1; i >= 1; i--) {
    const j = rng.nextIntUnchecked(i + 1);
    const tmp = perm[i] as number;
    perm[i] = perm[j] as number;
    perm[j] = tmp;
  }
  return perm;
}

/** Options of {@link batchForStep} and {@link BatchSchedule}. */
export interface BatchScheduleOptions {
  /** Run seed, integer in `[0, 2^32)`. */
  readonly seed: number;
  /** Number of samples in the dataset, integer ≥ `batchSize`. */
  readonly datasetLength: number;
  /** Global batch size `B`, integer in `[1, datasetLength]`. */
  readonly batchSize: number;
  /** Micro-shard size `m`; `B` must be a multiple of it. Default `batchSize` (one shard). */
  readonly microShardSize?: number;
}

/** Where a step falls in the schedule, and its samples. */
export interface StepBatch {
  /** The 0-based step. */
  readonly step: number;
  /** The 0-based epoch: `floor(step / stepsPerEpoch)`. */
  readonly epoch: number;
  /** The step within its epoch: `step mod stepsPerEpoch`. */
  readonly stepInEpoch: number;
  /** The `batchSize` dataset indices of this step, in order (a fresh array). */
  readonly indices: Uint32Array;
}

/**
 * The global batch of step `step` (0-based). The last partial batch of each epoch is dropped:
 *
 * ```
 * stepsPerEpoch = floor(datasetLength / batchSize)
 * epoch         = floor(step / stepsPerEpoch)
 * k             = step mod stepsPerEpoch
 * indices       = epochPermutation(seed, epoch, datasetLength)[k·B … k·B + B - 1]
 * ```
 *
 * So every step has exactly `B` distinct samples, and the `datasetLength mod B` samples at the
 * end of each epoch's permutation are not used in that epoch (different ones each epoch).
 * Computes the whole permutation (O(datasetLength)); use a {@link BatchSchedule} to reuse it
 * across the steps of an epoch.
 *
 * @throws {@link NnError} `BAD_OPTIONS`
 * @example
 * ```ts
 * const { epoch, indices } = batchForStep({ seed: 42, datasetLength: 60000, batchSize: 64, step: 937 });
 * // epoch 1 (937 = 1 · 937 + 0), indices = first 64 entries of epoch 1's permutation
 * ```
 */
export function batchForStep(options: BatchScheduleOptions & { readonly step: number }): StepBatch {
  return new BatchSchedule(options).batch(options.step);
}

/** Positions `[start, end)` of micro-shard `shardIndex` inside a global batch. */
export interface ShardRange {
  /** First position (inclusive): `shardIndex · microShardSize`. */
  readonly start: number;
  /** Last position (exclusive): `start + microShardSize`. */
  readonly end: number;
}

/**
 * The positions of micro-shard `shardIndex` within a batch: `[shardIndex·m, shardIndex·m + m)`.
 * With `sampleCount` (the samples actually present, e.g. a task's or an evaluation's), the
 * last shard may be partial: `end` is `min(shardIndex·m + m, sampleCount)`. Every slice of
 * samples into micro-shards (the worker's, the tests') goes through this function.
 * @throws {@link NnError} `BAD_OPTIONS` if an argument is not a valid integer, or the shard
 *   starts at or past `sampleCount`
 * @example
 * ```ts
 * shardRange(2, 4);     // { start: 8, end: 12 }
 * shardRange(2, 4, 10); // { start: 8, end: 10 }: the last, partial shard of 10 samples
 * ```
 */
export function shardRange(shardIndex: number, microShardSize: number, sampleCount?: number): ShardRange {
  checkLength(microShardSize, 'microShardSize', 1);
  if (!Number.isSafeInteger(shardIndex) || shardIndex < 0) {
    throw new NnError(NnErrorCode.BAD_OPTIONS, `shardIndex is ${String(shardIndex)}, expected a non-negative integer`);
  }
  const start = shardIndex * microShardSize;
  if (sampleCount === undefined) return { start, end: start + microShardSize };
  if (!Number.isSafeInteger(sampleCount) || sampleCount < 0 || start >= sampleCount) {
    throw new NnError(
      NnErrorCode.BAD_OPTIONS,
      `micro-shard ${shardIndex} of ${microShardSize} samples starts at sample ${start}; expected a start inside the ${String(sampleCount)} samples present`,
    );
  }
  return { start, end: Math.min(start + microShardSize, sampleCount) };
}

/**
 * Cut a batch into consecutive micro-shards of `microShardSize` samples: shard `s` holds
 * positions `[s·m, s·m + m)`. Returns views of `indices` (no copy), in shard order.
 *
 * @throws {@link NnError} `BAD_OPTIONS` if `microShardSize` is not a positive integer or
 *   `indices.length` is not a multiple of it
 * @example
 * ```ts
 * microShards(Uint32Array.of(7, 3, 9, 1), 2); // [Uint32Array [7, 3], Uint32Array [9, 1]]
 * ```
 */
export function microShards(indices: Uint32Array, microShardSize: number): Uint32Array[] {
  checkLength(microShardSize, 'microShardSize', 1);
  if (indices.length % microShardSize !== 0) {
    throw new NnError(
      NnErrorCode.BAD_OPTIONS,
      `batch of ${indices.length} samples is not a multiple of microShardSize ${microShardSize}; expected batchSize = k · microShardSize`,
    );
  }
  const shards: Uint32Array[] = [];
  for (let start = 0; start < indices.length; start += microShardSize) {
    shards.push(indices.subarray(start, start + microShardSize));
  }
  return shards;
}

/**
 * The sampling schedule of a run: global batches per step, micro-shards per batch. Pure apart
 * from a one-epoch cache of the current permutation; results are fresh arrays the caller owns.
 *
 * @example
 * ```ts
 * const schedule = new BatchSchedule({ seed: 42, datasetLength: 60000, batchSize: 256, microShardSize: 32 });
 * schedule.stepsPerEpoch;          // 234
 * schedule.numMicroShards;         // 8
 * const shard3 = schedule.microShard(1000, 3); // 32 dataset indices
 * ```
 */
export class BatchSchedule {
  /** Run seed. */
  readonly seed: number;
  /** Dataset length. */
  readonly datasetLength: number;
  /** Global batch size `B`. */
  readonly batchSize: number;
  /** Micro-shard size `m`. */
  readonly microShardSize: number;
  /** Micro-shards per step: `M = B / m`. */
  readonly numMicroShards: number;
  /** Full batches per epoch: `floor(datasetLength / B)`. */
  readonly stepsPerEpoch: number;
  private cachedEpoch = -1;
  private cachedPermutation: Uint32Array = new Uint32Array(0);

  /** @throws {@link NnError} `BAD_OPTIONS` */
  constructor(options: BatchScheduleOptions) {
    this.seed = checkUint32(options.seed, 'seed');
    this.datasetLength = checkLength(options.datasetLength, 'datasetLength', 1);
    this.batchSize = checkLength(options.batchSize, 'batchSize', 1);
    this.microShardSize = checkLength(options.microShardSize ?? this.batchSize, 'microShardSize', 1);
    if (this.batchSize > this.datasetLength) {
      throw new NnError(
        NnErrorCode.BAD_OPTIONS,
        `batchSize ${this.batchSize} is larger than datasetLength ${this.datasetLength}; expected at least one full batch per epoch`,
      );
    }
    if (this.batchSize % this.microShardSize !== 0) {
      throw new NnError(
        NnErrorCode.BAD_OPTIONS,
        `batchSize ${this.batchSize} is not a multiple of microShardSize ${this.microShardSize}`,
      );
    }
    this.numMicroShards = this.batchSize / this.microShardSize;
    this.stepsPerEpoch = Math.floor(this.datasetLength / this.batchSize);
  }

  /** The 0-based epoch of `step`. @throws {@link NnError} `BAD_OPTIONS` */
  epochOf(step: number): number {
    this.checkStep(step);
    return Math.floor(step / this.stepsPerEpoch);
  }

  /** The permutation of epoch `epoch` (a fresh copy). @throws {@link NnError} `BAD_OPTIONS` */
  permutation(epoch: number): Uint32Array {
    checkUint32(epoch, 'epoch');
    return this.permutationView(epoch).slice();
  }

  /** The global batch of `step`; see {@link batchForStep}. @throws {@link NnError} `BAD_OPTIONS` */
  batch(step: number): StepBatch {
    this.checkStep(step);
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const stepInEpoch = step - epoch * this.stepsPerEpoch;
    const start = stepInEpoch * this.batchSize;
    const indices = this.permutationView(epoch).slice(start, start + this.batchSize);
    return { step, epoch, stepInEpoch, indices };
  }

  /** The global batch of `step` cut into its `numMicroShards` micro-shards (views of one fresh array). */
  microShards(step: number): Uint32Array[] {
    return microShards(this.batch(step).indices, this.microShardSize);
  }

  /**
   * The dataset indices of micro-shard `shardIndex` of `step` (a fresh array).
   * @throws {@link NnError} `BAD_OPTIONS` if `shardIndex` is not in `[0, numMicroShards)`
   */
  microShard(step: number, shardIndex: number): Uint32Array {
    return this.shardBlock(step, shardIndex, 1);
  }

  /**
   * The dataset indices of `shardCount` consecutive micro-shards starting at `firstShard`
   * (positions `[firstShard·m, (firstShard + shardCount)·m)` of the batch), e.g. the aligned
   * block of 2^k shards a worker is given. A fresh array; cut it with {@link microShards}.
   * @throws {@link NnError} `BAD_OPTIONS` if the block is not inside `[0, numMicroShards)`
   */
  shardBlock(step: number, firstShard: number, shardCount: number): Uint32Array {
    if (
      !Number.isInteger(firstShard) || !Number.isInteger(shardCount) ||
      firstShard < 0 || shardCount < 1 || firstShard + shardCount > this.numMicroShards
    ) {
      throw new NnError(
        NnErrorCode.BAD_OPTIONS,
        `shard block [${String(firstShard)}, ${String(firstShard + shardCount)}) is outside the ${this.numMicroShards} micro-shards of a step`,
      );
    }
    const { indices } = this.batch(step);
    return indices.slice(firstShard * this.microShardSize, (firstShard + shardCount) * this.microShardSize);
  }

  private checkStep(step: number): void {
    if (!Number.isSafeInteger(step) || step < 0 || Math.floor(step / this.stepsPerEpoch) > 0xffffffff) {
      throw new NnError(
        NnErrorCode.BAD_OPTIONS,
        `step is ${String(step)}, expected an integer in [0, ${this.stepsPerEpoch} · 2^32)`,
      );
    }
  }

  private permutationView(epoch: number): Uint32Array {
    if (epoch !== this.cachedEpoch) {
      this.cachedPermutation = epochPermutation(this.seed, epoch, this.datasetLength);
      this.cachedEpoch = epoch;
    }
    return this.cachedPermutation;
  }
}
