import { describe, expect, it } from 'vitest';
import { Xoshiro128 } from '@swarmgrad/nn-core';
import { Arena, ArenaLayout } from './arena.js';
import { maxPoolLayer, type PoolGeometry } from './layers.js';

/** The pooling rule written out: row-major window order from -Infinity, the first strictly greater value wins. */
function referencePool(x: Float32Array, g: PoolGeometry, dy: Float32Array): { out: number[]; dx: number[] } {
  const { batch: N, inHeight: H, inWidth: W, channels: C, outHeight: OH, outWidth: OW } = g;
  const out: number[] = [];
  const dx = new Array<number>(x.length).fill(0);
  let o = 0;
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++)
        for (let c = 0; c < C; c++, o++) {
          let best = -Infinity;
          let at = -1;
          let first: number | undefined;
          for (let i = 0; i < g.windowHeight; i++)
            for (let j = 0; j < g.windowWidth; j++) {
              const h = oh * g.strideHeight - g.padTop + i;
              const w = ow * g.strideWidth - g.padLeft + j;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              const p = ((n * H + h) * W + w) * C + c;
              first ??= x[p]!;
              if (x[p]! > best) {
                best = x[p]!;
                at = p;
              }
            }
          out.push(at < 0 ? first! : best);
          if (at >= 0) dx[at] = Math.fround(dx[at]! + dy[o]!);
        }
  return { out, dx };
}

function runPool(x: Float32Array, g: PoolGeometry, dy: Float32Array): { out: number[]; dx: number[] } {
  const layout = new ArenaLayout();
  const outSize = g.batch * g.outHeight * g.outWidth * g.channels;
  const io = { in: layout.alloc(x.length), out: layout.alloc(outSize), dIn: layout.alloc(x.length), dOut: layout.alloc(outSize) };
  const layer = maxPoolLayer(layout, io, g);
  const a = new Arena(layout.size);
  layer.init(a);
  a.f32.set(x, io.in);
  a.f32.set(dy, io.dOut);
  layer.forward(a, new Float32Array(0));
  layer.backward(a, new Float32Array(0), new Float32Array(0));
  return { out: Array.from(a.f32.subarray(io.out, io.out + outSize)), dx: Array.from(a.f32.subarray(io.dIn, io.dIn + x.length)) };
}

const geometries: Array<[string, PoolGeometry]> = [
  ['2×2/2 valid (the WebAssembly row kernel)', { batch: 2, inHeight: 6, inWidth: 4, channels: 3, outHeight: 3, outWidth: 2, windowHeight: 2, windowWidth: 2, strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0 }],
  ['2×2/2 valid, odd input (last row and column unused)', { batch: 1, inHeight: 5, inWidth: 7, channels: 2, outHeight: 2, outWidth: 3, windowHeight: 2, windowWidth: 2, strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0 }],
  ['2×2/2 valid, 4 channels (four per v128)', { batch: 2, inHeight: 4, inWidth: 6, channels: 4, outHeight: 2, outWidth: 3, windowHeight: 2, windowWidth: 2, strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0 }],
  ['2×2/2 valid, 6 channels (LeNet-5: v128 groups at 0 and 2, overlapping)', { batch: 2, inHeight: 6, inWidth: 4, channels: 6, outHeight: 3, outWidth: 2, windowHeight: 2, windowWidth: 2, strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0 }],
  ['2×2/2 valid, 11 channels, odd input (groups at 0, 4, 7)', { batch: 1, inHeight: 5, inWidth: 5, channels: 11, outHeight: 2, outWidth: 2, windowHeight: 2, windowWidth: 2, strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0 }],
  ['2×2/2 valid, 16 channels', { batch: 1, inHeight: 4, inWidth: 4, channels: 16, outHeight: 2, outWidth: 2, windowHeight: 2, windowWidth: 2, strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0 }],
  ['3×3/2 same, overlapping (JavaScript)', { batch: 2, inHeight: 5, inWidth: 5, channels: 2, outHeight: 3, outWidth: 3, windowHeight: 3, windowWidth: 3, strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1 }],
];

describe('max pooling of the compiled step', () => {
  it.each(geometries)('%s: ties, -Infinity, NaN and random values follow the rule', (_name, g) => {
    const rng = new Xoshiro128(4);
    const size = g.batch * g.inHeight * g.inWidth * g.channels;
    const specials = [0, 0, -0, 1, 1, -Infinity, Number.NaN, -1, 2];
    for (let trial = 0; trial < 20; trial++) {
      const x = Float32Array.from({ length: size }, () => (rng.nextFloat() < 0.5 ? specials[rng.nextUint32() % specials.length]! : rng.nextFloat() - 0.5));
      const dy = Float32Array.from({ length: g.batch * g.outHeight * g.outWidth * g.channels }, () => rng.nextFloat());
      const ours = runPool(x, g, dy);
      const ref = referencePool(x, g, dy);
      expect(ours.out.map(String)).toEqual(ref.out.map((v) => String(Math.fround(v))));
      expect(ours.dx).toEqual(ref.dx);
    }
  });
});

describe('the ops module: fused bias + ReLU and its backward', () => {
  const specials = [0, -0, 1, -1, Number.NaN, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38];
  const sample = (rng: Xoshiro128) => (rng.nextFloat() < 0.4 ? specials[rng.nextUint32() % specials.length]! : (rng.nextFloat() - 0.5) * 8);
  /** Bits of a float32, so +0 / -0 and NaN compare exactly. */
  const bits = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0]!;

  it.each([1, 3, 4, 6, 9, 16])('biasRelu over %i columns is max(fl32(x + b), 0) with +0 for NaN and -0', (cols) => {
    const rng = new Xoshiro128(cols);
    const rows = 7, ld = cols + 3;
    const layout = new ArenaLayout();
    const src = layout.alloc(rows * ld), dst = layout.alloc(rows * cols), bias = layout.alloc(cols);
    const a = new Arena(layout.size);
    for (let i = 0; i < rows * ld; i++) a.f32[src + i] = sample(rng);
    for (let c = 0; c < cols; c++) a.f32[bias + c] = sample(rng);
    a.ops.biasRelu(4 * src, 4 * ld, 4 * dst, rows, cols, 4 * bias);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) {
        const v = Math.fround(a.f32[src + r * ld + c]! + a.f32[bias + c]!);
        expect(bits(a.f32[dst + r * cols + c]!), `row ${r} col ${c}`).toBe(bits(v > 0 ? v : 0));
      }
  });

  it.each([1, 6, 8, 11, 16])('maskSumPackRelu over %i columns masks, sums in float64 and packs 8-wide panels', (cols) => {
    const rng = new Xoshiro128(100 + cols);
    const rows = 5;
    const groups = Math.ceil(cols / 8);
    const layout = new ArenaLayout();
    const y = layout.alloc(rows * cols), d = layout.alloc(rows * cols), panel = layout.alloc(groups * rows * 8), acc = layout.allocDoubles(cols);
    const a = new Arena(layout.size);
    for (let i = 0; i < rows * cols; i++) {
      a.f32[y + i] = sample(rng);
      a.f32[d + i] = sample(rng);
    }
    const y0 = a.f32.slice(y, y + rows * cols), d0 = a.f32.slice(d, d + rows * cols);
    const start = Array.from({ length: cols }, (_, c) => c * 0.25);
    a.f64.set(start, acc);
    a.ops.maskSumPackRelu(4 * y, 4 * d, rows, cols, 8 * acc, 4 * panel);
    const sums = start.slice();
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) {
        const v = y0[r * cols + c]! > 0 ? d0[r * cols + c]! : 0;
        sums[c] = sums[c]! + v;
        expect(bits(a.f32[d + r * cols + c]!), `d row ${r} col ${c}`).toBe(bits(v));
        expect(bits(a.f32[panel + (c >> 3) * rows * 8 + r * 8 + (c & 7)]!), `panel row ${r} col ${c}`).toBe(bits(v));
      }
    expect(Array.from(a.f64.subarray(acc, acc + cols)).map(String)).toEqual(sums.map(String));
  });

  it.each([1, 7, 64])('maxpoolBackward adds %i gradients at their positions in order, float32, skipping -1', (n) => {
    const rng = new Xoshiro128(200 + n);
    const size = 50;
    const layout = new ArenaLayout();
    const dIn = layout.alloc(size), dOut = layout.alloc(n), arg = layout.alloc(n);
    const a = new Arena(layout.size);
    for (let i = 0; i < size; i++) a.f32[dIn + i] = sample(rng);
    for (let o = 0; o < n; o++) {
      a.f32[dOut + o] = sample(rng);
      // Repeated positions (the order of the adds shows) and windows without a winner.
      a.i32[arg + o] = o % 5 === 4 ? -1 : rng.nextUint32() % 9;
    }
    const want = a.f32.slice(dIn, dIn + size);
    for (let o = 0; o < n; o++) {
      const at = a.i32[arg + o]!;
      if (at >= 0) want[at] = want[at]! + a.f32[dOut + o]!;
    }
    a.ops.maxpoolBackward(4 * dIn, 4 * dOut, 4 * arg, n);
    for (let i = 0; i < size; i++) expect(bits(a.f32[dIn + i]!), `position ${i}`).toBe(bits(want[i]!));
  });

  it.each([[1, 1, 8], [16, 400, 16], [3, 5, 8], [0, 4, 8]])('transposeRows reads a %i × %i block back from a transposed output of stride %i', (rows, cols, stride) => {
    const layout = new ArenaLayout();
    const src = layout.alloc(Math.max(1, cols * stride)), dst = layout.alloc(Math.max(1, rows * cols) + 1);
    const a = new Arena(layout.size);
    for (let i = 0; i < cols * stride; i++) a.f32[src + i] = i + 0.5;
    a.f32[dst + rows * cols] = -7; // the float after the block stays
    a.ops.transposeRows(4 * dst, 4 * src, rows, cols, stride);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expect(a.f32[dst + r * cols + c]).toBe(a.f32[src + c * stride + r]);
    expect(a.f32[dst + rows * cols]).toBe(-7);
  });
});
