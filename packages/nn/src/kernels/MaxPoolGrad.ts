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
  // Disjoint windows write each input position at most once: straight into dx. Overlapping
  // ones add into float64 sums in window order (per position, the same order as ever).
  const sums = overlapping ? new Float64Array(dx.length) : null;
  const rowStep = W * C;
  let dyIndex = 0;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const top = oh * g.strideHeight - g.padTop;
      const rowLo = Math.max(top, 0);
      const rows = Math.min(top + g.filterHeight, H) - rowLo;
      for (let ow = 0; ow < OW; ow++) {
        const left = ow * g.strideWidth - g.padLeft;
        const colLo = Math.max(left, 0);
        const cols = Math.min(left + g.filterWidth, W) - colLo;
        const origin = ((n * H + rowLo) * W + colLo) * C;
        // Channels one at a time (scalars, no per-window arrays); positions of a window in
        // row-major order, as tfjs-cpu scans them.
        if (rows === 2 && cols === 2) {
          // The common 2×2 window, unrolled into straight-line selects (V8 emits conditional
          // moves here; the comparisons are unpredictable on real data). Same rule as below.
          for (let c = 0; c < C; c++, dyIndex++) {
            const p0 = origin + c, p1 = p0 + C, p2 = p0 + rowStep, p3 = p2 + C;
            const a = x[p0]!, b = x[p1]!, e = x[p2]!, f = x[p3]!;
            let best = a > -Infinity ? a : -Infinity;
            let where = a > -Infinity ? p0 : -1;
            let greater = b > best;
            best = greater ? b : best;
            where = greater ? p1 : where;
            greater = e > best;
            best = greater ? e : best;
            where = greater ? p2 : where;
            where = f > best ? p3 : where;
            if (where < 0) continue;
            if (sums === null) dx[where] = dy[dyIndex]!;
            else sums[where] = sums[where]! + dy[dyIndex]!;
          }
          continue;
        }
        for (let c = 0; c < C; c++, dyIndex++) {
          let best = -Infinity;
          let where = -1;
          for (let r = 0, rowStart = origin + c; r < rows; r++, rowStart += rowStep) {
            for (let q = 0, p = rowStart; q < cols; q++, p += C) {
              const v = x[p]!;
              if (v > best) {
                best = v;
                where = p;
              }
            }
          }
          if (where < 0) continue;
          if (sums === null) dx[where] = dy[dyIndex]!;
          else sums[where] = sums[where]! + dy[dyIndex]!;
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
