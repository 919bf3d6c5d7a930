import { describe, expect, it } from 'vitest';
import { ImageDataset } from './dataset.js';
import { isDataError } from './errors.js';
import { TransformedImageDataset, computeNormalization, parseAugmentation, sampleAugmentation } from './transforms.js';

function randomImages(n: number, h: number, w: number, c: number, seed = 7): ImageDataset {
  let s = seed;
  const images = Uint8Array.from({ length: n * h * w * c }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24));
  return new ImageDataset({ images, labels: Array.from({ length: n }, (_, i) => i % 3), height: h, width: w, channels: c, numClasses: 3 });
}

describe('normalisation', () => {
  it('computes per-channel mean and std matching a float64 loop', () => {
    const ds = randomImages(20, 5, 4, 3);
    const norm = computeNormalization(ds.images, 3);
    for (let c = 0; c < 3; c++) {
      const values: number[] = [];
      for (let i = c; i < ds.images.length; i += 3) values.push((ds.images[i] as number) / 255);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
      expect(norm.mean[c]).toBeCloseTo(mean, 5);
      expect(norm.std[c]).toBeCloseTo(std, 5);
    }
  });

  it('normalised batches have zero mean and unit std per channel; no transform keeps the source bits', () => {
    const ds = randomImages(50, 6, 6, 3);
    const normalization = computeNormalization(ds.images, 3);
    const all = Uint32Array.from({ length: 50 }, (_, i) => i);
    const { x } = new TransformedImageDataset(ds, { normalization }).batch(all);
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      let sq = 0;
      let n = 0;
      for (let i = c; i < x.length; i += 3) (sum += x[i]!), (sq += x[i]! ** 2), n++;
      expect(sum / n).toBeCloseTo(0, 4);
      expect(Math.sqrt(sq / n - (sum / n) ** 2)).toBeCloseTo(1, 4);
    }
    expect(new TransformedImageDataset(ds).batch(all).x).toEqual(ds.batch(all).x);
  });

  it('refuses a normalisation with the wrong channel count or a zero std', () => {
    const ds = randomImages(2, 2, 2, 3);
    for (const normalization of [{ mean: [0.5], std: [0.2] }, { mean: [0, 0, 0], std: [1, 0, 1] }, { mean: [0, NaN, 0], std: [1, 1, 1] }]) {
      expect(() => new TransformedImageDataset(ds, { normalization })).toThrow(expect.objectContaining({ code: 'BAD_OPTIONS' }));
    }
  });
});

describe('augmentation', () => {
  it('parses crop,flip and refuses unknown items', () => {
    expect(parseAugmentation('crop,flip', 3)).toEqual({ cropPadding: 4, flip: true, seed: 3 });
    expect(parseAugmentation('crop:2', 3)).toEqual({ cropPadding: 2, flip: false, seed: 3 });
    expect(parseAugmentation('none', 3)).toBeUndefined();
    try {
      parseAugmentation('crop,rotate', 1);
      expect.unreachable();
    } catch (error) {
      expect(isDataError(error, 'BAD_OPTIONS')).toBe(true);
    }
  });

  it('is a pure function of (seed, epoch, index): same bits in any batch order, different across epochs', () => {
    const ds = randomImages(64, 8, 8, 3);
    const augmentation = { cropPadding: 2, flip: true, seed: 11 };
    const a = new TransformedImageDataset(ds, { augmentation });
    const b = new TransformedImageDataset(ds, { augmentation });
    const size = 8 * 8 * 3;
    const forward = a.batch(Uint32Array.from({ length: 64 }, (_, i) => i), { epoch: 3 }).x;
    const backward = b.batch(Uint32Array.from({ length: 64 }, (_, i) => 63 - i), { epoch: 3 }).x;
    for (let i = 0; i < 64; i++) expect(forward.subarray(i * size, (i + 1) * size)).toEqual(backward.subarray((63 - i) * size, (64 - i) * size));
    const other = a.batch(Uint32Array.from({ length: 64 }, (_, i) => i), { epoch: 4 }).x;
    expect(other).not.toEqual(forward);
    // Evaluation batches (no epoch) are not augmented.
    expect(a.batch([5]).x).toEqual(ds.batch([5]).x);
    // Flips and all crop offsets occur with roughly the expected frequency.
    const offsets = new Set<string>();
    let flips = 0;
    for (let i = 0; i < 2000; i++) {
      const how = sampleAugmentation(augmentation, 0, i);
      offsets.add(`${how.dy},${how.dx}`);
      flips += Number(how.flip);
    }
    expect(offsets.size).toBe(25);
    expect(flips).toBeGreaterThan(900);
    expect(flips).toBeLessThan(1100);
  });

  it('crops and flips exactly as a naive reference does', () => {
    const ds = randomImages(10, 5, 7, 2);
    const augmentation = { cropPadding: 3, flip: true, seed: 5 };
    const t = new TransformedImageDataset(ds, { augmentation });
    for (let index = 0; index < 10; index++) {
      const how = sampleAugmentation(augmentation, 2, index);
      const got = t.batch([index], { epoch: 2 }).x;
      // Reference: pad with zeros, crop at (dy, dx), then mirror.
      const padded = (r: number, c: number, k: number): number =>
        r < 3 || r >= 8 || c < 3 || c >= 10 ? 0 : ds.images[index * 70 + ((r - 3) * 7 + (c - 3)) * 2 + k]!;
      for (let r = 0; r < 5; r++) {
        for (let c = 0; c < 7; c++) {
          const cc = how.flip ? 6 - c : c;
          for (let k = 0; k < 2; k++) expect(got[(r * 7 + c) * 2 + k]).toBe(Math.fround(padded(r + how.dy, cc + how.dx, k) / 255));
        }
      }
    }
  });
});

describe('batchPixels', () => {
  it('gives the same bits as batch after pixelsToSamples, with and without normalisation and augmentation', async () => {
    const { pixelsToSamples } = await import('./transforms.js');
    const { subsetDataset } = await import('./dataset.js');
    const ds = randomImages(30, 6, 5, 3);
    const indices = [4, 0, 29, 4, 17];
    const variants = [
      new TransformedImageDataset(ds),
      new TransformedImageDataset(ds, { normalization: computeNormalization(ds.images, 3) }),
      new TransformedImageDataset(ds, { normalization: { mean: [0.1, 0.5, 0.9], std: [0.3, 0.2, 0.7] }, augmentation: { cropPadding: 2, flip: true, seed: 4 } }),
    ];
    for (const t of variants) {
      for (const context of [undefined, { epoch: 3 }]) {
        const { pixels, y, normalization } = t.batchPixels(indices, context);
        const reference = t.batch(indices, context);
        expect(pixelsToSamples(pixels, 3, normalization)).toEqual(reference.x);
        expect(y).toEqual(reference.y);
      }
    }
    const plain = ds.batchPixels(indices);
    expect(pixelsToSamples(plain.pixels, 3)).toEqual(ds.batch(indices).x);
    const subset = subsetDataset(variants[2]!, [29, 3, 8]);
    expect(pixelsToSamples(subset.batchPixels!([2, 0], { epoch: 1 }).pixels, 3, variants[2]!.normalization)).toEqual(subset.batch([2, 0], { epoch: 1 }).x);
  });
});
