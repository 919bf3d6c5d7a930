/**
 * ONNX export: a swarmgrad classifier as an ONNX model (opset 13, IR version 8) that
 * onnxruntime runs. Input `input`: float32 NHWC `[N, H, W, C]`, pixels scaled to `[0, 1]`;
 * the normalisation is inside the graph. Output `probabilities`: `[N, classes]`.
 * Class names and the normalisation are in the model's `metadata_props`.
 * The protobuf is written with protobufjs from the vendored schema in `onnx-proto.ts`.
 */
import protobuf from 'protobufjs';
import type { LayerPlan } from '@swarmgrad/nn/core';
import { ONNX_PROTO } from './onnx-proto.js';
import { checkExportInput, layerTensors, type CheckedModel, type ExportInput } from './model-input.js';

/** The opset the exported graph declares. */
export const ONNX_OPSET = 13;
/** The IR version written (8: ONNX 1.10+, opsets up to 15). */
export const ONNX_IR_VERSION = 8;

const FLOAT = 1;
const INT64 = 7;
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

let root: protobuf.Root | undefined;
function onnxRoot(): protobuf.Root {
  root ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
  return root;
}

type Attribute = { name: string; type: number; i?: number; f?: number; s?: Uint8Array; ints?: number[] };

/** Builds nodes and initializers with fresh names. */
class Graph {
  readonly nodes: object[] = [];
  readonly initializers: object[] = [];
  private counter = 0;

  constant(prefix: string, dims: readonly number[], values: Float32Array | BigInt64Array): string {
    const name = `${prefix}_${this.counter++}`;
    const raw = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
    this.initializers.push({ name, dims: [...dims], data_type: values instanceof Float32Array ? FLOAT : INT64, raw_data: littleEndian(raw, values.BYTES_PER_ELEMENT) });
    return name;
  }

  node(op: string, inputs: readonly string[], attributes: Attribute[] = [], output?: string): string {
    const out = output ?? `${op.toLowerCase()}_${this.counter++}`;
    this.nodes.push({ op_type: op, name: `${op}_${this.counter++}`, input: [...inputs], output: [out], attribute: attributes });
    return out;
  }
}

// ONNX raw_data is little-endian; typed arrays are in the platform's order (little-endian everywhere swarmgrad runs, but say so).
function littleEndian(bytes: Uint8Array, width: number): Uint8Array {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) return bytes;
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
  return bytes;
}

const ints = (name: string, values: readonly number[]): Attribute => ({ name, type: ATTR.INTS, ints: [...values] });
const int = (name: string, value: number): Attribute => ({ name, type: ATTR.INT, i: value });
const str = (name: string, value: string): Attribute => ({ name, type: ATTR.STRING, s: new TextEncoder().encode(value) });

/** `[kh, kw, cin, cout]` (tfjs) → `[cout, cin, kh, kw]` (ONNX). */
function convKernel(kernel: Float32Array, [kh, kw, cin, cout]: number[]): Float32Array {
  const out = new Float32Array(kernel.length);
  for (let y = 0; y < kh!; y++) for (let x = 0; x < kw!; x++) for (let i = 0; i < cin!; i++) for (let o = 0; o < cout!; o++) {
    out[((o * cin! + i) * kh! + y) * kw! + x] = kernel[((y * kw! + x) * cin! + i) * cout! + o] as number;
  }
  return out;
}

function activation(graph: Graph, h: string, name: LayerPlan['activation'], channelsFirst: boolean): string {
  switch (name) {
    case 'relu':
      return graph.node('Relu', [h]);
    case 'sigmoid':
      return graph.node('Sigmoid', [h]);
    case 'tanh':
      return graph.node('Tanh', [h]);
    case 'softmax':
      return graph.node('Softmax', [h], [int('axis', channelsFirst ? 1 : -1)]);
    default:
      return h;
  }
}

/** Emits one layer; `layout` says whether `h` is NCHW (after a conv) or flat/NHWC. */
function emitLayer(graph: Graph, model: CheckedModel, layer: LayerPlan, h: string, nchw: boolean): { h: string; nchw: boolean } {
  switch (layer.type) {
    case 'conv2d': {
      const { kernel, bias, kernelShape } = layerTensors(model, layer);
      const [kh, kw, cin, cout] = kernelShape as [number, number, number, number];
      const w = graph.constant(`conv${layer.index}_w`, [cout, cin, kh, kw], convKernel(kernel, kernelShape));
      const b = graph.constant(`conv${layer.index}_b`, [cout], bias.slice());
      const conv = graph.node('Conv', [h, w, b], [ints('kernel_shape', [kh, kw]), ints('strides', layer.strides!), str('auto_pad', layer.padding === 'same' ? 'SAME_UPPER' : 'VALID')]);
      return { h: activation(graph, conv, layer.activation, true), nchw: true };
    }
    case 'maxPool':
    case 'avgPool': {
      const attributes = [ints('kernel_shape', layer.window!), ints('strides', layer.strides!), str('auto_pad', layer.padding === 'same' ? 'SAME_UPPER' : 'VALID')];
      // AveragePool's count_include_pad = 0 (the default) divides by in-bounds values, as TensorFlow and swarmgrad do.
      return { h: graph.node(layer.type === 'maxPool' ? 'MaxPool' : 'AveragePool', [h], attributes), nchw: true };
    }
    case 'flatten': {
      // swarmgrad flattens NHWC: go back to channels-last first.
      const nhwc = nchw ? graph.node('Transpose', [h], [ints('perm', [0, 2, 3, 1])]) : h;
      return { h: graph.node('Flatten', [nhwc], [int('axis', 1)]), nchw: false };
    }
    case 'dense': {
      const { kernel, bias, kernelShape } = layerTensors(model, layer);
      const w = graph.constant(`dense${layer.index}_w`, kernelShape, kernel.slice());
      const b = graph.constant(`dense${layer.index}_b`, [bias.length], bias.slice());
      return { h: activation(graph, graph.node('Gemm', [h, w, b]), layer.activation, false), nchw: false };
    }
    default:
      return { h: activation(graph, h, layer.activation, nchw), nchw };
  }
}

function buildGraph(model: CheckedModel): Graph {
  const graph = new Graph();
  const image = model.plan.inputShape.length === 3;
  let h = 'input';
  if (model.normalization) {
    const channels = model.normalization.mean.length;
    const mean = graph.constant('norm_mean', [1, 1, 1, channels], Float32Array.from(model.normalization.mean));
    const std = graph.constant('norm_std', [1, 1, 1, channels], Float32Array.from(model.normalization.std));
    h = graph.node('Div', [graph.node('Sub', [h, mean]), std]);
  }
  let nchw = false;
  if (image && model.layers.some((l) => l.type === 'conv2d' || l.type === 'maxPool' || l.type === 'avgPool')) {
    h = graph.node('Transpose', [h], [ints('perm', [0, 3, 1, 2])]);
    nchw = true;
  }
  model.layers.forEach((layer, i) => {
    // The last layer gives logits: a softmax activation there is the final Softmax below (as in swarmgrad's predict).
    const logits = i === model.layers.length - 1 && layer.activation === 'softmax' ? { ...layer, activation: 'linear' as const } : layer;
    ({ h, nchw } = emitLayer(graph, model, logits, h, nchw));
  });
  graph.node('Softmax', [h], [int('axis', -1)], 'probabilities');
  return graph;
}

function tensorType(dims: readonly (number | string)[]): object {
  return { tensor_type: { elem_type: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } };
}

/**
 * Writes an ONNX model of a trained swarmgrad classifier.
 *
 * @returns the serialised `ModelProto`, ready to be written to a `.onnx` file
 * @throws {@link ExportError} `UNSUPPORTED_MODEL`, `BAD_PARAMS`, `BAD_OPTIONS`
 * @example
 * ```ts
 * const bytes = toOnnx({ spec, params, classNames, normalization });
 * await writeFile('model.onnx', bytes);
 * ```
 */
export function toOnnx(input: ExportInput): Uint8Array {
  const model = checkExportInput(input);
  const graph = buildGraph(model);
  const outputs = model.plan.outputShape[0] as number;
  const metadata: Record<string, string> = {
    classNames: JSON.stringify(model.classNames),
    inputShape: JSON.stringify(model.plan.inputShape),
    inputScale: 'pixel / 255 (values in [0, 1]), NHWC',
    ...(model.normalization && { normalization: JSON.stringify({ mean: model.normalization.mean, std: model.normalization.std }) }),
    modelSpec: JSON.stringify(model.plan.spec),
  };
  const message = {
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    producer_name: 'swarmgrad',
    producer_version: '0.1.0',
    model_version: 1,
    doc_string: `${model.name}: input float32 NHWC [N, ${model.plan.inputShape.join(', ')}] in [0, 1]; output probabilities [N, ${outputs}]`,
    graph: {
      name: model.name,
      node: graph.nodes,
      initializer: graph.initializers,
      input: [{ name: 'input', type: tensorType(['N', ...model.plan.inputShape]) }],
      output: [{ name: 'probabilities', type: tensorType(['N', outputs]) }],
    },
    metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  const type = onnxRoot().lookupType('onnx.ModelProto');
  return type.encode(type.fromObject(message)).finish();
}

/** Decodes an ONNX file written by {@link toOnnx} (or any ONNX model) into plain objects, for inspection and tests. */
export function decodeOnnx(bytes: Uint8Array): Record<string, unknown> {
  const type = onnxRoot().lookupType('onnx.ModelProto');
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}
