/**
 * The project's conv kernels (Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter) against
 * float64 loops written from the definition of cross-correlation, against the stock tfjs
 * kernels, across backends, and run to run.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../register-gradients.js';
import { useBackend, type BackendName } from '../backend.js';
import { registerOwnKernels, unregisterOwnKernels } from './register.js';

/** Deterministic uniform(-1, 1) values (a tiny LCG: tests must not depend on Math.random). */
function randomValues(length: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];
type Shape4 = [number, number, number, number];

interface Case {
  name: string;
  x: Shape4; // NHWC
  filter: Shape4; // [KH, KW, Cin, Cout]
  strides: [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** Forward pass only (tfjs's conv gradients require dilation 1). */
  dilations?: [number, number];
}

/** Output size and leading padding along one axis, computed from the definitions (not tfjs). */
function axis(c: Case, dim: 1 | 2) {
  const size = c.x[dim];
  const stride = c.strides[dim - 1]!;
  const dilation = c.dilations?.[dim - 1] ?? 1;
  const window = (c.filter[dim - 1]! - 1) * dilation + 1;
  const pad = c.pad;
  if (pad === 'same') {
    const out = Math.ceil(size / stride);
    return { out, before: Math.floor(Math.max((out - 1) * stride + window - size, 0) / 2), stride, dilation };
  }
  if (pad === 'valid') return { out: Math.ceil((size - window + 1) / stride), before: 0, stride, dilation };
  if (typeof pad === 'number') {
    const exact = (size - window + 2 * pad) / stride + 1;
    const round = c.dimRoundingMode === 'ceil' ? Math.ceil : c.dimRoundingMode === 'round' ? Math.round : Math.floor;
    return { out: c.dimRoundingMode === undefined ? exact : round(exact), before: pad, stride, dilation };
  }
  const [before, after] = pad[dim];
  return { out: Math.floor((size + before + after - window) / stride) + 1, before, stride, dilation };
}

function outShape(c: Case): Shape4 {
  return [c.x[0], axis(c, 1).out, axis(c, 2).out, c.filter[3]];
}

interface Reference {
  value: Float64Array;
  /** Σ|terms| per entry: the scale float32 rounding error is measured against. */
  scale: Float64Array;
}

/**
 * Visits every term x[n,ih,iw,c] · f[i,j,c,o] · dy[n,oh,ow,o] of a cross-correlation with
 * ih = oh*sh + i*dh - pt and iw = ow*sw + j*dw - pl inside the input.
 */
function forEachTerm(c: Case, visit: (xi: number, fi: number, yi: number) => void): void {
  const [N, H, W, C] = c.x;
  const [KH, KW, , F] = c.filter;
  const rows = axis(c, 1);
  const cols = axis(c, 2);
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < rows.out; oh++)
      for (let ow = 0; ow < cols.out; ow++)
        for (let i = 0; i < KH; i++)
          for (let j = 0; j < KW; j++) {
            const ih = oh * rows.stride + i * rows.dilation - rows.before;
            const iw = ow * cols.stride + j * cols.dilation - cols.before;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            for (let ch = 0; ch < C; ch++)
              for (let o = 0; o < F; o++) visit(((n * H + ih) * W + iw) * C + ch, ((i * KW + j) * C + ch) * F + o, ((n * rows.out + oh) * cols.out + ow) * F + o);
          }
}

function reference(length: number, c: Case, term: (xi: number, fi: number, yi: number) => [number, number]): Reference {
  const value = new Float64Array(length);
  const scale = new Float64Array(length);
  forEachTerm(c, (xi, fi, yi) => {
    const [k, t] = term(xi, fi, yi);
    value[k] = value[k]! + t;
    scale[k] = scale[k]! + Math.abs(t);
  });
  return { value, scale };
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Random x, filter and output gradient for a case, with the three float64 references. */
function problem(c: Case, seed: number) {
  const x = randomValues(size(c.x), seed);
  const f = randomValues(size(c.filter), seed + 1);
  const dy = randomValues(size(outShape(c)), seed + 2);
  return {
    x,
    f,
    dy,
    forward: () => reference(size(outShape(c)), c, (xi, fi, yi) => [yi, x[xi]! * f[fi]!]),
    inputGrad: () => reference(size(c.x), c, (xi, fi, yi) => [xi, dy[yi]! * f[fi]!]),
    filterGrad: () => reference(size(c.filter), c, (xi, fi, yi) => [fi, x[xi]! * dy[yi]!]),
  };
}

const cases: Case[] = [
  { name: 'LeNet conv1: 5x5 same, cin 1', x: [2, 28, 28, 1], filter: [5, 5, 1, 6], strides: [1, 1], pad: 'same' },
  { name: 'LeNet conv2: 5x5 valid, cin 6', x: [3, 14, 14, 6], filter: [5, 5, 6, 16], strides: [1, 1], pad: 'valid' },
  { name: '3x3 same stride 2, odd sizes, cin 3', x: [3, 13, 11, 3], filter: [3, 3, 3, 5], strides: [2, 2], pad: 'same' },
  { name: '4x4 same stride 2, even kernel, cin 1', x: [2, 7, 9, 1], filter: [4, 4, 1, 3], strides: [2, 2], pad: 'same' },
  { name: '3x2 valid stride 2x1, cin 6, odd cout', x: [2, 9, 8, 6], filter: [3, 2, 6, 7], strides: [2, 1], pad: 'valid' },
  { name: '1x1 valid, cin 3', x: [2, 5, 6, 3], filter: [1, 1, 3, 4], strides: [1, 1], pad: 'valid' },
  { name: '5x5 same on a 3x4 input, cin 2 (window larger than the input)', x: [1, 3, 4, 2], filter: [5, 5, 2, 3], strides: [1, 1], pad: 'same' },
  { name: 'numeric pad 1, stride 2, ceil rounding', x: [2, 8, 7, 3], filter: [3, 3, 3, 2], strides: [2, 2], pad: 1, dimRoundingMode: 'ceil' },
  { name: 'explicit asymmetric padding', x: [2, 6, 7, 2], filter: [3, 3, 2, 4], strides: [1, 2], pad: [[0, 0], [2, 0], [1, 3], [0, 0]] },
  { name: 'AlexNet-like conv1: 11x11 stride 4 valid, cin 3', x: [1, 35, 35, 3], filter: [11, 11, 3, 8], strides: [4, 4], pad: 'valid' },
  { name: 'conv1d as tfjs runs it: height 1, same', x: [3, 1, 17, 4], filter: [1, 5, 4, 3], strides: [1, 1], pad: 'same' },
];

/** Forward-only cases: dilation. */
const dilatedCases: Case[] = [
  { name: 'dilation 2, same, cin 3', x: [2, 11, 10, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'same', dilations: [2, 2] },
  { name: 'dilation 2x3, valid, cin 1', x: [1, 12, 14, 1], filter: [3, 2, 1, 5], strides: [1, 1], pad: 'valid', dilations: [2, 3] },
];

type Kernel = 'Conv2D' | 'Conv2DBackpropInput' | 'Conv2DBackpropFilter';

/** Runs one conv kernel directly through the engine (NHWC data in, NHWC data out). */
function runKernel(kernel: Kernel, c: Case, p: ReturnType<typeof problem>, dataFormat: 'NHWC' | 'NCHW' = 'NHWC'): Float32Array {
  return tf.tidy(() => {
    const toFormat = (t: tf.Tensor4D) => (dataFormat === 'NCHW' ? tf.transpose(t, [0, 3, 1, 2]) : t);
    const fromFormat = (t: tf.Tensor) => (dataFormat === 'NCHW' ? tf.transpose(t, [0, 2, 3, 1]) : t);
    const x = toFormat(tf.tensor4d(p.x, c.x));
    const dy = toFormat(tf.tensor4d(p.dy, outShape(c)));
    const filter = tf.tensor4d(p.f, c.filter);
    // Explicit padding is given per dimension of the data format.
    const pad = Array.isArray(c.pad) && dataFormat === 'NCHW' ? [c.pad[0], c.pad[3], c.pad[1], c.pad[2]] : c.pad;
    const common = { strides: c.strides, pad, dataFormat, dimRoundingMode: c.dimRoundingMode };
    let result: tf.Tensor;
    if (kernel === 'Conv2D') {
      result = fromFormat(tf.engine().runKernel('Conv2D', { x, filter }, { ...common, dilations: c.dilations ?? [1, 1] } as unknown as tf.NamedAttrMap) as tf.Tensor);
      expect(result.shape).toEqual(outShape(c));
    } else if (kernel === 'Conv2DBackpropInput') {
      result = fromFormat(tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...common, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor);
      expect(result.shape).toEqual(c.x);
    } else {
      result = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: c.filter } as unknown as tf.NamedAttrMap) as tf.Tensor;
      expect(result.shape).toEqual(c.filter);
    }
    return result.dataSync() as Float32Array;
  });
}

function referenceFor(kernel: Kernel, p: ReturnType<typeof problem>): Reference {
  return kernel === 'Conv2D' ? p.forward() : kernel === 'Conv2DBackpropInput' ? p.inputGrad() : p.filterGrad();
}

/** Largest error relative to the magnitude of the summed terms (float32 rounding is ~6e-8 of it). */
function worstError(actual: ArrayLike<number>, ref: Reference): number {
  let worst = 0;
  for (let k = 0; k < ref.value.length; k++) {
    worst = Math.max(worst, Math.abs(actual[k]! - ref.value[k]!) / (ref.scale[k]! + 1e-30));
  }
  return worst;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** The kernels each backend gets from the project (Conv2D on wasm stays XNNPACK's). */
const ownOn: Record<'cpu' | 'wasm', Kernel[]> = {
  cpu: ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'],
  wasm: ['Conv2DBackpropInput', 'Conv2DBackpropFilter'],
};

const backends = ['cpu', 'wasm'] as const satisfies readonly BackendName[];

describe.each(backends)('own conv kernels on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  describe.each(ownOn[backend])('%s', (kernel) => {
    const all = kernel === 'Conv2D' ? [...cases, ...dilatedCases] : cases;
    it.each(all.map((c, i) => [c.name, c, i] as const))('%s: matches a float64 naive loop, bitwise repeatable', (_name, c, i) => {
      const p = problem(c, 100 + 7 * i);
      const first = runKernel(kernel, c, p);
      expect(worstError(first, referenceFor(kernel, p))).toBeLessThan(1e-6);
      expect(sameBits(runKernel(kernel, c, p), first)).toBe(true);
    });

    it('NCHW gives the same result as NHWC', () => {
      for (const c of [cases[2]!, cases[8]!]) {
        const p = problem(c, 7);
        expect(sameBits(runKernel(kernel, c, p, 'NCHW'), runKernel(kernel, c, p))).toBe(true);
      }
    });
  });

  it('conv1d gradients through tf.grad use the own kernels and match the references', () => {
    const c = cases[cases.length - 1]!;
    const p = problem(c, 9);
    const [N, , W, C] = c.x;
    const [, K, , F] = c.filter;
    const x = tf.tensor3d(p.x, [N, W, C]);
    const filter = tf.tensor3d(p.f, [K, C, F]);
    const dy = tf.tensor3d(p.dy, [N, outShape(c)[2], F]);
    const [dx, df] = tf.grads((xs: tf.Tensor, fs: tf.Tensor) => tf.sum(tf.mul(tf.conv1d(xs as tf.Tensor3D, fs as tf.Tensor3D, 1, 'same'), dy)))([x, filter]);
    expect(worstError(dx!.dataSync(), p.inputGrad())).toBeLessThan(1e-6);
    expect(worstError(df!.dataSync(), p.filterGrad())).toBeLessThan(1e-6);
    tf.dispose([x, filter, dy, dx!, df!]);
  });
});

describe('own conv kernels across backends and against stock tfjs', () => {
  afterAll(() => {
    registerOwnKernels('cpu');
    registerOwnKernels('wasm');
  });

  it.each(['Conv2DBackpropInput', 'Conv2DBackpropFilter'] as const)('%s: cpu and wasm give bitwise identical results (same TypeScript code)', async (kernel) => {
    for (const [i, c] of cases.entries()) {
      const p = problem(c, 300 + i);
      await useBackend('cpu');
      const onCpu = runKernel(kernel, c, p);
      await useBackend('wasm');
      expect(sameBits(runKernel(kernel, c, p), onCpu), c.name).toBe(true);
    }
  });

  // tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter to compare with.
  const stockKernels: Array<[BackendName, Kernel]> = [
    ['cpu', 'Conv2D'],
    ['cpu', 'Conv2DBackpropInput'],
    ['cpu', 'Conv2DBackpropFilter'],
    ['wasm', 'Conv2DBackpropInput'],
  ];
  it.each(stockKernels)('agrees with the stock %s %s kernel', async (backend, kernel) => {
    await useBackend(backend);
    const all = kernel === 'Conv2D' ? [...cases, ...dilatedCases] : cases;
    for (const [i, c] of all.entries()) {
      const p = problem(c, 500 + i);
      const ref = referenceFor(kernel, p);
      registerOwnKernels(backend);
      const own = runKernel(kernel, c, p);
      unregisterOwnKernels(backend);
      const stock = runKernel(kernel, c, p);
      expect(worstError(stock, ref), `stock on ${c.name}`).toBeLessThan(1e-5);
      for (let k = 0; k < own.length; k++) {
        expect(Math.abs(own[k]! - stock[k]!), `${c.name} entry ${k}`).toBeLessThanOrEqual(1e-5 * (ref.scale[k]! + 1e-30));
      }
    }
  });
});
