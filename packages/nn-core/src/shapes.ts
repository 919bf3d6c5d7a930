import { NnError } from './errors.js';
import {
  LAYER_TYPES,
  type ActivationName,
  type LayerSpec,
  type LossName,
  type ModelSpec,
  type Padding,
} from './spec.js';

/** One parameter tensor of a layer, located in the flat parameter vector. */
export interface ParamTensorInfo {
  /** `kernel` or `bias`. */
  name: 'kernel' | 'bias';
  /** tfjs layout: conv2d `[kh, kw, cin, cout]`, conv1d `[k, cin, cout]`, dense `[in, out]`, bias `[out]`. */
  shape: number[];
  /** First index in the flat `Float32Array`. */
  offset: number;
  /** Number of values (product of `shape`). */
  size: number;
}

/** A validated layer with its resolved attributes and shapes. */
export interface LayerPlan {
  /** Position in `spec.layers`. */
  index: number;
  type: LayerSpec['type'];
  spec: LayerSpec;
  /** Shape of one sample entering the layer (no batch dimension). */
  inputShape: number[];
  /** Shape of one sample leaving the layer. */
  outputShape: number[];
  /** The layer's parameter tensors, in flat-vector order (kernel then bias). */
  params: ParamTensorInfo[];
  /** Sum of the parameter tensors' sizes. */
  paramCount: number;
  /** conv / pool window `[h, w]` (1-D layers use `[1, k]`). */
  window?: [number, number];
  /** conv / pool strides `[h, w]` (1-D layers use `[1, s]`). */
  strides?: [number, number];
  padding?: Padding;
  /** Activation applied at the end of the layer (`linear` = none). */
  activation: ActivationName;
}

/** The validated, shape-inferred form of a {@link ModelSpec}. */
export interface ModelPlan {
  spec: ModelSpec;
  name: string;
  inputShape: number[];
  outputShape: number[];
  loss: LossName;
  layers: LayerPlan[];
  paramCount: number;
}

const ACTIVATIONS: readonly string[] = ['relu', 'sigmoid', 'tanh', 'softmax', 'linear'];

function fail(code: 'INVALID_SPEC' | 'SHAPE_MISMATCH', message: string): never {
  throw new NnError(code, message);
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function isPosInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function pair(where: string, field: string, v: unknown, fallback: [number, number]): [number, number] {
  if (v === undefined) return fallback;
  if (isPosInt(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && isPosInt(v[0]) && isPosInt(v[1])) return [v[0], v[1]];
  return fail('INVALID_SPEC', `${where}: ${field} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
}

function windowOut(size: number, window: number, stride: number, padding: Padding): number {
  return padding === 'same' ? Math.ceil(size / stride) : Math.floor((size - window) / stride) + 1;
}

/**
 * Validates a spec and infers every layer's shapes and parameter layout. Throws
 * `NnError` with code `INVALID_SPEC` (malformed spec, unknown layer type or field) or
 * `SHAPE_MISMATCH` (layers that do not fit), naming the layer index, its type and the
 * shapes involved.
 */
export function planModel(spec: ModelSpec): ModelPlan {
  const { inputShape, layers, loss } = checkTopLevel(spec);
  let shape = [...inputShape];
  let offset = 0;
  const plans: LayerPlan[] = [];
  layers.forEach((layer, index) => {
    const plan = planLayer(layer, index, shape, offset);
    plans.push(plan);
    offset += plan.paramCount;
    shape = plan.outputShape;
  });
  if (shape.length !== 1) {
    fail('SHAPE_MISMATCH', `model output ${fmt(shape)} must be flat [classes] or [outputs]; add flatten and dense layers at the end`);
  }
  if (loss === 'softmaxCrossEntropy' && shape[0]! < 2) {
    fail('SHAPE_MISMATCH', `softmaxCrossEntropy needs at least 2 output classes, the last layer has ${shape[0]}`);
  }
  return {
    spec,
    name: typeof spec.name === 'string' ? spec.name : 'model',
    inputShape: [...inputShape],
    outputShape: shape,
    loss,
    layers: plans,
    paramCount: offset,
  };
}

/** The spec's input shape, layers and loss, checked. */
function checkTopLevel(spec: ModelSpec): { inputShape: number[]; layers: LayerSpec[]; loss: ModelPlan['loss'] } {
  if (spec === null || typeof spec !== 'object') fail('INVALID_SPEC', `model spec must be an object, got ${spec === null ? 'null' : typeof spec}`);
  const { inputShape, layers } = spec as Partial<ModelSpec>;
  if (!Array.isArray(inputShape) || inputShape.length < 1 || inputShape.length > 3 || !inputShape.every(isPosInt)) {
    fail('INVALID_SPEC', `inputShape must be 1 to 3 positive integers ([features], [length, channels] or [height, width, channels]), got ${JSON.stringify(inputShape)}`);
  }
  if (!Array.isArray(layers) || layers.length === 0) fail('INVALID_SPEC', 'layers must be a non-empty array');
  const loss = spec.loss ?? 'softmaxCrossEntropy';
  if (loss !== 'softmaxCrossEntropy' && loss !== 'meanSquaredError') {
    fail('INVALID_SPEC', `loss must be softmaxCrossEntropy or meanSquaredError, got ${JSON.stringify(loss)}`);
  }
  return { inputShape: inputShape as number[], layers: layers as LayerSpec[], loss };
}

/** A layer plan under construction: its shapes and parameters are filled in by the layer type's planner. */
type DraftPlan = Omit<LayerPlan, 'outputShape' | 'paramCount'> & { outputShape?: number[] };

/** What a layer type's planner gets: the layer, where it is, and how to add its parameter tensors. */
interface LayerContext {
  where: string;
  inShape: number[];
  plan: DraftPlan;
  addParam(name: 'kernel' | 'bias', shape: number[]): void;
}

/** Plans layer `index`, whose parameters start at `offset`. */
function planLayer(layer: LayerSpec, index: number, inShape: number[], offset: number): LayerPlan {
  if (layer === null || typeof layer !== 'object' || typeof (layer as { type?: unknown }).type !== 'string') {
    fail('INVALID_SPEC', `layer ${index}: must be an object with a string type, got ${JSON.stringify(layer)}`);
  }
  const type = layer.type;
  const where = `layer ${index} (${type})`;
  if (!(LAYER_TYPES as readonly string[]).includes(type)) {
    fail('INVALID_SPEC', `${where}: unknown layer type; expected one of ${LAYER_TYPES.join(', ')}`);
  }
  const params: ParamTensorInfo[] = [];
  let next = offset;
  const addParam = (name: 'kernel' | 'bias', pshape: number[]): void => {
    const size = pshape.reduce((a, b) => a * b, 1);
    params.push({ name, shape: pshape, offset: next, size });
    next += size;
  };
  const plan: DraftPlan = { index, type, spec: layer, inputShape: inShape, params, activation: 'linear' };
  const context: LayerContext = { where, inShape, plan, addParam };
  switch (layer.type) {
    case 'conv2d':
    case 'conv1d':
      planConv(layer, context);
      break;
    case 'maxPool':
    case 'avgPool':
      planPool(layer, context);
      break;
    case 'flatten':
      plan.outputShape = [inShape.reduce((a, b) => a * b, 1)];
      break;
    case 'dense':
      planDense(layer, context);
      break;
    default:
      // relu | sigmoid | tanh | softmax as layers of their own
      plan.outputShape = [...inShape];
      plan.activation = type as ActivationName;
  }
  return { ...plan, outputShape: plan.outputShape!, paramCount: params.reduce((a, p) => a + p.size, 0) };
}

function activationOf(where: string, v: unknown): ActivationName {
  if (v === undefined) return 'linear';
  if (typeof v !== 'string' || !ACTIVATIONS.includes(v)) fail('INVALID_SPEC', `${where}: activation must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(v)}`);
  return v as ActivationName;
}

function paddingOf(where: string, v: unknown): Padding {
  if (v === undefined) return 'valid';
  if (v !== 'same' && v !== 'valid') fail('INVALID_SPEC', `${where}: padding must be 'same' or 'valid', got ${JSON.stringify(v)}`);
  return v;
}

function planConv(layer: Extract<LayerSpec, { type: 'conv2d' | 'conv1d' }>, { where, inShape, plan, addParam }: LayerContext): void {
  const is2d = layer.type === 'conv2d';
  if (inShape.length !== (is2d ? 3 : 2)) {
    fail('SHAPE_MISMATCH', `${where}: expects input ${is2d ? '[height, width, channels]' : '[length, channels]'}, got ${fmt(inShape)}`);
  }
  if (!isPosInt(layer.filters)) fail('INVALID_SPEC', `${where}: filters must be a positive integer, got ${JSON.stringify(layer.filters)}`);
  const window = is2d ? pair(where, 'kernelSize', layer.kernelSize, [0, 0]) : ([1, ...pair(where, 'kernelSize', layer.kernelSize, [0, 0]).slice(1)] as [number, number]);
  if (!is2d && !isPosInt(layer.kernelSize)) fail('INVALID_SPEC', `${where}: kernelSize must be a positive integer, got ${JSON.stringify(layer.kernelSize)}`);
  if (!is2d && layer.strides !== undefined && !isPosInt(layer.strides)) fail('INVALID_SPEC', `${where}: strides must be a positive integer, got ${JSON.stringify(layer.strides)}`);
  const strides = is2d ? pair(where, 'strides', layer.strides, [1, 1]) : ([1, (layer.strides as number | undefined) ?? 1] as [number, number]);
  const padding = paddingOf(where, layer.padding);
  const spatial = is2d ? [inShape[0]!, inShape[1]!] : [1, inShape[0]!];
  const cin = inShape[inShape.length - 1]!;
  if (padding === 'valid' && (window[0] > spatial[0]! || window[1] > spatial[1]!)) {
    fail('SHAPE_MISMATCH', `${where}: kernel ${is2d ? fmt(window) : `[${window[1]}]`} is larger than its input ${fmt(inShape)} with padding 'valid'`);
  }
  const out = [0, 1].map((d) => windowOut(spatial[d]!, window[d]!, strides[d]!, padding));
  plan.outputShape = is2d ? [out[0]!, out[1]!, layer.filters] : [out[1]!, layer.filters];
  plan.window = window;
  plan.strides = strides;
  plan.padding = padding;
  plan.activation = activationOf(where, layer.activation);
  addParam('kernel', is2d ? [window[0], window[1], cin, layer.filters] : [window[1], cin, layer.filters]);
  addParam('bias', [layer.filters]);
}

function planPool(layer: Extract<LayerSpec, { type: 'maxPool' | 'avgPool' }>, { where, inShape, plan }: LayerContext): void {
  if (inShape.length !== 3 && inShape.length !== 2) {
    fail('SHAPE_MISMATCH', `${where}: expects input [height, width, channels] or [length, channels], got ${fmt(inShape)}`);
  }
  const is2d = inShape.length === 3;
  let window = pair(where, 'poolSize', layer.poolSize, [0, 0]);
  let strides = pair(where, 'strides', layer.strides, window);
  if (!is2d) {
    if (!isPosInt(layer.poolSize) || (layer.strides !== undefined && !isPosInt(layer.strides))) {
      fail('INVALID_SPEC', `${where}: on a 1-D input poolSize and strides must be single positive integers`);
    }
    window = [1, window[1]];
    strides = [1, strides[1]];
  }
  const padding = paddingOf(where, layer.padding);
  const spatial = is2d ? [inShape[0]!, inShape[1]!] : [1, inShape[0]!];
  if (padding === 'valid' && (window[0] > spatial[0]! || window[1] > spatial[1]!)) {
    fail('SHAPE_MISMATCH', `${where}: pool window ${fmt(is2d ? window : [window[1]])} is larger than its input ${fmt(inShape)} with padding 'valid'`);
  }
  const out = [0, 1].map((d) => windowOut(spatial[d]!, window[d]!, strides[d]!, padding));
  const c = inShape[inShape.length - 1]!;
  plan.outputShape = is2d ? [out[0]!, out[1]!, c] : [out[1]!, c];
  plan.window = window;
  plan.strides = strides;
  plan.padding = padding;
}

function planDense(layer: Extract<LayerSpec, { type: 'dense' }>, { where, inShape, plan, addParam }: LayerContext): void {
  if (inShape.length !== 1) {
    fail('SHAPE_MISMATCH', `${where}: expects a flat input [features], got ${fmt(inShape)}; add a flatten layer before it`);
  }
  if (!isPosInt(layer.units)) fail('INVALID_SPEC', `${where}: units must be a positive integer, got ${JSON.stringify(layer.units)}`);
  plan.outputShape = [layer.units];
  plan.activation = activationOf(where, layer.activation);
  addParam('kernel', [inShape[0]!, layer.units]);
  addParam('bias', [layer.units]);
}

/** One row of {@link summarize}: what a Keras summary shows. */
export interface SummaryRow {
  index: number;
  type: LayerSpec['type'];
  /** e.g. `conv2d 6@5×5 same relu`. */
  description: string;
  outputShape: number[];
  paramCount: number;
}

/** Per-layer output shapes and parameter counts. */
export function summarize(plan: ModelPlan): SummaryRow[] {
  return plan.layers.map((l) => ({
    index: l.index,
    type: l.type,
    description: describeLayer(l),
    outputShape: l.outputShape,
    paramCount: l.paramCount,
  }));
}

function describeLayer(l: LayerPlan): string {
  const act = l.activation !== 'linear' && (l.type === 'conv2d' || l.type === 'conv1d' || l.type === 'dense') ? ` ${l.activation}` : '';
  const win = l.window ? (l.type === 'conv1d' || l.inputShape.length === 2 ? `${l.window[1]}` : `${l.window[0]}×${l.window[1]}`) : '';
  const str = l.strides && (l.strides[0] !== 1 || l.strides[1] !== 1) ? ` /${l.inputShape.length === 2 ? l.strides[1] : l.strides.join('×')}` : '';
  switch (l.spec.type) {
    case 'conv2d':
    case 'conv1d':
      return `${l.type} ${l.spec.filters}@${win}${str} ${l.padding}${act}`;
    case 'maxPool':
    case 'avgPool':
      return `${l.type} ${win}${str} ${l.padding}`;
    case 'dense':
      return `dense ${l.spec.units}${act}`;
    default:
      return l.type;
  }
}

/** A fixed-width text table of {@link summarize}, ending with the total parameter count. */
export function formatSummary(plan: ModelPlan): string {
  const rows = summarize(plan);
  const cells = [['#', 'layer', 'output shape', 'params'], ...rows.map((r) => [String(r.index), r.description, fmt(r.outputShape), r.paramCount.toLocaleString('en-US')])];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...cells.map((row) => row[c]!.length)));
  const line = (row: string[]): string => row.map((cell, c) => (c === 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ');
  const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2));
  return [
    `${plan.name}: input ${fmt(plan.inputShape)}, loss ${plan.loss}`,
    line(cells[0]!),
    rule,
    ...cells.slice(1).map(line),
    rule,
    `total parameters: ${plan.paramCount.toLocaleString('en-US')}`,
  ].join('\n');
}
