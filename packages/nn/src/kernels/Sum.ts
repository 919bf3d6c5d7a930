import { Sum, util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, SumAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { cpuIO, wasmIO, type KernelIO } from './backend-io.js';
import { stockKernel } from './stock.js';

/**
 * A reduction that is one contiguous run of reduced axes between kept ones, after dropping
 * axes of length 1: `x` viewed as `[outer, reduce, inner]`, the output as `[outer, inner]`.
 * `undefined` where the reduced axes form more than one run (the stock kernel runs those).
 */
export function sumLayout(shape: readonly number[], axes: readonly number[]): { outer: number; reduce: number; inner: number } | undefined {
  const reduced = new Set(axes);
  let outer = 1, reduce = 1, inner = 1;
  let phase = 0; // 0: kept axes before the run, 1: in the run, 2: kept axes after it
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    if (reduced.has(d)) {
      if (phase === 2) return undefined;
      phase = 1;
      reduce *= size;
    } else if (phase === 0) outer *= size;
    else {
      phase = 2;
      inner *= size;
    }
  }
  return { outer, reduce, inner };
}

/**
 * `out[o·inner + i] = Σ_{r = 0 … reduce-1} x[(o·reduce + r)·inner + i]`, summed in float64
 * in increasing r and rounded to float32 once (bias gradients: a sum over batch and pixels).
 */
export function sumImpl(x: Float32Array, outer: number, reduce: number, inner: number, out: Float32Array): void {
  // Four outputs at a time in scalar accumulators, striding over the rows: 3× faster than a
  // row-by-row pass into a Float64Array of accumulators at inner = 6 and 16. The order per
  // output (increasing r) is the same either way.
  for (let o = 0; o < outer; o++) {
    const start = o * reduce * inner;
    const end = start + reduce * inner;
    for (let i0 = 0; i0 < inner; i0 += 4) {
      const width = Math.min(4, inner - i0);
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      if (width === 4) {
        for (let k = start + i0; k < end; k += inner) {
          s0 += x[k]!;
          s1 += x[k + 1]!;
          s2 += x[k + 2]!;
          s3 += x[k + 3]!;
        }
      } else if (width === 3) {
        for (let k = start + i0; k < end; k += inner) {
          s0 += x[k]!;
          s1 += x[k + 1]!;
          s2 += x[k + 2]!;
        }
      } else if (width === 2) {
        for (let k = start + i0; k < end; k += inner) {
          s0 += x[k]!;
          s1 += x[k + 1]!;
        }
      } else {
        for (let k = start + i0; k < end; k += inner) s0 += x[k]!;
      }
      const p = o * inner + i0;
      out[p] = s0;
      if (width > 1) out[p + 1] = s1;
      if (width > 2) out[p + 2] = s2;
      if (width > 3) out[p + 3] = s3;
    }
  }
}

function sumWith(backendName: 'cpu' | 'wasm', io: (backend: {}) => KernelIO): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { axis, keepDims } = attrs as unknown as SumAttrs;
    const axes = util.parseAxisParam(axis, x.shape);
    const layout = x.dtype === 'float32' && new Set(axes).size === axes.length ? sumLayout(x.shape, axes) : undefined;
    if (layout === undefined) {
      const stock = stockKernel(backendName, Sum);
      if (stock === undefined) throw new Error(`swarmgrad Sum (${backendName}): the stock kernel is not registered`);
      return stock.kernelFunc({ inputs, backend, ...(attrs === undefined ? {} : { attrs }) }) as TensorInfo;
    }
    const outShape = keepDims ? x.shape.map((size, d) => (axes.includes(d) ? 1 : size)) : x.shape.filter((_, d) => !axes.includes(d));
    const data = io(backend);
    const out = data.allocate(outShape); // before reading: allocating may grow the wasm heap
    sumImpl(data.read(x), layout.outer, layout.reduce, layout.inner, out.values);
    return out.info;
  };
}

/**
 * tfjs-backend-cpu transposes the reduced axes innermost and sums with per-element index
 * arithmetic: the bias gradients' sums over batch and pixels were 35% of a LeNet-5 step.
 * Float32 inputs with one run of reduced axes run here; other dtypes and layouts stock.
 */
export const sumCpuConfig: KernelConfig = {
  kernelName: Sum,
  backendName: 'cpu',
  kernelFunc: sumWith('cpu', cpuIO),
};

/** Same arithmetic on wasm (cpu and wasm return the same bits); binds the stock kernel's C++ for the fallback. */
export const sumWasmConfig: KernelConfig = {
  kernelName: Sum,
  backendName: 'wasm',
  setupFunc: (backend) => {
    stockKernel('wasm', Sum)?.setupFunc?.(backend);
  },
  kernelFunc: sumWith('wasm', wasmIO),
};
