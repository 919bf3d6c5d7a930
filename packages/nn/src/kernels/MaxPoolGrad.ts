import { backend_util, MaxPoolGrad } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, MaxPoolGradAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { cpuIO, wasmIO, type KernelIO } from './backend-io.js';

/** The shape of one 2-D max pooling, NHWC. */
export interface PoolGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/**
 * Gradient of 2-D max pooling: each output gradient goes to the input position that was the
 * window's maximum. Ties and NaN follow tfjs-backend-cpu exactly: the first position in
 * row-major window order whose value is strictly greater than everything before it
 * (starting from -Infinity) wins; a window with no such position passes no gradient.
 *
 * One pass over the windows with the channels innermost (contiguous in NHWC), then a
 * scatter, instead of tfjs-cpu's search over every window for every input element. `dx`
 * must be zero on entry. Where windows overlap, contributions are summed in float64 in
 * window order and rounded once.
 */
export function maxPoolGradImpl(x: Float32Array, dy: Float32Array, g: PoolGeometry, dx: Float32Array): void {
  const { batch: N, inHeight: H, inWidth: W, channels: C, outHeight: OH, outWidth: OW } = g;
  const overlapping = g.strideHeight < g.filterHeight || g.strideWidth < g.filterWidth;
  const sums = overlapping ? new Float64Array(dx.length) : null;
  const best = new Float64Array(C);
  const where = new Int32Array(C);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const top = oh * g.strideHeight - g.padTop;
      const rowLo = Math.max(top, 0);
      const rowHi = Math.min(top + g.filterHeight, H);
      for (let ow = 0; ow < OW; ow++) {
        const left = ow * g.strideWidth - g.padLeft;
        const colLo = Math.max(left, 0);
        const colHi = Math.min(left + g.filterWidth, W);
        best.fill(-Infinity);
        where.fill(-1);
        for (let ih = rowLo; ih < rowHi; ih++) {
          for (let iw = colLo; iw < colHi; iw++) {
            const base = ((n * H + ih) * W + iw) * C;
            for (let c = 0; c < C; c++) {
              const v = x[base + c]!;
              if (v > best[c]!) {
                best[c] = v;
                where[c] = base + c;
              }
            }
          }
        }
        const dyBase = ((n * OH + oh) * OW + ow) * C;
        if (sums === null) {
          for (let c = 0; c < C; c++) if (where[c]! >= 0) dx[where[c]!] = dy[dyBase + c]!;
        } else {
          for (let c = 0; c < C; c++) if (where[c]! >= 0) sums[where[c]!] = sums[where[c]!]! + dy[dyBase + c]!;
        }
      }
    }
  }
  if (sums !== null) dx.set(sums);
}

function maxPoolGradWith(io: (backend: {}) => KernelIO): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
    const a = attrs as unknown as MaxPoolGradAttrs;
    const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
    const data = io(backend);
    const out = data.allocate([...input.shape]);
    out.values.fill(0);
    maxPoolGradImpl(
      data.read(input),
      data.read(dy),
      {
        batch: info.batchSize,
        inHeight: info.inHeight,
        inWidth: info.inWidth,
        channels: info.inChannels,
        outHeight: info.outHeight,
        outWidth: info.outWidth,
        filterHeight: info.effectiveFilterHeight,
        filterWidth: info.effectiveFilterWidth,
        strideHeight: info.strideHeight,
        strideWidth: info.strideWidth,
        padTop: info.padInfo.top,
        padLeft: info.padInfo.left,
      },
      out.values,
    );
    return out.info;
  };
}

/** tfjs-backend-cpu's own kernel searches every window for every input element (35% of a LeNet-5 step once the filter gradient is fast). */
export const maxPoolGradCpuConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: 'cpu',
  kernelFunc: maxPoolGradWith(cpuIO),
};

/** tfjs-backend-wasm's C++ kernel is several times slower than this one pass. */
export const maxPoolGradWasmConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGradWith(wasmIO),
};
