import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  EDGE_DETECTOR,
  SOBEL_X,
  SOBEL_Y,
  bellCurveFilter,
  conv1dNaive,
  convolve2d,
  crossCorrelate1d,
  seedSignal,
  sobelEdges,
  type Convolve2dOptions,
  type Image2d,
  NnErrorCode,
  Xoshiro128,
} from '@swarmgrad/nn-core';

/** Asserts that `fn` throws an `NnError` with `code` (tests match codes, not messages). */
function expectNnError(fn: () => unknown, code: NnErrorCode): void {
  expect(fn).toThrow(expect.objectContaining({ name: 'NnError', code }));
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Random values in [-1, 1) that are exact float32 numbers, so tfjs sees the same inputs. */
function randomValues(rng: Xoshiro128, length: number): number[] {
  return Array.from({ length }, () => Math.fround(2 * rng.nextFloat() - 1));
}

function randomKernel(rng: Xoshiro128, height: number, width: number): number[][] {
  return Array.from({ length: height }, () => randomValues(rng, width));
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** Independent reference: the full convolution from its definition, then numpy's 'valid' slice. */
function referenceConvolveValid(f: ArrayLike<number>, g: ArrayLike<number>): number[] {
  const full = new Array<number>(f.length + g.length - 1).fill(0);
  for (let i = 0; i < f.length; i++) for (let j = 0; j < g.length; j++) full[i + j]! += f[i]! * g[j]!;
  const short = Math.min(f.length, g.length);
  return full.slice(short - 1, full.length - short + 1);
}

describe('1-D convolution (the seed lecture)', () => {
  it('conv1dNaive matches np.convolve(f, g, "valid") on known values', () => {
    // np.convolve([1, 2, 3], [0, 1, 0.5], 'valid') == [2.5]; np.convolve([1, 2, 3, 4], [1, -1], 'valid') == [1, 1, 1]
    expect(Array.from(conv1dNaive([1, 2, 3], [0, 1, 0.5]))).toEqual([2.5]);
    expect(Array.from(conv1dNaive([1, 2, 3, 4], [1, -1]))).toEqual([1, 1, 1]);
    expect(Array.from(conv1dNaive([1, -1], [1, 2, 3, 4]))).toEqual([1, 1, 1]);
    expect(Array.from(conv1dNaive([2], [1, 2, 3]))).toEqual([2, 4, 6]);
  });

  it('conv1dNaive equals the full convolution sliced to its valid part, on random inputs, both argument orders', () => {
    const rng = new Xoshiro128(1);
    for (const [M, N] of [[3, 10], [10, 3], [5, 5], [1, 7], [8, 31]] as const) {
      const f = randomValues(rng, M);
      const g = randomValues(rng, N);
      const expected = referenceConvolveValid(f, g);
      const out = conv1dNaive(f, g);
      expect(out.length).toBe(Math.max(M, N) - Math.min(M, N) + 1);
      expect(maxAbsDifference(out, expected)).toBeLessThan(1e-14);
      expect(maxAbsDifference(conv1dNaive(g, f), expected)).toBeLessThan(1e-14);
    }
  });

  it('crossCorrelate1d is Σ_t f[t]·g[p+t], and conv1dNaive(f, g) = crossCorrelate1d(reverse(f), g)', () => {
    expect(Array.from(crossCorrelate1d([1, 2], [1, 10, 100]))).toEqual([21, 210]);
    const rng = new Xoshiro128(2);
    for (const [K, N] of [[1, 4], [2, 30], [3, 17], [6, 6], [9, 40]] as const) {
      const f = randomValues(rng, K);
      const g = randomValues(rng, N);
      expect(Array.from(conv1dNaive(f, g))).toEqual(Array.from(crossCorrelate1d(f.slice().reverse(), g)));
    }
  });

  it('conv1dNaive equals tfjs conv1d (the layer op) with the reversed filter, to 1e-6', () => {
    const rng = new Xoshiro128(3);
    for (const [K, N] of [[1, 5], [2, 30], [3, 17], [5, 64], [7, 7]] as const) {
      const filter = randomValues(rng, K);
      const signal = randomValues(rng, N);
      const result = tf.tidy(() => {
        const x = tf.tensor3d(signal, [1, N, 1]);
        const w = tf.tensor3d(filter.slice().reverse(), [K, 1, 1]);
        return tf.conv1d(x, w, 1, 'valid').dataSync();
      });
      const expected = conv1dNaive(filter, signal);
      expect(result.length).toBe(N - K + 1);
      expect(maxAbsDifference(result, expected)).toBeLessThan(1e-6);
    }
  });

  it('the seed signal is 30 ones with zeros at 5, 6, 7 and 15, 16, 17', () => {
    const s = seedSignal();
    expect(s.length).toBe(30);
    const zeros = Array.from(s.entries()).filter(([, v]) => v === 0).map(([i]) => i);
    expect(zeros).toEqual([5, 6, 7, 15, 16, 17]);
    expect(s.reduce((a, b) => a + b, 0)).toBe(24);
    s[0] = 5;
    expect(seedSignal()[0]).toBe(1); // a fresh array each call
  });

  it('the edge detector [-1, 1] fires exactly at the four edges: +1 at 4 and 14, −1 at 7 and 17', () => {
    expect(Array.from(EDGE_DETECTOR)).toEqual([-1, 1]);
    for (const out of [conv1dNaive(EDGE_DETECTOR, seedSignal()), conv1dNaive(seedSignal(), EDGE_DETECTOR)]) {
      expect(out.length).toBe(29);
      const nonzero = Array.from(out.entries()).filter(([, v]) => v !== 0);
      expect(nonzero).toEqual([
        [4, 1],
        [7, -1],
        [14, 1],
        [17, -1],
      ]);
    }
  });

  it('bellCurveFilter gives the normalised binomial weights', () => {
    expect(Array.from(bellCurveFilter())).toEqual([1, 4, 6, 4, 1].map((w) => w / 16));
    expect(Array.from(bellCurveFilter(1))).toEqual([1]);
    expect(Array.from(bellCurveFilter(2))).toEqual([0.5, 0.5]);
    expect(Array.from(bellCurveFilter(3))).toEqual([0.25, 0.5, 0.25]);
    expect(Array.from(bellCurveFilter(4))).toEqual([1, 3, 3, 1].map((w) => w / 8));
    for (let size = 1; size <= 54; size++) {
      const w = bellCurveFilter(size);
      expect(w.reduce((a, b) => a + b, 0)).toBe(1);
      expect(Array.from(w)).toEqual(Array.from(w).reverse());
    }
    for (const size of [0, -1, 2.5, Number.NaN, 1025]) expectNnError(() => bellCurveFilter(size), NnErrorCode.BAD_OPTIONS);
  });

  it('smoothing the seed signal with the bell curve softens the edges and preserves the mass', () => {
    const smoothed = conv1dNaive(bellCurveFilter(), seedSignal());
    expect(smoothed.length).toBe(26);
    const dip = [15, 11, 5, 2, 5, 11, 15].map((v) => v / 16);
    const expected = [1, ...dip, 1, 1, 1, ...dip, 1, 1, 1, 1, 1, 1, 1, 1];
    expect(Array.from(smoothed)).toEqual(expected);
    for (const v of smoothed) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    // Both gaps lie inside the valid range, so the missing mass (6 zero samples) is preserved.
    expect(smoothed.reduce((sum, v) => sum + (1 - v), 0)).toBe(6);
    // A jump of 1 in the raw signal becomes at most the largest weight, 6/16.
    let largestJump = 0;
    for (let i = 1; i < smoothed.length; i++) largestJump = Math.max(largestJump, Math.abs(smoothed[i]! - smoothed[i - 1]!));
    expect(largestJump).toBe(6 / 16);
  });

  it('rejects empty inputs and a filter longer than the signal with BAD_INPUT', () => {
    expectNnError(() => conv1dNaive([], [1, 2]), NnErrorCode.BAD_INPUT);
    expectNnError(() => conv1dNaive([1], []), NnErrorCode.BAD_INPUT);
    expectNnError(() => crossCorrelate1d([1, 2, 3], [1, 2]), NnErrorCode.BAD_INPUT);
    expectNnError(() => crossCorrelate1d([], [1, 2]), NnErrorCode.BAD_INPUT);
    expectNnError(() => conv1dNaive(null as unknown as number[], [1]), NnErrorCode.BAD_INPUT);
  });
});

type Boundary = NonNullable<Convolve2dOptions['boundary']>;
type Mode = NonNullable<Convolve2dOptions['mode']>;

/** np.pad(image, ((top, bottom), (left, right)), kind) written out with explicit loops. */
function pad(image: Image2d, top: number, bottom: number, left: number, right: number, boundary: Boundary, fillValue: number): Image2d<number[]> {
  const height = image.height + top + bottom;
  const width = image.width + left + right;
  const source = (index: number, n: number): number | undefined => {
    if (boundary === 'wrap') return ((index % n) + n) % n;
    if (boundary === 'fill') return index >= 0 && index < n ? index : undefined;
    // numpy 'symmetric': reflect about the edge, repeating the edge sample; repeat as often as needed.
    let i = index;
    while (i < 0 || i >= n) i = i < 0 ? -1 - i : 2 * n - 1 - i;
    return i;
  };
  const data: number[] = [];
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const sr = source(r - top, image.height);
      const sc = source(c - left, image.width);
      data.push(sr === undefined || sc === undefined ? fillValue : image.data[sr * image.width + sc]!);
    }
  }
  return { data, height, width };
}

/** Independent reference for scipy.signal.convolve2d: pad explicitly, then a valid convolution. */
function referenceConvolve2d(image: Image2d, kernel: number[][], mode: Mode, boundary: Boundary, fillValue: number): Image2d<number[]> {
  const kh = kernel.length;
  const kw = kernel[0]!.length;
  // scipy's 'same' output is centred on the full one with offset floor((k-1)/2).
  const [top, bottom, left, right] =
    mode === 'valid'
      ? [0, 0, 0, 0]
      : mode === 'full'
        ? [kh - 1, kh - 1, kw - 1, kw - 1]
        : [kh - 1 - ((kh - 1) >> 1), (kh - 1) >> 1, kw - 1 - ((kw - 1) >> 1), (kw - 1) >> 1];
  const padded = pad(image, top, bottom, left, right, boundary, fillValue);
  const height = padded.height - kh + 1;
  const width = padded.width - kw + 1;
  const data: number[] = [];
  for (let m = 0; m < height; m++) {
    for (let n = 0; n < width; n++) {
      // Cross-correlate with the flipped kernel, summing in the opposite order from convolve2d.
      let sum = 0;
      for (let j = kh - 1; j >= 0; j--) {
        for (let k = kw - 1; k >= 0; k--) sum += kernel[kh - 1 - j]![kw - 1 - k]! * padded.data[(m + j) * padded.width + (n + k)]!;
      }
      data.push(sum);
    }
  }
  return { data, height, width };
}

function randomImage(rng: Xoshiro128, height: number, width: number): Image2d<number[]> {
  return { data: randomValues(rng, height * width), height, width };
}

/** A height × width image of zeros and ones, given per pixel. */
function makeImage(height: number, width: number, pixel: (row: number, col: number) => number): Image2d<number[]> {
  const data: number[] = [];
  for (let r = 0; r < height; r++) for (let c = 0; c < width; c++) data.push(pixel(r, c));
  return { data, height, width };
}

function pixelsWhere(image: Image2d, predicate: (v: number) => boolean): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let r = 0; r < image.height; r++) {
    for (let c = 0; c < image.width; c++) {
      const v = image.data[r * image.width + c]!;
      if (predicate(v)) out.push([r, c, v]);
    }
  }
  return out;
}

describe('2-D convolution (scipy.signal.convolve2d)', () => {
  it('matches scipy.signal.convolve2d outputs recorded from scipy 1.17', () => {
    const image = { data: [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4], height: 4, width: 5 };
    const cases: Array<[number[][], Convolve2dOptions, number[][]]> = [
      [SOBEL_X.map((row) => [...row]), {}, [[13, 0, -3, 0, -10], [13, 1, -5, 5, -2], [2, -5, -7, 2, 2], [0, -4, -17, -3, 10]]],
      [[[1, 2], [3, 4]], { mode: 'same', boundary: 'symm' }, [[30, 22, 22, 28, 26], [48, 35, 26, 36, 32], [78, 60, 51, 64, 52], [44, 52, 66, 71, 75]]],
      [
        [[1, 0, -1], [2, 1, 0]],
        { mode: 'full', boundary: 'wrap' },
        [[12, 3, 9, 19, 17, 12, 3], [15, 4, 6, 9, 8, 15, 4], [19, 12, 18, 15, 11, 19, 12], [14, 19, 26, 29, 26, 14, 19], [12, 3, 9, 19, 17, 12, 3]],
      ],
      [[[1, 2], [0, -1], [3, 1]], { mode: 'same', boundary: 'fill', fillValue: 2 }, [[19, 25, 17, 21, 20], [18, 15, 36, 26, 34], [34, 18, 19, 26, 27], [21, 32, 39, 33, 32]]],
      [[[2, 1, 0, 1], [1, 1, 1, 1]], { mode: 'valid' }, [[34, 24], [50, 49], [51, 51]]],
      // A kernel taller than the image: the symmetric boundary reflects more than once.
      [[[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 1, 1], [2, 2, 2]], {}, [[245, 233, 191, 240, 222], [292, 285, 260, 299, 282], [233, 261, 297, 337, 351], [197, 200, 256, 296, 311]]],
    ];
    for (const [kernel, options, expected] of cases) {
      const out = convolve2d(image, kernel, options);
      expect([out.height, out.width]).toEqual([expected.length, expected[0]!.length]);
      expect(Array.from(out.data)).toEqual(expected.flat());
    }
  });

  it('equals an independent pad-then-valid implementation on random images (odd and even sizes, all modes and boundaries)', () => {
    const rng = new Xoshiro128(4);
    const shapes: Array<[number, number, number, number]> = [
      [7, 9, 3, 3],
      [8, 6, 3, 3],
      [6, 6, 2, 2],
      [5, 8, 4, 3],
      [9, 4, 5, 2],
      [4, 4, 1, 1],
      [3, 5, 3, 5],
      [2, 3, 5, 4],
      [10, 11, 7, 6],
    ];
    for (const [H, W, kh, kw] of shapes) {
      const image = randomImage(rng, H, W);
      const kernel = randomKernel(rng, kh, kw);
      for (const mode of ['same', 'full', 'valid'] as const) {
        if (mode === 'valid' && (kh > H || kw > W)) continue;
        for (const boundary of ['symm', 'wrap', 'fill'] as const) {
          const out = convolve2d(image, kernel, { mode, boundary, fillValue: 0.75 });
          const expected = referenceConvolve2d(image, kernel, mode, boundary, 0.75);
          expect([out.height, out.width]).toEqual([expected.height, expected.width]);
          expect(maxAbsDifference(out.data, expected.data)).toBeLessThan(1e-12);
        }
      }
    }
  });

  it('for odd kernels equals tfjs conv2d on the symmetric-padded image with the flipped kernel (valid)', () => {
    const rng = new Xoshiro128(5);
    for (const [H, W, kh, kw] of [[7, 9, 3, 3], [8, 6, 3, 3], [6, 7, 5, 5], [9, 8, 3, 5], [5, 5, 1, 3]] as const) {
      const image = randomImage(rng, H, W);
      const kernel = randomKernel(rng, kh, kw);
      const flipped = kernel.map((row) => row.slice().reverse()).reverse();
      const result = tf.tidy(() => {
        const padded = tf.mirrorPad(
          tf.tensor2d(image.data, [H, W]),
          [
            [(kh - 1) / 2, (kh - 1) / 2],
            [(kw - 1) / 2, (kw - 1) / 2],
          ],
          'symmetric',
        );
        const x = tf.reshape(padded, [1, H + kh - 1, W + kw - 1, 1]) as tf.Tensor4D;
        const w = tf.tensor4d(flipped.flat(), [kh, kw, 1, 1]);
        return tf.conv2d(x, w, 1, 'valid').dataSync();
      });
      const out = convolve2d(image, kernel);
      expect(result.length).toBe(H * W);
      expect(maxAbsDifference(result, out.data)).toBeLessThan(1e-5);
    }
  });

  it('a vertical step edge gives gx only on the two columns at the edge, and gy = 0', () => {
    for (const [H, W, edge] of [[6, 8, 4], [7, 7, 3], [5, 10, 2]] as const) {
      const image = makeImage(H, W, (_r, c) => (c >= edge ? 1 : 0)); // dark left, bright right
      const { gx, gy, magnitude } = sobelEdges(image);
      const expected: Array<[number, number, number]> = [];
      for (let r = 0; r < H; r++) expected.push([r, edge - 1, -4], [r, edge, -4]);
      expect(pixelsWhere(gx, (v) => v !== 0)).toEqual(expected);
      expect(pixelsWhere(gy, (v) => v !== 0)).toEqual([]);
      expect(pixelsWhere(magnitude, (v) => v !== 0)).toEqual(expected.map(([r, c]) => [r, c, 4]));
    }
  });

  it('a horizontal step edge gives gy only on the two rows at the edge, and gx = 0', () => {
    for (const [H, W, edge] of [[8, 6, 4], [7, 7, 3], [10, 5, 6]] as const) {
      const image = makeImage(H, W, (r) => (r >= edge ? 1 : 0)); // dark top, bright bottom
      const { gx, gy } = sobelEdges(image);
      const expected: Array<[number, number, number]> = [];
      for (const r of [edge - 1, edge]) for (let c = 0; c < W; c++) expected.push([r, c, -4]);
      expect(pixelsWhere(gy, (v) => v !== 0)).toEqual(expected);
      expect(pixelsWhere(gx, (v) => v !== 0)).toEqual([]);
    }
  });

  it('sobelEdges: gx, gy are convolve2d with SOBEL_X, SOBEL_Y and magnitude is their norm', () => {
    const rng = new Xoshiro128(6);
    const image = randomImage(rng, 9, 12);
    const { gx, gy, magnitude } = sobelEdges(image);
    expect(gx).toEqual(convolve2d(image, SOBEL_X, { mode: 'same', boundary: 'symm' }));
    expect(gy).toEqual(convolve2d(image, SOBEL_Y, { mode: 'same', boundary: 'symm' }));
    for (let i = 0; i < magnitude.data.length; i++) expect(magnitude.data[i]).toBeCloseTo(Math.hypot(gx.data[i]!, gy.data[i]!), 12);
    expect(SOBEL_Y).toEqual([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]);
    expect(SOBEL_X).toEqual([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]);
    expect(Object.isFrozen(SOBEL_X) && Object.isFrozen(SOBEL_X[0])).toBe(true);
  });

  it('rejects malformed images and kernels with BAD_INPUT and unknown options with BAD_OPTIONS', () => {
    const image = { data: new Float64Array(12), height: 3, width: 4 };
    expectNnError(() => convolve2d({ data: [1, 2, 3], height: 2, width: 2 }, SOBEL_X), NnErrorCode.BAD_INPUT);
    expectNnError(() => convolve2d({ data: [], height: 0, width: 0 }, SOBEL_X), NnErrorCode.BAD_INPUT);
    expectNnError(() => convolve2d({ data: [1, 2], height: 1.5, width: 2 }, SOBEL_X), NnErrorCode.BAD_INPUT);
    expectNnError(() => convolve2d(image, []), NnErrorCode.BAD_INPUT);
    expectNnError(() => convolve2d(image, [[]]), NnErrorCode.BAD_INPUT);
    expectNnError(() => convolve2d(image, [[1, 2], [3]]), NnErrorCode.BAD_INPUT);
    expectNnError(() => convolve2d(image, [[1, 2, 3, 4, 5]], { mode: 'valid' }), NnErrorCode.BAD_INPUT);
    expectNnError(() => convolve2d(image, SOBEL_X, { mode: 'circular' as Mode }), NnErrorCode.BAD_OPTIONS);
    expectNnError(() => convolve2d(image, SOBEL_X, { boundary: 'reflect' as Boundary }), NnErrorCode.BAD_OPTIONS);
    expectNnError(() => convolve2d(image, SOBEL_X, { fillValue: Number.NaN }), NnErrorCode.BAD_OPTIONS);
    expectNnError(() => convolve2d(image, SOBEL_X, { fillvalue: 1 } as Convolve2dOptions), NnErrorCode.BAD_OPTIONS);
  });
});
