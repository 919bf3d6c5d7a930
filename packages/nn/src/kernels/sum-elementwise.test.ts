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

const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const size = (shape: number[]) => shape.reduce((p, q) => p * q, 1);

/** Σ over `axes` of `x` from the definition: every output index, then every reduced index in row-major order, in float64. */
function referenceSum(x: Float32Array, shape: number[], axes: number[]): Float64Array {
  const kept = shape.map((_, d) => d).filter((d) => !axes.includes(d));
  const out = new Float64Array(size(kept.map((d) => shape[d]!)));
  const strides = shape.map((_, d) => size(shape.slice(d + 1)));
  const loc = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < x.length; k++) {
    let rest = k;
    for (let d = 0; d < shape.length; d++) {
      loc[d] = Math.floor(rest / strides[d]!);
      rest -= loc[d]! * strides[d]!;
    }
    let o = 0;
    for (const d of kept) o = o * shape[d]! + loc[d]!;
    out[o] = out[o]! + x[k]!;
  }
  return out;
}

interface SumCase {
  shape: number[];
  axis: number | number[] | null;
  keepDims: boolean;
}
const sumCases: SumCase[] = [
  { shape: [64, 28, 28, 6], axis: [0, 1, 2], keepDims: false }, // LeNet conv1 bias gradient
  { shape: [5, 10, 10, 16], axis: [0, 1, 2], keepDims: false },
  { shape: [7, 120], axis: [0], keepDims: false },
  { shape: [7, 10], axis: 1, keepDims: true },
  { shape: [7, 10], axis: null, keepDims: false },
  { shape: [3, 5, 7], axis: -1, keepDims: false },
  { shape: [3, 5, 7], axis: [1], keepDims: true },
  { shape: [3, 1, 5, 7, 2], axis: [1, 2, 3], keepDims: false },
  { shape: [3, 5, 7], axis: [0, 2], keepDims: false }, // two runs: stock kernel
  { shape: [4, 9, 3], axis: [0, 1], keepDims: true },
  { shape: [0, 3], axis: [0], keepDims: false },
  { shape: [2, 3, 5], axis: [], keepDims: false },
];

function runSum(c: SumCase, x: Float32Array): { values: Float32Array; shape: number[] } {
  return tf.tidy(() => {
    const y = tf.engine().runKernel('Sum', { x: tf.tensor(x, c.shape) }, { axis: c.axis, keepDims: c.keepDims } as unknown as tf.NamedAttrMap) as tf.Tensor;
    return { values: y.dataSync() as Float32Array, shape: y.shape };
  });
}

function sumInput(c: SumCase, seed: number): Float32Array {
  const x = randomValues(size(c.shape), seed);
  if (seed % 2 === 1 && x.length > 20) {
    x[3] = NaN;
    x[11] = Infinity;
    x[17] = -Infinity;
  }
  return x;
}

const results = new Map<string, Float32Array[]>();

describe.each(['cpu', 'wasm'] as const)('own Sum on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it.each(sumCases.map((c, i) => [JSON.stringify(c), c, i] as const))('%s: float64 reference, shape, repeatable', (_name, c, i) => {
    for (const seed of [10 + 2 * i, 11 + 2 * i]) {
      const x = sumInput(c, seed);
      const axes = c.axis === null ? c.shape.map((_, d) => d) : (Array.isArray(c.axis) ? c.axis : [c.axis]).map((d) => (d < 0 ? d + c.shape.length : d));
      const { values, shape } = runSum(c, x);
      const expectedShape = c.keepDims ? c.shape.map((s, d) => (axes.includes(d) ? 1 : s)) : c.shape.filter((_, d) => !axes.includes(d));
      expect(shape).toEqual(expectedShape);
      const ref = referenceSum(x, c.shape, axes);
      const twoRuns = i === 8; // stock kernel: float32 accumulation
      for (let k = 0; k < ref.length; k++) {
        if (twoRuns) expect(Number.isFinite(ref[k]!) ? Math.abs(values[k]! - ref[k]!) < 1e-5 : Object.is(values[k], ref[k]), `entry ${k}: ${values[k]} vs ${ref[k]}`).toBe(true);
        else expect(values[k], `entry ${k}`).toBe(Math.fround(ref[k]!));
      }
      expect(sameBits(runSum(c, x).values, values)).toBe(true);
      if (!twoRuns) results.set(`${backend}/${i}/${seed}`, [values]);
    }
  });

  it('int32 input goes to the stock kernel', () => {
    const y = tf.sum(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32'), 0);
    expect(y.dtype).toBe('int32');
    expect(Array.from(y.dataSync())).toEqual([5, 7, 9]);
  });
});

describe('own Sum across backends', () => {
  it('cpu and wasm return the same bits', () => {
    let compared = 0;
    for (const [key, [values]] of results) {
      if (!key.startsWith('cpu/')) continue;
      const other = results.get(key.replace('cpu/', 'wasm/'));
      expect(other, key).toBeDefined();
      expect(sameBits(values!, other![0]!), key).toBe(true);
      compared++;
    }
    expect(compared).toBeGreaterThan(10);
  });
});

describe('own elementwise kernels on cpu', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  afterAll(() => {
    registerOwnKernels('cpu');
  });

  const binaryShapes: Array<[number[], number[]]> = [
    [[8, 28, 28, 6], [6]],
    [[6], [3, 5, 6]],
    [[3, 5, 7], [3, 5, 7]],
    [[7, 10], [1, 10]],
    [[1, 1], [7, 10]],
    [[7, 10], []],
    [[7, 1], [7, 10]], // inner broadcast: stock kernel
    [[3, 1, 5], [4, 5]], // both broadcast: stock kernel
    [[0, 4], [4]],
  ];

  function special(x: Float32Array): Float32Array {
    for (let k = 0; k < x.length; k += 13) x[k] = [NaN, Infinity, -Infinity, -0, 0][(k / 13) % 5]!;
    return x;
  }

  function both(run: () => Float32Array): [Float32Array, Float32Array] {
    registerOwnKernels('cpu');
    const own = run();
    unregisterOwnKernels('cpu');
    const stock = run();
    registerOwnKernels('cpu');
    return [own, stock];
  }

  it.each(binaryShapes.map((s, i) => [JSON.stringify(s), s, i] as const))('Add and Multiply %s: float64 reference, stock bits', (_name, [aShape, bShape], i) => {
    const a = special(randomValues(size(aShape), 200 + i));
    const b = special(randomValues(size(bShape), 300 + i));
    for (const kernel of ['Add', 'Multiply'] as const) {
      const run = () =>
        tf.tidy(() => (tf.engine().runKernel(kernel, { a: tf.tensor(a, aShape), b: tf.tensor(b, bShape) }) as tf.Tensor).dataSync() as Float32Array);
      const [own, stock] = both(run);
      expect(sameBits(own, stock), kernel).toBe(true);
      const outShape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
      expect(own.length).toBe(size(outShape));
      // Reference from the definition: broadcast by index, float64 then rounded once.
      const strides = (shape: number[]) => shape.map((_, d) => size(shape.slice(d + 1)));
      const os = strides(outShape);
      const index = (k: number, shape: number[]) => {
        const st = strides(shape);
        let idx = 0;
        for (let d = 0; d < shape.length; d++) {
          const od = outShape.length - shape.length + d;
          const loc = Math.floor(k / os[od]!) % outShape[od]!;
          idx += (shape[d] === 1 ? 0 : loc) * st[d]!;
        }
        return idx;
      };
      const mismatches: number[] = [];
      for (let k = 0; k < own.length; k++) {
        const x = a[index(k, aShape)]!, y = b[index(k, bShape)]!;
        if (!Object.is(own[k], Math.fround(kernel === 'Add' ? x + y : x * y))) mismatches.push(k);
      }
      expect(mismatches, kernel).toEqual([]);
    }
  });

  it('Relu and Step: reference and stock bits, NaN, ±0, ±Infinity', () => {
    const x = special(randomValues(1000, 7));
    for (const [kernel, attrs] of [['Relu', {}], ['Step', { alpha: 0 }], ['Step', { alpha: 0.3 }]] as const) {
      const run = () => tf.tidy(() => (tf.engine().runKernel(kernel, { x: tf.tensor(x, [10, 100]) }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor).dataSync() as Float32Array);
      const [own, stock] = both(run);
      expect(sameBits(own, stock), kernel).toBe(true);
      for (let k = 0; k < x.length; k++) {
        const v = x[k]!;
        const ref = kernel === 'Relu' ? Math.max(0, v) : Number.isNaN(v) ? NaN : v > 0 ? 1 : Math.fround((attrs as { alpha: number }).alpha);
        expect(own[k]).toBe(ref);
      }
    }
  });

  it('int32 operands go to the stock kernels', () => {
    const a = tf.tensor1d([1, -2, 3], 'int32');
    expect(Array.from(tf.add(a, a).dataSync())).toEqual([2, -4, 6]);
    expect(Array.from(tf.mul(a, a).dataSync())).toEqual([1, 4, 9]);
    expect(Array.from(tf.relu(a).dataSync())).toEqual([1, 0, 3]);
    expect(tf.relu(a).dtype).toBe('int32');
  });
});
