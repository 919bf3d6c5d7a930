import { readFile } from 'node:fs/promises';
import { subsetDataset, syntheticDataset, type Dataset } from '@swarmgrad/data';
import { loadIdxDataset, loadMnist } from '@swarmgrad/data/node';
import { planModel, zoo, zooModel, type ModelSpec, NnError } from '@swarmgrad/nn/core';
import type { DatasetDescriptor } from '@swarmgrad/protocol';
import { UsageError } from './args.js';
import { loadImageData, transformImageData, type DataOptions } from './image-data.js';

/** A loaded dataset pair and how to name it on the wire. */
export interface LoadedData {
  descriptor: DatasetDescriptor;
  train: Dataset;
  test: Dataset;
}

/**
 * `--data`: `mnist` (bundled, nothing downloaded), `idx:DIR` (any IDX pair: MNIST,
 * Fashion-MNIST, KMNIST, EMNIST, gzipped or not), `images:DIR` (an image folder),
 * `cifar10:DIR` / `cifar100:DIR` (the official binary files) or `synthetic[:SEED]` (a small
 * learnable set for quick checks). `options` (image size, augmentation, normalisation) apply to image data.
 */
export async function loadData(spec: string, options: DataOptions = {}): Promise<LoadedData> {
  const images = await loadImageData(spec, options);
  if (images) return images;
  const loaded = await loadBuiltinData(spec);
  return options.augmentation || (options.normalize !== undefined && options.normalize !== 'none') ? transformImageData(loaded, options, 'none') : loaded;
}

async function loadBuiltinData(spec: string): Promise<LoadedData> {
  if (spec === 'mnist') {
    const [train, test] = await Promise.all([loadMnist({ split: 'train' }), loadMnist({ split: 'test' })]);
    return { descriptor: { name: 'mnist' }, train, test };
  }
  if (spec.startsWith('idx:')) {
    const dir = spec.slice(4);
    if (!dir) throw new UsageError('BAD_VALUE', '--data idx:DIR needs a directory, e.g. --data idx:./fashion-mnist');
    const [train, test] = await Promise.all([loadIdxDataset(dir, { split: 'train' }), loadIdxDataset(dir, { split: 'test' })]);
    return { descriptor: { name: 'idx', dir }, train, test };
  }
  const synthetic = /^synthetic(?::(\d+))?$/.exec(spec);
  if (synthetic) {
    const seed = Number(synthetic[1] ?? 1);
    // One seeded set (the seed fixes the class templates); train and test are disjoint index ranges.
    const all = syntheticDataset({ height: 12, width: 12, channels: 1, numClasses: 4, noise: 0.3, seed, length: 4096 + 512 });
    const range = (start: number, length: number) => Uint32Array.from({ length }, (_, i) => start + i);
    return {
      descriptor: { name: 'synthetic', seed },
      train: subsetDataset(all, range(0, 4096), 'synthetic-train'),
      test: subsetDataset(all, range(4096, 512), 'synthetic-test'),
    };
  }
  throw new UsageError('BAD_VALUE', `--data must be mnist, idx:DIR, images:DIR, cifar10:DIR, cifar100:DIR or synthetic[:SEED]; got ${JSON.stringify(spec)}`);
}

/** The `--data` value that names a dataset descriptor (the inverse of {@link loadData}). */
export function datasetFlag(descriptor: DatasetDescriptor): string {
  if (descriptor.name === 'idx') return `idx:${String(descriptor.dir)}`;
  if (descriptor.name === 'synthetic') return `synthetic:${String(descriptor.seed)}`;
  if (descriptor.name === 'images' || descriptor.name === 'cifar10' || descriptor.name === 'cifar100') return `${descriptor.name}:${String(descriptor.dir)}`;
  return descriptor.name;
}

/** `--model`: a zoo name (shaped for the dataset) or a JSON spec file. Validated here. */
export async function loadModel(name: string, data: LoadedData): Promise<ModelSpec> {
  let spec: ModelSpec;
  if (name in zoo) {
    spec = zooModel(name, { inputShape: data.train.sampleShape, numClasses: data.train.numClasses });
  } else if (name.endsWith('.json')) {
    try {
      spec = JSON.parse(await readFile(name, 'utf8')) as ModelSpec;
    } catch (error) {
      throw new UsageError('BAD_INPUT', `--model ${name}: cannot read a JSON model spec (${(error as Error).message})`);
    }
  } else {
    throw new UsageError('BAD_VALUE', `--model must be one of ${Object.keys(zoo).join(', ')} or a .json spec file; got ${JSON.stringify(name)}`);
  }
  try {
    if (name in zoo) planFitting(name, spec, data);
    const plan = planModel(spec);
    const expected = data.train.sampleShape;
    if (plan.inputShape.join('x') !== expected.join('x')) {
      throw new UsageError('BAD_INPUT', `model ${plan.name} takes input [${plan.inputShape.join(', ')}] but ${data.descriptor.name} samples are [${expected.join(', ')}]${name in zoo ? `; ${ZOO_FIT[name] ?? ''}` : ''}`);
    }
    if (plan.loss === 'softmaxCrossEntropy' && plan.outputShape[0]! < data.train.numClasses) {
      throw new UsageError('BAD_INPUT', `model ${plan.name} has ${plan.outputShape[0]} outputs but ${data.descriptor.name} has ${data.train.numClasses} classes`);
    }
  } catch (error) {
    if (error instanceof NnError) throw new UsageError('BAD_INPUT', `--model ${name}: ${error.message}`);
    throw error;
  }
  return spec;
}

/** Which inputs each zoo model fits, for error messages. */
const ZOO_FIT: Record<string, string> = {
  lenet5: 'lenet5 fits any image of at least 10×10 pixels (one or more channels)',
  alexnet: 'alexnet takes only 227×227×3 (use --image-size 227x227 with images:DIR, or alexnetSmall for small images)',
  alexnetSmall: 'alexnetSmall fits any image size and channel count (e.g. 32×32×3 CIFAR, 28×28×1 MNIST)',
  mlp: 'mlp fits any input shape',
};

function planFitting(name: string, spec: ModelSpec, data: LoadedData): void {
  try {
    planModel(spec);
  } catch (error) {
    if (error instanceof NnError) {
      throw new UsageError('BAD_INPUT', `--model ${name} does not fit ${data.descriptor.name} samples [${data.train.sampleShape.join(', ')}] (${error.message}); ${ZOO_FIT[name] ?? ''}`);
    }
    throw error;
  }
}
