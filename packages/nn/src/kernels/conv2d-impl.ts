import type { Conv2DGeometry } from './conv2d-geometry.js';
import { gemmAB } from './gemm.js';
import { col2imRowsAdd, im2colRows } from './im2col.js';

/** Output pixels per block: the block's im2col rows stay in L2 while the GEMM runs over them. */
const ROWS_PER_BLOCK = 64;

/**
 * Forward 2-D cross-correlation, `y = im2col(x) · W`, block by block over output pixels.
 * `x` is NHWC, `filter` is `[KH, KW, Cin, Cout]`, `out` receives NHWC `[N, OH, OW, Cout]`.
 * Each output is one float64 sum over the filter taps in `(i, j, c)` order, rounded once.
 */
export function conv2DImpl(x: Float32Array, filter: Float32Array, g: Conv2DGeometry, out: Float32Array): void {
  const K = g.filterHeight * g.filterWidth * g.inChannels;
  const cout = g.outChannels;
  const M = g.batch * g.outHeight * g.outWidth;
  if (M === 0 || cout === 0) return;
  if (K === 0) {
    out.fill(0);
    return;
  }
  const block = Math.min(ROWS_PER_BLOCK, M);
  const a = new Float64Array(block * K);
  for (let m0 = 0; m0 < M; m0 += block) {
    const rows = Math.min(block, M - m0);
    im2colRows(x, g, m0, rows, a, K);
    gemmAB(a, 0, K, filter, cout, rows, K, cout, out, m0 * cout, cout);
  }
}

/**
 * Input gradient of a 2-D cross-correlation, `dx = col2im(dy · Wᵀ)`, block by block over
 * output pixels. `dy` is NHWC `[N, OH, OW, Cout]`, `filter` is `[KH, KW, Cin, Cout]`,
 * `out` receives NHWC `[N, H, W, Cin]`. Contributions are added in float64 in a fixed
 * order (pixels, then taps) and rounded once.
 */
export function conv2DBackpropInputImpl(dy: Float32Array, filter: Float32Array, g: Conv2DGeometry, out: Float32Array): void {
  const K = g.filterHeight * g.filterWidth * g.inChannels;
  const cout = g.outChannels;
  const M = g.batch * g.outHeight * g.outWidth;
  if (M === 0 || K === 0 || cout === 0) {
    out.fill(0);
    return;
  }
  // Wᵀ as [Cout][K] so the GEMM reads it along rows.
  const filterT = new Float64Array(cout * K);
  for (let k = 0; k < K; k++) for (let c = 0; c < cout; c++) filterT[c * K + k] = filter[k * cout + c]!;
  const sums = new Float64Array(out.length);
  const block = Math.min(ROWS_PER_BLOCK, M);
  const cols = new Float64Array(block * K);
  for (let m0 = 0; m0 < M; m0 += block) {
    const rows = Math.min(block, M - m0);
    gemmAB(dy, m0 * cout, cout, filterT, K, rows, cout, K, cols, 0, K);
    col2imRowsAdd(cols, K, g, m0, rows, sums);
  }
  out.set(sums);
}
