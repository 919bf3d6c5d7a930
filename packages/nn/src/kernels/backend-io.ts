import { util } from '@tensorflow/tfjs-core';
import type { DataId, DataType, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * How a project kernel reads its inputs and writes its output on one tfjs backend.
 * Kernels are written once against this seam; `cpuIO` and `wasmIO` adapt it to the two
 * backends whose tensors live in CPU memory.
 *
 * Order matters on wasm: `allocate` may grow the wasm heap, which detaches every view
 * taken before it, so a kernel allocates its output first and reads its inputs after.
 */
export interface KernelIO {
  /** The float32 values of `tensor`: a view of the backend's storage when possible; never written to. */
  read(tensor: TensorInfo): Float32Array;
  /** A new float32 output of `shape`: fill `values`, then return `info` from the kernel. */
  allocate(shape: number[]): { values: Float32Array; info: TensorInfo };
}

/** The part of tfjs-backend-cpu's `MathBackendCPU` that the project's kernels use. */
interface CpuBackendLike {
  data: { get(dataId: DataId): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: DataType, values?: Float32Array): TensorInfo;
}

/** The part of tfjs-backend-wasm's `BackendWasm` that the project's kernels use. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

function asFloat32(values: unknown, tensor: TensorInfo): Float32Array {
  if (values instanceof Float32Array) return values;
  if (values instanceof Int32Array || values instanceof Uint8Array) return Float32Array.from(values);
  throw new Error(`swarmgrad kernel: tensor of dtype ${tensor.dtype} and shape [${tensor.shape.join(', ')}] has no numeric data`);
}

/** {@link KernelIO} for tfjs-backend-cpu: inputs are its own arrays, outputs are handed over without a copy. */
export function cpuIO(backend: {}): KernelIO {
  const cpu = backend as CpuBackendLike;
  return {
    read: (tensor) => asFloat32(cpu.data.get(tensor.dataId)?.values, tensor),
    allocate: (shape) => {
      const values = new Float32Array(util.sizeFromShape(shape));
      return { values, info: cpu.makeTensorInfo(shape, 'float32', values) };
    },
  };
}

/** {@link KernelIO} for tfjs-backend-wasm: inputs and output are views of the wasm heap. */
export function wasmIO(backend: {}): KernelIO {
  const wasm = backend as WasmBackendLike;
  return {
    read: (tensor) => asFloat32(wasm.typedArrayFromHeap(tensor), tensor),
    allocate: (shape) => {
      const info = wasm.makeOutput(shape, 'float32');
      return { values: wasm.typedArrayFromHeap(info) as Float32Array, info };
    },
  };
}
