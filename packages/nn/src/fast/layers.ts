/**
 * The layers of a compiled training step ({@link ./step.ts}): each one reads and writes
 * fixed regions of the step's {@link Arena}, laid out once per model and batch size.
 *
 * Arithmetic (the contract of the `wasm-step` backend, bitwise repeatable on any machine):
 * - GEMMs: the SIMD module's order — one float32 accumulator per output over the inner
 *   index in increasing order, float32 multiply then float32 add.
 * - Forward conv / dense: `fl32(fl32(Σ) + bias)`, then the activation (relu: `max(v, 0)`).
 * - Parameter gradients over many rows (conv filters: output pixels; dense kernels: samples):
 *   float32 partial sums over blocks of {@link BLOCK} rows in order, the partials added in
 *   float64 in block order, rounded once. Bias gradients: float64 sums over rows, rounded once.
 * - Input gradients of convs: float32 sums over output channels, added into a zero-padded
 *   float64 buffer pixel by pixel (taps in `(i, j, c)` order), rounded once (col2im).
 * - Max pool: the first value in row-major window order strictly greater than all before it
 *   (from -Infinity) wins and takes the gradient; the position is saved in the forward pass.
 */
import type { Conv2DGeometry } from '../kernels/conv2d-geometry.js';
import { paddedInput, pixelBases, readPadded, sequence, tapOffsets, writePadded, type PaddedInput } from '../kernels/im2col.js';
import { packB, packedBSize, paddedCols } from '../kernels/simd-gemm.js';
import type { ActivationName } from '@swarmgrad/nn-core';
import type { Arena, ArenaLayout } from './arena.js';

/** Rows per im2col block and per float32 partial sum of a parameter gradient (a multiple of the 6-row GEMM tile). */
export const BLOCK = 240;

/** One compiled layer: regions of the arena for its input, output and their gradients. */
export interface FastLayer {
  /** Fills constant tables once the arena exists. */
  init(a: Arena): void;
  forward(a: Arena, params: Float32Array): void;
  /** Reads the gradient of the output, writes parameter gradients into `grads` and, unless first, the input gradient. */
  backward(a: Arena, params: Float32Array, grads: Float32Array): void;
}

/** Where a layer reads and writes (float32 element offsets; `dIn` is -1 for the first layer). */
export interface LayerIo {
  in: number;
  out: number;
  dIn: number;
  dOut: number;
}

/** Applies `act` in place to `f32[off … off+len)`. */
export function activate(f32: Float32Array, off: number, len: number, act: ActivationName): void {
  const end = off + len;
  if (act === 'relu') for (let i = off; i < end; i++) f32[i] = f32[i]! > 0 ? f32[i]! : 0;
  else if (act === 'tanh') for (let i = off; i < end; i++) f32[i] = Math.tanh(f32[i]!);
  else if (act === 'sigmoid') for (let i = off; i < end; i++) f32[i] = 1 / (1 + Math.exp(-f32[i]!));
}

/** `d ← d · act'(y)` in place, from the activation's output `y` (float64 product, rounded once). */
export function activateBackward(f32: Float32Array, yOff: number, dOff: number, len: number, act: ActivationName): void {
  if (act === 'relu') for (let i = 0; i < len; i++) f32[dOff + i] = f32[yOff + i]! > 0 ? f32[dOff + i]! : 0;
  else if (act === 'tanh') for (let i = 0; i < len; i++) f32[dOff + i] = f32[dOff + i]! * (1 - f32[yOff + i]! * f32[yOff + i]!);
  else if (act === 'sigmoid') for (let i = 0; i < len; i++) f32[dOff + i] = f32[dOff + i]! * f32[yOff + i]! * (1 - f32[yOff + i]!);
}

/** `f32[dst + r·cols + c] = act(f32[src + r·ld + c] + bias[c])` for r < rows, c < cols (ReLU runs in the ops module's `biasRelu` instead). */
function biasActivate(f32: Float32Array, src: number, ld: number, dst: number, rows: number, cols: number, params: Float32Array, bOff: number, act: ActivationName): void {
  for (let r = 0; r < rows; r++) {
    const s = src + r * ld;
    const d = dst + r * cols;
    for (let c = 0; c < cols; c++) f32[d + c] = f32[s + c]! + params[bOff + c]!;
  }
  activate(f32, dst, rows * cols, act);
}

/**
 * Backward of the fused activation for rows `m0 … m0+rows` of a `· × cols` output: `d ← d · act'(y)`
 * in place, the bias gradient's float64 column sums continued in `f64[acc …]`, and the rows
 * packed into 8-wide GEMM panels at `panel` (see `packB`).
 */
function maskSumPack(a: Arena, y: number, d: number, m0: number, rows: number, cols: number, act: ActivationName, acc: number, panel: number): void {
  const f32 = a.f32;
  const start = (m0 * cols);
  const nPad = paddedCols(cols);
  if (act === 'relu') {
    // Branch-free in the ops module: the mask's comparisons are unpredictable on real data.
    a.ops.maskSumPackRelu(4 * (y + start), 4 * (d + start), rows, cols, 8 * acc, 4 * panel);
  } else {
    activateBackward(f32, y + start, d + start, rows * cols, act);
    const f64 = a.f64;
    for (let r = 0; r < rows; r++) {
      const o = start + r * cols;
      for (let c = 0; c < cols; c++) {
        const v = f32[d + o + c]!;
        f64[acc + c] = f64[acc + c]! + v;
        f32[panel + (c >> 3) * rows * 8 + r * 8 + (c & 7)] = v;
      }
    }
  }
  if (nPad !== cols) {
    const q = (cols >> 3) * rows * 8;
    for (let r = 0; r < rows; r++) for (let c = cols & 7; c < 8; c++) f32[panel + q + r * 8 + c] = 0;
  }
}

/**
 * Parameter gradients of a layer `out = act(A · W + bias)` over `rows` rows, given the
 * output `y` and its gradient `d` (`rows × N`, made `d · act'(y)` in place): the kernel's
 * `Aᵀ · d` as float32 GEMM partials over {@link BLOCK} rows, added in float64 in block
 * order and rounded once (`loadA` supplies block `m0`'s `r` rows of the `rows × K` matrix A),
 * and the bias's float64 column sums of `d` (in the arena at double offset `biasAcc`), rounded once.
 */
function paramGrads(
  a: Arena, rows: number, K: number, N: number, io: LayerIo, act: ActivationName, panel: number, part: number,
  loadA: (m0: number, r: number) => [aOff: number, lda: number], grads: Float32Array, kOff: number, bOff: number, acc: Float64Array, biasAcc: number,
): void {
  const nPad = paddedCols(N);
  const f32 = a.f32;
  const single = rows <= BLOCK;
  if (!single) acc.fill(0, 0, K * N);
  a.f64.fill(0, biasAcc, biasAcc + N);
  for (let m0 = 0; m0 < rows; m0 += BLOCK) {
    const r = Math.min(BLOCK, rows - m0);
    maskSumPack(a, io.out, io.dOut, m0, r, N, act, biasAcc, panel);
    const [aOff, lda] = loadA(m0, r);
    a.gemm(true, K, N, r, aOff, lda, panel, part, nPad);
    for (let k = 0; k < K; k++) {
      const s = part + k * nPad;
      const d = k * N;
      if (single) grads.set(f32.subarray(s, s + N), kOff + d);
      else for (let j = 0; j < N; j++) acc[d + j] = acc[d + j]! + f32[s + j]!;
    }
  }
  if (!single) for (let i = 0; i < K * N; i++) grads[kOff + i] = acc[i]!;
  for (let j = 0; j < N; j++) grads[bOff + j] = a.f64[biasAcc + j]!;
}

/** A 2-D convolution (cross-correlation, NHWC) with bias and fused activation. */
export function convLayer(layout: ArenaLayout, io: LayerIo, g: Conv2DGeometry, kernelOff: number, biasOff: number, act: ActivationName, paramsOff: number): FastLayer {
  const K = g.filterHeight * g.filterWidth * g.inChannels;
  const cout = g.outChannels;
  const M = g.batch * g.outHeight * g.outWidth;
  const nPad = paddedCols(cout);
  const kPad = paddedCols(K);
  const p: PaddedInput = paddedInput(g);
  const inSize = g.batch * g.inHeight * g.inWidth * g.inChannels;
  const pad = layout.alloc(p.size);
  const taps = layout.alloc(K);
  const seq = layout.alloc(K);
  const bases = layout.alloc(M);
  const w = layout.alloc(packedBSize(K, cout));
  const wt = io.dIn >= 0 ? layout.alloc(packedBSize(cout, K)) : -1;
  const col = layout.alloc(BLOCK * K);
  const c = layout.alloc(BLOCK * Math.max(nPad, io.dIn >= 0 ? kPad : 0));
  const panel = layout.alloc(BLOCK * nPad);
  const part = layout.alloc(K * nPad);
  const sums = io.dIn >= 0 ? layout.allocDoubles(p.size) : -1;
  const acc = new Float64Array(M > BLOCK ? K * cout : 0);
  const biasAcc = layout.allocDoubles(cout);
  // Undilated taps: a filter row's kw·cin taps are contiguous in the padded input, so im2col
  // copies runs (ops module); otherwise the table gather.
  const runs = g.dilationHeight === 1 && g.dilationWidth === 1;
  const runLen = g.filterWidth * g.inChannels;
  // Rebuilt block by block in the backward pass too: keeping the whole matrix from the
  // forward pass was measured slower (LeNet-5, batch 64: 10.25 against 9.75 ms a step) — a
  // block's columns are used while they are still in cache.
  const im2col = (a: Arena, m0: number, rows: number): void => {
    if (runs) a.ops.im2col(4 * col, 4 * K, 4 * pad, 4 * (bases + m0), rows, g.filterHeight, runLen, 4 * p.width * g.inChannels);
    else a.gather(col, K, pad, bases + m0, rows, taps, seq, K);
  };
  return {
    init(a) {
      tapOffsets(g, p, a.i32, taps);
      sequence(a.i32, seq, K);
      pixelBases(g, p, 0, M, a.i32, bases);
      a.f32.fill(0, pad, pad + p.size);
    },
    forward(a, params) {
      const f32 = a.f32;
      writePadded(f32.subarray(io.in, io.in + inSize), g, p, f32, pad);
      packB(params, kernelOff, cout, 1, K, cout, f32, w);
      for (let m0 = 0; m0 < M; m0 += BLOCK) {
        const rows = Math.min(BLOCK, M - m0);
        im2col(a, m0, rows);
        a.gemm(false, rows, cout, K, col, K, w, c, nPad);
        if (act === 'relu') a.ops.biasRelu(4 * c, 4 * nPad, 4 * (io.out + m0 * cout), rows, cout, 4 * (paramsOff + biasOff));
        else biasActivate(f32, c, nPad, io.out + m0 * cout, rows, cout, params, biasOff, act);
      }
    },
    backward(a, params, grads) {
      const f32 = a.f32;
      paramGrads(a, M, K, cout, io, act, panel, part, (m0, rows) => (im2col(a, m0, rows), [col, K]), grads, kernelOff, biasOff, acc, biasAcc);
      if (io.dIn < 0) return;
      packB(params, kernelOff, 1, cout, cout, K, f32, wt);
      a.f64.fill(0, sums, sums + p.size);
      for (let m0 = 0; m0 < M; m0 += BLOCK) {
        const rows = Math.min(BLOCK, M - m0);
        a.gemm(false, rows, K, cout, io.dOut + m0 * cout, cout, wt, c, kPad);
        a.scatterAdd(sums, c, kPad, bases + m0, rows, taps, K);
      }
      readPadded(a.f64, sums, g, p, f32.subarray(io.dIn, io.dIn + inSize));
    },
  };
}

/** Below this batch size a dense layer multiplies by its kernel in place instead of packing it (the packing would cost more than the slower transposed GEMM). */
const DENSE_PACK_MIN_BATCH = 32;

/**
 * A dense layer `[n, I] → [n, U]` with bias and fused activation. The kernel is read where
 * the step copied the parameters into the arena (`params` at `paramsOff`): the input
 * gradient is `(W · dᵀ)ᵀ` (W row-major as the GEMM's A, `d` packed — never a transposed
 * copy of W), and at small batches the forward pass is `(Wᵀ · xᵀ)ᵀ` (W read transposed in
 * place). Every output is still one float32 sum over the same index in increasing order,
 * so the bits do not depend on which form runs.
 */
export function denseLayer(layout: ArenaLayout, io: LayerIo, n: number, I: number, U: number, kernelOff: number, biasOff: number, act: ActivationName, paramsOff: number): FastLayer {
  const uPad = paddedCols(U);
  const nPad = paddedCols(n);
  const packW = n >= DENSE_PACK_MIN_BATCH;
  const w = packW ? layout.alloc(packedBSize(I, U)) : -1;
  const xt = packW ? -1 : layout.alloc(packedBSize(I, n));
  const dt = io.dIn >= 0 ? layout.alloc(packedBSize(U, n)) : -1;
  const c = layout.alloc(Math.max(n * uPad, U * nPad, io.dIn >= 0 ? I * nPad : 0));
  const panel = layout.alloc(Math.min(BLOCK, n) * uPad);
  const part = layout.alloc(I * uPad);
  const acc = new Float64Array(n > BLOCK ? I * U : 0);
  const biasAcc = layout.allocDoubles(U);
  const W = paramsOff + kernelOff;
  return {
    init() {},
    forward(a, params) {
      const f32 = a.f32;
      if (packW) {
        packB(f32, W, U, 1, I, U, f32, w);
        a.gemm(false, n, U, I, io.in, I, w, c, uPad);
        if (act === 'relu') a.ops.biasRelu(4 * c, 4 * uPad, 4 * io.out, n, U, 4 * (paramsOff + biasOff));
        else biasActivate(f32, c, uPad, io.out, n, U, params, biasOff, act);
        return;
      }
      // outᵀ = Wᵀ · xᵀ: A(u, k) = W[k·U + u] read in place, B(k, s) = x[s·I + k].
      packB(f32, io.in, 1, I, I, n, f32, xt);
      a.gemm(true, U, n, I, W, U, xt, c, nPad);
      for (let s = 0; s < n; s++) for (let u = 0; u < U; u++) f32[io.out + s * U + u] = f32[c + u * nPad + s]! + params[biasOff + u]!;
      if (act === 'relu') for (let i = io.out; i < io.out + n * U; i++) f32[i] = f32[i]! > 0 ? f32[i]! : 0;
      else activate(f32, io.out, n * U, act);
    },
    backward(a, params, grads) {
      const f32 = a.f32;
      paramGrads(a, n, I, U, io, act, panel, part, (m0) => [io.in + m0 * I, I], grads, kernelOff, biasOff, acc, biasAcc);
      if (io.dIn < 0) return;
      // dxᵀ = W · dᵀ: A = W (I × U, row-major), B(u, s) = d[s·U + u].
      packB(f32, io.dOut, 1, U, U, n, f32, dt);
      a.gemm(false, I, n, U, W, U, dt, c, nPad);
      a.ops.transposeRows(4 * io.dIn, 4 * c, n, I, nPad);
    },
  };
}

/** Max pooling geometry on NHWC (1-D pools use height 1). */
export interface PoolGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  windowHeight: number;
  windowWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/** The max pool forward pass in JavaScript (any window, stride, padding): values to `outOff`, winning positions (relative to `inOff`, or -1) to `arg`. */
function maxPoolForwardJs(f32: Float32Array, i32: Int32Array, g: PoolGeometry, inOff: number, outOff: number, arg: number): void {
  const { batch: N, inHeight: H, inWidth: W, channels: C, outHeight: OH, outWidth: OW } = g;
  const rowStep = W * C;
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const top = oh * g.strideHeight - g.padTop;
      const h0 = Math.max(top, 0);
      const h1 = Math.min(top + g.windowHeight, H);
      for (let ow = 0; ow < OW; ow++) {
        const left = ow * g.strideWidth - g.padLeft;
        const w0 = Math.max(left, 0);
        const w1 = Math.min(left + g.windowWidth, W);
        const first = inOff + ((n * H + h0) * W + w0) * C;
        if (h1 - h0 === 2 && w1 - w0 === 2) {
          // The common 2×2 window as straight-line selects (V8 emits conditional moves; the
          // comparisons are unpredictable on real data). Same rule as the loop below.
          for (let c = 0; c < C; c++, o++) {
            const p0 = first + c, p1 = p0 + C, p2 = p0 + rowStep, p3 = p2 + C;
            const v0 = f32[p0]!, v1 = f32[p1]!, v2 = f32[p2]!, v3 = f32[p3]!;
            let best = v0 > -Infinity ? v0 : -Infinity;
            let at = v0 > -Infinity ? p0 : -1;
            let gt = v1 > best;
            best = gt ? v1 : best;
            at = gt ? p1 : at;
            gt = v2 > best;
            best = gt ? v2 : best;
            at = gt ? p2 : at;
            gt = v3 > best;
            best = gt ? v3 : best;
            at = gt ? p3 : at;
            i32[arg + o] = at < 0 ? -1 : at - inOff;
            f32[outOff + o] = at < 0 ? v0 : best;
          }
          continue;
        }
        for (let c = 0; c < C; c++, o++) {
          let best = -Infinity;
          let at = -1;
          for (let h = h0; h < h1; h++) {
            let q = inOff + ((n * H + h) * W + w0) * C + c;
            for (let w = w0; w < w1; w++, q += C) {
              const v = f32[q]!;
              if (v > best) {
                best = v;
                at = q;
              }
            }
          }
          i32[arg + o] = at < 0 ? -1 : at - inOff;
          f32[outOff + o] = at < 0 ? f32[first + c]! : best;
        }
      }
    }
  }
}

/** Max pooling that saves each output's winning input position (or -1) for the backward pass. */
export function maxPoolLayer(layout: ArenaLayout, io: LayerIo, g: PoolGeometry): FastLayer {
  const { batch: N, inHeight: H, inWidth: W, channels: C, outHeight: OH, outWidth: OW } = g;
  const outSize = N * OH * OW * C;
  const inSize = N * H * W * C;
  const arg = layout.alloc(outSize);
  const rowStep = W * C;
  const inOff = io.in, outOff = io.out;
  const rowsInModule =
    g.windowHeight === 2 && g.windowWidth === 2 && g.strideHeight === 2 && g.strideWidth === 2 && g.padTop === 0 && g.padLeft === 0 && 2 * OH <= H && 2 * OW <= W && OW > 0 && C > 0;
  return {
    init() {},
    forward(a) {
      const f32 = a.f32, i32 = a.i32;
      if (rowsInModule) {
        // 2×2 / 2 windows all inside: one call per output row into the ops module (four channels per v128 when there are at least four).
        const pool = C >= 4 ? a.ops.maxpool2x4 : a.ops.maxpool2;
        for (let n = 0; n < N; n++) {
          for (let oh = 0; oh < OH; oh++) {
            const o = (n * OH + oh) * OW * C;
            pool(4 * (inOff + (n * H + 2 * oh) * W * C), 4 * (outOff + o), 4 * (arg + o), OW, C, 4 * rowStep, 4 * inOff);
          }
        }
        return;
      }
      maxPoolForwardJs(a.f32, a.i32, g, inOff, outOff, arg);
    },
    backward(a) {
      if (io.dIn < 0) return;
      a.f32.fill(0, io.dIn, io.dIn + inSize);
      // dIn[arg[o]] += dOut[o] in order, in the ops module (the same float32 adds).
      a.ops.maxpoolBackward(4 * io.dIn, 4 * io.dOut, 4 * arg, outSize);
    },
  };
}

/** A standalone activation layer. */
export function activationLayer(io: LayerIo, size: number, act: ActivationName): FastLayer {
  return {
    init() {},
    forward(a) {
      a.f32.copyWithin(io.out, io.in, io.in + size);
      activate(a.f32, io.out, size, act);
    },
    backward(a) {
      if (io.dIn < 0) return;
      a.f32.copyWithin(io.dIn, io.dOut, io.dOut + size);
      activateBackward(a.f32, io.out, io.dIn, size, act);
    },
  };
}

/**
 * Softmax cross-entropy of logits `f32[logits …]` (`n × K`) against integer labels: writes
 * `softmax − onehot` (float64, rounded once) to `f32[dLogits …]` and returns the summed loss
 * `Σ_i log Σ_k exp(z_ik − m_i) + m_i − z_i,y_i` in float64, samples in order.
 */
export function softmaxCrossEntropy(f32: Float32Array, logits: number, dLogits: number, n: number, K: number, y: Int32Array, e: Float64Array): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const z = logits + i * K;
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, f32[z + k]!);
    let s = 0;
    for (let k = 0; k < K; k++) s += e[k] = Math.exp(f32[z + k]! - m);
    total += Math.log(s) + m - f32[z + y[i]!]!;
    for (let k = 0; k < K; k++) f32[dLogits + i * K + k] = e[k]! / s - (k === y[i] ? 1 : 0);
  }
  return total;
}

/** Mean squared error per sample (mean over the K outputs), summed; gradient `2(o − t)/K`. */
export function meanSquaredError(f32: Float32Array, out: number, dOut: number, n: number, K: number, t: Float32Array): number {
  let total = 0;
  for (let i = 0; i < n * K; i++) {
    const d = f32[out + i]! - t[i]!;
    total += (d * d) / K;
    f32[dOut + i] = (2 * d) / K;
  }
  return total;
}
