import * as tf from '@tensorflow/tfjs-core';
import './register-gradients.js';
import { stepGradients, stepShardGradients } from './fast/hook.js';
import {
  NnError,
  formatSummary,
  initParams,
  planModel,
  summarize,
  type ActivationName,
  type LayerPlan,
  type ModelPlan,
  type ModelSpec,
  type SummaryRow,
} from '@swarmgrad/nn-core';

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
  /**
   * The gradients of consecutive shards of a batch, `sizes[i]` samples each in order (they
   * add up to the batch): each result is bitwise what `gradients` returns for that shard
   * alone. On `wasm-step` / `wasm-fma` every shard's chunks are computed in one run shared by all threads
   * (see `setStepThreads`); elsewhere the shards run one after another.
   */
  shardGradients(params: Float32Array, x: Float32Array, y: Targets, sizes: readonly number[]): Promise<GradientResult[]>;
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
  const model = compile(planModel(spec));
  const { plan } = model;
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
    gradients: (params, x, y) => gradients(model, params, x, y),
    shardGradients: (params, x, y, sizes) => shardGradients(model, params, x, y, sizes),
    evaluate: (params, x, y) => evaluate(model, params, x, y),
    predict: (params, x) => predict(model, params, x),
    activations: (params, x) => activations(model, params, x),
  };
}

/** A validated plan plus what every call needs from it. */
interface Compiled {
  readonly plan: ModelPlan;
  /** Floats per input sample. */
  readonly sampleSize: number;
  /** Classes (cross-entropy) or outputs (mean squared error) per sample. */
  readonly outputs: number;
  readonly last: LayerPlan;
  /** With cross-entropy a final softmax is folded into the loss: train on the logits. */
  readonly foldSoftmax: boolean;
  /**
   * tfjs's AvgPoolGrad divides by the full window even where 'same' padding made the forward
   * pass divide by fewer in-bounds values, so such layers are computed as a zero-padded
   * 'valid' average rescaled by a constant map (cached here per layer): the gradient then
   * follows exactly.
   */
  readonly avgPoolScales: Map<number, Float32Array | null>;
}

function compile(plan: ModelPlan): Compiled {
  const last = plan.layers[plan.layers.length - 1]!;
  return {
    plan,
    sampleSize: plan.inputShape.reduce((a, b) => a * b, 1),
    outputs: plan.outputShape[0]!,
    last,
    foldSoftmax: plan.loss === 'softmaxCrossEntropy' && last.activation === 'softmax',
    avgPoolScales: new Map(),
  };
}

// ---------------------------------------------------------------------------------------------
// input checks

function checkParams({ plan }: Compiled, params: Float32Array): void {
  if (!(params instanceof Float32Array)) throw new NnError('BAD_INPUT', `params must be a Float32Array, got ${describe(params)}`);
  if (params.length !== plan.paramCount) {
    throw new NnError('BAD_INPUT', `params has ${params.length} values; model ${plan.name} has ${plan.paramCount} parameters`);
  }
}

/** The number of samples in `x`. */
function batchSize({ plan, sampleSize }: Compiled, x: Float32Array): number {
  if (!(x instanceof Float32Array)) throw new NnError('BAD_INPUT', `x must be a Float32Array, got ${describe(x)}`);
  if (x.length === 0 || x.length % sampleSize !== 0) {
    throw new NnError('BAD_INPUT', `x has ${x.length} values, not a positive multiple of one sample [${plan.inputShape.join(', ')}] = ${sampleSize}`);
  }
  return x.length / sampleSize;
}

function checkTargets({ plan, outputs }: Compiled, y: Targets, n: number): void {
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
}

// ---------------------------------------------------------------------------------------------
// the graph (inside tf.tidy)

/** Parameter tensors per layer (kernel, bias), in plan order. */
function paramTensors(plan: ModelPlan, params: Float32Array): tf.Tensor[] {
  return plan.layers.flatMap((l) => l.params.map((p) => tf.tensor(params.subarray(p.offset, p.offset + p.size), p.shape, 'float32')));
}

function inputTensor(plan: ModelPlan, x: Float32Array, n: number): tf.Tensor {
  return tf.tensor(x, [n, ...plan.inputShape], 'float32');
}

/** Runs the layers; `collect` receives every layer output. Returns logits (softmax folded) or outputs. */
function forward(model: Compiled, weights: tf.Tensor[], x: tf.Tensor, n: number, logits: boolean, collect?: (t: tf.Tensor) => void): tf.Tensor {
  let h = x;
  let w = 0;
  const nextWeight = (): tf.Tensor => weights[w++]!;
  for (const layer of model.plan.layers) {
    const activation = layer === model.last && logits && model.foldSoftmax ? 'linear' : layer.activation;
    h = activate(layerOutput(model, layer, h, n, nextWeight), activation);
    collect?.(h);
  }
  return h;
}

/** One layer before its activation; `nextWeight` hands out the layer's kernel, then its bias. */
function layerOutput(model: Compiled, layer: LayerPlan, h: tf.Tensor, n: number, nextWeight: () => tf.Tensor): tf.Tensor {
  switch (layer.type) {
    case 'conv2d': {
      const [kernel, bias] = [nextWeight(), nextWeight()];
      return tf.add(tf.conv2d(h as tf.Tensor4D, kernel as tf.Tensor4D, layer.strides!, layer.padding!), bias);
    }
    case 'conv1d': {
      const [kernel, bias] = [nextWeight(), nextWeight()];
      return tf.add(tf.conv1d(h as tf.Tensor3D, kernel as tf.Tensor3D, layer.strides![1], layer.padding!), bias);
    }
    case 'maxPool':
    case 'avgPool':
      return pool(model, layer, h, n);
    case 'flatten':
      return tf.reshape(h, [n, layer.outputShape[0]!]);
    case 'dense': {
      const [kernel, bias] = [nextWeight(), nextWeight()];
      return tf.add(tf.matMul(h as tf.Tensor2D, kernel as tf.Tensor2D), bias);
    }
    default:
      return h; // activation layers: applied by the caller
  }
}

/** Max or (exact) average pooling, 2-D on HWC or 1-D on LC (as a 1 × L image). */
function pool(model: Compiled, layer: LayerPlan, h: tf.Tensor, n: number): tf.Tensor {
  const is1d = layer.inputShape.length === 2;
  const input = (is1d ? tf.reshape(h, [n, 1, layer.inputShape[0]!, layer.inputShape[1]!]) : h) as tf.Tensor4D;
  const out =
    layer.type === 'maxPool'
      ? tf.maxPool(input, layer.window!, layer.strides!, layer.padding!)
      : avgPoolExact(input, layer, model.avgPoolScales);
  return is1d ? tf.reshape(out, [n, ...layer.outputShape]) : out;
}

function lossSum({ plan, outputs }: Compiled, out: tf.Tensor, y: Targets, n: number): tf.Scalar {
  if (plan.loss === 'softmaxCrossEntropy') {
    const oneHot = tf.oneHot(tf.tensor1d(y as Int32Array, 'int32'), outputs);
    return tf.neg(tf.sum(tf.mul(tf.logSoftmax(out), oneHot))) as tf.Scalar;
  }
  const diff = tf.sub(out, tf.tensor2d(y as Float32Array, [n, outputs]));
  return tf.div(tf.sum(tf.square(diff)), tf.scalar(outputs)) as tf.Scalar;
}

// ---------------------------------------------------------------------------------------------
// the Model methods

async function gradients(model: Compiled, params: Float32Array, x: Float32Array, y: Targets): Promise<GradientResult> {
  checkParams(model, params);
  const n = batchSize(model, x);
  checkTargets(model, y, n);
  const compiled = await stepGradients(model.plan, params, x, y, n); // the wasm-step / wasm-fma backends
  if (compiled !== null) return compiled;
  const [loss, flat] = tf.tidy(() => {
    const input = inputTensor(model.plan, x, n);
    const { value, grads } = tf.valueAndGrads((...weights: tf.Tensor[]) => lossSum(model, forward(model, weights, input, n, true), y, n))(
      paramTensors(model.plan, params),
    );
    return [value, tf.concat(grads.map((g) => tf.reshape(g, [-1])))] as const;
  });
  try {
    const [lossData, grads] = await Promise.all([loss.data(), flat.data()]);
    return { lossSum: lossData[0]!, count: n, grads: ownFloat32(grads) };
  } finally {
    loss.dispose();
    flat.dispose();
  }
}

async function shardGradients(model: Compiled, params: Float32Array, x: Float32Array, y: Targets, sizes: readonly number[]): Promise<GradientResult[]> {
  checkParams(model, params);
  const n = batchSize(model, x);
  checkTargets(model, y, n);
  if (!Array.isArray(sizes) || sizes.some((s) => !Number.isInteger(s) || s < 1) || sizes.reduce((a, b) => a + b, 0) !== n) {
    throw new NnError('BAD_INPUT', `shard sizes must be positive integers adding up to the batch of ${n}; got [${String(sizes)}]`);
  }
  const compiled = await stepShardGradients(model.plan, params, x, y, sizes); // the wasm-step / wasm-fma backends
  if (compiled !== null) return compiled;
  const sampleSize = x.length / n;
  const targetSize = y.length / n;
  const out: GradientResult[] = [];
  let at = 0;
  for (const size of sizes) {
    out.push(await gradients(model, params, x.slice(at * sampleSize, (at + size) * sampleSize), y.slice(at * targetSize, (at + size) * targetSize)));
    at += size;
  }
  return out;
}

async function evaluate(model: Compiled, params: Float32Array, x: Float32Array, y: Targets): Promise<EvaluationResult> {
  checkParams(model, params);
  const n = batchSize(model, x);
  checkTargets(model, y, n);
  const [loss, hits] = tf.tidy(() => {
    const out = forward(model, paramTensors(model.plan, params), inputTensor(model.plan, x, n), n, true);
    const loss = lossSum(model, out, y, n);
    const hits =
      model.plan.loss === 'softmaxCrossEntropy'
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
}

async function predict(model: Compiled, params: Float32Array, x: Float32Array): Promise<Float32Array> {
  checkParams(model, params);
  const n = batchSize(model, x);
  const out = tf.tidy(() => {
    const o = forward(model, paramTensors(model.plan, params), inputTensor(model.plan, x, n), n, true);
    return model.plan.loss === 'softmaxCrossEntropy' ? tf.softmax(o) : o;
  });
  try {
    return ownFloat32(await out.data());
  } finally {
    out.dispose();
  }
}

async function activations(model: Compiled, params: Float32Array, x: Float32Array): Promise<LayerActivation[]> {
  checkParams(model, params);
  const n = batchSize(model, x);
  const outs = tf.tidy(() => {
    const kept: tf.Tensor[] = [];
    forward(model, paramTensors(model.plan, params), inputTensor(model.plan, x, n), n, false, (t) => kept.push(t));
    return kept;
  });
  try {
    const data = await Promise.all(outs.map((t) => t.data()));
    return model.plan.layers.map((l, i) => ({ index: l.index, type: l.type, shape: [n, ...l.outputShape], data: ownFloat32(data[i]!) }));
  } finally {
    outs.forEach((t) => t.dispose());
  }
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
