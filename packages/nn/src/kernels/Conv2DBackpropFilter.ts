import { Conv2DBackpropFilter } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { cpuIO, wasmIO, type KernelIO } from './backend-io.js';
import { conv2DGeometry, toChannelsLast } from './conv2d-geometry.js';
import { conv2DBackpropFilterImpl } from './conv2d-backprop-filter-impl.js';

/**
 * `Conv2DBackpropFilter` (the filter gradient of `conv2d`, and of `conv1d`, which tfjs runs
 * as a conv2d of height 1): im2col blocks times the output gradient, see
 * {@link conv2DBackpropFilterImpl}. Supports every attribute tfjs passes: strides, pad
 * `'same' | 'valid' | number | explicit`, `dimRoundingMode`, `dataFormat` NHWC or NCHW.
 */
function conv2DBackpropFilterWith(io: (backend: {}) => KernelIO): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const a = attrs as unknown as Conv2DBackpropFilterAttrs;
    const g = conv2DGeometry(x.shape, a.filterShape, a);
    const data = io(backend);
    const out = data.allocate([...a.filterShape]);
    const xValues = toChannelsLast(data.read(x), g.batch, g.inChannels, g.inHeight, g.inWidth, g.channelsFirst);
    const dyValues = toChannelsLast(data.read(dy), g.batch, g.outChannels, g.outHeight, g.outWidth, g.channelsFirst);
    conv2DBackpropFilterImpl(xValues, dyValues, g, out.values);
    return out.info;
  };
}

/** tfjs-backend-cpu's own kernel loops over every filter tap separately (about 200× slower at LeNet-5 shapes). */
export const conv2DBackpropFilterCpuConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'cpu',
  kernelFunc: conv2DBackpropFilterWith(cpuIO),
};

/** tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter` at all: without this, conv nets cannot train on wasm. */
export const conv2DBackpropFilterWasmConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilterWith(wasmIO),
};
