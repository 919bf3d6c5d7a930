import { backend_util } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, Conv2DAttrs, Conv2DBackpropInputAttrs } from '@tensorflow/tfjs-core';

/**
 * Everything the project's own conv kernels need to know about one 2-D convolution, in
 * NHWC terms (channels-first inputs are transposed to NHWC by the kernels before use).
 * Built from tfjs's own `backend_util.computeConv2DInfo`, so padding, rounding and output
 * sizes are exactly those of the stock kernels.
 */
export interface Conv2DGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  /** Distance between filter taps (1 = dense filter; only conv2d's forward pass allows others). */
  dilationHeight: number;
  dilationWidth: number;
  /** Zero rows added above the input (the rest of the padding only matters through `outHeight`). */
  padTop: number;
  /** Zero columns added left of the input. */
  padLeft: number;
  /** True when the tensors are NCHW ('channelsFirst'); the geometry itself is layout-free. */
  channelsFirst: boolean;
}

/** The attributes shared by Conv2D, Conv2DBackpropFilter and Conv2DBackpropInput that shape the geometry. */
type ConvAttrs = Pick<Conv2DAttrs, 'strides' | 'pad' | 'dataFormat' | 'dimRoundingMode'> & {
  dilations?: Conv2DAttrs['dilations'];
};

/**
 * Computes the geometry of a convolution of `xShape` (NHWC or NCHW per `attrs.dataFormat`)
 * with a `[kh, kw, cin, cout]` filter. (tfjs's conv gradients only exist for dilation 1;
 * the forward pass may be dilated.)
 */
export function conv2DGeometry(
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: ConvAttrs | Conv2DBackpropFilterAttrs | Conv2DBackpropInputAttrs,
): Conv2DGeometry {
  const dilations = 'dilations' in attrs && attrs.dilations !== undefined ? attrs.dilations : 1;
  const dataFormat = backend_util.convertConv2DDataFormat(attrs.dataFormat);
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    dataFormat,
  );
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    channelsFirst: info.dataFormat === 'channelsFirst',
  };
}

/**
 * Copies an NCHW tensor into a new NHWC array (or returns the input when `channelsFirst` is
 * false). The project's kernels compute in NHWC only.
 */
export function toChannelsLast(
  values: Float32Array,
  batch: number,
  channels: number,
  height: number,
  width: number,
  channelsFirst: boolean,
): Float32Array {
  if (!channelsFirst) return values;
  const out = new Float32Array(values.length);
  const plane = height * width;
  for (let n = 0; n < batch; n++) {
    const src = n * channels * plane;
    const dst = n * plane * channels;
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < plane; p++) out[dst + p * channels + c] = values[src + c * plane + p]!;
    }
  }
  return out;
}

/** Inverse of {@link toChannelsLast}: NHWC values written into `out` as NCHW. */
export function toChannelsFirst(
  values: Float32Array,
  batch: number,
  channels: number,
  height: number,
  width: number,
  out: Float32Array,
): void {
  const plane = height * width;
  for (let n = 0; n < batch; n++) {
    const src = n * plane * channels;
    const dst = n * channels * plane;
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < plane; p++) out[dst + c * plane + p] = values[src + p * channels + c]!;
    }
  }
}
