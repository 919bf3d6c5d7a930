/** Test helpers shared by the exporter tests (not exported from the package). */
import { initParams, planModel, type ModelSpec } from '@swarmgrad/nn/core';
import type { ExportNormalization } from './model-input.js';

/** Random parameters (not the initialisation: biases non-zero too), pixels `v/255`, optional normalisation. */
export interface RandomCase {
  spec: ModelSpec;
  params: Float32Array;
  pixels: Float32Array;
  normalization?: ExportNormalization;
  classNames: string[];
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** A random export case for `spec` with `n` samples. */
export function randomCase(spec: ModelSpec, normalised: boolean, n: number, seed = 3): RandomCase {
  const plan = planModel(spec);
  const rnd = lcg(seed);
  const params = initParams(plan, seed);
  for (let i = 0; i < params.length; i++) params[i] = params[i]! + (rnd() - 0.5) * 0.02;
  const size = plan.inputShape.reduce((a, b) => a * b, 1);
  const pixels = Float32Array.from({ length: n * size }, () => Math.floor(rnd() * 256) / 255);
  const channels = plan.inputShape[plan.inputShape.length - 1]!;
  const normalization = normalised
    ? { mean: Array.from({ length: channels }, () => 0.3 + rnd() * 0.4), std: Array.from({ length: channels }, () => 0.15 + rnd() * 0.2) }
    : undefined;
  const classNames = Array.from({ length: plan.outputShape[0]! }, (_, k) => `c${k}`);
  return { spec, params, pixels, ...(normalization && { normalization }), classNames };
}

/** swarmgrad's own probabilities for a case: normalise as `@swarmgrad/data` does, then `predict`. */
export async function swarmgradProbabilities(
  createModel: (spec: ModelSpec) => { predict(params: Float32Array, x: Float32Array): Promise<Float32Array> },
  c: RandomCase,
): Promise<Float32Array> {
  const x = c.pixels.slice();
  if (c.normalization) {
    const channels = c.normalization.mean.length;
    for (let i = 0; i < x.length; i++) x[i] = (x[i]! - c.normalization.mean[i % channels]!) / c.normalization.std[i % channels]!;
  }
  return createModel(c.spec).predict(c.params, x);
}
