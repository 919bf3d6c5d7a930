/**
 * Test support: a tiny softmax-regression model (`dense` inputs → classes, no hidden layer)
 * whose per-shard gradient sums are computed in plain float32 JavaScript, so fake workers
 * and the single-process reference loop share one leaf function.
 */
import type { ModelSpec, TreeValue } from '@swarmgrad/nn-core';

/** A dense-only model: `inputs` features → `classes` logits, softmax cross-entropy. */
export function tinyModel(inputs = 4, classes = 3): ModelSpec {
  return { name: 'tiny', inputShape: [inputs], layers: [{ type: 'dense', units: classes }] };
}

const f = Math.fround;

function forward(params: Float32Array, x: Float32Array, sample: number, inputs: number, classes: number): Float32Array {
  const biasOffset = inputs * classes;
  const z = new Float32Array(classes);
  for (let j = 0; j < classes; j++) {
    let acc = params[biasOffset + j]!;
    for (let i = 0; i < inputs; i++) acc = f(acc + f(x[sample * inputs + i]! * params[i * classes + j]!));
    z[j] = acc;
  }
  return z;
}

function softmax(z: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v);
  const p = new Float32Array(z.length);
  let sum = 0;
  for (let j = 0; j < z.length; j++) {
    p[j] = Math.exp(f(z[j]! - max));
    sum = f(sum + p[j]!);
  }
  for (let j = 0; j < z.length; j++) p[j] = f(p[j]! / sum);
  return p;
}

/**
 * One leaf of the tree: the float32 sum over `count` samples (starting at sample `first` of
 * `x`/`labels`) of the per-sample softmax cross-entropy gradient, plus the float64 loss sum.
 */
export function leafGradient(
  params: Float32Array,
  x: Float32Array,
  labels: Int32Array,
  first: number,
  count: number,
  inputs: number,
  classes: number,
): TreeValue {
  const grads = new Float32Array(params.length);
  const biasOffset = inputs * classes;
  let lossSum = 0;
  for (let s = first; s < first + count; s++) {
    const p = softmax(forward(params, x, s, inputs, classes));
    const y = labels[s]!;
    lossSum += -Math.log(Math.max(p[y]!, 1e-30));
    for (let j = 0; j < classes; j++) {
      const dz = f(p[j]! - (j === y ? 1 : 0));
      for (let i = 0; i < inputs; i++) grads[i * classes + j] = f(grads[i * classes + j]! + f(x[s * inputs + i]! * dz));
      grads[biasOffset + j] = f(grads[biasOffset + j]! + dz);
    }
  }
  return { grads, lossSum, count };
}

/** Loss sum and correct count over `count` samples. */
export function evaluate(
  params: Float32Array,
  x: Float32Array,
  labels: Int32Array,
  first: number,
  count: number,
  inputs: number,
  classes: number,
): { lossSum: number; correct: number } {
  let lossSum = 0;
  let correct = 0;
  for (let s = first; s < first + count; s++) {
    const z = forward(params, x, s, inputs, classes);
    const p = softmax(z);
    const y = labels[s]!;
    lossSum += -Math.log(Math.max(p[y]!, 1e-30));
    let best = 0;
    for (let j = 1; j < classes; j++) if (z[j]! > z[best]!) best = j;
    if (best === y) correct++;
  }
  return { lossSum, correct };
}
