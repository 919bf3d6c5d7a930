/**
 * The dataset contract shared by every swarmgrad package, and the in-memory image dataset.
 * Environment-free.
 */
import { DataError, DataErrorCode } from './errors.js';
import type { IdxTensor } from './idx.js';

/** One batch: inputs and integer class labels, sample-major. */
export interface Batch {
  /** Inputs, NHWC (`indices.length × sampleShape`), row-major; image data lies in `[0, 1]`. */
  readonly x: Float32Array;
  /** Class labels, one per sample, each in `[0, numClasses)`. */
  readonly y: Int32Array;
}

/**
 * What a training step tells {@link Dataset.batch} beyond the indices. Datasets that augment
 * use `epoch` (with their own seed and each sample's index) so that augmentation is a pure
 * function of (seed, epoch, sample index); others ignore it.
 */
export interface BatchContext {
  /** The 0-based epoch of the training step the batch is for. Absent for evaluation batches. */
  readonly epoch?: number;
}

/**
 * A batch as 8-bit pixels: what {@link Dataset.batchPixels} returns, so that samples can travel
 * as one byte per value. `x[i] = table[(i mod C)·256 + pixels[i]]` with
 * `table = normalizationTable(normalization, C)` gives exactly the bits of `batch(...).x`.
 */
export interface PixelBatch {
  /** Pixels, NHWC (`indices.length × sampleShape`), one byte per value. */
  readonly pixels: Uint8Array;
  /** Class labels, one per sample. */
  readonly y: Int32Array;
  /** The per-channel normalisation that turns pixels into `batch(...).x`; absent: `v / 255`. */
  readonly normalization?: { readonly mean: readonly number[]; readonly std: readonly number[] };
}

/**
 * A classification dataset: a fixed, indexable list of samples. Implementations are immutable
 * and pure, so that `batch(indices)` returns the same bits for the same indices on every
 * machine (the determinism contract relies on it).
 */
export interface Dataset {
  /** A short human-readable name, e.g. `mnist/train`. */
  readonly name: string;
  /** Number of samples; valid indices are `0 … length - 1`. */
  readonly length: number;
  /** Shape of one sample, height × width × channels (HWC), e.g. `[28, 28, 1]`. Do not mutate. */
  readonly sampleShape: number[];
  /** Number of classes; every label is in `[0, numClasses)`. */
  readonly numClasses: number;
  /** Optional human-readable class names, `numClasses` of them. */
  readonly classNames?: readonly string[];
  /**
   * Gather samples into one batch, in the order given (repeats allowed).
   * `context.epoch` is given for training batches; augmenting datasets use it, others ignore it.
   * @throws {@link DataError} `BAD_INDEX` if an index is not an integer in `[0, length)`
   */
  batch(indices: ArrayLike<number>, context?: BatchContext): Batch;
  /**
   * Optional: the same batch as 8-bit pixels plus the normalisation that makes them `batch(...).x`
   * bit for bit. Image datasets offer it so that samples travel as one byte per value.
   */
  batchPixels?(indices: ArrayLike<number>, context?: BatchContext): PixelBatch;
}

/** Options of {@link ImageDataset}. */
export interface ImageDatasetOptions {
  /** Name for messages and dashboards. Default `images`. */
  readonly name?: string;
  /** Pixels, `length × height × width × channels` bytes, NHWC row-major. Kept by reference: do not mutate. */
  readonly images: Uint8Array;
  /** One label per image; integers in `[0, numClasses)`. Copied. */
  readonly labels: ArrayLike<number>;
  /** Image height in pixels. */
  readonly height: number;
  /** Image width in pixels. */
  readonly width: number;
  /** Channels per pixel. Default 1. */
  readonly channels?: number;
  /** Number of classes. Default: the largest label + 1. */
  readonly numClasses?: number;
  /** Class names, exactly `numClasses` of them. */
  readonly classNames?: readonly string[];
}

/** `PIXEL_SCALE[v]` is `Math.fround(v / 255)`: the exact float32 every image pixel becomes. */
const PIXEL_SCALE = Float32Array.from({ length: 256 }, (_, v) => v / 255);

function positiveInteger(value: unknown, what: string, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new DataError(DataErrorCode.BAD_OPTIONS, `${where}: ${what} is ${String(value)}, expected a positive integer`);
  }
  return value;
}

/**
 * Check `indices` against a dataset length.
 * @throws {@link DataError} `BAD_INDEX` naming the first bad index and its position
 */
export function checkIndices(indices: ArrayLike<number>, length: number, name: string): void {
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i];
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= length) {
      throw new DataError(
        DataErrorCode.BAD_INDEX,
        `${name}: index ${String(index)} at position ${i} is out of range, expected an integer in [0, ${length})`,
      );
    }
  }
}

/**
 * An in-memory image classification dataset over uint8 pixels. `batch` returns pixels scaled
 * to `[0, 1]` as `Math.fround(v / 255)`.
 *
 * @example
 * ```ts
 * const ds = new ImageDataset({ images, labels, height: 28, width: 28 });
 * const { x, y } = ds.batch([0, 1, 2]); // x: 3·28·28 floats, y: 3 labels
 * ```
 */
export class ImageDataset implements Dataset {
  /** @inheritDoc */
  readonly name: string;
  /** @inheritDoc */
  readonly length: number;
  /** @inheritDoc */
  readonly sampleShape: number[];
  /** @inheritDoc */
  readonly numClasses: number;
  /** @inheritDoc */
  readonly classNames?: readonly string[];
  /** The pixels, NHWC uint8, shared with the caller: read-only by convention. */
  readonly images: Uint8Array;
  /** The labels as `Int32Array`, owned by the dataset: read-only by convention. */
  readonly labels: Int32Array;
  /** Values per sample: `height × width × channels`. */
  readonly sampleSize: number;

  /**
   * @throws {@link DataError} `BAD_OPTIONS` (sizes, numClasses, classNames), `LENGTH_MISMATCH`
   *   (pixel count vs label count), `BAD_LABEL` (a label outside `[0, numClasses)`)
   */
  constructor(options: ImageDatasetOptions) {
    const name = options.name ?? 'images';
    const height = positiveInteger(options.height, 'height', name);
    const width = positiveInteger(options.width, 'width', name);
    const channels = positiveInteger(options.channels ?? 1, 'channels', name);
    const sampleSize = height * width * channels;
    const length = options.labels.length;
    if (options.images.length !== length * sampleSize) {
      throw new DataError(
        DataErrorCode.LENGTH_MISMATCH,
        `${name}: ${length} labels need ${length}×${height}×${width}×${channels} = ${length * sampleSize} pixel bytes, images have ${options.images.length}`,
      );
    }
    const labels = new Int32Array(length);
    let maxLabel = -1;
    for (let i = 0; i < length; i++) {
      const label = options.labels[i];
      if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label > 0x7fffffff) {
        throw new DataError(DataErrorCode.BAD_LABEL, `${name}: label ${String(label)} of sample ${i} is not a non-negative integer`);
      }
      labels[i] = label;
      if (label > maxLabel) maxLabel = label;
    }
    const numClasses = options.numClasses ?? Math.max(1, maxLabel + 1);
    positiveInteger(numClasses, 'numClasses', name);
    if (maxLabel >= numClasses) {
      const at = labels.indexOf(maxLabel);
      throw new DataError(
        DataErrorCode.BAD_LABEL,
        `${name}: label ${maxLabel} of sample ${at} is out of range, expected labels in [0, ${numClasses}) for numClasses ${numClasses}`,
      );
    }
    if (options.classNames !== undefined && options.classNames.length !== numClasses) {
      throw new DataError(
        DataErrorCode.BAD_OPTIONS,
        `${name}: ${options.classNames.length} classNames given, expected numClasses = ${numClasses}`,
      );
    }
    this.name = name;
    this.length = length;
    this.sampleShape = Object.freeze([height, width, channels]) as number[];
    this.numClasses = numClasses;
    if (options.classNames !== undefined) this.classNames = Object.freeze([...options.classNames]);
    this.images = options.images;
    this.labels = labels;
    this.sampleSize = sampleSize;
  }

  /** @inheritDoc */
  batch(indices: ArrayLike<number>): Batch {
    checkIndices(indices, this.length, this.name);
    const size = this.sampleSize;
    const n = indices.length;
    const x = new Float32Array(n * size);
    const y = new Int32Array(n);
    const images = this.images;
    for (let i = 0; i < n; i++) {
      const index = indices[i] as number;
      const from = index * size;
      const to = i * size;
      for (let j = 0; j < size; j++) x[to + j] = PIXEL_SCALE[images[from + j] as number] as number;
      y[i] = this.labels[index] as number;
    }
    return { x, y };
  }

  /** @inheritDoc */
  batchPixels(indices: ArrayLike<number>): PixelBatch {
    checkIndices(indices, this.length, this.name);
    const size = this.sampleSize;
    const pixels = new Uint8Array(indices.length * size);
    const y = new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i] as number;
      pixels.set(this.images.subarray(index * size, (index + 1) * size), i * size);
      y[i] = this.labels[index] as number;
    }
    return { pixels, y };
  }
}

/** Options of {@link imageDatasetFromIdx}. */
export interface ImageDatasetFromIdxOptions {
  /** Name for messages and dashboards. */
  readonly name?: string;
  /** Number of classes. Default: the largest label + 1. */
  readonly numClasses?: number;
  /** Class names, exactly `numClasses` of them. */
  readonly classNames?: readonly string[];
  /**
   * Swap each image's rows and columns. EMNIST's IDX files store images transposed; pass
   * `true` to see them upright (learning works either way). Default `false`.
   */
  readonly transpose?: boolean;
}

const INTEGER_DTYPES = new Set(['uint8', 'int8', 'int16', 'int32']);

/**
 * Build an {@link ImageDataset} from decoded IDX tensors: images `uint8` of shape `[N, H, W]`
 * (one channel) or `[N, H, W, C]`, labels of any integer dtype and shape `[N]`.
 *
 * @throws {@link DataError} `BAD_DTYPE`, `BAD_DIMENSIONS`, `LENGTH_MISMATCH`, `BAD_LABEL`, `BAD_OPTIONS`
 */
export function imageDatasetFromIdx(images: IdxTensor, labels: IdxTensor, options: ImageDatasetFromIdxOptions = {}): ImageDataset {
  const name = options.name ?? 'images';
  if (images.dtype !== 'uint8') {
    throw new DataError(DataErrorCode.BAD_DTYPE, `${name}: images are ${images.dtype}, expected uint8 pixels`);
  }
  if (images.shape.length !== 3 && images.shape.length !== 4) {
    throw new DataError(
      DataErrorCode.BAD_DIMENSIONS,
      `${name}: images have shape [${images.shape.join(', ')}], expected [N, H, W] or [N, H, W, C]`,
    );
  }
  if (!INTEGER_DTYPES.has(labels.dtype)) {
    throw new DataError(DataErrorCode.BAD_DTYPE, `${name}: labels are ${labels.dtype}, expected an integer dtype`);
  }
  if (labels.shape.length !== 1) {
    throw new DataError(DataErrorCode.BAD_DIMENSIONS, `${name}: labels have shape [${labels.shape.join(', ')}], expected [N]`);
  }
  const [count = 0, height = 0, width = 0, channels = 1] = images.shape;
  const labelCount = labels.shape[0] ?? 0;
  if (count !== labelCount) {
    throw new DataError(DataErrorCode.LENGTH_MISMATCH, `${name}: ${count} images but ${labelCount} labels, expected one label per image`);
  }
  if (height === 0 || width === 0 || channels === 0) {
    throw new DataError(DataErrorCode.BAD_DIMENSIONS, `${name}: images have shape [${images.shape.join(', ')}], expected non-zero height, width and channels`);
  }
  let pixels = images.data as Uint8Array;
  if (options.transpose === true) pixels = transposeImages(pixels, count, height, width, channels);
  return new ImageDataset({
    name,
    images: pixels,
    labels: labels.data,
    height: options.transpose === true ? width : height,
    width: options.transpose === true ? height : width,
    channels,
    ...(options.numClasses !== undefined && { numClasses: options.numClasses }),
    ...(options.classNames !== undefined && { classNames: options.classNames }),
  });
}

function transposeImages(pixels: Uint8Array, count: number, height: number, width: number, channels: number): Uint8Array {
  const out = new Uint8Array(pixels.length);
  const size = height * width * channels;
  for (let n = 0; n < count; n++) {
    const base = n * size;
    for (let r = 0; r < height; r++) {
      for (let c = 0; c < width; c++) {
        for (let k = 0; k < channels; k++) {
          out[base + (c * height + r) * channels + k] = pixels[base + (r * width + c) * channels + k] as number;
        }
      }
    }
  }
  return out;
}

/**
 * A view of some samples of another dataset: sample `i` of the subset is sample `indices[i]`
 * of `dataset`. Useful to train on the first 1,000 MNIST images, or to hold out a split.
 *
 * @throws {@link DataError} `BAD_INDEX` if an index is outside `dataset`
 * @example
 * ```ts
 * const small = subsetDataset(mnist, Uint32Array.from({ length: 1000 }, (_, i) => i));
 * ```
 */
export function subsetDataset(dataset: Dataset, indices: ArrayLike<number>, name = `${dataset.name}[subset]`): Dataset {
  checkIndices(indices, dataset.length, dataset.name);
  const map = Uint32Array.from(indices);
  const parentIndices = (batchIndices: ArrayLike<number>): Uint32Array => {
    checkIndices(batchIndices, map.length, name);
    const parent = new Uint32Array(batchIndices.length);
    for (let i = 0; i < batchIndices.length; i++) parent[i] = map[batchIndices[i] as number] as number;
    return parent;
  };
  const pixelSource = dataset.batchPixels?.bind(dataset);
  const subset: Dataset = {
    name,
    length: map.length,
    sampleShape: dataset.sampleShape,
    numClasses: dataset.numClasses,
    batch(batchIndices: ArrayLike<number>, context?: BatchContext): Batch {
      const parent = parentIndices(batchIndices);
      return context === undefined ? dataset.batch(parent) : dataset.batch(parent, context);
    },
    ...(pixelSource && {
      batchPixels: (batchIndices: ArrayLike<number>, context?: BatchContext): PixelBatch => pixelSource(parentIndices(batchIndices), context),
    }),
  };
  return dataset.classNames === undefined ? subset : { ...subset, classNames: dataset.classNames };
}
