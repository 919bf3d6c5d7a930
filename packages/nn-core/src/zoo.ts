import { NnError } from './errors.js';
import type { ModelSpec } from './spec.js';

/**
 * LeNet-5 for 28×28×1 input (MNIST): conv 6@5×5 same → 2×2 max pool → conv 16@5×5 valid →
 * 2×2 max pool → dense 120 → dense 84 → dense 10, ReLU activations; 61,706 parameters.
 */
export function lenet5(options: { inputShape?: [number, number, number]; numClasses?: number } = {}): ModelSpec {
  return {
    name: 'lenet5',
    inputShape: options.inputShape ?? [28, 28, 1],
    loss: 'softmaxCrossEntropy',
    layers: [
      { type: 'conv2d', filters: 6, kernelSize: 5, padding: 'same', activation: 'relu' },
      { type: 'maxPool', poolSize: 2 },
      { type: 'conv2d', filters: 16, kernelSize: 5, padding: 'valid', activation: 'relu' },
      { type: 'maxPool', poolSize: 2 },
      { type: 'flatten' },
      { type: 'dense', units: 120, activation: 'relu' },
      { type: 'dense', units: 84, activation: 'relu' },
      { type: 'dense', units: options.numClasses ?? 10 },
    ],
  };
}

/**
 * AlexNet as in the 2012 paper's layer table, single tower (no LRN, no dropout — neither
 * has parameters): 227×227×3 input, 1000 classes, 62,378,344 parameters.
 */
export function alexnet(options: { numClasses?: number } = {}): ModelSpec {
  return {
    name: 'alexnet',
    inputShape: [227, 227, 3],
    loss: 'softmaxCrossEntropy',
    layers: [
      { type: 'conv2d', filters: 96, kernelSize: 11, strides: 4, padding: 'valid', activation: 'relu' },
      { type: 'maxPool', poolSize: 3, strides: 2 },
      { type: 'conv2d', filters: 256, kernelSize: 5, padding: 'same', activation: 'relu' },
      { type: 'maxPool', poolSize: 3, strides: 2 },
      { type: 'conv2d', filters: 384, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'conv2d', filters: 384, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'conv2d', filters: 256, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'maxPool', poolSize: 3, strides: 2 },
      { type: 'flatten' },
      { type: 'dense', units: 4096, activation: 'relu' },
      { type: 'dense', units: 4096, activation: 'relu' },
      { type: 'dense', units: options.numClasses ?? 1000 },
    ],
  };
}

/**
 * AlexNet's structure (five convs with 3×3 overlapping max pools after the 1st, 2nd and
 * 5th, then three dense layers) scaled for 32×32×3 (CIFAR) or 28×28×1 (MNIST) input.
 */
export function alexnetSmall(options: { inputShape?: [number, number, number]; numClasses?: number } = {}): ModelSpec {
  const inputShape = options.inputShape ?? [32, 32, 3];
  return {
    name: 'alexnetSmall',
    inputShape,
    loss: 'softmaxCrossEntropy',
    layers: [
      { type: 'conv2d', filters: 32, kernelSize: 5, padding: 'same', activation: 'relu' },
      { type: 'maxPool', poolSize: 3, strides: 2, padding: 'same' },
      { type: 'conv2d', filters: 64, kernelSize: 5, padding: 'same', activation: 'relu' },
      { type: 'maxPool', poolSize: 3, strides: 2, padding: 'same' },
      { type: 'conv2d', filters: 96, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'conv2d', filters: 96, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'conv2d', filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'maxPool', poolSize: 3, strides: 2, padding: 'same' },
      { type: 'flatten' },
      { type: 'dense', units: 256, activation: 'relu' },
      { type: 'dense', units: 256, activation: 'relu' },
      { type: 'dense', units: options.numClasses ?? 10 },
    ],
  };
}

/** A multilayer perceptron: flatten, then dense ReLU layers of the given widths, then the classes. */
export function mlp(options: { inputShape?: number[]; hidden?: number[]; numClasses?: number } = {}): ModelSpec {
  return {
    name: 'mlp',
    inputShape: options.inputShape ?? [28, 28, 1],
    loss: 'softmaxCrossEntropy',
    layers: [
      { type: 'flatten' },
      ...(options.hidden ?? [128, 64]).map((units) => ({ type: 'dense' as const, units, activation: 'relu' as const })),
      { type: 'dense', units: options.numClasses ?? 10 },
    ],
  };
}

/** The zoo by name: `lenet5`, `alexnet`, `alexnetSmall`, `mlp`. */
export const zoo = { lenet5, alexnet, alexnetSmall, mlp } as const;

/** A zoo model name. */
export type ZooName = keyof typeof zoo;

/**
 * A zoo spec by name, shaped for a dataset when `inputShape` / `numClasses` are given
 * (AlexNet keeps its 227×227×3 input). Unknown names throw `INVALID_SPEC`.
 */
export function zooModel(name: string, options: { inputShape?: number[]; numClasses?: number } = {}): ModelSpec {
  const opts: { inputShape?: [number, number, number]; numClasses?: number } = {};
  if (options.numClasses !== undefined) opts.numClasses = options.numClasses;
  if (options.inputShape?.length === 3) opts.inputShape = options.inputShape as [number, number, number];
  switch (name) {
    case 'lenet5':
      return lenet5(opts);
    case 'alexnet':
      return alexnet(opts);
    case 'alexnetSmall':
      return alexnetSmall(opts);
    case 'mlp':
      return mlp({ ...opts, ...(options.inputShape ? { inputShape: options.inputShape } : {}) });
    default:
      throw new NnError('INVALID_SPEC', `unknown zoo model ${JSON.stringify(name)}; expected one of ${Object.keys(zoo).join(', ')}`);
  }
}
