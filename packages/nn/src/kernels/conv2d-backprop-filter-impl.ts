import type { Conv2DGeometry } from './conv2d-geometry.js';
import { paddedInput, pixelBases, sequence, tapOffsets, writePadded } from './im2col.js';
import { paddedCols, sgemmEngine, TILE_COLS } from './simd-gemm.js';

/**
 * Output pixels per block: the block's im2col rows (`rows × K` float32) stay in L2 while
 * the GEMM sweeps them; the block is also the length of each float32 partial sum.
 */
const ROWS_PER_BLOCK = 256;

/**
 * Filter gradient of a 2-D cross-correlation, `dW = im2col(x)ᵀ · dy`, computed block by
 * block over output pixels so im2col is never materialised in full.
 *
 * `x` is NHWC `[N, H, W, Cin]`, `dy` is NHWC `[N, OH, OW, Cout]`, `out` receives the
 * `[KH, KW, Cin, Cout]` gradient.
 *
 * Everything runs in the engine's scratch memory ({@link sgemmEngine}): `x` zero-padded and
 * `dy` are copied in once; per block of up to 256 pixels, `gather` writes the im2col rows
 * and packs the `dy` rows into 8-wide panels, and the GEMM forms the float32 partial
 * `im2col_blockᵀ · dy_block` (each entry one float32 sum over the block's pixels in
 * increasing order). The partials are added in float64, blocks in increasing order, and
 * rounded to float32 once. The order depends on the shapes only: bitwise deterministic.
 */
export function conv2DBackpropFilterImpl(
  x: Float32Array,
  dy: Float32Array,
  g: Conv2DGeometry,
  out: Float32Array,
): void {
  const K = g.filterHeight * g.filterWidth * g.inChannels;
  const cout = g.outChannels;
  const M = g.batch * g.outHeight * g.outWidth;
  const acc = new Float64Array(K * cout);
  if (M > 0 && K > 0 && cout > 0) {
    const block = Math.min(ROWS_PER_BLOCK, M);
    const nPad = paddedCols(cout);
    const p = paddedInput(g);
    // Scratch, in 4-byte elements: padded x | dy | tables (taps, 0…, pixel bases, dy row
    // starts, panel positions) | packed dy block (B) | im2col block (A, rows × K) | partial (C, K × nPad).
    const xOff = 0;
    const dyOff = xOff + paddedCols(p.size);
    const tapsOff = dyOff + paddedCols(M * cout);
    const seqOff = tapsOff + paddedCols(K);
    const basesOff = seqOff + paddedCols(Math.max(K, cout));
    const dyRowsOff = basesOff + paddedCols(block);
    const panelOff = dyRowsOff + paddedCols(block);
    const bOff = panelOff + nPad;
    const aOff = bOff + nPad * block;
    const cOff = aOff + paddedCols(block * K);
    const engine = sgemmEngine();
    const mem = engine.scratch(cOff + K * nPad);
    const ints = engine.ints();
    writePadded(x, g, p, mem, xOff);
    mem.set(dy, dyOff);
    tapOffsets(g, p, ints, tapsOff);
    sequence(ints, seqOff, Math.max(K, cout));
    sequence(ints, dyRowsOff, block, 0, cout);
    let panelRows = -1;
    for (let m0 = 0; m0 < M; m0 += block) {
      const rows = Math.min(block, M - m0);
      pixelBases(g, p, m0, rows, ints, basesOff);
      engine.gather(aOff, K, xOff, basesOff, rows, tapsOff, seqOff, K);
      if (rows !== panelRows) {
        // dy entry c of a row goes to lane c % 8 of panel ⌊c / 8⌋ (panels are rows × 8).
        for (let c = 0; c < cout; c++) ints[panelOff + c] = Math.floor(c / TILE_COLS) * rows * TILE_COLS + (c % TILE_COLS);
        panelRows = rows;
      }
      if (nPad !== cout) mem.fill(0, bOff, bOff + nPad * rows);
      engine.gather(bOff, TILE_COLS, dyOff + m0 * cout, dyRowsOff, rows, seqOff, panelOff, cout);
      engine.gemm(true, K, cout, rows, aOff, K, bOff, cOff, nPad);
      for (let k = 0; k < K; k++) {
        const src = cOff + k * nPad;
        const dst = k * cout;
        for (let c = 0; c < cout; c++) acc[dst + c] = acc[dst + c]! + mem[src + c]!;
      }
    }
  }
  out.set(acc);
}
