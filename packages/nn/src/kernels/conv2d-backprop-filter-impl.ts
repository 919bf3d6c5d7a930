import type { Conv2DGeometry } from './conv2d-geometry.js';
import { accumulateAtB, roundUp } from './gemm.js';
import { im2colRows } from './im2col.js';

/**
 * Output pixels handled per block: the block's im2col rows (`rows × K` float64) stay in
 * L2 and each 4-column slice of them in L1 while the GEMM sweeps the output channels.
 */
const ROWS_PER_BLOCK = 128;

/**
 * Filter gradient of a 2-D cross-correlation, `dW = im2col(x)ᵀ · dy`, computed block by
 * block over output pixels so im2col is never materialised in full.
 *
 * `x` is NHWC `[N, H, W, Cin]`, `dy` is NHWC `[N, OH, OW, Cout]`, `out` receives the
 * `[KH, KW, Cin, Cout]` gradient. The summation order is fixed (blocks in order, rows in
 * order within a block, float64 partial sums), so the result is bitwise deterministic.
 */
export function conv2DBackpropFilterImpl(
  x: Float32Array,
  dy: Float32Array,
  g: Conv2DGeometry,
  out: Float32Array,
): void {
  const K = g.filterHeight * g.filterWidth * g.inChannels;
  const cout = g.outChannels;
  const kPadded = roundUp(K, 4);
  const cPadded = roundUp(cout, 2);
  const M = g.batch * g.outHeight * g.outWidth;
  const acc = new Float64Array(kPadded * cPadded);
  if (M > 0 && K > 0 && cout > 0) {
    const block = Math.min(ROWS_PER_BLOCK, M);
    const a = new Float64Array(block * kPadded);
    // dy rows are read in place unless cout is odd and needs a zero column.
    const padded = cPadded === cout ? null : new Float64Array(block * cPadded);
    for (let m0 = 0; m0 < M; m0 += block) {
      const rows = Math.min(block, M - m0);
      im2colRows(x, g, m0, rows, a, kPadded);
      if (padded === null) {
        accumulateAtB(a, kPadded, dy, m0 * cout, cout, rows, kPadded, cPadded, acc, cPadded);
      } else {
        for (let r = 0; r < rows; r++) {
          const src = (m0 + r) * cout;
          const dst = r * cPadded;
          for (let c = 0; c < cout; c++) padded[dst + c] = dy[src + c]!;
        }
        accumulateAtB(a, kPadded, padded, 0, cPadded, rows, kPadded, cPadded, acc, cPadded);
      }
    }
  }
  for (let k = 0; k < K; k++) {
    for (let c = 0; c < cout; c++) out[k * cout + c] = acc[k * cPadded + c]!;
  }
}
