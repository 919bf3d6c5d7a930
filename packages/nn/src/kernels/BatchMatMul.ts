import { BatchMatMul, broadcast_util, util } from '@tensorflow/tfjs-core';
import type { BatchMatMulAttrs, DataId, DataType, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { stockKernel } from './stock.js';

/** The part of tfjs-backend-wasm's `BackendWasm` this kernel uses. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: DataId): boolean;
}

/**
 * `a` with its last two axes swapped, as a new wasm tensor of rank 3
 * `[batch, cols, rows]` (the caller disposes it).
 */
function transposeInner(backend: WasmBackendLike, a: TensorInfo): TensorInfo {
  const rank = a.shape.length;
  const rows = a.shape[rank - 2]!;
  const cols = a.shape[rank - 1]!;
  const batch = util.sizeFromShape(a.shape.slice(0, -2));
  const out = backend.makeOutput([batch, cols, rows], 'float32');
  // Views after makeOutput: allocating may grow (and detach) the wasm heap.
  const src = backend.typedArrayFromHeap(a);
  const dst = backend.typedArrayFromHeap(out);
  const block = 32;
  for (let b = 0; b < batch; b++) {
    const base = b * rows * cols;
    for (let i0 = 0; i0 < rows; i0 += block) {
      const i1 = Math.min(i0 + block, rows);
      for (let j0 = 0; j0 < cols; j0 += block) {
        const j1 = Math.min(j0 + block, cols);
        for (let i = i0; i < i1; i++) {
          for (let j = j0; j < j1; j++) dst[base + j * rows + i] = src[base + i * cols + j]!;
        }
      }
    }
  }
  return out;
}

/**
 * `BatchMatMul` on wasm: tfjs-backend-wasm multiplies untransposed operands with XNNPACK
 * (~30 GFLOP/s here) but runs a naive loop (~2 GFLOP/s) as soon as `transposeA` or
 * `transposeB` is set, which every dense layer's backward pass does. This kernel
 * transposes such operands into new buffers and hands the stock kernel untransposed ones.
 */
function batchMatMulWasm({ inputs, backend, attrs }: Parameters<KernelConfig['kernelFunc']>[0]): TensorInfo {
  const stock = stockKernel('wasm', BatchMatMul);
  if (stock === undefined) throw new Error('swarmgrad BatchMatMul (wasm): the stock tfjs-backend-wasm kernel is not registered');
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
  if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return stock.kernelFunc({ inputs, backend, ...(attrs === undefined ? {} : { attrs }) }) as TensorInfo;
  }
  const wasm = backend as WasmBackendLike;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const outShape = broadcast_util
    .assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2))
    .concat([transposeA ? a.shape[aRank - 1]! : a.shape[aRank - 2]!, transposeB ? b.shape[bRank - 2]! : b.shape[bRank - 1]!]);
  const aT = transposeA ? transposeInner(wasm, a) : a;
  const bT = transposeB ? transposeInner(wasm, b) : b;
  try {
    const out = stock.kernelFunc({ inputs: { a: aT, b: bT }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } }) as TensorInfo;
    out.shape = outShape;
    return out;
  } finally {
    if (aT !== a) wasm.disposeData(aT.dataId);
    if (bT !== b) wasm.disposeData(bT.dataId);
  }
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
