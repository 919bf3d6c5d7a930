import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-core';
import { createModel, useBackend } from '@swarmgrad/nn';
import { zooModel, type ModelSpec } from '@swarmgrad/nn/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toTfjsLayersModel } from './tfjs.js';
import { randomCase, swarmgradProbabilities } from './test-support.js';

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'sg-tfjs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Loads model.json + its weights files from disk, as tf.loadLayersModel('file://…') would. */
async function loadFromDisk(folder: string): Promise<tfl.LayersModel> {
  const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tfc.io.WeightsManifestEntry[] }[] };
  const buffers = await Promise.all(json.weightsManifest.flatMap((g) => g.paths).map((p) => readFile(join(folder, p))));
  const bytes = Buffer.concat(buffers);
  return tfl.loadLayersModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    }),
  });
}

describe('toTfjsLayersModel', () => {
  const cases: [string, ModelSpec, boolean][] = [
    ['lenet5 28×28×1', zooModel('lenet5'), false],
    ['alexnetSmall 32×32×3 normalised', zooModel('alexnetSmall', { inputShape: [32, 32, 3], numClasses: 10 }), true],
    [
      'valid/avg pools, standalone relu, tanh, final softmax activation',
      {
        name: 'mixed',
        inputShape: [11, 9, 2],
        layers: [
          { type: 'conv2d', filters: 4, kernelSize: [3, 2], strides: [2, 1], padding: 'same', activation: 'tanh' },
          { type: 'avgPool', poolSize: 3, strides: 2, padding: 'same' },
          { type: 'conv2d', filters: 3, kernelSize: 2, padding: 'valid' },
          { type: 'relu' },
          { type: 'maxPool', poolSize: 2, strides: 1, padding: 'valid' },
          { type: 'flatten' },
          { type: 'dense', units: 4, activation: 'softmax' },
        ],
      },
      true,
    ],
  ];
  for (const [title, spec, normalised] of cases) {
    it(`tf.loadLayersModel agrees with swarmgrad's predict within 1e-4: ${title}`, async () => {
      const c = randomCase(spec, normalised, 4, 9);
      const expected = await swarmgradProbabilities(createModel, c);
      const out = toTfjsLayersModel({ spec, params: c.params, ...(c.normalization && { normalization: c.normalization }), classNames: c.classNames });
      const folder = await mkdtemp(join(dir, 'm-'));
      await writeFile(join(folder, 'model.json'), JSON.stringify(out.modelJson));
      await writeFile(join(folder, out.weightsFile), out.weights);
      const model = await loadFromDisk(folder);
      const y = model.predict(tfc.tensor(c.pixels, [4, ...spec.inputShape])) as tfc.Tensor;
      const got = await y.data();
      expect(y.shape).toEqual([4, c.classNames.length]);
      expect(expected.some((p) => p > 0.01 && p < 0.99)).toBe(true);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected[i]!));
      expect(worst).toBeLessThan(1e-4);
      console.log(`tfjs ${title}: max |Δp| = ${worst.toExponential(2)}`);
      expect((out.modelJson.userDefinedMetadata as { classNames: string[] }).classNames).toEqual(c.classNames);
    });
  }
});
