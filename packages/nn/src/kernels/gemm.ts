/**
 * Small GEMM building blocks in plain TypeScript for the project's own kernels.
 *
 * JavaScript numbers are float64, so products of float32 inputs are exact and partial sums
 * are kept in float64 registers; results are rounded to float32 once, when a kernel writes
 * its output. Every loop runs in one fixed order that depends only on the shapes, so a
 * kernel's output is bitwise identical from run to run and machine to machine (same
 * shapes, same inputs), on every backend that uses these routines.
 *
 * Register tiles are hand-unrolled (no code generation: pages with a strict CSP forbid
 * `new Function`). V8 keeps the 8 accumulators and 6 operands of a 4×2 tile in the 16 SSE
 * registers of x86-64; larger tiles spilled and measured no faster.
 */

/**
 * `acc[k*accStride + c] += Σ_r a[r*aStride + k] · b[bOffset + r*bStride + c]` for
 * `k < kPadded`, `c < cPadded` and `r < rows`: the reduction over rows of `aᵀ·b`, as a
 * conv filter gradient needs (`a` = im2col rows, `b` = output gradient rows).
 *
 * `kPadded` must be a multiple of 4 and `cPadded` a multiple of 2; the caller pads `a`
 * (and `b` if needed) with zeros. Sums run over `r` in increasing order.
 */
export function accumulateAtB(
  a: Float32Array | Float64Array,
  aStride: number,
  b: Float32Array | Float64Array,
  bOffset: number,
  bStride: number,
  rows: number,
  kPadded: number,
  cPadded: number,
  acc: Float64Array,
  accStride: number,
): void {
  for (let k = 0; k < kPadded; k += 4) {
    for (let c = 0; c < cPadded; c += 2) {
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
      let ai = k;
      let bi = bOffset + c;
      for (let r = 0; r < rows; r++) {
        const a0 = a[ai]!, a1 = a[ai + 1]!, a2 = a[ai + 2]!, a3 = a[ai + 3]!;
        const b0 = b[bi]!, b1 = b[bi + 1]!;
        s00 += a0 * b0;
        s01 += a0 * b1;
        s10 += a1 * b0;
        s11 += a1 * b1;
        s20 += a2 * b0;
        s21 += a2 * b1;
        s30 += a3 * b0;
        s31 += a3 * b1;
        ai += aStride;
        bi += bStride;
      }
      const o = k * accStride + c;
      acc[o] = acc[o]! + s00;
      acc[o + 1] = acc[o + 1]! + s01;
      acc[o + accStride] = acc[o + accStride]! + s10;
      acc[o + accStride + 1] = acc[o + accStride + 1]! + s11;
      acc[o + 2 * accStride] = acc[o + 2 * accStride]! + s20;
      acc[o + 2 * accStride + 1] = acc[o + 2 * accStride + 1]! + s21;
      acc[o + 3 * accStride] = acc[o + 3 * accStride]! + s30;
      acc[o + 3 * accStride + 1] = acc[o + 3 * accStride + 1]! + s31;
    }
  }
}

/** `value` rounded up to a multiple of `step`. */
export function roundUp(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}

/**
 * `out[outOffset + r*outStride + j] = Σ_k a[aOffset + r*aStride + k] · b[k*bStride + j]`
 * for `r < rows`, `j < cols`, `k < depth`: a plain row-major matrix product, as conv2d's
 * forward pass (`im2col(x) · W`) and its input gradient (`dy · Wᵀ`) need. Sums run over `k`
 * in increasing order in float64 and are rounded once when stored.
 *
 * 4×2 register tiles; leftover rows and columns use narrower tiles with the same order.
 */
export function gemmAB(
  a: Float32Array | Float64Array,
  aOffset: number,
  aStride: number,
  b: Float32Array | Float64Array,
  bStride: number,
  rows: number,
  depth: number,
  cols: number,
  out: Float32Array | Float64Array,
  outOffset: number,
  outStride: number,
): void {
  const rows4 = rows - (rows % 4);
  const cols2 = cols - (cols % 2);
  for (let r = 0; r < rows4; r += 4) {
    const a0 = aOffset + r * aStride;
    const a1 = a0 + aStride;
    const a2 = a1 + aStride;
    const a3 = a2 + aStride;
    const o = outOffset + r * outStride;
    for (let j = 0; j < cols2; j += 2) {
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
      let bi = j;
      for (let k = 0; k < depth; k++) {
        const b0 = b[bi]!, b1 = b[bi + 1]!;
        const x0 = a[a0 + k]!, x1 = a[a1 + k]!, x2 = a[a2 + k]!, x3 = a[a3 + k]!;
        s00 += x0 * b0;
        s01 += x0 * b1;
        s10 += x1 * b0;
        s11 += x1 * b1;
        s20 += x2 * b0;
        s21 += x2 * b1;
        s30 += x3 * b0;
        s31 += x3 * b1;
        bi += bStride;
      }
      out[o + j] = s00;
      out[o + j + 1] = s01;
      out[o + outStride + j] = s10;
      out[o + outStride + j + 1] = s11;
      out[o + 2 * outStride + j] = s20;
      out[o + 2 * outStride + j + 1] = s21;
      out[o + 3 * outStride + j] = s30;
      out[o + 3 * outStride + j + 1] = s31;
    }
    if (cols2 < cols) {
      const j = cols2;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let bi = j;
      for (let k = 0; k < depth; k++) {
        const b0 = b[bi]!;
        s0 += a[a0 + k]! * b0;
        s1 += a[a1 + k]! * b0;
        s2 += a[a2 + k]! * b0;
        s3 += a[a3 + k]! * b0;
        bi += bStride;
      }
      out[o + j] = s0;
      out[o + outStride + j] = s1;
      out[o + 2 * outStride + j] = s2;
      out[o + 3 * outStride + j] = s3;
    }
  }
  for (let r = rows4; r < rows; r++) {
    const a0 = aOffset + r * aStride;
    const o = outOffset + r * outStride;
    for (let j = 0; j < cols; j++) {
      let s = 0;
      let bi = j;
      for (let k = 0; k < depth; k++) {
        s += a[a0 + k]! * b[bi]!;
        bi += bStride;
      }
      out[o + j] = s;
    }
  }
}
