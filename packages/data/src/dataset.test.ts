import { describe, expect, it } from 'vitest';
import { DataErrorCode } from './errors.js';
import { ImageDataset, imageDatasetFromIdx, subsetDataset } from './dataset.js';
import { Prng } from '@swarmgrad/nn-core';

const throwsCode = (code: string) => expect.objectContaining({ name: 'DataError', code });

function randomImages(count: number, size: number, seed: number): Uint8Array {
  const rng = Prng.fromSeed(seed);
  return Uint8Array.from({ length: count * size }, () => rng.nextUint32() & 0xff);
}

describe('ImageDataset', () => {
  const height = 3;
  const width = 4;
  const channels = 2;
  const size = height * width * channels;
  const count = 10;
  const images = randomImages(count, size, 1);
  const labels = Uint8Array.from({ length: count }, (_, i) => (i * 7) % 5);
  const ds = new ImageDataset({ name: 'toy', images, labels, height, width, channels });

  it('describes itself', () => {
    expect(ds.length).toBe(count);
    expect(ds.sampleShape).toEqual([height, width, channels]);
    expect(ds.numClasses).toBe(5); // max label + 1
    expect(ds.classNames).toBeUndefined();
    expect(Object.isFrozen(ds.sampleShape)).toBe(true);
  });

  it('gathers samples in order, NHWC, scaled to [0, 1] (naive reference loop)', () => {
    const indices = [9, 0, 3, 3, 7];
    const { x, y } = ds.batch(indices);
    expect(x.length).toBe(indices.length * size);
    expect(Array.from(y)).toEqual(indices.map((i) => labels[i]));
    for (let n = 0; n < indices.length; n++) {
      for (let j = 0; j < size; j++) {
        const pixel = images[(indices[n] as number) * size + j] as number;
        expect(x[n * size + j]).toBe(Math.fround(pixel / 255));
      }
    }
    expect(ds.batch(Uint32Array.of(9, 0, 3, 3, 7))).toEqual({ x, y });
  });

  it('maps 0 to 0 and 255 to exactly 1', () => {
    const edge = new ImageDataset({ images: Uint8Array.of(0, 255), labels: [0, 1], height: 1, width: 1 });
    expect(Array.from(edge.batch([0, 1]).x)).toEqual([0, 1]);
  });

  it('returns an empty batch for no indices', () => {
    const { x, y } = ds.batch([]);
    expect(x.length).toBe(0);
    expect(y.length).toBe(0);
  });

  it.each([[-1], [count], [1.5], [Number.NaN], [Infinity]])('rejects index %s with BAD_INDEX', (index) => {
    expect(() => ds.batch([0, index])).toThrow(throwsCode(DataErrorCode.BAD_INDEX));
  });

  it('checks pixel count against label count (LENGTH_MISMATCH)', () => {
    expect(() => new ImageDataset({ images: new Uint8Array(size * count - 1), labels, height, width, channels })).toThrow(
      throwsCode(DataErrorCode.LENGTH_MISMATCH),
    );
  });

  it('checks labels (BAD_LABEL)', () => {
    const base = { images: new Uint8Array(3), height: 1, width: 1 };
    expect(() => new ImageDataset({ ...base, labels: [0, 1, 5], numClasses: 5 })).toThrow(throwsCode(DataErrorCode.BAD_LABEL));
    expect(() => new ImageDataset({ ...base, labels: [0, -1, 2] })).toThrow(throwsCode(DataErrorCode.BAD_LABEL));
    expect(() => new ImageDataset({ ...base, labels: [0, 0.5, 2] })).toThrow(throwsCode(DataErrorCode.BAD_LABEL));
    expect(new ImageDataset({ ...base, labels: [0, 1, 2], numClasses: 8 }).numClasses).toBe(8);
  });

  it('checks options (BAD_OPTIONS)', () => {
    const base = { images: new Uint8Array(2), labels: [0, 1] };
    expect(() => new ImageDataset({ ...base, height: 0, width: 1 })).toThrow(throwsCode(DataErrorCode.BAD_OPTIONS));
    expect(() => new ImageDataset({ ...base, height: 1, width: 1.5 })).toThrow(throwsCode(DataErrorCode.BAD_OPTIONS));
    expect(() => new ImageDataset({ ...base, height: 1, width: 1, numClasses: 0 })).toThrow(throwsCode(DataErrorCode.BAD_OPTIONS));
    expect(() => new ImageDataset({ ...base, height: 1, width: 1, classNames: ['a'] })).toThrow(throwsCode(DataErrorCode.BAD_OPTIONS));
    expect(new ImageDataset({ ...base, height: 1, width: 1, classNames: ['a', 'b'] }).classNames).toEqual(['a', 'b']);
  });
});

describe('imageDatasetFromIdx', () => {
  const images = { dtype: 'uint8' as const, shape: [2, 2, 3], data: Uint8Array.of(1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16) };
  const labels = { dtype: 'uint8' as const, shape: [2], data: Uint8Array.of(1, 0) };

  it('builds a one-channel dataset from [N, H, W]', () => {
    const ds = imageDatasetFromIdx(images, labels, { name: 'idx' });
    expect(ds.sampleShape).toEqual([2, 3, 1]);
    expect(ds.numClasses).toBe(2);
    expect(Array.from(ds.batch([1]).x)).toEqual([11, 12, 13, 14, 15, 16].map((v) => Math.fround(v / 255)));
  });

  it('keeps channels from [N, H, W, C]', () => {
    const ds = imageDatasetFromIdx({ ...images, shape: [2, 1, 3, 2] }, labels);
    expect(ds.sampleShape).toEqual([1, 3, 2]);
  });

  it('transposes each image when asked (EMNIST)', () => {
    const ds = imageDatasetFromIdx(images, labels, { transpose: true });
    expect(ds.sampleShape).toEqual([3, 2, 1]);
    // image 1 was [[11,12,13],[14,15,16]]; transposed: [[11,14],[12,15],[13,16]]
    expect(Array.from(ds.batch([1]).x)).toEqual([11, 14, 12, 15, 13, 16].map((v) => Math.fround(v / 255)));
    const rgb = imageDatasetFromIdx(
      { dtype: 'uint8', shape: [1, 1, 2, 2], data: Uint8Array.of(1, 2, 3, 4) },
      { dtype: 'uint8', shape: [1], data: Uint8Array.of(0) },
      { transpose: true },
    );
    expect(rgb.sampleShape).toEqual([2, 1, 2]);
    expect(Array.from(rgb.images)).toEqual([1, 2, 3, 4]);
  });

  it('accepts any integer label dtype', () => {
    const ds = imageDatasetFromIdx(images, { dtype: 'int32', shape: [2], data: Int32Array.of(3, 0) });
    expect(ds.numClasses).toBe(4);
  });

  it('rejects bad tensors with stable codes', () => {
    expect(() => imageDatasetFromIdx({ dtype: 'float32', shape: [2, 2, 3], data: new Float32Array(12) }, labels)).toThrow(
      throwsCode(DataErrorCode.BAD_DTYPE),
    );
    expect(() => imageDatasetFromIdx(images, { dtype: 'float64', shape: [2], data: new Float64Array(2) })).toThrow(
      throwsCode(DataErrorCode.BAD_DTYPE),
    );
    expect(() => imageDatasetFromIdx({ ...images, shape: [2, 6] }, labels)).toThrow(throwsCode(DataErrorCode.BAD_DIMENSIONS));
    expect(() => imageDatasetFromIdx(images, { ...labels, shape: [2, 1] })).toThrow(throwsCode(DataErrorCode.BAD_DIMENSIONS));
    expect(() => imageDatasetFromIdx(images, { dtype: 'uint8', shape: [3], data: Uint8Array.of(0, 1, 0) })).toThrow(
      throwsCode(DataErrorCode.LENGTH_MISMATCH),
    );
    expect(() => imageDatasetFromIdx(images, labels, { numClasses: 1 })).toThrow(throwsCode(DataErrorCode.BAD_LABEL));
  });
});

describe('subsetDataset', () => {
  const images = randomImages(6, 4, 2);
  const parent = new ImageDataset({ name: 'p', images, labels: [0, 1, 2, 0, 1, 2], height: 2, width: 2, classNames: ['a', 'b', 'c'] });
  const subset = subsetDataset(parent, [5, 1, 1]);

  it('maps subset indices to parent indices', () => {
    expect(subset.length).toBe(3);
    expect(subset.numClasses).toBe(3);
    expect(subset.sampleShape).toEqual([2, 2, 1]);
    expect(subset.classNames).toEqual(['a', 'b', 'c']);
    expect(subset.batch([2, 0])).toEqual(parent.batch([1, 5]));
  });

  it('checks indices on both levels (BAD_INDEX)', () => {
    expect(() => subsetDataset(parent, [6])).toThrow(throwsCode(DataErrorCode.BAD_INDEX));
    expect(() => subset.batch([3])).toThrow(throwsCode(DataErrorCode.BAD_INDEX));
  });
});
