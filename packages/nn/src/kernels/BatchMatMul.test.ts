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

/** Float64 batched product with numpy-style broadcasting of the batch axes (rank 3 here). */
function reference(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], transposeA: boolean, transposeB: boolean) {
  const [ba, ar, ac] = aShape as [number, number, number];
  const [bb, br, bc] = bShape as [number, number, number];
  const M = transposeA ? ac : ar;
  const K = transposeA ? ar : ac;
  const N = transposeB ? br : bc;
  const batch = Math.max(ba, bb);
  const value = new Float64Array(batch * M * N);
  const scale = new Float64Array(batch * M * N);
  for (let t = 0; t < batch; t++)
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++)
        for (let k = 0; k < K; k++) {
          const av = a[(ba === 1 ? 0 : t) * ar * ac + (transposeA ? k * ac + i : i * ac + k)]!;
          const bv = b[(bb === 1 ? 0 : t) * br * bc + (transposeB ? j * bc + k : k * bc + j)]!;
          const o = (t * M + i) * N + j;
          value[o] = value[o]! + av * bv;
          scale[o] = scale[o]! + Math.abs(av * bv);
        }
  return { value, scale, shape: [batch, M, N] };
}

const cases: Array<[string, number[], number[], boolean, boolean]> = [
  ['dense dW = xᵀ·dy (transposeA)', [1, 64, 400], [1, 64, 120], true, false],
  ['dense dx = dy·Wᵀ (transposeB)', [1, 64, 120], [1, 400, 120], false, true],
  ['both transposed, odd sizes', [1, 7, 5], [1, 9, 7], true, true],
  ['batched 3 with a broadcast operand', [3, 6, 4], [1, 5, 6], true, true],
  ['plain, batched', [2, 5, 7], [2, 7, 3], false, false],
  ['plain, broadcast A, odd sizes', [1, 13, 9], [3, 9, 11], false, false],
];

describe('own BatchMatMul on cpu and wasm', () => {
  afterAll(() => {
    registerOwnKernels('cpu');
    registerOwnKernels('wasm');
  });

  it('matches float64 on cpu, and cpu and wasm give bitwise identical results', async () => {
    for (const [name, aShape, bShape, transposeA, transposeB] of cases) {
      const a = randomValues(aShape.reduce((x, y) => x * y, 1), 5);
      const b = randomValues(bShape.reduce((x, y) => x * y, 1), 6);
      const ref = reference(a, aShape, b, bShape, transposeA, transposeB);
      const run = () => tf.tidy(() => tf.matMul(tf.tensor3d(a, aShape as [number, number, number]), tf.tensor3d(b, bShape as [number, number, number]), transposeA, transposeB).dataSync() as Float32Array);
      await useBackend('cpu');
      const onCpu = run();
      for (let k = 0; k < ref.value.length; k++) expect(Math.abs(onCpu[k]! - ref.value[k]!), name).toBeLessThanOrEqual(1e-6 * ref.scale[k]! + 1e-30);
      await useBackend('wasm');
      expect(Array.from(run()), name).toEqual(Array.from(onCpu));
    }
  });
});

describe('own BatchMatMul on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });
  afterAll(() => {
    registerOwnKernels('wasm');
  });

  it.each(cases)('%s: matches float64 and the stock kernel, repeatably', (_name, aShape, bShape, transposeA, transposeB) => {
    const a = randomValues(aShape.reduce((x, y) => x * y, 1), 1);
    const b = randomValues(bShape.reduce((x, y) => x * y, 1), 2);
    const ref = reference(a, aShape, b, bShape, transposeA, transposeB);
    const run = () =>
      tf.tidy(() => {
        const out = tf.matMul(tf.tensor3d(a, aShape as [number, number, number]), tf.tensor3d(b, bShape as [number, number, number]), transposeA, transposeB);
        expect(out.shape).toEqual(ref.shape);
        return out.dataSync() as Float32Array;
      });
    registerOwnKernels('wasm');
    const own = run();
    for (let k = 0; k < ref.value.length; k++) expect(Math.abs(own[k]! - ref.value[k]!)).toBeLessThanOrEqual(1e-6 * ref.scale[k]! + 1e-30);
    expect(Array.from(run())).toEqual(Array.from(own));
    unregisterOwnKernels('wasm');
    const stock = run();
    for (let k = 0; k < ref.value.length; k++) expect(Math.abs(stock[k]! - own[k]!)).toBeLessThanOrEqual(1e-6 * ref.scale[k]! + 1e-30);
  });

  it('rank-4 operands keep their output shape and leak no wasm memory', () => {
    registerOwnKernels('wasm');
    const a = tf.tensor4d(randomValues(2 * 3 * 5 * 4, 3), [2, 3, 5, 4]);
    const b = tf.tensor4d(randomValues(2 * 3 * 6 * 5, 4), [2, 3, 6, 5]);
    const before = tf.memory().numTensors;
    const backendBefore = tf.engine().backend.numDataIds();
    const out = tf.matMul(a, b, true, true);
    expect(out.shape).toEqual([2, 3, 4, 6]);
    const check = tf.tidy(() => tf.matMul(tf.transpose(a, [0, 1, 3, 2]), tf.transpose(b, [0, 1, 3, 2])));
    const got = out.dataSync();
    const want = check.dataSync();
    for (let k = 0; k < want.length; k++) expect(got[k]).toBeCloseTo(want[k]!, 5);
    tf.dispose([out, check]);
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.engine().backend.numDataIds()).toBe(backendBefore);
    tf.dispose([a, b]);
  });
});
