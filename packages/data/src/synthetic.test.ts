import { describe, expect, it } from 'vitest';
import { DataErrorCode } from './errors.js';
import { BatchSchedule } from '@swarmgrad/nn-core';
import { syntheticDataset, syntheticRegression } from './synthetic.js';

// Golden hashes of exact bits: if these change, every stored synthetic benchmark changes too.
const GOLDEN_X_HASH = 0xe35369b8;
const GOLDEN_DEFAULT_HASH = 0x2710d07e;
const GOLDEN_REGRESSION_HASH = 0xa63e806a;

const throwsCode = (code: string) => expect.objectContaining({ name: 'DataError', code });

/** FNV-1a over the bytes of a typed array: pins exact bits. */
function fnv1a(array: ArrayBufferView): number {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  let hash = 0x811c9dc5;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

const range = (start: number, end: number): Uint32Array => Uint32Array.from({ length: end - start }, (_, i) => start + i);

describe('syntheticDataset', () => {
  const options = { seed: 1, length: 2048, height: 12, width: 12, channels: 1, numClasses: 10 };
  const ds = syntheticDataset(options);

  it('describes itself', () => {
    expect(ds.length).toBe(2048);
    expect(ds.sampleShape).toEqual([12, 12, 1]);
    expect(ds.numClasses).toBe(10);
    expect(ds.name).toBe('synthetic');
  });

  it('is deterministic from the seed, and pinned bit for bit', () => {
    const a = ds.batch(range(0, 64));
    expect(syntheticDataset(options).batch(range(0, 64))).toEqual(a);
    expect(syntheticDataset({ ...options, seed: 2 }).batch(range(0, 64)).x).not.toEqual(a.x);
    expect(fnv1a(a.x)).toBe(GOLDEN_X_HASH);
    expect(fnv1a(syntheticDataset().batch(range(0, 16)).x)).toBe(GOLDEN_DEFAULT_HASH);
  });

  it('generates each sample independently of the others and of the batch order', () => {
    const all = ds.batch(range(0, 10));
    const one = ds.batch([7, 3]);
    expect(one.x).toEqual(new Float32Array([...all.x.subarray(7 * 144, 8 * 144), ...all.x.subarray(3 * 144, 4 * 144)]));
    expect(Array.from(one.y)).toEqual([7, 3]);
    // Length does not change sample i.
    expect(syntheticDataset({ ...options, length: 10 }).batch([3])).toEqual(ds.batch([3]));
  });

  it('has values in [0, 1] and exactly balanced labels i mod numClasses', () => {
    const { x, y } = ds.batch(range(0, 2048));
    expect(x.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(y.every((label, i) => label === i % 10)).toBe(true);
    expect(ds.label(13)).toBe(3);
  });

  it('is learnable: softmax regression trained by SGD for 300 steps exceeds 90% held-out accuracy', () => {
    // A linear model is weaker than the tiny CNNs this set is meant for; if it learns, they can.
    const inputs = 144;
    const classes = 10;
    const weights = new Float64Array(inputs * classes);
    const bias = new Float64Array(classes);
    const train = 1536;
    const schedule = new BatchSchedule({ seed: 5, datasetLength: train, batchSize: 32 });
    const learningRate = 0.5;
    const logits = new Float64Array(classes);
    for (let step = 0; step < 300; step++) {
      const { x, y } = ds.batch(schedule.batch(step).indices);
      const gradW = new Float64Array(weights.length);
      const gradB = new Float64Array(classes);
      for (let n = 0; n < 32; n++) {
        let max = -Infinity;
        for (let c = 0; c < classes; c++) {
          let z = bias[c] as number;
          for (let i = 0; i < inputs; i++) z += (x[n * inputs + i] as number) * (weights[i * classes + c] as number);
          logits[c] = z;
          max = Math.max(max, z);
        }
        let sum = 0;
        for (let c = 0; c < classes; c++) sum += (logits[c] = Math.exp((logits[c] as number) - max));
        for (let c = 0; c < classes; c++) {
          const delta = (logits[c] as number) / sum - (c === y[n] ? 1 : 0);
          gradB[c] = (gradB[c] as number) + delta;
          for (let i = 0; i < inputs; i++) gradW[i * classes + c] = (gradW[i * classes + c] as number) + delta * (x[n * inputs + i] as number);
        }
      }
      for (let k = 0; k < weights.length; k++) weights[k] = (weights[k] as number) - (learningRate * (gradW[k] as number)) / 32;
      for (let c = 0; c < classes; c++) bias[c] = (bias[c] as number) - (learningRate * (gradB[c] as number)) / 32;
    }
    const { x, y } = ds.batch(range(train, 2048));
    let correct = 0;
    for (let n = 0; n < y.length; n++) {
      let best = 0;
      let bestScore = -Infinity;
      for (let c = 0; c < classes; c++) {
        let z = bias[c] as number;
        for (let i = 0; i < inputs; i++) z += (x[n * inputs + i] as number) * (weights[i * classes + c] as number);
        if (z > bestScore) [best, bestScore] = [c, z];
      }
      if (best === y[n]) correct++;
    }
    expect(correct / y.length).toBeGreaterThan(0.9);
  });

  it('supports several channels and tiny images', () => {
    const rgb = syntheticDataset({ seed: 3, length: 8, height: 2, width: 3, channels: 3, numClasses: 2 });
    expect(rgb.sampleShape).toEqual([2, 3, 3]);
    expect(rgb.batch([0, 7]).x.length).toBe(2 * 18);
  });

  it('rejects bad options and indices', () => {
    for (const bad of [{ seed: -1 }, { length: 0 }, { height: 0 }, { numClasses: 1 }, { noise: 2 }, { noise: Number.NaN }, { channels: 1.5 }]) {
      expect(() => syntheticDataset(bad)).toThrow(throwsCode(DataErrorCode.BAD_OPTIONS));
    }
    expect(() => ds.batch([2048])).toThrow(throwsCode(DataErrorCode.BAD_INDEX));
    expect(() => ds.batch([-1])).toThrow(throwsCode(DataErrorCode.BAD_INDEX));
  });
});

describe('syntheticRegression', () => {
  const ds = syntheticRegression({ seed: 4, length: 100, inputSize: 5, targetSize: 2, noise: 0.01 });

  it('produces y = b + W·x + small noise, deterministically', () => {
    const { x, y } = ds.batch(range(0, 100));
    expect(x.length).toBe(500);
    expect(y.length).toBe(200);
    for (let n = 0; n < 100; n++) {
      for (let t = 0; t < 2; t++) {
        let expected = ds.bias[t] as number;
        for (let i = 0; i < 5; i++) expected += (ds.weights[t * 5 + i] as number) * (x[n * 5 + i] as number);
        expect(Math.abs((y[n * 2 + t] as number) - expected)).toBeLessThan(0.0101);
      }
    }
    expect(x.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(syntheticRegression({ seed: 4, length: 100, inputSize: 5, targetSize: 2, noise: 0.01 }).batch([9, 3])).toEqual(ds.batch([9, 3]));
    expect(syntheticRegression({ seed: 5, length: 100, inputSize: 5, targetSize: 2 }).batch([9]).x).not.toEqual(ds.batch([9]).x);
    expect(fnv1a(y)).toBe(GOLDEN_REGRESSION_HASH);
  });

  it('rejects bad options and indices', () => {
    expect(() => syntheticRegression({ inputSize: 0 })).toThrow(throwsCode(DataErrorCode.BAD_OPTIONS));
    expect(() => ds.batch([100])).toThrow(throwsCode(DataErrorCode.BAD_INDEX));
  });
});
