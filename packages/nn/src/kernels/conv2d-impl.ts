import type { Conv2DGeometry } from './conv2d-geometry.js';
import { paddedInput, pixelBases, readPadded, sequence, tapOffsets, writePadded } from './im2col.js';
import { packB, packedBSize, paddedCols, sgemmEngine } from './simd-gemm.js';

/**
 * Output pixels per block (a multiple of the GEMM's 6-row tile): the block's im2col rows
 * stay in L2 while the GEMM runs over them.
 */
const ROWS_PER_BLOCK = 240;

/**
 * Forward 2-D cross-correlation, `y = im2col(x) · W`, block by block over output pixels.
 * `x` is NHWC, `filter` is `[KH, KW, Cin, Cout]`, `out` receives NHWC `[N, OH, OW, Cout]`.
 * `x` is copied zero-padded into the engine's scratch memory, each block's im2col rows are
 * gathered there, and each output is one float32 sum over the filter taps in `(i, j, c)`
 * order, computed by the SIMD GEMM ({@link sgemmEngine}, whose accumulation order is fixed).
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
  const nPad = paddedCols(cout);
  const p = paddedInput(g);
  // Scratch, in 4-byte elements: padded x | tables (taps, 0…K-1, pixel bases) |
  // packed filter (B, K × cout) | im2col block (A, rows × K) | output block (C, rows × nPad).
  const tapsOff = paddedCols(p.size);
  const seqOff = tapsOff + paddedCols(K);
  const basesOff = seqOff + paddedCols(K);
  const bOff = basesOff + paddedCols(block);
  const aOff = bOff + packedBSize(K, cout);
  const cOff = aOff + paddedCols(block * K);
  const engine = sgemmEngine();
  const mem = engine.scratch(cOff + block * nPad);
  const ints = engine.ints();
  writePadded(x, g, p, mem, 0);
  tapOffsets(g, p, ints, tapsOff);
  sequence(ints, seqOff, K);
  packB(filter, 0, cout, 1, K, cout, mem, bOff);
  for (let m0 = 0; m0 < M; m0 += block) {
    const rows = Math.min(block, M - m0);
    pixelBases(g, p, m0, rows, ints, basesOff);
    engine.gather(aOff, K, 0, basesOff, rows, tapsOff, seqOff, K);
    engine.gemm(false, rows, cout, K, aOff, K, bOff, cOff, nPad);
    if (nPad === cout) {
      out.set(mem.subarray(cOff, cOff + rows * cout), m0 * cout);
    } else {
      for (let r = 0; r < rows; r++) {
        const src = cOff + r * nPad;
        const dst = (m0 + r) * cout;
        for (let c = 0; c < cout; c++) out[dst + c] = mem[src + c]!;
      }
    }
  }
}

/**
 * Input gradient of a 2-D cross-correlation, `dx = col2im(dy · Wᵀ)`, block by block over
 * output pixels. `dy` is NHWC `[N, OH, OW, Cout]`, `filter` is `[KH, KW, Cin, Cout]`,
 * `out` receives NHWC `[N, H, W, Cin]`. Each entry of `dy · Wᵀ` is one float32 sum over the
 * output channels in increasing order (SIMD GEMM); `scatterAdd` adds those into a
 * zero-padded float64 gradient in a fixed order (pixels, then taps in `(i, j, c)` order)
 * and the interior is rounded to float32 once.
 */
export function conv2DBackpropInputImpl(dy: Float32Array, filter: Float32Array, g: Conv2DGeometry, out: Float32Array): void {
  const K = g.filterHeight * g.filterWidth * g.inChannels;
  const cout = g.outChannels;
  const M = g.batch * g.outHeight * g.outWidth;
  if (M === 0 || K === 0 || cout === 0) {
    out.fill(0);
    return;
  }
  const block = Math.min(ROWS_PER_BLOCK, M);
  const kPad = paddedCols(K);
  const p = paddedInput(g);
  // Scratch, in 4-byte elements: padded float64 sums (2 per value) | tables (taps, pixel
  // bases) | packed Wᵀ (B, cout × K) | dy (A) | im2col-shaped block (C, rows × kPad).
  const sumsFloats = 2 * paddedCols(p.size);
  const tapsOff = sumsFloats;
  const basesOff = tapsOff + paddedCols(K);
  const bOff = basesOff + paddedCols(block);
  const dyOff = bOff + packedBSize(cout, K);
  const cOff = dyOff + paddedCols(M * cout);
  const engine = sgemmEngine();
  const mem = engine.scratch(cOff + block * kPad);
  const ints = engine.ints();
  const sums = engine.doubles();
  sums.fill(0, 0, p.size);
  tapOffsets(g, p, ints, tapsOff);
  packB(filter, 0, 1, cout, cout, K, mem, bOff);
  mem.set(dy, dyOff);
  for (let m0 = 0; m0 < M; m0 += block) {
    const rows = Math.min(block, M - m0);
    engine.gemm(false, rows, K, cout, dyOff + m0 * cout, cout, bOff, cOff, kPad);
    pixelBases(g, p, m0, rows, ints, basesOff);
    engine.scatterAdd(0, cOff, kPad, basesOff, rows, tapsOff, K);
  }
  readPadded(sums, 0, g, p, out);
}
