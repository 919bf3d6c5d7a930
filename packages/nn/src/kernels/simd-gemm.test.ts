/**
 * The WebAssembly SIMD GEMM and its TypeScript twin: against float64 loops, against each
 * other bit for bit, run to run, and through the conv kernels with SIMD switched off.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import '../register-gradients.js';
import { useBackend } from '../backend.js';
import { packB, packedBSize, paddedCols, setSimdGemmEnabled, sgemmEngine, sgemmModuleBytes, simdGemmAvailable } from './simd-gemm.js';

/** Deterministic uniform(-1, 1) values. */
function randomValues(length: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

interface Problem {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

/** Runs C = op(A)·op(B) on the current engine; returns C as M × N. */
function runGemm({ M, N, K, transA, transB }: Problem, a: Float32Array, b: Float32Array): Float32Array {
  const engine = sgemmEngine();
  const ldc = paddedCols(N) + 8; // a wider C than needed: the kernel must honour ldc
  const lda = (transA ? M : K) + 3; // and lda
  const aOff = packedBSize(K, N) + 5; // unaligned A
  const cOff = aOff + (transA ? K : M) * lda + 3; // unaligned C
  const mem = engine.scratch(cOff + M * ldc);
  mem.fill(Number.NaN); // stale scratch must not leak into results
  packB(b, 0, transB ? 1 : N, transB ? K : 1, K, N, mem, 0);
  const rowsA = transA ? K : M;
  const colsA = transA ? M : K;
  for (let r = 0; r < rowsA; r++) for (let c = 0; c < colsA; c++) mem[aOff + r * lda + c] = a[r * colsA + c]!;
  engine.gemm(transA, M, N, K, aOff, lda, 0, cOff, ldc);
  const out = new Float32Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) out[i * N + j] = mem[cOff + i * ldc + j]!;
  return out;
}

function reference({ M, N, K, transA, transB }: Problem, a: Float32Array, b: Float32Array) {
  const value = new Float64Array(M * N);
  const scale = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++)
      for (let p = 0; p < K; p++) {
        const t = (transA ? a[p * M + i]! : a[i * K + p]!) * (transB ? b[j * K + p]! : b[p * N + j]!);
        value[i * N + j] = value[i * N + j]! + t;
        scale[i * N + j] = scale[i * N + j]! + Math.abs(t);
      }
  return { value, scale };
}

const shapes: Array<[number, number, number]> = [
  [1, 1, 1],
  [5, 7, 3],
  [6, 8, 4],
  [7, 9, 13],
  [13, 17, 29],
  [25, 6, 256],
  [150, 16, 97],
  [64, 120, 400],
  [31, 3, 700],
  [200, 33, 1],
];
const problems: Problem[] = shapes.flatMap(([M, N, K]) =>
  [false, true].flatMap((transA) => [false, true].map((transB) => ({ M, N, K, transA, transB }))),
);

afterEach(() => setSimdGemmEnabled(true));

describe('SIMD GEMM', () => {
  it('the module validates and runs here (Node 20 has WebAssembly SIMD128), under 4 KB for main-thread compilation', () => {
    expect(WebAssembly.validate(sgemmModuleBytes())).toBe(true);
    expect(simdGemmAvailable()).toBe(true);
    expect(sgemmEngine().simd).toBe(true);
    expect(sgemmModuleBytes().length).toBeLessThan(4096);
  });

  it.each(problems.map((p) => [`${p.M}x${p.N}x${p.K} transA=${p.transA} transB=${p.transB}`, p] as const))(
    '%s: matches float64, the TypeScript twin bit for bit, repeatably',
    (_name, p) => {
      const a = randomValues(p.M * p.K, p.M * 31 + p.K);
      const b = randomValues(p.K * p.N, p.N * 17 + p.K);
      const simd = runGemm(p, a, b);
      const ref = reference(p, a, b);
      for (let k = 0; k < simd.length; k++) expect(Math.abs(simd[k]! - ref.value[k]!)).toBeLessThanOrEqual(1e-6 * ref.scale[k]! + 1e-30);
      expect(sameBits(runGemm(p, a, b), simd)).toBe(true);
      setSimdGemmEnabled(false);
      expect(sgemmEngine().simd).toBe(false);
      expect(sameBits(runGemm(p, a, b), simd)).toBe(true);
    },
  );

  it('follows the documented order: fl32(acc + fl32(a·b)), p increasing, from +0', () => {
    // 1 + 2^-24 + 2^-24 + … loses every small term in float32 when added one at a time.
    const K = 9;
    const a = new Float32Array(K).fill(1);
    const b = Float32Array.from({ length: K * 8 }, (_, i) => (i < 8 ? 1 : 2 ** -24));
    const c = runGemm({ M: 1, N: 8, K, transA: false, transB: false }, a, b);
    expect(Array.from(c)).toEqual(new Array(8).fill(1));
    // -0 products start from +0.
    const z = runGemm({ M: 1, N: 1, K: 1, transA: false, transB: false }, Float32Array.of(-0), Float32Array.of(1));
    expect(Object.is(z[0], 0)).toBe(true);
  });

  it('K = 0 gives zeros; M = 0 or N = 0 writes nothing', () => {
    const engine = sgemmEngine();
    const mem = engine.scratch(64);
    mem.fill(7);
    engine.gemm(false, 2, 3, 0, 0, 0, 0, 16, 8);
    expect(Array.from(mem.subarray(16, 32))).toEqual(new Array(16).fill(0));
    mem.fill(7);
    engine.gemm(true, 0, 3, 4, 0, 1, 0, 16, 8);
    engine.gemm(false, 3, 0, 4, 0, 4, 0, 16, 8);
    expect(Array.from(mem)).toEqual(new Array(mem.length).fill(7));
  });

  it('gather and scatterAdd match their definitions on both engines', () => {
    const results: Array<[Float32Array, Float64Array]> = [];
    for (const simd of [true, false]) {
      setSimdGemmEnabled(simd);
      const engine = sgemmEngine();
      const src = randomValues(200, 5);
      const mem = engine.scratch(1024);
      mem.fill(0);
      mem.set(src, 100);
      const ints = engine.ints();
      ints.set([0, 7, 50, 3], 400); // bases
      ints.set([0, 1, 2, 11, 20], 410); // offsets
      ints.set([4, 3, 2, 1, 0], 420); // output positions (reversed)
      engine.gather(500, 6, 100, 400, 4, 410, 420, 5);
      const gathered = mem.slice(500, 524);
      for (let r = 0; r < 4; r++)
        for (let t = 0; t < 5; t++) expect(gathered[r * 6 + [4, 3, 2, 1, 0][t]!]).toBe(src[[0, 7, 50, 3][r]! + [0, 1, 2, 11, 20][t]!]);
      const sums = engine.doubles().subarray(300, 364); // float64 elements 300… = float32 600…
      sums.fill(0.5);
      engine.scatterAdd(300, 100, 5, 400, 4, 410, 5);
      const want = new Float64Array(64).fill(0.5);
      for (let r = 0; r < 4; r++) {
        for (let t = 0; t < 5; t++) {
          const k = [0, 7, 50, 3][r]! + [0, 1, 2, 11, 20][t]!;
          want[k] = want[k]! + src[r * 5 + t]!;
        }
      }
      expect(Array.from(sums)).toEqual(Array.from(want));
      results.push([gathered, sums.slice()]);
    }
    expect(sameBits(results[0]![0], results[1]![0])).toBe(true);
    expect(Array.from(results[0]![1])).toEqual(Array.from(results[1]![1]));
  });
});

describe('conv kernels with the SIMD module switched off', () => {
  it.each(['cpu', 'wasm'] as const)('%s: bitwise the same results from the TypeScript twin', async (backend) => {
    await useBackend(backend);
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(randomValues(2 * 11 * 9 * 3, 1), [2, 11, 9, 3]);
        const f = tf.tensor4d(randomValues(3 * 3 * 3 * 5, 2), [3, 3, 3, 5]);
        const y = tf.conv2d(x, f, [2, 1], 'same');
        const dy = tf.tensor4d(randomValues(y.size, 3), y.shape as [number, number, number, number]);
        const [dx, df] = tf.grads((xs: tf.Tensor, fs: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xs as tf.Tensor4D, fs as tf.Tensor4D, [2, 1], 'same'), dy)))([x, f]);
        return [y, dx!, df!].map((t) => t.dataSync() as Float32Array);
      });
    const withSimd = run();
    setSimdGemmEnabled(false);
    const without = run();
    for (let k = 0; k < 3; k++) expect(sameBits(without[k]!, withSimd[k]!), `output ${k}`).toBe(true);
  });
});
