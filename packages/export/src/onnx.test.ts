import * as ort from 'onnxruntime-web';
import { createModel, useBackend } from '@swarmgrad/nn';
import { initParams, planModel, zooModel, type ModelSpec } from '@swarmgrad/nn/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeOnnx, toOnnx } from './onnx.js';
import { randomCase, swarmgradProbabilities } from './test-support.js';

beforeAll(async () => {
  ort.env.wasm.numThreads = 1;
  await useBackend('cpu');
});

async function runOnnx(bytes: Uint8Array, pixels: Float32Array, shape: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const result = await session.run({ input: new ort.Tensor('float32', pixels, shape) });
  return result.probabilities!.data as Float32Array;
}

describe('toOnnx', () => {
  const cases: [string, ModelSpec, boolean][] = [
    ['lenet5 28×28×1', zooModel('lenet5'), false],
    ['alexnetSmall 32×32×3 normalised', zooModel('alexnetSmall', { inputShape: [32, 32, 3], numClasses: 10 }), true],
    ['alexnetSmall 20×24×3, 5 classes', zooModel('alexnetSmall', { inputShape: [20, 24, 3], numClasses: 5 }), true],
    [
      'valid/avg pools, sigmoid, tanh, final softmax layer',
      {
        name: 'mixed',
        inputShape: [11, 9, 2],
        layers: [
          { type: 'conv2d', filters: 4, kernelSize: [3, 2], strides: [2, 1], padding: 'same', activation: 'tanh' },
          { type: 'avgPool', poolSize: 3, strides: 2, padding: 'same' },
          { type: 'conv2d', filters: 3, kernelSize: 2, padding: 'valid', activation: 'sigmoid' },
          { type: 'maxPool', poolSize: 2, strides: 1, padding: 'valid' },
          { type: 'flatten' },
          { type: 'dense', units: 6, activation: 'relu' },
          { type: 'dense', units: 4 },
          { type: 'softmax' },
        ],
      },
      true,
    ],
  ];
  for (const [title, spec, normalised] of cases) {
    it(`agrees with swarmgrad's predict within 1e-4: ${title}`, async () => {
      const c = randomCase(spec, normalised, 5);
      const expected = await swarmgradProbabilities(createModel, c);
      const got = await runOnnx(toOnnx({ spec, params: c.params, ...(c.normalization && { normalization: c.normalization }), classNames: c.classNames }), c.pixels, [5, ...spec.inputShape]);
      expect(got.length).toBe(expected.length);
      // The comparison means something only if the probabilities are not all saturated.
      expect(expected.some((p) => p > 0.01 && p < 0.99)).toBe(true);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected[i]!));
      expect(worst).toBeLessThan(1e-4);
      console.log(`onnx ${title}: max |Δp| = ${worst.toExponential(2)}`);
    });
  }

  it('declares opset 13, NHWC input and probabilities output, and carries class names and normalisation', () => {
    const spec = zooModel('lenet5', { numClasses: 3 });
    const params = initParams(planModel(spec), 1);
    const bytes = toOnnx({ spec, params, classNames: ['a', 'b', 'c'], normalization: { mean: [0.5], std: [0.25] } });
    const model = decodeOnnx(bytes) as {
      opset_import: { version: number }[];
      graph: { input: { name: string; type: { tensor_type: { shape: { dim: { dim_value?: number; dim_param?: string }[] } } } }[]; output: { name: string }[] };
      metadata_props: { key: string; value: string }[];
    };
    expect(model.opset_import[0]!.version).toBeGreaterThanOrEqual(13);
    expect(model.graph.input[0]!.name).toBe('input');
    expect(model.graph.input[0]!.type.tensor_type.shape.dim.map((d) => d.dim_value ?? d.dim_param)).toEqual(['N', 28, 28, 1]);
    expect(model.graph.output[0]!.name).toBe('probabilities');
    const meta = Object.fromEntries(model.metadata_props.map((p) => [p.key, p.value]));
    expect(JSON.parse(meta.classNames!)).toEqual(['a', 'b', 'c']);
    expect(JSON.parse(meta.normalization!)).toEqual({ mean: [0.5], std: [0.25] });
  });

  it('refuses wrong parameters, class names, normalisation and non-classifiers with stable codes', () => {
    const spec = zooModel('lenet5');
    const params = initParams(planModel(spec), 1);
    expect(() => toOnnx({ spec, params: params.subarray(1) })).toThrow(expect.objectContaining({ code: 'BAD_PARAMS' }));
    const nan = params.slice();
    nan[7] = NaN;
    expect(() => toOnnx({ spec, params: nan })).toThrow(expect.objectContaining({ code: 'BAD_PARAMS', message: expect.stringContaining('parameter 7') }));
    expect(() => toOnnx({ spec, params, classNames: ['a'] })).toThrow(expect.objectContaining({ code: 'BAD_OPTIONS' }));
    expect(() => toOnnx({ spec, params, normalization: { mean: [0.1, 0.2, 0.3], std: [1, 1, 1] } })).toThrow(expect.objectContaining({ code: 'BAD_OPTIONS' }));
    expect(() => toOnnx({ spec, params, normalization: { mean: [0.1], std: [0] } })).toThrow(expect.objectContaining({ code: 'BAD_OPTIONS' }));
    const mse = { ...spec, loss: 'meanSquaredError' as const };
    expect(() => toOnnx({ spec: mse, params })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_MODEL' }));
  });
});
