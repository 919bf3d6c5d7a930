import { BatchMatMul, broadcast_util, util } from '@tensorflow/tfjs-core';
import type { BatchMatMulAttrs, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { cpuIO, wasmIO, type KernelIO } from './backend-io.js';
import { packB, packedBSize, paddedCols, sgemmEngine } from './simd-gemm.js';
import { stockKernel } from './stock.js';

/**
 * `out[t] = op(a[t mod batchA]) · op(b[t mod batchB])` for `t < max(batchA, batchB)` (the
 * batch broadcasting tfjs-backend-cpu implements), every product through the SIMD GEMM:
 * each entry is one float32 sum over the inner dimension in increasing order, so results
 * are bitwise deterministic and the same on cpu and wasm. `a` is `[batchA, M, K]`
 * (`[batchA, K, M]` with `transposeA`), `b` is `[batchB, K, N]` (`[batchB, N, K]` with
 * `transposeB`), `out` is `[batch, M, N]`.
 */
export function batchMatMulImpl(
  a: Float32Array,
  batchA: number,
  b: Float32Array,
  batchB: number,
  M: number,
  N: number,
  K: number,
  transposeA: boolean,
  transposeB: boolean,
  out: Float32Array,
): void {
  const batch = Math.max(batchA, batchB);
  if (batch === 0 || M === 0 || N === 0) return;
  const ldc = paddedCols(N);
  // Scratch: packed B | A | C.
  const aOff = packedBSize(K, N);
  const cOff = aOff + paddedCols(M * K);
  const engine = sgemmEngine();
  const mem = engine.scratch(cOff + M * ldc);
  let packedFor = -1;
  let copiedFor = -1;
  for (let t = 0; t < batch; t++) {
    const ia = t % batchA;
    const ib = t % batchB;
    if (ib !== packedFor) {
      packB(b, ib * K * N, transposeB ? 1 : N, transposeB ? K : 1, K, N, mem, 0);
      packedFor = ib;
    }
    if (ia !== copiedFor) {
      mem.set(a.subarray(ia * M * K, (ia + 1) * M * K), aOff);
      copiedFor = ia;
    }
    engine.gemm(transposeA, M, N, K, aOff, transposeA ? M : K, 0, cOff, ldc);
    if (ldc === N) {
      out.set(mem.subarray(cOff, cOff + M * N), t * M * N);
    } else {
      for (let i = 0; i < M; i++) {
        const src = cOff + i * ldc;
        const dst = (t * M + i) * N;
        for (let j = 0; j < N; j++) out[dst + j] = mem[src + j]!;
      }
    }
  }
}

/**
 * The own BatchMatMul for float32 operands on a CPU-memory backend, or `undefined` when the
 * operands are not float32 (the caller then runs the stock kernel).
 */
function ownBatchMatMul(io: KernelIO, a: TensorInfo, b: TensorInfo, attrs: BatchMatMulAttrs): TensorInfo | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  const { transposeA, transposeB } = attrs;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const M = transposeA ? a.shape[aRank - 1]! : a.shape[aRank - 2]!;
  const K = transposeA ? a.shape[aRank - 2]! : a.shape[aRank - 1]!;
  const N = transposeB ? b.shape[bRank - 2]! : b.shape[bRank - 1]!;
  const kB = transposeB ? b.shape[bRank - 1]! : b.shape[bRank - 2]!;
  util.assert(K === kB, () => `Error in matMul: inner shapes (${K}) and (${kB}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
  const outShape = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)).concat([M, N]);
  const out = io.allocate(outShape);
  batchMatMulImpl(io.read(a), util.sizeFromShape(a.shape.slice(0, -2)), io.read(b), util.sizeFromShape(b.shape.slice(0, -2)), M, N, K, transposeA, transposeB, out.values);
  return out.info;
}

/** tfjs-backend-cpu's own kernel is a blocked scalar loop (30% of a LeNet-5 step once the convolutions were fast). */
export const batchMatMulCpuConfig: KernelConfig = {
  kernelName: BatchMatMul,
  backendName: 'cpu',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const own = ownBatchMatMul(cpuIO(backend), a, b, attrs as unknown as BatchMatMulAttrs);
    if (own !== undefined) return own;
    const stock = stockKernel('cpu', BatchMatMul);
    if (stock === undefined) throw new Error('swarmgrad BatchMatMul (cpu): the stock tfjs-backend-cpu kernel is not registered');
    return stock.kernelFunc({ inputs, backend, ...(attrs === undefined ? {} : { attrs }) }) as TensorInfo;
  },
};

/**
 * `BatchMatMul` on wasm: tfjs-backend-wasm multiplies untransposed operands with XNNPACK
 * but runs a naive loop (~2 GFLOP/s) as soon as `transposeA` or `transposeB` is set, which
 * every dense layer's backward pass does. All float32 products go through the SIMD GEMM
 * ({@link batchMatMulImpl}) — also the untransposed ones, which measured as fast as
 * XNNPACK at LeNet-5's dense sizes and so return the same bits as on cpu on every machine
 * (XNNPACK picks micro-kernels per CPU); other dtypes go to the stock kernel.
 */
function batchMatMulWasm({ inputs, backend, attrs }: Parameters<KernelConfig['kernelFunc']>[0]): TensorInfo {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const matMulAttrs = attrs as unknown as BatchMatMulAttrs;
  const own = ownBatchMatMul(wasmIO(backend), a, b, matMulAttrs);
  if (own !== undefined) return own;
  const stock = stockKernel('wasm', BatchMatMul);
  if (stock === undefined) throw new Error('swarmgrad BatchMatMul (wasm): the stock tfjs-backend-wasm kernel is not registered');
  return stock.kernelFunc({ inputs, backend, ...(attrs === undefined ? {} : { attrs }) }) as TensorInfo;
}

/** See {@link batchMatMulWasm}. Binds the stock kernel's C++ entry point when wasm starts. */
export const batchMatMulWasmConfig: KernelConfig = {
  kernelName: BatchMatMul,
  backendName: 'wasm',
  setupFunc: (backend) => {
    stockKernel('wasm', BatchMatMul)?.setupFunc?.(backend);
  },
  kernelFunc: batchMatMulWasm,
};
