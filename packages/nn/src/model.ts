import * as tf from '@tensorflow/tfjs-core';
import './register-gradients.js';
import { NnError } from './errors.js';
import { stepGradients } from './fast/hook.js';
import { initParams } from './params.js';
import { formatSummary, planModel, summarize, type LayerPlan, type ModelPlan, type SummaryRow } from './shapes.js';
import type { ActivationName, ModelSpec } from './spec.js';

/** What {@link Model.gradients} returns for a batch of `count` samples. */
export interface GradientResult {
  /** Sum over the samples of the per-sample loss. */
  lossSum: number;
  /** Number of samples. */
  count: number;
  /** Sum over the samples of the per-sample loss gradient, in the flat parameter layout. */
  grads: Float32Array;
}

/** What {@link Model.evaluate} returns. */
export interface EvaluationResult {
  lossSum: number;
  /** Samples whose arg-max prediction equals the label (always 0 for regression). */
  correct: number;
  count: number;
}

/** One layer's output for a batch, as returned by {@link Model.activations}. */
export interface LayerActivation {
  index: number;
  type: LayerPlan['type'];
  /** With the batch dimension first: `[n, ...outputShape]`. */
  shape: number[];
  data: Float32Array;
}

/** Labels: integer classes for `softmaxCrossEntropy`, float targets (`n × outputs`) for `meanSquaredError`. */
export type Targets = Int32Array | Float32Array;

/** A compiled model: shapes checked, parameter layout fixed, ready to run on the active tfjs backend. */
export interface Model {
  readonly spec: ModelSpec;
  readonly plan: ModelPlan;
  readonly name: string;
  /** Length of the flat parameter vector. */
  readonly paramCount: number;
  /** One sample's input shape. */
  readonly inputShape: readonly number[];
  /** One sample's output shape (`[classes]` or `[outputs]`). */
  readonly outputShape: readonly number[];
  /** Per-layer description, output shape and parameter count. */
  summary(): SummaryRow[];
  /** The summary as a text table. */
  summaryText(): string;
  /** Seeded initial parameters (He / Glorot uniform, zero biases); same seed, same bytes everywhere. */
  initParams(seed: number): Float32Array;
  /**
   * Sum over the samples of the loss and of its gradient. `x` is NHWC (NWC for 1-D),
   * `y` labels or targets. Shards of any size add up to the whole batch's sum.
   */
  gradients(params: Float32Array, x: Float32Array, y: Targets): Promise<GradientResult>;
  /** Summed loss and arg-max accuracy count. */
  evaluate(params: Float32Array, x: Float32Array, y: Targets): Promise<EvaluationResult>;
  /** Outputs per sample, `n × outputs` row-major: probabilities for classification. */
  predict(params: Float32Array, x: Float32Array): Promise<Float32Array>;
  /** Every layer's output for the batch (for drawing feature maps). */
  activations(params: Float32Array, x: Float32Array): Promise<LayerActivation[]>;
}

/**
 * Validates `spec` (throws `NnError` `INVALID_SPEC` / `SHAPE_MISMATCH`) and compiles it.
 * Computation runs on the active tfjs backend: call `useBackend` first.
 */
export function createModel(spec: ModelSpec): Model {
  const plan = planModel(spec);
  const sampleSize = plan.inputShape.reduce((a, b) => a * b, 1);
  const outputs = plan.outputShape[0]!;
  const last = plan.layers[plan.layers.length - 1]!;
  // With cross-entropy a final softmax is folded into the loss: train on the logits.
  const foldSoftmax = plan.loss === 'softmaxCrossEntropy' && last.activation === 'softmax';

  const checkParams = (params: Float32Array): void => {
    if (!(params instanceof Float32Array)) throw new NnError('BAD_INPUT', `params must be a Float32Array, got ${describe(params)}`);
    if (params.length !== plan.paramCount) {
      throw new NnError('BAD_INPUT', `params has ${params.length} values; model ${plan.name} has ${plan.paramCount} parameters`);
    }
  };
  const batchSize = (x: Float32Array): number => {
    if (!(x instanceof Float32Array)) throw new NnError('BAD_INPUT', `x must be a Float32Array, got ${describe(x)}`);
    if (x.length === 0 || x.length % sampleSize !== 0) {
      throw new NnError('BAD_INPUT', `x has ${x.length} values, not a positive multiple of one sample [${plan.inputShape.join(', ')}] = ${sampleSize}`);
    }
    return x.length / sampleSize;
  };
  const checkTargets = (y: Targets, n: number): void => {
    if (plan.loss === 'softmaxCrossEntropy') {
      if (!(y instanceof Int32Array)) throw new NnError('BAD_INPUT', `labels must be an Int32Array for softmaxCrossEntropy, got ${describe(y)}`);
      if (y.length !== n) throw new NnError('BAD_INPUT', `got ${y.length} labels for ${n} samples`);
      for (let i = 0; i < n; i++) {
        const label = y[i]!;
        if (label < 0 || label >= outputs) throw new NnError('BAD_INPUT', `label ${i} is ${label}; model ${plan.name} has classes 0..${outputs - 1}`);
      }
    } else {
      if (!(y instanceof Float32Array)) throw new NnError('BAD_INPUT', `targets must be a Float32Array for meanSquaredError, got ${describe(y)}`);
      if (y.length !== n * outputs) throw new NnError('BAD_INPUT', `got ${y.length} target values for ${n} samples × ${outputs} outputs`);
    }
  };

  // tfjs's AvgPoolGrad divides by the full window even where 'same' padding made the forward
  // pass divide by fewer in-bounds values, so such layers are computed as a zero-padded
  // 'valid' average rescaled by a constant map: the gradient then follows exactly.
  const avgPoolScales = new Map<number, Float32Array | null>();

  /** Parameter tensors per layer (kernel, bias), in plan order. */
  const paramTensors = (params: Float32Array): tf.Tensor[] =>
    plan.layers.flatMap((l) => l.params.map((p) => tf.tensor(params.subarray(p.offset, p.offset + p.size), p.shape, 'float32')));

  /** Runs the layers; `collect` receives every layer output. Returns logits (softmax folded) or outputs. */
  const forward = (weights: tf.Tensor[], x: tf.Tensor, n: number, logits: boolean, collect?: (t: tf.Tensor) => void): tf.Tensor => {
    let h = x;
    let w = 0;
    for (const layer of plan.layers) {
      const isLast = layer === last;
      let activation = layer.activation;
      if (isLast && logits && foldSoftmax) activation = 'linear';
      switch (layer.type) {
        case 'conv2d': {
          const [kernel, bias] = [weights[w++]!, weights[w++]!];
          h = tf.add(tf.conv2d(h as tf.Tensor4D, kernel as tf.Tensor4D, layer.strides!, layer.padding!), bias);
          break;
        }
        case 'conv1d': {
          const [kernel, bias] = [weights[w++]!, weights[w++]!];
          h = tf.add(tf.conv1d(h as tf.Tensor3D, kernel as tf.Tensor3D, layer.strides![1], layer.padding!), bias);
          break;
        }
        case 'maxPool':
        case 'avgPool': {
          const is1d = layer.inputShape.length === 2;
          const input = (is1d ? tf.reshape(h, [n, 1, layer.inputShape[0]!, layer.inputShape[1]!]) : h) as tf.Tensor4D;
          h =
            layer.type === 'maxPool'
              ? tf.maxPool(input, layer.window!, layer.strides!, layer.padding!)
              : avgPoolExact(input, layer, avgPoolScales);
          if (is1d) h = tf.reshape(h, [n, ...layer.outputShape]);
          break;
        }
        case 'flatten':
          h = tf.reshape(h, [n, layer.outputShape[0]!]);
          break;
        case 'dense': {
          const [kernel, bias] = [weights[w++]!, weights[w++]!];
          h = tf.add(tf.matMul(h as tf.Tensor2D, kernel as tf.Tensor2D), bias);
          break;
        }
        default:
          break; // activation layers: handled below
      }
      h = activate(h, activation);
      collect?.(h);
    }
    return h;
  };

  const lossSum = (out: tf.Tensor, y: Targets, n: number): tf.Scalar => {
    if (plan.loss === 'softmaxCrossEntropy') {
      const oneHot = tf.oneHot(tf.tensor1d(y as Int32Array, 'int32'), outputs);
      return tf.neg(tf.sum(tf.mul(tf.logSoftmax(out), oneHot))) as tf.Scalar;
    }
    const diff = tf.sub(out, tf.tensor2d(y as Float32Array, [n, outputs]));
    return tf.div(tf.sum(tf.square(diff)), tf.scalar(outputs)) as tf.Scalar;
  };

  const inputTensor = (x: Float32Array, n: number): tf.Tensor => tf.tensor(x, [n, ...plan.inputShape], 'float32');

  return {
    spec,
    plan,
    name: plan.name,
    paramCount: plan.paramCount,
    inputShape: plan.inputShape,
    outputShape: plan.outputShape,
    summary: () => summarize(plan),
    summaryText: () => formatSummary(plan),
    initParams: (seed) => initParams(plan, seed),

    async gradients(params, x, y) {
      checkParams(params);
      const n = batchSize(x);
      checkTargets(y, n);
      const compiled = await stepGradients(plan, params, x, y, n); // the wasm-step backend
      if (compiled !== null) return compiled;
      const [loss, flat] = tf.tidy(() => {
        const input = inputTensor(x, n);
        const { value, grads } = tf.valueAndGrads((...weights: tf.Tensor[]) => lossSum(forward(weights, input, n, true), y, n))(paramTensors(params));
        return [value, tf.concat(grads.map((g) => tf.reshape(g, [-1])))] as const;
      });
      try {
        const [lossData, grads] = await Promise.all([loss.data(), flat.data()]);
        return { lossSum: lossData[0]!, count: n, grads: ownFloat32(grads) };
      } finally {
        loss.dispose();
        flat.dispose();
      }
    },

    async evaluate(params, x, y) {
      checkParams(params);
      const n = batchSize(x);
      checkTargets(y, n);
      const [loss, hits] = tf.tidy(() => {
        const out = forward(paramTensors(params), inputTensor(x, n), n, true);
        const loss = lossSum(out, y, n);
        const hits =
          plan.loss === 'softmaxCrossEntropy'
            ? tf.sum(tf.cast(tf.equal(tf.argMax(out, 1), tf.tensor1d(y as Int32Array, 'int32')), 'int32'))
            : tf.scalar(0, 'int32');
        return [loss, hits] as const;
      });
      try {
        const [l, c] = await Promise.all([loss.data(), hits.data()]);
        return { lossSum: l[0]!, correct: c[0]!, count: n };
      } finally {
        loss.dispose();
        hits.dispose();
      }
    },

    async predict(params, x) {
      checkParams(params);
      const n = batchSize(x);
      const out = tf.tidy(() => {
        const o = forward(paramTensors(params), inputTensor(x, n), n, true);
        return plan.loss === 'softmaxCrossEntropy' ? tf.softmax(o) : o;
      });
      try {
        return ownFloat32(await out.data());
      } finally {
        out.dispose();
      }
    },

    async activations(params, x) {
      checkParams(params);
      const n = batchSize(x);
      const outs = tf.tidy(() => {
        const kept: tf.Tensor[] = [];
        forward(paramTensors(params), inputTensor(x, n), n, false, (t) => kept.push(t));
        return kept;
      });
      try {
        const data = await Promise.all(outs.map((t) => t.data()));
        return plan.layers.map((l, i) => ({ index: l.index, type: l.type, shape: [n, ...l.outputShape], data: ownFloat32(data[i]!) }));
      } finally {
        outs.forEach((t) => t.dispose());
      }
    },
  };
}

/** Average pooling that divides by the number of in-bounds values, forward and backward. */
function avgPoolExact(input: tf.Tensor4D, layer: LayerPlan, cache: Map<number, Float32Array | null>): tf.Tensor4D {
  const [H, W] = [input.shape[1], input.shape[2]];
  const [kh, kw] = layer.window!;
  const [sh, sw] = layer.strides!;
  if (layer.padding === 'valid') return tf.avgPool(input, [kh, kw], [sh, sw], 'valid');
  const [OH, OW] = [Math.ceil(H / sh), Math.ceil(W / sw)];
  const padH = Math.max((OH - 1) * sh + kh - H, 0);
  const padW = Math.max((OW - 1) * sw + kw - W, 0);
  if (padH === 0 && padW === 0) return tf.avgPool(input, [kh, kw], [sh, sw], 'valid');
  const [top, left] = [Math.floor(padH / 2), Math.floor(padW / 2)];
  let scale = cache.get(layer.index);
  if (!scale) {
    scale = new Float32Array(OH * OW);
    for (let oh = 0; oh < OH; oh++) {
      const rows = Math.min(oh * sh - top + kh, H) - Math.max(oh * sh - top, 0);
      for (let ow = 0; ow < OW; ow++) {
        const cols = Math.min(ow * sw - left + kw, W) - Math.max(ow * sw - left, 0);
        scale[oh * OW + ow] = (kh * kw) / (rows * cols);
      }
    }
    cache.set(layer.index, scale);
  }
  const padded = tf.pad(input, [[0, 0], [top, padH - top], [left, padW - left], [0, 0]]);
  return tf.mul(tf.avgPool(padded, [kh, kw], [sh, sw], 'valid'), tf.tensor4d(scale, [1, OH, OW, 1]));
}

function activate(h: tf.Tensor, activation: ActivationName): tf.Tensor {
  switch (activation) {
    case 'relu':
      return tf.relu(h);
    case 'sigmoid':
      return tf.sigmoid(h);
    case 'tanh':
      return tf.tanh(h);
    case 'softmax':
      return tf.softmax(h);
    case 'linear':
      return h;
  }
}

/** tfjs may hand back its own storage (cpu backend); callers get an array nobody else holds. */
function ownFloat32(data: tf.TypedArray | Float32Array): Float32Array {
  return data instanceof Float32Array ? new Float32Array(data) : Float32Array.from(data as ArrayLike<number>);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return Array.isArray(v) ? 'Array' : typeof v;
}
