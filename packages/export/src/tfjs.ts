/**
 * TensorFlow.js export: a swarmgrad classifier as a `LayersModel` (`model.json` plus one
 * binary weights file) that `tf.loadLayersModel` loads. Input `[N, H, W, C]` float32 pixels in
 * `[0, 1]`; the normalisation is a frozen 1×1 `DepthwiseConv2D` (`x · 1/std − mean/std`);
 * the output is the probabilities. swarmgrad's parameter layout is tfjs's, so kernels are
 * written as they are.
 */
import type { LayerPlan } from '@swarmgrad/nn/core';
import { checkExportInput, layerTensors, type CheckedModel, type ExportInput } from './model-input.js';

/** A written LayersModel: the `model.json` object and the weights file it names. */
export interface TfjsLayersModel {
  /** The content of `model.json`. */
  readonly modelJson: Record<string, unknown>;
  /** The weights file name `model.json` refers to. */
  readonly weightsFile: string;
  /** The weights, little-endian float32 in manifest order. */
  readonly weights: Uint8Array;
}

/** Name of the weights file next to `model.json`. */
export const TFJS_WEIGHTS_FILE = 'group1-shard1of1.bin';

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32';
}

const pair = (v: readonly number[] | undefined): number[] => [...(v ?? [1, 1])];

function layerConfig(layer: LayerPlan, name: string, activation: string): { class_name: string; config: Record<string, unknown> } | undefined {
  const common = { name, trainable: true, dtype: 'float32' };
  switch (layer.type) {
    case 'conv2d':
      return {
        class_name: 'Conv2D',
        config: { ...common, filters: layer.outputShape[2], kernel_size: pair(layer.window), strides: pair(layer.strides), padding: layer.padding, data_format: 'channels_last', dilation_rate: [1, 1], activation, use_bias: true },
      };
    case 'maxPool':
    case 'avgPool':
      return {
        class_name: layer.type === 'maxPool' ? 'MaxPooling2D' : 'AveragePooling2D',
        config: { ...common, pool_size: pair(layer.window), strides: pair(layer.strides), padding: layer.padding, data_format: 'channels_last' },
      };
    case 'flatten':
      return { class_name: 'Flatten', config: { ...common } };
    case 'dense':
      return { class_name: 'Dense', config: { ...common, units: layer.outputShape[0], activation, use_bias: true } };
    default:
      return activation === 'linear' ? undefined : { class_name: 'Activation', config: { ...common, activation } };
  }
}

function normalizationLayer(model: CheckedModel, weights: WeightSpec[], buffers: Float32Array[]): object | undefined {
  const n = model.normalization;
  if (!n) return undefined;
  const channels = n.mean.length;
  weights.push({ name: 'normalize/depthwise_kernel', shape: [1, 1, channels, 1], dtype: 'float32' }, { name: 'normalize/bias', shape: [channels], dtype: 'float32' });
  buffers.push(Float32Array.from(n.std, (s) => 1 / s), Float32Array.from(n.mean, (m, c) => -m / (n.std[c] as number)));
  return {
    class_name: 'DepthwiseConv2D',
    config: { name: 'normalize', trainable: false, dtype: 'float32', kernel_size: [1, 1], strides: [1, 1], padding: 'valid', depth_multiplier: 1, data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: true },
  };
}

/**
 * Writes a TensorFlow.js LayersModel of a trained swarmgrad classifier: save `modelJson` as
 * `model.json` and `weights` as `weightsFile` in one folder, then
 * `tf.loadLayersModel('file://…/model.json')` (or `http://…`) loads it.
 *
 * @throws {@link ExportError} `UNSUPPORTED_MODEL`, `BAD_PARAMS`, `BAD_OPTIONS`
 */
export function toTfjsLayersModel(input: ExportInput): TfjsLayersModel {
  const model = checkExportInput(input);
  const weights: WeightSpec[] = [];
  const buffers: Float32Array[] = [];
  const layers: { class_name: string; config: Record<string, unknown> }[] = [];
  const norm = normalizationLayer(model, weights, buffers);
  if (norm) layers.push(norm as (typeof layers)[number]);
  model.layers.forEach((layer, i) => {
    const isLast = i === model.layers.length - 1;
    // The last layer gives logits; the softmax below turns them into probabilities, as swarmgrad's predict does.
    const activation = isLast && layer.activation === 'softmax' ? 'linear' : layer.activation;
    const name = `${layer.type.toLowerCase()}_${layer.index}`;
    const config = layerConfig(layer, name, activation);
    if (!config) return;
    layers.push(config);
    if (layer.type === 'conv2d' || layer.type === 'dense') {
      const { kernel, bias, kernelShape } = layerTensors(model, layer);
      weights.push({ name: `${name}/kernel`, shape: kernelShape, dtype: 'float32' }, { name: `${name}/bias`, shape: [bias.length], dtype: 'float32' });
      buffers.push(kernel, bias);
    }
  });
  layers.push({ class_name: 'Activation', config: { name: 'probabilities', trainable: true, dtype: 'float32', activation: 'softmax' } });
  (layers[0] as { config: Record<string, unknown> }).config.batch_input_shape = [null, ...model.plan.inputShape];
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'swarmgrad',
    convertedBy: null,
    modelTopology: { class_name: 'Sequential', config: { name: model.name, layers }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
    weightsManifest: [{ paths: [TFJS_WEIGHTS_FILE], weights }],
    userDefinedMetadata: {
      classNames: model.classNames,
      ...(model.normalization && { normalization: { mean: model.normalization.mean, std: model.normalization.std } }),
      inputScale: 'pixel / 255 (values in [0, 1]), NHWC',
    },
  };
  return { modelJson, weightsFile: TFJS_WEIGHTS_FILE, weights: concat(buffers) };
}

function concat(buffers: readonly Float32Array[]): Uint8Array {
  const total = buffers.reduce((sum, b) => sum + b.length, 0);
  const out = new Float32Array(total);
  let at = 0;
  for (const b of buffers) {
    out.set(b, at);
    at += b.length;
  }
  const bytes = new Uint8Array(out.buffer);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  return bytes;
}
