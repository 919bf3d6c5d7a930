import type { Conv2DGeometry } from './conv2d-geometry.js';

/**
 * im2col and col2im by table: the NHWC input is copied once into a zero-padded buffer in
 * which every filter window lies entirely inside, so the im2col row of output pixel `m` is
 * `padded[base(m) + tap(k)]` for `k < K` with no bounds checks: `base` is the window origin
 * of the pixel, `tap` the offset of filter tap `(i, j, c)` — two small integer tables that
 * the engine's `gather` (im2col) and `scatterAdd` (col2im) walk in WebAssembly.
 *
 * Row `m` stands for output pixel `(n, oh, ow)` in row-major order
 * (`m = (n·OH + oh)·OW + ow`); taps run in filter order `(i, j, c)`.
 */
export interface PaddedInput {
  /** Padded height and width: every window (with padding, strides, dilation) fits. */
  height: number;
  width: number;
  /** Elements of the padded NHWC buffer: `batch · height · width · inChannels`. */
  size: number;
}

export function paddedInput(g: Conv2DGeometry): PaddedInput {
  if (g.padTop < 0 || g.padLeft < 0) throw new Error(`swarmgrad conv kernel: negative padding (${g.padTop}, ${g.padLeft}) is not supported`);
  const height = Math.max(g.padTop + g.inHeight, (g.outHeight - 1) * g.strideHeight + (g.filterHeight - 1) * g.dilationHeight + 1);
  const width = Math.max(g.padLeft + g.inWidth, (g.outWidth - 1) * g.strideWidth + (g.filterWidth - 1) * g.dilationWidth + 1);
  return { height, width, size: g.batch * height * width * g.inChannels };
}

/** Writes `x` (NHWC) zero-padded into `dst[off …]` (p.size elements). */
export function writePadded(x: Float32Array, g: Conv2DGeometry, p: PaddedInput, dst: Float32Array, off: number): void {
  const C = g.inChannels;
  if (p.height === g.inHeight && p.width === g.inWidth) {
    dst.set(x, off);
    return;
  }
  dst.fill(0, off, off + p.size);
  const run = g.inWidth * C;
  for (let n = 0; n < g.batch; n++) {
    for (let h = 0; h < g.inHeight; h++) {
      const src = (n * g.inHeight + h) * run;
      dst.set(x.subarray(src, src + run), off + ((n * p.height + g.padTop + h) * p.width + g.padLeft) * C);
    }
  }
}

/** Reads the interior of a zero-padded float64 NHWC buffer (`src[off …]`) into `out`, rounding to float32. */
export function readPadded(src: Float64Array, off: number, g: Conv2DGeometry, p: PaddedInput, out: Float32Array): void {
  const C = g.inChannels;
  const run = g.inWidth * C;
  for (let n = 0; n < g.batch; n++) {
    for (let h = 0; h < g.inHeight; h++) {
      let s = off + ((n * p.height + g.padTop + h) * p.width + g.padLeft) * C;
      const d = (n * g.inHeight + h) * run;
      for (let t = 0; t < run; t++) out[d + t] = src[s++]!;
    }
  }
}

/** `table[off + k]` = offset of filter tap `k = (i·KW + j)·Cin + c` from its window's origin. */
export function tapOffsets(g: Conv2DGeometry, p: PaddedInput, table: Int32Array, off: number): void {
  const C = g.inChannels;
  let k = off;
  for (let i = 0; i < g.filterHeight; i++) {
    for (let j = 0; j < g.filterWidth; j++) {
      const base = (i * g.dilationHeight * p.width + j * g.dilationWidth) * C;
      for (let c = 0; c < C; c++) table[k++] = base + c;
    }
  }
}

/** `table[off + r]` = window origin (in the padded buffer) of output pixel `m0 + r`, for `r < rows`. */
export function pixelBases(g: Conv2DGeometry, p: PaddedInput, m0: number, rows: number, table: Int32Array, off: number): void {
  const { outHeight: OH, outWidth: OW, strideHeight: SH, strideWidth: SW, inChannels: C } = g;
  let n = Math.floor(m0 / (OH * OW));
  let oh = Math.floor((m0 - n * OH * OW) / OW);
  let ow = m0 - n * OH * OW - oh * OW;
  for (let r = 0; r < rows; r++) {
    table[off + r] = ((n * p.height + oh * SH) * p.width + ow * SW) * C;
    if (++ow === OW) {
      ow = 0;
      if (++oh === OH) {
        oh = 0;
        n++;
      }
    }
  }
}

/** `table[off + t] = start + t·step` for `t < count`. */
export function sequence(table: Int32Array, off: number, count: number, start = 0, step = 1): void {
  for (let t = 0; t < count; t++) table[off + t] = start + t * step;
}
