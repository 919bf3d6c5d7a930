/**
 * A compiled training step: forward pass, loss and backward pass of a whole model in one
 * preallocated WebAssembly memory, with no tfjs in the loop — the `wasm-step` backend's
 * gradients. Layers are laid out once per batch size; each step copies `x` in, runs the
 * layers ({@link ./layers.ts}, which states the arithmetic) and copies the gradient out.
 *
 * Supported: `conv2d`, `conv1d`, `maxPool`, `flatten`, `dense`, activations `relu`, `tanh`,
 * `sigmoid`, `linear` (fused into the layer before them or standalone), a final `softmax`
 * folded into `softmaxCrossEntropy`, and `meanSquaredError`. Anything else (`avgPool`, a
 * softmax before the end) makes {@link compileStep} return `null`.
 */
import { conv2DGeometry } from '../kernels/conv2d-geometry.js';
import type { LayerPlan, ModelPlan } from '@swarmgrad/nn-core';
import { Arena, ArenaLayout, arenaAvailable } from './arena.js';
import {
  activationLayer,
  convLayer,
  denseLayer,
  maxPoolLayer,
  meanSquaredError,
  softmaxCrossEntropy,
  type FastLayer,
  type LayerIo,
} from './layers.js';

/** One batch size's compiled step. */
interface Compiled {
  arena: Arena;
  layers: FastLayer[];
  /** `<index> <type>` of each compiled layer, for profiles. */
  names: string[];
  /** Where each step copies the parameters (dense layers read their kernels there). */
  params: number;
  input: number;
  /** Output (logits) and its gradient region. */
  out: number;
  dOut: number;
}

/** What {@link CompiledStep.gradients} returns (the shape of `Model.gradients`' result). */
export interface StepResult {
  lossSum: number;
  count: number;
  grads: Float32Array;
}

/** A model's training step compiled for the `wasm-step` backend. */
export interface CompiledStep {
  /**
   * Sum over the `n` samples of the loss and of its gradient; inputs already validated. The
   * gradient is written into `out` when given (every element is overwritten), else into a
   * new array.
   */
  gradients(params: Float32Array, x: Float32Array, y: Int32Array | Float32Array, n: number, out?: Float32Array): StepResult;
}

/** Milliseconds per phase (`'<index> <type> forward'`, `'loss'`, …), summed over calls. */
export type StepProfile = Map<string, number>;

/** Why `plan` cannot be compiled, or `null` when it can. */
export function unsupportedReason(plan: ModelPlan): string | null {
  if (!arenaAvailable()) return 'WebAssembly SIMD128 is not available';
  const last = plan.layers[plan.layers.length - 1];
  for (const layer of plan.layers) {
    if (!['conv2d', 'conv1d', 'maxPool', 'flatten', 'dense', 'relu', 'tanh', 'sigmoid', 'softmax'].includes(layer.type)) return `layer ${layer.index} (${layer.type}) is not supported`;
    if (layer.activation === 'softmax' && !(layer === last && plan.loss === 'softmaxCrossEntropy')) return `layer ${layer.index}: softmax is only supported folded into the loss`;
  }
  return null;
}

/** Samples per second are best with batches of a few dozen; the arena of each batch size seen is kept (at most this many). */
const MAX_BATCH_SIZES = 4;

/**
 * Compiles `plan`'s training step, or returns `null` when a layer is not supported (see
 * {@link unsupportedReason}). With `profile`, every call adds the milliseconds of each phase
 * to it, read from `clock` (default `performance.now`; a CPU-time clock is steadier on a
 * shared machine). With `fma`, its GEMMs multiply-add fused (the `wasm-fma` backend; only
 * after `fusedMultiplyAdd()` said yes).
 */
export function compileStep(plan: ModelPlan, options: { profile?: StepProfile; clock?: () => number; fma?: boolean } = {}): CompiledStep | null {
  const clock = options.clock ?? (() => performance.now());
  if (unsupportedReason(plan) !== null) return null;
  const byBatch = new Map<number, Compiled>();
  const outputs = plan.outputShape[0]!;
  const scratch = new Float64Array(outputs);
  return {
    gradients(params, x, y, n, out) {
      let c = byBatch.get(n);
      if (c === undefined) {
        if (byBatch.size >= MAX_BATCH_SIZES) byBatch.delete(byBatch.keys().next().value!);
        c = compile(plan, n, options.fma === true);
        byBatch.set(n, c);
      }
      const f32 = c.arena.f32;
      f32.set(params, c.params);
      f32.set(x, c.input);
      const prof = options.profile;
      let t = prof ? clock() : 0;
      const lap = (key: string): void => {
        if (!prof) return;
        const now = clock();
        prof.set(key, (prof.get(key) ?? 0) + now - t);
        t = now;
      };
      lap('copy in');
      c.layers.forEach((layer, i) => {
        layer.forward(c.arena, params);
        lap(`${c.names[i]} forward`);
      });
      const lossSum =
        plan.loss === 'softmaxCrossEntropy'
          ? softmaxCrossEntropy(f32, c.out, c.dOut, n, outputs, y as Int32Array, scratch)
          : meanSquaredError(f32, c.out, c.dOut, n, outputs, y as Float32Array);
      lap('loss');
      const grads = out ?? new Float32Array(plan.paramCount);
      for (let i = c.layers.length - 1; i >= 0; i--) {
        c.layers[i]!.backward(c.arena, params, grads);
        lap(`${c.names[i]} backward`);
      }
      return { lossSum, count: n, grads };
    },
  };
}

function compile(plan: ModelPlan, n: number, fma: boolean): Compiled {
  const layout = new ArenaLayout();
  const size = (shape: readonly number[]) => n * shape.reduce((a, b) => a * b, 1);
  const params = layout.alloc(plan.paramCount);
  const input = layout.alloc(size(plan.inputShape));
  let cur = input;
  let dCur = -1; // the first layer needs no input gradient
  const last = plan.layers[plan.layers.length - 1]!;
  const layers: FastLayer[] = [];
  const names: string[] = [];
  for (const layer of plan.layers) {
    const outSize = size(layer.outputShape);
    const alias = layer.type === 'flatten';
    const io: LayerIo = { in: cur, out: alias ? cur : layout.alloc(outSize), dIn: dCur, dOut: alias ? dCur : layout.alloc(outSize) };
    if (alias && dCur < 0) io.dOut = io.dIn = layout.alloc(outSize);
    const act = layer.activation === 'softmax' && layer === last ? 'linear' : layer.activation;
    const built = buildLayer(layout, io, layer, n, act, params);
    if (built !== null) {
      layers.push(built);
      names.push(`${layer.index} ${layer.type}`);
    }
    cur = io.out;
    dCur = io.dOut;
  }
  const arena = new Arena(layout.size, fma);
  for (const layer of layers) layer.init(arena);
  return { arena, layers, names, params, input, out: cur, dOut: dCur };
}

function buildLayer(layout: ArenaLayout, io: LayerIo, layer: LayerPlan, n: number, act: LayerPlan['activation'], paramsOff: number): FastLayer | null {
  const kernel = layer.params.find((p) => p.name === 'kernel');
  const bias = layer.params.find((p) => p.name === 'bias');
  const is1d = layer.inputShape.length === 2;
  const [H, W, C] = is1d ? [1, layer.inputShape[0]!, layer.inputShape[1]!] : (layer.inputShape as [number, number, number]);
  switch (layer.type) {
    case 'conv2d':
    case 'conv1d': {
      const [kh, kw] = layer.window!;
      const cout = kernel!.shape[kernel!.shape.length - 1]!;
      const g = conv2DGeometry([n, H, W, C], [kh, kw, C, cout], { strides: layer.strides!, pad: layer.padding!, dataFormat: 'NHWC', dimRoundingMode: undefined });
      return convLayer(layout, io, g, kernel!.offset, bias!.offset, act, paramsOff);
    }
    case 'dense':
      return denseLayer(layout, io, n, layer.inputShape[0]!, layer.outputShape[0]!, kernel!.offset, bias!.offset, act, paramsOff);
    case 'maxPool': {
      const [kh, kw] = layer.window!;
      const [sh, sw] = layer.strides!;
      const [OH, OW] = is1d ? [1, layer.outputShape[0]!] : [layer.outputShape[0]!, layer.outputShape[1]!];
      const same = layer.padding === 'same';
      const padTop = same ? Math.floor(Math.max((OH - 1) * sh + kh - H, 0) / 2) : 0;
      const padLeft = same ? Math.floor(Math.max((OW - 1) * sw + kw - W, 0) / 2) : 0;
      const pool = maxPoolLayer(layout, io, { batch: n, inHeight: H, inWidth: W, channels: C, outHeight: OH, outWidth: OW, windowHeight: kh, windowWidth: kw, strideHeight: sh, strideWidth: sw, padTop, padLeft });
      if (act === 'linear') return pool;
      return chain(pool, activationLayer({ in: io.out, out: io.out, dIn: io.dOut, dOut: io.dOut }, size1(layer, n), act));
    }
    case 'flatten':
      return null;
    default:
      // Standalone activation layers (relu, tanh, sigmoid; a final softmax folded into the loss).
      return act === 'linear' ? activationLayer(io, size1(layer, n), 'linear') : activationLayer(io, size1(layer, n), act);
  }
}

function size1(layer: LayerPlan, n: number): number {
  return n * layer.outputShape.reduce((a, b) => a * b, 1);
}

/** Two layers run as one: forward in order, backward in reverse. */
function chain(first: FastLayer, second: FastLayer): FastLayer {
  return {
    init(a) {
      first.init(a);
      second.init(a);
    },
    forward(a, p) {
      first.forward(a, p);
      second.forward(a, p);
    },
    backward(a, p, g) {
      second.backward(a, p, g);
      first.backward(a, p, g);
    },
  };
}
