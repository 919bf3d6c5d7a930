/**
 * The seed lecture's convolution examples as library functions, in float64 with plain
 * loops (no tfjs).
 *
 * Two conventions meet here:
 * - the network layers compute **cross-correlation**, `(f ⋆ g)[p] = Σ_t f[t]·g[p+t]`
 *   ({@link crossCorrelate1d}; tfjs `conv1d` / `conv2d`);
 * - the seed's numpy / scipy examples compute **true convolution**, which flips the filter:
 *   `(f ∗ g)[p] = Σ_t f[K−1−t]·g[p+t]` ({@link conv1dNaive} = `np.convolve(f, g, 'valid')`,
 *   {@link convolve2d} = `scipy.signal.convolve2d`).
 *
 * So `conv1dNaive(f, g)` equals `crossCorrelate1d(reverse(f), g)` (f the shorter input),
 * and a true 2-D convolution equals a layer's cross-correlation with the kernel flipped in
 * both axes.
 */
import { NnError, NnErrorCode } from './errors.js';

function badInput(message: string): NnError {
  return new NnError(NnErrorCode.BAD_INPUT, message);
}

function checkSequence(values: ArrayLike<number>, name: string): void {
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw badInput(`${name} must be an array of numbers; got ${String(values)}`);
  }
  if (values.length === 0) throw badInput(`${name} must not be empty`);
}

/**
 * True 1-D convolution, valid part only — exactly `np.convolve(f, g, 'valid')`.
 *
 * As numpy does, the longer input is the signal `s` (length N) and the shorter the filter
 * `w` (length K; on equal lengths `f` is the signal); the result has `N − K + 1` values:
 * `out[p] = Σ_{t=0}^{K−1} s[p + t] · w[K − 1 − t]`, summed in increasing `t`, in float64.
 * Convolution is commutative, so `conv1dNaive(f, g)` and `conv1dNaive(g, f)` are equal.
 *
 * @throws NnError `BAD_INPUT` if an input is empty or not array-like.
 * @example
 * conv1dNaive(EDGE_DETECTOR, [1, 1, 0, 0, 1]); // Float64Array [0, 1, 0, -1]: out[p] = s[p] − s[p+1]
 */
export function conv1dNaive(f: ArrayLike<number>, g: ArrayLike<number>): Float64Array {
  checkSequence(f, 'f');
  checkSequence(g, 'g');
  const [signal, filter] = g.length > f.length ? [g, f] : [f, g];
  const K = filter.length;
  const out = new Float64Array(signal.length - K + 1);
  for (let p = 0; p < out.length; p++) {
    let sum = 0;
    for (let t = 0; t < K; t++) sum += signal[p + t]! * filter[K - 1 - t]!;
    out[p] = sum;
  }
  return out;
}

/**
 * 1-D cross-correlation, valid part — the layers' definition of "convolution" (and tfjs
 * `conv1d` with stride 1, `'valid'`): `(f ⋆ g)[p] = Σ_{t=0}^{K−1} f[t] · g[p + t]` for
 * `p = 0 … N − K`, in float64.
 *
 * Identity: `conv1dNaive(w, s)` equals `crossCorrelate1d(reverse(w), s)` whenever `w` is not
 * longer than `s`.
 *
 * @param f the filter (length K ≥ 1).
 * @param g the signal (length N ≥ K).
 * @throws NnError `BAD_INPUT` if an input is empty or the filter is longer than the signal.
 */
export function crossCorrelate1d(f: ArrayLike<number>, g: ArrayLike<number>): Float64Array {
  checkSequence(f, 'f');
  checkSequence(g, 'g');
  const K = f.length;
  if (K > g.length) throw badInput(`filter f has ${K} values; it must not be longer than the signal g (${g.length} values)`);
  const out = new Float64Array(g.length - K + 1);
  for (let p = 0; p < out.length; p++) {
    let sum = 0;
    for (let t = 0; t < K; t++) sum += f[t]! * g[p + t]!;
    out[p] = sum;
  }
  return out;
}

/**
 * The seed lecture's signal: 30 samples, all 1 except two 3-sample gaps of 0 at indices
 * 5, 6, 7 and 15, 16, 17 (numpy `s[5:8] = 0; s[15:18] = 0`). A fresh array on each call.
 */
export function seedSignal(): Float64Array {
  const signal = new Float64Array(30).fill(1);
  signal.fill(0, 5, 8);
  signal.fill(0, 15, 18);
  return signal;
}

/**
 * The seed's edge detector `[-1, 1]`. Under true convolution it computes
 * `out[p] = s[p] − s[p + 1]`: on {@link seedSignal} the 29 outputs are zero except
 * `+1` at 4 and 14 (falling edges 1 → 0) and `−1` at 7 and 17 (rising edges 0 → 1).
 */
export const EDGE_DETECTOR: readonly number[] = Object.freeze([-1, 1]);

/** Largest {@link bellCurveFilter} size. */
export const MAX_BELL_CURVE_SIZE = 1024;

/**
 * The seed's "mini bell curve" smoothing filter: the binomial weights `C(n, k) / 2^n` with
 * `n = size − 1`, which sum to 1 and approach a Gaussian of variance `n / 4`.
 * `size = 5` gives `[1, 4, 6, 4, 1] / 16 = [0.0625, 0.25, 0.375, 0.25, 0.0625]`;
 * 3 gives `[0.25, 0.5, 0.25]`; 1 gives `[1]`. The weights are exact (dyadic) for
 * `size ≤ 54`. Symmetric, so convolution and cross-correlation with it agree.
 *
 * Smoothing {@link seedSignal} (`conv1dNaive(bellCurveFilter(), seedSignal())`, 26 values,
 * output `p` centred on sample `p + 2`) turns each 3-sample gap into the dip
 * `15/16, 11/16, 5/16, 1/8, 5/16, 11/16, 15/16` (outputs 1–7 and 11–17) and leaves 1
 * elsewhere.
 *
 * @param size number of taps (integer, 1 ≤ size ≤ {@link MAX_BELL_CURVE_SIZE}; default 5).
 * @throws NnError `BAD_OPTIONS` for another size.
 */
export function bellCurveFilter(size = 5): Float64Array {
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_BELL_CURVE_SIZE) {
    throw new NnError(NnErrorCode.BAD_OPTIONS, `bellCurveFilter size must be an integer from 1 to ${MAX_BELL_CURVE_SIZE}; got ${String(size)}`);
  }
  // Repeated convolution with [1/2, 1/2] builds C(n, k) / 2^n row by row (Pascal's triangle, halved).
  let weights = new Float64Array([1]);
  for (let n = 1; n < size; n++) {
    const next = new Float64Array(n + 1);
    for (let k = 0; k <= n; k++) next[k] = ((k > 0 ? weights[k - 1]! : 0) + (k < n ? weights[k]! : 0)) / 2;
    weights = next;
  }
  return weights;
}

/** A single-channel image, row-major: pixel `(row, col)` is `data[row · width + col]`. */
export interface Image2d<Data extends ArrayLike<number> = ArrayLike<number>> {
  /** The `height · width` pixel values, row by row. */
  data: Data;
  /** Number of rows (integer ≥ 1). */
  height: number;
  /** Number of columns (integer ≥ 1). */
  width: number;
}

/** A 2-D kernel as rows: `kernel[row][col]`; every row has the same length ≥ 1. */
export type Kernel2d = ReadonlyArray<ArrayLike<number>>;

/** Options of {@link convolve2d}, named as in `scipy.signal.convolve2d`. */
export interface Convolve2dOptions {
  /**
   * Output size (default `'same'`): `'same'` — the image's size, centred on the full
   * convolution (offset `⌊(k − 1) / 2⌋` per axis, as scipy); `'valid'` — only positions where
   * the kernel lies inside the image, `(H − kh + 1) × (W − kw + 1)` (the kernel must not be
   * larger than the image); `'full'` — every overlap, `(H + kh − 1) × (W + kw − 1)`.
   */
  mode?: 'same' | 'valid' | 'full';
  /**
   * How samples outside the image are read (default `'symm'`): `'symm'` — mirrored with the
   * edge sample repeated (numpy `pad(..., 'symmetric')`: `… b a | a b c … y z | z y …`);
   * `'wrap'` — periodic; `'fill'` — the constant `fillValue`.
   */
  boundary?: 'symm' | 'wrap' | 'fill';
  /** The value outside the image for `boundary: 'fill'` (finite; default 0). */
  fillValue?: number;
}

const CONVOLVE2D_DEFAULTS: Required<Convolve2dOptions> = { mode: 'same', boundary: 'symm', fillValue: 0 };

function checkImage(image: Image2d, name: string): void {
  if (image === null || typeof image !== 'object') throw badInput(`${name} must be an object { data, height, width }; got ${String(image)}`);
  const { data, height, width } = image;
  if (!Number.isSafeInteger(height) || height < 1 || !Number.isSafeInteger(width) || width < 1) {
    throw badInput(`${name} height and width must be integers ≥ 1; got ${String(height)} × ${String(width)}`);
  }
  if (data === null || typeof data !== 'object' || data.length !== height * width) {
    throw badInput(`${name}.data must hold height·width = ${height * width} values; got ${data === null || typeof data !== 'object' ? String(data) : data.length}`);
  }
}

/** Checks a kernel and returns it as one row-major Float64Array with its size. */
function flattenKernel(kernel: Kernel2d): { values: Float64Array; height: number; width: number } {
  if (!Array.isArray(kernel) || kernel.length === 0) throw badInput('kernel must be a non-empty array of rows');
  const height = kernel.length;
  const first: unknown = kernel[0];
  const width = first !== null && typeof first === 'object' ? (first as ArrayLike<number>).length : undefined;
  if (typeof width !== 'number' || width < 1) throw badInput('kernel rows must be non-empty arrays of numbers');
  const values = new Float64Array(height * width);
  kernel.forEach((row: ArrayLike<number> | null, r: number) => {
    if (row === null || typeof row !== 'object' || row.length !== width) {
      throw badInput(`kernel row ${r} has ${row === null || typeof row !== 'object' ? 'no' : row.length} values; row 0 has ${width}`);
    }
    for (let c = 0; c < width; c++) values[r * width + c] = row[c]!;
  });
  return { values, height, width };
}

/** numpy 'symmetric' indexing, periodic with period 2n: -1 → 0, -2 → 1, n → n-1, n+1 → n-2. */
function symmetricIndex(index: number, n: number): number {
  const period = 2 * n;
  const r = ((index % period) + period) % period;
  return r < n ? r : period - 1 - r;
}

/**
 * True 2-D convolution of a single-channel image, exactly like
 * `scipy.signal.convolve2d(image, kernel, mode, boundary, fillvalue)` — by default
 * `mode='same', boundary='symm'`, as in the seed lecture:
 *
 * `out[m][n] = Σ_j Σ_k kernel[j][k] · image[m + a − j][n + b − k]`,
 *
 * with `a = ⌊(kh − 1) / 2⌋`, `b = ⌊(kw − 1) / 2⌋` for `'same'`, `a = kh − 1`, `b = kw − 1`
 * for `'valid'`, `a = b = 0` for `'full'`, out-of-image indices mapped by `boundary`, summed
 * in float64 over `j` then `k` in increasing order (scipy's loop order).
 *
 * For an odd kernel and `'same'`, this equals a layer's cross-correlation (tfjs `conv2d`,
 * `'valid'`) of the image padded symmetrically by `(kh − 1) / 2` rows and `(kw − 1) / 2`
 * columns with the kernel flipped in both axes.
 *
 * @throws NnError `BAD_INPUT` for a malformed image or kernel (or a kernel larger than the
 *   image in `'valid'` mode); `BAD_OPTIONS` for unknown options.
 * @example
 * const { data } = convolve2d({ data: pixels, height: 28, width: 28 }, SOBEL_X); // 28 × 28
 */
export function convolve2d(image: Image2d, kernel: Kernel2d, options: Convolve2dOptions = {}): Image2d<Float64Array> {
  const badOptions = (message: string): NnError => new NnError(NnErrorCode.BAD_OPTIONS, message);
  if (options === null || typeof options !== 'object') throw badOptions('convolve2d options must be an object');
  for (const key of Object.keys(options)) {
    if (!(key in CONVOLVE2D_DEFAULTS)) throw badOptions(`convolve2d has no option ${key}; expected mode, boundary or fillValue`);
  }
  const { mode, boundary, fillValue } = { ...CONVOLVE2D_DEFAULTS, ...options };
  if (mode !== 'same' && mode !== 'valid' && mode !== 'full') throw badOptions(`convolve2d mode must be 'same', 'valid' or 'full'; got ${String(mode)}`);
  if (boundary !== 'symm' && boundary !== 'wrap' && boundary !== 'fill') {
    throw badOptions(`convolve2d boundary must be 'symm', 'wrap' or 'fill'; got ${String(boundary)}`);
  }
  if (typeof fillValue !== 'number' || !Number.isFinite(fillValue)) throw badOptions(`convolve2d fillValue must be a finite number; got ${String(fillValue)}`);
  checkImage(image, 'image');
  const { values: h, height: kh, width: kw } = flattenKernel(kernel);
  const { data, height: H, width: W } = image;
  if (mode === 'valid' && (kh > H || kw > W)) {
    throw badInput(`kernel ${kh} × ${kw} is larger than the image ${H} × ${W}; 'valid' mode needs it to fit`);
  }
  const outHeight = mode === 'same' ? H : mode === 'valid' ? H - kh + 1 : H + kh - 1;
  const outWidth = mode === 'same' ? W : mode === 'valid' ? W - kw + 1 : W + kw - 1;
  const rowOffset = mode === 'same' ? (kh - 1) >> 1 : mode === 'valid' ? kh - 1 : 0;
  const colOffset = mode === 'same' ? (kw - 1) >> 1 : mode === 'valid' ? kw - 1 : 0;
  /** Maps an index to the image, or -1 for a fill sample. */
  const mapIndex = (index: number, n: number): number => {
    if (index >= 0 && index < n) return index;
    if (boundary === 'symm') return symmetricIndex(index, n);
    if (boundary === 'wrap') return ((index % n) + n) % n;
    return -1;
  };
  const out = new Float64Array(outHeight * outWidth);
  const colIndex = new Int32Array(kw);
  for (let m = 0; m < outHeight; m++) {
    for (let n = 0; n < outWidth; n++) {
      for (let k = 0; k < kw; k++) colIndex[k] = mapIndex(n + colOffset - k, W);
      let sum = 0;
      for (let j = 0; j < kh; j++) {
        const row = mapIndex(m + rowOffset - j, H);
        for (let k = 0; k < kw; k++) {
          const col = colIndex[k]!;
          const sample = row < 0 || col < 0 ? fillValue : data[row * W + col]!;
          sum += h[j * kw + k]! * sample;
        }
      }
      out[m * outWidth + n] = sum;
    }
  }
  return { data: out, height: outHeight, width: outWidth };
}

/**
 * The seed's Sobel kernel for horizontal change (responds to vertical edges). Under true
 * convolution it is flipped, so `gx[m][n] = (left column − right column)` weighted 1, 2, 1:
 * a dark-to-bright step from left to right gives **negative** `gx` (−4 on both columns next
 * to a 0 → 1 step).
 */
export const SOBEL_X: readonly (readonly number[])[] = Object.freeze([
  Object.freeze([-1, 0, 1]),
  Object.freeze([-2, 0, 2]),
  Object.freeze([-1, 0, 1]),
]);

/**
 * The seed's Sobel kernel for vertical change (responds to horizontal edges):
 * `gy[m][n] = (row above − row below)` weighted 1, 2, 1, so a dark-to-bright step from top
 * to bottom gives −4 on both rows next to it.
 */
export const SOBEL_Y: readonly (readonly number[])[] = Object.freeze([
  Object.freeze([-1, -2, -1]),
  Object.freeze([0, 0, 0]),
  Object.freeze([1, 2, 1]),
]);

/** The result of {@link sobelEdges}; all three images have the input's size in `'same'` mode. */
export interface SobelEdges {
  /** `convolve2d(image, SOBEL_X, options)`. */
  gx: Image2d<Float64Array>;
  /** `convolve2d(image, SOBEL_Y, options)`. */
  gy: Image2d<Float64Array>;
  /** `√(gx² + gy²)` per pixel (as numpy's `np.sqrt(gx**2 + gy**2)`). */
  magnitude: Image2d<Float64Array>;
}

/**
 * Sobel edge detection as in the seed: both gradients by {@link convolve2d} (default
 * `mode: 'same', boundary: 'symm'`) and their magnitude.
 * @throws NnError as {@link convolve2d}.
 */
export function sobelEdges(image: Image2d, options: Convolve2dOptions = {}): SobelEdges {
  const gx = convolve2d(image, SOBEL_X, options);
  const gy = convolve2d(image, SOBEL_Y, options);
  const magnitude = new Float64Array(gx.data.length);
  for (let i = 0; i < magnitude.length; i++) {
    const x = gx.data[i]!;
    const y = gy.data[i]!;
    magnitude[i] = Math.sqrt(x * x + y * y);
  }
  return { gx, gy, magnitude: { data: magnitude, height: gx.height, width: gx.width } };
}
