import { Conv2D } from '@tensorflow/tfjs-core';
import type { Conv2DAttrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { cpuIO, type KernelIO } from './backend-io.js';
import { conv2DGeometry, toChannelsFirst, toChannelsLast } from './conv2d-geometry.js';
import { conv2DImpl } from './conv2d-impl.js';

/**
 * `Conv2D` (2-D cross-correlation; conv1d runs through it with height 1): im2col blocks
 * times the filter, see {@link conv2DImpl}. All attributes: strides, pad
 * `'same' | 'valid' | number | explicit`, `dimRoundingMode`, dilations, NHWC or NCHW.
 */
function conv2DWith(io: (backend: {}) => KernelIO): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
    const a = attrs as unknown as Conv2DAttrs;
    const g = conv2DGeometry(x.shape, filter.shape, a);
    const outShape = g.channelsFirst ? [g.batch, g.outChannels, g.outHeight, g.outWidth] : [g.batch, g.outHeight, g.outWidth, g.outChannels];
    const data = io(backend);
    const out = data.allocate(outShape);
    const xValues = toChannelsLast(data.read(x), g.batch, g.inChannels, g.inHeight, g.inWidth, g.channelsFirst);
    if (!g.channelsFirst) {
      conv2DImpl(xValues, data.read(filter), g, out.values);
    } else {
      const nhwc = new Float32Array(out.values.length);
      conv2DImpl(xValues, data.read(filter), g, nhwc);
      toChannelsFirst(nhwc, g.batch, g.outChannels, g.outHeight, g.outWidth, out.values);
    }
    return out.info;
  };
}

/** tfjs-backend-cpu's own kernel loops over taps with bounds checks per element (20% of a LeNet-5 step once the gradients are fast). */
export const conv2DCpuConfig: KernelConfig = {
  kernelName: Conv2D,
  backendName: 'cpu',
  kernelFunc: conv2DWith(cpuIO),
};
