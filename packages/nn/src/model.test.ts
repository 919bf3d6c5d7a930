import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { NnError, Xoshiro128, type ModelSpec } from '@swarmgrad/nn-core';
import { createModel } from './model.js';
import { referenceForward, referenceGradients, referenceLoss, relativeError } from './testing/reference-f64.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function randomArray(rng: Xoshiro128, length: number, scale = 1): Float32Array {
  return Float32Array.from({ length }, () => (2 * rng.nextFloat() - 1) * scale);
}

function randomBatch(spec: ModelSpec, n: number, seed: number) {
  const model = createModel(spec);
  const rng = new Xoshiro128(seed);
  const params = model.initParams(seed);
  // Non-zero biases so that their gradients and the activations' kinks are exercised.
  for (const l of model.plan.layers) for (const p of l.params) if (p.name === 'bias') params.set(randomArray(rng, p.size, 0.1), p.offset);
  const x = randomArray(rng, n * model.inputShape.reduce((a, b) => a * b, 1));
  const k = model.outputShape[0]!;
  const y = model.plan.loss === 'softmaxCrossEntropy' ? Int32Array.from({ length: n }, () => rng.nextUint32() % k) : randomArray(rng, n * k);
  return { model, params, x, y };
}

/** Small nets that cover every layer type with several shapes, strides and paddings. */
const gradientCases: Array<[string, ModelSpec]> = [
  ['conv2d same s1 + relu + maxPool + dense', { inputShape: [7, 6, 2], layers: [{ type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }, { type: 'maxPool', poolSize: 2 }, { type: 'flatten' }, { type: 'dense', units: 4 }] }],
  ['conv2d valid s2 rect kernel + tanh + avgPool same', { inputShape: [9, 8, 3], layers: [{ type: 'conv2d', filters: 2, kernelSize: [3, 2], strides: 2, padding: 'valid' }, { type: 'tanh' }, { type: 'avgPool', poolSize: 2, strides: 1, padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
  ['conv2d same s2 odd input + sigmoid + maxPool 3/2 same', { inputShape: [7, 7, 1], layers: [{ type: 'conv2d', filters: 4, kernelSize: 4, strides: [2, 2], padding: 'same', activation: 'sigmoid' }, { type: 'maxPool', poolSize: 3, strides: 2, padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 5, activation: 'tanh' }, { type: 'dense', units: 3 }] }],
  ['conv1d valid + relu + maxPool1d + conv1d same s2 + avgPool1d', { inputShape: [12, 2], layers: [{ type: 'conv1d', filters: 3, kernelSize: 3, activation: 'relu' }, { type: 'maxPool', poolSize: 2 }, { type: 'conv1d', filters: 2, kernelSize: 2, strides: 2, padding: 'same' }, { type: 'avgPool', poolSize: 2, strides: 1 }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
  ['dense stack + trailing softmax folded into the loss', { inputShape: [5], layers: [{ type: 'dense', units: 6, activation: 'sigmoid' }, { type: 'relu' }, { type: 'dense', units: 4 }, { type: 'softmax' }] }],
  ['regression with mean squared error', { inputShape: [6, 5, 1], loss: 'meanSquaredError', layers: [{ type: 'conv2d', filters: 2, kernelSize: 2, activation: 'tanh' }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
];

describe('gradients against float64 finite differences', () => {
  it.each(gradientCases)('%s', async (_name, spec) => {
    const n = 3;
    const { model, params, x, y } = randomBatch(spec, n, 7);
    const result = await model.gradients(params, x, y);
    expect(result.count).toBe(n);
    const refLoss = referenceLoss(model.plan, params, x, y, n);
    expect(Math.abs(result.lossSum - refLoss) / Math.abs(refLoss)).toBeLessThan(1e-5);
    const ref = referenceGradients(model.plan, params, x, y, n);
    for (const layer of model.plan.layers) {
      for (const p of layer.params) {
        const err = relativeError(result.grads, ref, p.offset, p.offset + p.size);
        expect(err, `layer ${layer.index} ${layer.type} ${p.name}`).toBeLessThan(1e-4);
      }
    }
  });
});

describe('forward pass', () => {
  it('activations of every layer match the float64 reference', async () => {
    const [, spec] = gradientCases[2]!;
    const { model, params, x } = randomBatch(spec, 2, 11);
    const acts = await model.activations(params, x);
    expect(acts.map((a) => a.shape)).toEqual(model.plan.layers.map((l) => [2, ...l.outputShape]));
    const final = referenceForward(model.plan, params, x, 2, false);
    const out = acts[acts.length - 1]!.data;
    expect(relativeError(out, [...final[0]!, ...final[1]!])).toBeLessThan(1e-5);
  });

  it('predict returns probabilities and evaluate counts correct arg-max', async () => {
    const { model, params, x, y } = randomBatch(gradientCases[4]![1], 8, 3);
    const probs = await model.predict(params, x);
    expect(probs.length).toBe(8 * 4);
    for (let i = 0; i < 8; i++) expect(probs.subarray(i * 4, i * 4 + 4).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    let correct = 0;
    for (let i = 0; i < 8; i++) {
      const row = Array.from(probs.subarray(i * 4, i * 4 + 4));
      if (row.indexOf(Math.max(...row)) === y[i]) correct++;
    }
    const ev = await model.evaluate(params, x, y);
    expect(ev).toMatchObject({ correct, count: 8 });
    expect(ev.lossSum).toBeCloseTo(referenceLoss(model.plan, params, x, y, 8), 4);
  });
});

describe('sums of shards', () => {
  it('gradients of two shards add up to the gradient of the whole batch', async () => {
    const { model, params, x, y } = randomBatch(gradientCases[0]![1], 6, 5);
    const per = x.length / 6;
    const whole = await model.gradients(params, x, y);
    const a = await model.gradients(params, x.subarray(0, 2 * per), (y as Int32Array).subarray(0, 2));
    const b = await model.gradients(params, x.subarray(2 * per), (y as Int32Array).subarray(2));
    const sum = a.grads.map((v, i) => v + b.grads[i]!);
    expect(relativeError(sum, whole.grads)).toBeLessThan(1e-6);
    expect(a.lossSum + b.lossSum).toBeCloseTo(whole.lossSum, 4);
  });
});

describe('determinism and memory', () => {
  it('same inputs give bitwise-identical gradients', async () => {
    const { model, params, x, y } = randomBatch(gradientCases[0]![1], 4, 9);
    const first = await model.gradients(params, x, y);
    const second = await model.gradients(params, x, y);
    expect(Buffer.from(second.grads.buffer).equals(Buffer.from(first.grads.buffer))).toBe(true);
    expect(second.lossSum).toBe(first.lossSum);
  });

  it('leaks no tensors across 100 gradient calls', async () => {
    const { model, params, x, y } = randomBatch(gradientCases[1]![1], 2, 1);
    await model.gradients(params, x, y);
    await model.evaluate(params, x, y);
    await model.predict(params, x);
    await model.activations(params, x);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) await model.gradients(params, x, y);
    await model.evaluate(params, x, y);
    await model.predict(params, x);
    await model.activations(params, x);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('does not keep a reference to the caller\'s arrays', async () => {
    const { model, params, x, y } = randomBatch(gradientCases[0]![1], 2, 2);
    const g = await model.gradients(params, x, y);
    const copy = g.grads.slice();
    params.fill(0);
    await model.gradients(params, x, y);
    expect(g.grads).toEqual(copy);
  });
});

describe('input checks', () => {
  const model = createModel(gradientCases[0]![1]);
  const params = model.initParams(1);
  const sample = 7 * 6 * 2;
  it.each([
    ['short params', () => model.gradients(params.subarray(1), new Float32Array(sample), new Int32Array(1)), /has \d+ values; model model has \d+ parameters/],
    ['partial sample', () => model.gradients(params, new Float32Array(sample + 1), new Int32Array(1)), /not a positive multiple/],
    ['label count', () => model.gradients(params, new Float32Array(sample * 2), new Int32Array(1)), /got 1 labels for 2 samples/],
    ['label range', () => model.gradients(params, new Float32Array(sample), Int32Array.of(4)), /label 0 is 4/],
    ['float labels', () => model.gradients(params, new Float32Array(sample), new Float32Array(1)), /Int32Array/],
  ])('%s', async (_name, call, message) => {
    const error = await call().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NnError);
    expect((error as NnError).code).toBe('BAD_INPUT');
    expect((error as NnError).message).toMatch(message);
  });
});
