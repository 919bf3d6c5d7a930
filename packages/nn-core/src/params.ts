import { Xoshiro128 } from './prng.js';
import type { ModelPlan } from './shapes.js';

/**
 * Seeded initialisation of the flat parameter vector: kernels of layers followed by ReLU
 * (or no activation before a ReLU layer) get He-uniform, the others Glorot-uniform; biases
 * start at zero. Uniform draws use only multiplication and `Math.sqrt` (correctly rounded),
 * so the same seed gives the same bytes on every platform.
 */
export function initParams(plan: ModelPlan, seed: number): Float32Array {
  if (!Number.isInteger(seed)) throw new TypeError(`seed must be an integer, got ${seed}`);
  const params = new Float32Array(plan.paramCount);
  const rng = new Xoshiro128(seed);
  plan.layers.forEach((layer, i) => {
    const kernel = layer.params.find((p) => p.name === 'kernel');
    if (!kernel) return;
    const cout = kernel.shape[kernel.shape.length - 1]!;
    const fanIn = kernel.size / cout;
    const receptive = kernel.shape.slice(0, -2).reduce((a, b) => a * b, 1);
    const fanOut = receptive * cout;
    const next = plan.layers[i + 1];
    const relu = layer.activation === 'relu' || (layer.activation === 'linear' && next?.type === 'relu');
    const limit = relu ? Math.sqrt(6 / fanIn) : Math.sqrt(6 / (fanIn + fanOut));
    for (let j = 0; j < kernel.size; j++) {
      params[kernel.offset + j] = (2 * rng.nextFloat() - 1) * limit;
    }
  });
  return params;
}

/** Views of one layer's tensors inside a flat parameter (or gradient) vector. */
export function layerViews(plan: ModelPlan, flat: Float32Array, layerIndex: number): Record<'kernel' | 'bias', Float32Array | undefined> {
  const layer = plan.layers[layerIndex];
  if (!layer) throw new RangeError(`layer ${layerIndex} does not exist; the model has ${plan.layers.length} layers`);
  const view = (name: 'kernel' | 'bias'): Float32Array | undefined => {
    const p = layer.params.find((t) => t.name === name);
    return p ? flat.subarray(p.offset, p.offset + p.size) : undefined;
  };
  return { kernel: view('kernel'), bias: view('bias') };
}
