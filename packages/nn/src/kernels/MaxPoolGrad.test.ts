import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../register-gradients.js';
import { useBackend } from '../backend.js';
import { registerOwnKernels, unregisterOwnKernels } from './register.js';

/** Deterministic uniform(-1, 1) values. */
function randomValues(length: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

type Shape4 = [number, number, number, number];

interface Case {
  name: string;
  x: Shape4;
  filterSize: [number, number];
  strides: [number, number];
  pad: 'same' | 'valid' | number;
}

const cases: Case[] = [
  { name: 'LeNet pool1: 2x2 stride 2, cin 6', x: [3, 28, 28, 6], filterSize: [2, 2], strides: [2, 2], pad: 'valid' },
  { name: 'LeNet pool2: 2x2 stride 2 on 10x10, cin 16', x: [2, 10, 10, 16], filterSize: [2, 2], strides: [2, 2], pad: 'valid' },
  { name: '3x3 stride 2 same, odd sizes (overlapping windows)', x: [2, 9, 7, 3], filterSize: [3, 3], strides: [2, 2], pad: 'same' },
  { name: '2x2 stride 1 valid (overlapping), cin 1', x: [2, 6, 5, 1], filterSize: [2, 2], strides: [1, 1], pad: 'valid' },
  { name: '3x2 stride 2x1 same, cin 2', x: [1, 7, 8, 2], filterSize: [3, 2], strides: [2, 1], pad: 'same' },
  { name: 'AlexNet-like 3x3 stride 2 valid, cin 4', x: [1, 13, 13, 4], filterSize: [3, 3], strides: [2, 2], pad: 'valid' },
  { name: 'numeric pad 1, 3x3 stride 2', x: [2, 8, 8, 2], filterSize: [3, 3], strides: [2, 2], pad: 1 },
];

function geometry(c: Case) {
  const [, H, W] = c.x;
  const dims = [H, W].map((size, d) => {
    const k = c.filterSize[d]!;
    const s = c.strides[d]!;
    if (c.pad === 'same') {
      const out = Math.ceil(size / s);
      return { out, before: Math.floor(Math.max((out - 1) * s + k - size, 0) / 2) };
    }
    if (c.pad === 'valid') return { out: Math.ceil((size - k + 1) / s), before: 0 };
    return { out: Math.floor((size - k + 2 * c.pad) / s) + 1, before: c.pad };
  });
  return { rows: dims[0]!, cols: dims[1]! };
}

/**
 * Max pooling's gradient from its definition, with tfjs's tie rule: the first window
 * position (row-major) whose value is strictly greater than all before it, starting from
 * -Infinity, receives the output gradient; NaN and all -Infinity windows pass nothing.
 */
function referenceGradient(c: Case, x: Float32Array, dy: Float32Array): Float64Array {
  const [N, H, W, C] = c.x;
  const { rows, cols } = geometry(c);
  const dx = new Float64Array(x.length);
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < rows.out; oh++)
      for (let ow = 0; ow < cols.out; ow++)
        for (let ch = 0; ch < C; ch++) {
          let best = -Infinity;
          let at = -1;
          for (let i = 0; i < c.filterSize[0]; i++)
            for (let j = 0; j < c.filterSize[1]; j++) {
              const ih = oh * c.strides[0] + i - rows.before;
              const iw = ow * c.strides[1] + j - cols.before;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const k = ((n * H + ih) * W + iw) * C + ch;
              if (x[k]! > best) {
                best = x[k]!;
                at = k;
              }
            }
          if (at >= 0) dx[at] = dx[at]! + dy[((n * rows.out + oh) * cols.out + ow) * C + ch]!;
        }
  return dx;
}

function dyShape(c: Case): Shape4 {
  const { rows, cols } = geometry(c);
  return [c.x[0], rows.out, cols.out, c.x[3]];
}

/** Random input; `ties` rounds it to {-1, 0, 1} and plants -Infinity and NaN. */
function problem(c: Case, seed: number, ties: boolean) {
  const x = randomValues(c.x.reduce((a, b) => a * b, 1), seed);
  if (ties) {
    for (let k = 0; k < x.length; k++) x[k] = Math.round(x[k]!);
    for (let k = 0; k < x.length; k += 7) x[k] = -Infinity;
    for (let k = 3; k < x.length; k += 11) x[k] = NaN;
  }
  const dy = randomValues(dyShape(c).reduce((a, b) => a * b, 1), seed + 1);
  return { x, dy };
}

function runKernel(c: Case, x: Float32Array, dy: Float32Array): Float32Array {
  return tf.tidy(() => {
    const input = tf.tensor4d(x, c.x);
    const output = tf.maxPool(input, c.filterSize, c.strides, c.pad);
    expect(output.shape).toEqual(dyShape(c));
    const attrs = { filterSize: c.filterSize, strides: c.strides, pad: c.pad };
    const dx = tf.engine().runKernel('MaxPoolGrad', { dy: tf.tensor4d(dy, dyShape(c)), input, output }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    return dx.dataSync() as Float32Array;
  });
}

const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe.each(['cpu', 'wasm'] as const)('own MaxPoolGrad on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it.each(cases.map((c, i) => [c.name, c, i] as const))('%s: matches the reference, with and without ties, repeatably', (_name, c, i) => {
    for (const ties of [false, true]) {
      const { x, dy } = problem(c, 40 + i, ties);
      const dx = runKernel(c, x, dy);
      const ref = referenceGradient(c, x, dy);
      for (let k = 0; k < ref.length; k++) expect(dx[k], `entry ${k}, ties ${ties}`).toBe(Math.fround(ref[k]!));
      expect(sameBits(runKernel(c, x, dy), dx)).toBe(true);
    }
  });

  it('tf.grad of maxPool uses it', () => {
    const c = cases[2]!;
    const { x, dy } = problem(c, 3, false);
    const dyt = tf.tensor4d(dy, dyShape(c));
    const dx = tf.grad((xs: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(xs as tf.Tensor4D, c.filterSize, c.strides, c.pad), dyt)))(tf.tensor4d(x, c.x));
    expect(Array.from(dx.dataSync())).toEqual(Array.from(referenceGradient(c, x, dy), Math.fround));
    tf.dispose([dyt, dx]);
  });
});

describe('own MaxPoolGrad against stock tfjs', () => {
  afterAll(() => {
    registerOwnKernels('cpu');
    registerOwnKernels('wasm');
  });

  it('is bitwise equal to stock tfjs-backend-cpu, ties, -Infinity and NaN included', async () => {
    await useBackend('cpu');
    for (const [i, c] of cases.entries()) {
      for (const ties of [false, true]) {
        const { x, dy } = problem(c, 70 + i, ties);
        registerOwnKernels('cpu');
        const own = runKernel(c, x, dy);
        unregisterOwnKernels('cpu');
        expect(sameBits(runKernel(c, x, dy), own), `${c.name}, ties ${ties}`).toBe(true);
      }
    }
  });

  // tfjs-backend-wasm 4.22's kernel starts each window's maximum at FLT_MIN (the smallest
  // positive float) and lets the last of equal values win: windows without a positive value
  // lose their gradient, so it can only be compared on positive inputs without ties.
  it('equals stock tfjs-backend-wasm on positive inputs without ties', async () => {
    await useBackend('wasm');
    for (const [i, c] of cases.entries()) {
      const { x: signed, dy } = problem(c, 90 + i, false);
      const x = signed.map((v) => Math.abs(v) + 0.01);
      registerOwnKernels('wasm');
      const own = runKernel(c, x, dy);
      unregisterOwnKernels('wasm');
      const stock = runKernel(c, x, dy);
      for (let k = 0; k < own.length; k++) expect(own[k], `${c.name} entry ${k}`).toBeCloseTo(stock[k]!, 6);
    }
  });
});
