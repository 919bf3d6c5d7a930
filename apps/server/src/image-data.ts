/**
 * `--data images:DIR | cifar10:DIR | cifar100:DIR` and the flags that shape image data
 * (`--image-size`, `--augment`, `--normalize`, `--strict`). Everything that decides the
 * samples (size, class names, normalisation, augmentation) goes into the run's dataset
 * descriptor, so a resumed run, `eval`, `predict` and `export` see the data exactly as training did.
 */
import {
  TransformedImageDataset,
  checkNormalization,
  computeNormalization,
  isDataError,
  parseAugmentation,
  type Augmentation,
  type Dataset,
  type ImageDataset,
  type Normalization,
} from '@swarmgrad/data';
import { loadCifar, loadImageFolder } from '@swarmgrad/data/node';
import type { DatasetDescriptor, JsonValue } from '@swarmgrad/protocol';
import { UsageError, type FlagSpec } from './args.js';
import type { LoadedData } from './run-setup.js';

/** Flags of `train`, `serve` and `eval` that shape image data. */
export const IMAGE_DATA_FLAGS = {
  'image-size': { type: 'string', placeholder: 'HxW', help: "resize every image to HxW, e.g. 64x64 (images:DIR; default the first image's size)" },
  augment: { type: 'string', help: 'training augmentation: crop[:PAD] (random crop, zero padding PAD, default 4), flip (horizontal), comma-separated, or none', default: 'none' },
  normalize: { type: 'string', help: 'per-channel normalisation: auto (mean/std of the training split; default for images and CIFAR), none, or MEAN,..,MEAN/STD,..,STD' },
  strict: { type: 'boolean', help: 'stop at the first corrupt image instead of skipping it' },
} as const satisfies Record<string, FlagSpec>;

/** How image data is prepared; built from flags ({@link dataOptionsFromFlags}) or a run's descriptor. */
export interface DataOptions {
  imageSize?: [number, number];
  augmentation?: Augmentation;
  /** `auto`: mean/std of the training split; absent: auto for images/CIFAR, none for MNIST/IDX. */
  normalize?: 'auto' | 'none' | Normalization;
  strict?: boolean;
  /** Training class names to map the test (or eval) folders onto. */
  classNames?: readonly string[];
  /** Load only the test split (`eval`): `train` is the test split too. */
  testOnly?: boolean;
  /** Channels of the test split when only it is loaded (the model's). */
  channels?: 1 | 3;
}

/** Reads `--image-size`, `--augment`, `--normalize`, `--strict`; the augmentation seed is the run's seed. */
export function dataOptionsFromFlags(flags: Record<string, unknown>, seed: number): DataOptions {
  const options: DataOptions = {};
  const size = flags['image-size'];
  if (typeof size === 'string') {
    const match = /^(\d{1,4})x(\d{1,4})$/.exec(size);
    if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) throw new UsageError('BAD_VALUE', `--image-size must be HxW, e.g. 32x32; got ${JSON.stringify(size)}`);
    options.imageSize = [Number(match[1]), Number(match[2])];
  }
  if (typeof flags.augment === 'string') {
    let augmentation: Augmentation | undefined;
    try {
      augmentation = parseAugmentation(flags.augment, seed);
    } catch (error) {
      if (isDataError(error)) throw new UsageError('BAD_VALUE', `--augment: ${error.message}`);
      throw error;
    }
    if (augmentation) options.augmentation = augmentation;
  }
  if (typeof flags.normalize === 'string') options.normalize = parseNormalize(flags.normalize);
  if (flags.strict === true) options.strict = true;
  return options;
}

function parseNormalize(text: string): DataOptions['normalize'] {
  if (text === 'auto' || text === 'none') return text;
  const [mean, std, extra] = text.split('/').map((part) => part.split(',').map(Number));
  if (!mean || !std || extra || mean.length !== std.length || ![...mean, ...std].every(Number.isFinite) || !std.every((s) => s > 0)) {
    throw new UsageError('BAD_VALUE', `--normalize must be auto, none or MEAN,..,MEAN/STD,..,STD with one positive std per mean, e.g. 0.49,0.48,0.45/0.25,0.24,0.26; got ${JSON.stringify(text)}`);
  }
  return { mean, std };
}

/** The options a run's descriptor records (for `--resume`, `eval`, `predict`); augmentation only when `training`. */
export function dataOptionsFromDescriptor(descriptor: DatasetDescriptor, training: boolean): DataOptions {
  const options: DataOptions = { normalize: 'none' };
  const size = descriptor.imageSize;
  if (Array.isArray(size) && size.length === 2) options.imageSize = [Number(size[0]), Number(size[1])];
  const normalization = descriptor.normalization as { mean?: number[]; std?: number[] } | undefined;
  if (normalization?.mean && normalization.std) options.normalize = { mean: normalization.mean, std: normalization.std };
  const augment = descriptor.augment as Augmentation | undefined;
  if (training && augment) options.augmentation = { cropPadding: augment.cropPadding, flip: augment.flip, seed: augment.seed };
  if (Array.isArray(descriptor.classNames)) options.classNames = descriptor.classNames.map(String);
  return options;
}

/** The normalisation a run recorded, if any (for export and predict). */
export function normalizationOf(descriptor: DatasetDescriptor): Normalization | undefined {
  const n = dataOptionsFromDescriptor(descriptor, false).normalize;
  return typeof n === 'object' ? n : undefined;
}

/** Class names a run recorded, if any. */
export function classNamesOf(descriptor: DatasetDescriptor): string[] | undefined {
  return Array.isArray(descriptor.classNames) ? descriptor.classNames.map(String) : undefined;
}

/** `images:DIR`, `cifar10:DIR`, `cifar100:DIR`: loads both splits; `undefined` for any other `--data`. */
export async function loadImageData(spec: string, options: DataOptions): Promise<LoadedData | undefined> {
  const match = /^(images|cifar10|cifar100):(.*)$/.exec(spec);
  if (!match) return undefined;
  const [, kind, dir] = match as unknown as [string, 'images' | 'cifar10' | 'cifar100', string];
  if (!dir) throw new UsageError('BAD_VALUE', `--data ${kind}:DIR needs a directory, e.g. --data ${kind}:./my-${kind}`);
  let train: ImageDataset;
  let test: ImageDataset;
  if (kind === 'images') {
    [train, test] = await loadImageSplits(dir, options);
  } else {
    test = await loadCifar(dir, kind, 'test');
    train = options.testOnly ? test : await loadCifar(dir, kind, 'train');
  }
  const descriptor: DatasetDescriptor = { name: kind, dir, ...(options.imageSize && kind === 'images' && { imageSize: options.imageSize }) };
  return transformImageData({ descriptor, train, test }, options, 'auto');
}

async function loadImageSplits(dir: string, options: DataOptions): Promise<[ImageDataset, ImageDataset]> {
  const warn = (line: string): void => console.error(`swarmgrad: ${line}`);
  const common = { ...(options.imageSize && { imageSize: options.imageSize }), ...(options.strict && { strict: true }), onWarning: warn };
  const loaded = [];
  let train: ImageDataset | undefined;
  if (!options.testOnly) {
    const loadedTrain = await loadImageFolder(dir, { split: 'train', ...common, ...(options.classNames && { classNames: options.classNames }) });
    loaded.push(loadedTrain);
    train = loadedTrain.dataset;
  }
  const shape = train?.sampleShape;
  const loadedTest = await loadImageFolder(dir, {
    split: 'test',
    ...common,
    ...(shape && { imageSize: [shape[0]!, shape[1]!] as [number, number] }),
    ...((shape?.[2] ?? options.channels) !== undefined && { channels: (shape?.[2] ?? options.channels) as 1 | 3 }),
    ...((train?.classNames ?? options.classNames) && { classNames: train?.classNames ?? options.classNames }),
  });
  loaded.push(loadedTest);
  for (const { report } of loaded) {
    if (report.skipped.length) warn(`${report.directory}: skipped ${report.skipped.length} of ${report.files} images (corrupt); --strict stops instead`);
  }
  return [train ?? loadedTest.dataset, loadedTest.dataset];
}

/**
 * Applies normalisation and augmentation to loaded uint8 image data and records them (and the
 * class names) in the descriptor. `fallback` is the normalisation when none was asked for.
 */
export function transformImageData(data: { descriptor: DatasetDescriptor; train: Dataset; test: Dataset }, options: DataOptions, fallback: 'auto' | 'none'): LoadedData {
  const { train, test } = data;
  if (!isImageDataset(train) || !isImageDataset(test)) {
    if (options.augmentation || (options.normalize !== undefined && options.normalize !== 'none')) throw new UsageError('CONFLICTING_FLAGS', `--augment and --normalize need image data; ${data.descriptor.name} is not`);
    return data;
  }
  const channels = train.sampleShape[2] ?? 1;
  const wanted = options.normalize ?? fallback;
  let normalization: Normalization | undefined;
  try {
    normalization = wanted === 'auto' ? computeNormalization(train.images, channels) : wanted === 'none' ? undefined : checkNormalization(wanted, channels);
  } catch (error) {
    if (isDataError(error)) throw new UsageError('BAD_VALUE', `--normalize: ${error.message}`);
    throw error;
  }
  const descriptor: Record<string, JsonValue> = { ...data.descriptor };
  if (train.classNames) descriptor.classNames = [...train.classNames];
  if (normalization) descriptor.normalization = { mean: [...normalization.mean], std: [...normalization.std] };
  if (options.augmentation) descriptor.augment = { ...options.augmentation };
  if (!normalization && !options.augmentation) return { descriptor: descriptor as DatasetDescriptor, train, test };
  return {
    descriptor: descriptor as DatasetDescriptor,
    train: new TransformedImageDataset(train, { ...(normalization && { normalization }), ...(options.augmentation && { augmentation: options.augmentation }) }),
    test: new TransformedImageDataset(test, normalization ? { normalization } : {}),
  };
}

function isImageDataset(dataset: Dataset): dataset is ImageDataset {
  return (dataset as Partial<ImageDataset>).images instanceof Uint8Array && (dataset as Partial<ImageDataset>).labels instanceof Int32Array;
}

/**
 * Samples for display, with values in `[0, 1]` whatever normalisation the model sees: image
 * datasets give their 8-bit pixels / 255, others their `batch` values.
 */
export function displaySamples(dataset: Dataset, indices: ArrayLike<number>): Float32Array {
  const pixels = dataset.batchPixels?.(indices).pixels;
  return pixels ? Float32Array.from(pixels, (v) => v / 255) : dataset.batch(indices).x;
}
