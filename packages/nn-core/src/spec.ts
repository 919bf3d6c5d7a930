/**
 * Model specs: plain JSON that the coordinator sends to workers. A spec is a list of
 * layers applied in order to an input of shape `inputShape` (HWC for images, LC for
 * 1-D signals; the batch dimension is implicit).
 */

/** Element-wise activations, usable as their own layers or as a conv/dense `activation`. */
export type ActivationName = 'relu' | 'sigmoid' | 'tanh' | 'softmax' | 'linear';

/** Padding as in TensorFlow: `same` keeps `ceil(in / stride)`, `valid` uses only full windows. */
export type Padding = 'same' | 'valid';

/** A 2-D convolution (cross-correlation) with a `[kh, kw, cin, cout]` kernel and a bias. */
export interface Conv2dLayerSpec {
  type: 'conv2d';
  /** Number of output channels. */
  filters: number;
  /** Kernel height and width (one number means square). */
  kernelSize: number | [number, number];
  /** Step between windows; default 1. */
  strides?: number | [number, number];
  /** Default `valid`. */
  padding?: Padding;
  /** Applied after the bias; default `linear` (none). */
  activation?: ActivationName;
}

/** A 1-D convolution (cross-correlation) over NWC input with a `[k, cin, cout]` kernel. */
export interface Conv1dLayerSpec {
  type: 'conv1d';
  filters: number;
  kernelSize: number;
  /** Default 1. */
  strides?: number;
  /** Default `valid`. */
  padding?: Padding;
  activation?: ActivationName;
}

/** Max or average pooling; 2-D on HWC input, 1-D on LC input. */
export interface PoolLayerSpec {
  type: 'maxPool' | 'avgPool';
  /** Window size (one number means square in 2-D). */
  poolSize: number | [number, number];
  /** Default: equal to `poolSize`. */
  strides?: number | [number, number];
  /** Default `valid`. */
  padding?: Padding;
}

/** Flattens everything but the batch dimension. */
export interface FlattenLayerSpec {
  type: 'flatten';
}

/** A fully connected layer with an `[in, out]` kernel and a bias; needs a rank-1 input. */
export interface DenseLayerSpec {
  type: 'dense';
  units: number;
  activation?: ActivationName;
}

/** An activation as a layer of its own. */
export interface ActivationLayerSpec {
  type: Exclude<ActivationName, 'linear'>;
}

/** Any layer. */
export type LayerSpec =
  | Conv2dLayerSpec
  | Conv1dLayerSpec
  | PoolLayerSpec
  | FlattenLayerSpec
  | DenseLayerSpec
  | ActivationLayerSpec;

/** The layer type names a spec may use. */
export const LAYER_TYPES = [
  'conv2d',
  'conv1d',
  'maxPool',
  'avgPool',
  'flatten',
  'dense',
  'relu',
  'sigmoid',
  'tanh',
  'softmax',
] as const;

/** Loss functions. `softmaxCrossEntropy` takes integer labels; `meanSquaredError` float targets. */
export type LossName = 'softmaxCrossEntropy' | 'meanSquaredError';

/**
 * A whole model. With `softmaxCrossEntropy` the network's last layer produces logits; a
 * trailing `softmax` layer is allowed and is folded into the loss (computed stably from the
 * logits), while `predict` returns probabilities either way.
 */
export interface ModelSpec {
  /** Free-form name shown in summaries and dashboards. */
  name?: string;
  /** One sample's shape: `[height, width, channels]` or `[length, channels]` (or `[features]` for an MLP). */
  inputShape: number[];
  layers: LayerSpec[];
  /** Default `softmaxCrossEntropy`. */
  loss?: LossName;
}
