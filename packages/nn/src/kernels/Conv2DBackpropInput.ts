import { Conv2DBackpropInput } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropInputAttrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { cpuIO, wasmIO, type KernelIO } from './backend-io.js';
import { conv2DGeometry, toChannelsFirst, toChannelsLast } from './conv2d-geometry.js';
import { conv2DBackpropInputImpl } from './conv2d-impl.js';

/**
 * `Conv2DBackpropInput` (the input gradient of `conv2d` and `conv1d`, also
 * `conv2dTranspose`'s forward pass): output gradient times the transposed filter, added
 * back through col2im, see {@link conv2DBackpropInputImpl}. All attributes: strides, pad
 * `'same' | 'valid' | number | explicit`, `dimRoundingMode`, NHWC or NCHW.
 */
function conv2DBackpropInputWith(io: (backend: {}) => KernelIO): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const a = attrs as unknown as Conv2DBackpropInputAttrs;
    const g = conv2DGeometry(a.inputShape, filter.shape, a);
    const data = io(backend);
    const out = data.allocate([...a.inputShape]);
    const dyValues = toChannelsLast(data.read(dy), g.batch, g.outChannels, g.outHeight, g.outWidth, g.channelsFirst);
    if (!g.channelsFirst) {
      conv2DBackpropInputImpl(dyValues, data.read(filter), g, out.values);
    } else {
      const nhwc = new Float32Array(out.values.length);
      conv2DBackpropInputImpl(dyValues, data.read(filter), g, nhwc);
      toChannelsFirst(nhwc, g.batch, g.inChannels, g.inHeight, g.inWidth, out.values);
    }
    return out.info;
  };
}

/** tfjs-backend-cpu's own kernel is a naive loop (10% of a LeNet-5 step once the filter gradient is fast). */
export const conv2DBackpropInputCpuConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'cpu',
  kernelFunc: conv2DBackpropInputWith(cpuIO),
};

/** tfjs-backend-wasm's C++ kernel is a naive loop (25% of a LeNet-5 step on wasm). */
export const conv2DBackpropInputWasmConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInputWith(wasmIO),
};
