/**
 * Per-channel normalisation and training-time augmentation over uint8 image datasets, as a
 * dataset wrapper ({@link TransformedImageDataset}). Environment-free.
 *
 * Augmentation is a pure function of (seed, epoch, sample index): the same sample in the same
 * epoch is cropped and flipped the same way on every machine, for any worker count and after
 * a resume, so the determinism contract keeps holding.
 */
import { DataError, DataErrorCode } from './errors.js';
import { checkIndices, type Batch, type BatchContext, type Dataset, type ImageDataset, type PixelBatch } from './dataset.js';
import { mix32 } from '@swarmgrad/nn-core';

/** Per-channel normalisation: `x = (v / 255 - mean[c]) / std[c]`. */
export interface Normalization {
  /** One mean per channel, on the `[0, 1]` pixel scale. */
  readonly mean: readonly number[];
  /** One standard deviation per channel (> 0), on the `[0, 1]` pixel scale. */
  readonly std: readonly number[];
}

/** Training-time augmentation. */
export interface Augmentation {
  /** Random crop with this much zero padding on every side (0: no crop). */
  readonly cropPadding: number;
  /** Random horizontal flip with probability 1/2. */
  readonly flip: boolean;
  /** Seed (uint32); with the epoch and the sample index it fixes every crop and flip. */
  readonly seed: number;
}

/** Default crop padding of `--augment crop`: 4 pixels, as in the usual CIFAR recipe. */
export const DEFAULT_CROP_PADDING = 4;

/**
 * Parses an augmentation list such as `crop,flip`, `crop:2` or `none`.
 * @throws {@link DataError} `BAD_OPTIONS` on an unknown item
 */
export function parseAugmentation(text: string, seed: number): Augmentation | undefined {
  let cropPadding = 0;
  let flip = false;
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const crop = /^crop(?::(\d{1,3}))?$/.exec(item);
    if (crop) cropPadding = Number(crop[1] ?? DEFAULT_CROP_PADDING);
    else if (item === 'flip') flip = true;
    else if (item !== 'none') {
      throw new DataError(DataErrorCode.BAD_OPTIONS, `augmentation ${JSON.stringify(item)} is unknown, expected crop[:PADDING], flip or none`);
    }
  }
  return cropPadding === 0 && !flip ? undefined : { cropPadding, flip, seed: seed >>> 0 };
}

/**
 * Mean and standard deviation of every channel over all pixels of `images` (NHWC uint8), on
 * the `[0, 1]` scale, computed in float64. A channel with zero spread gets std 1.
 */
export function computeNormalization(images: Uint8Array, channels: number): Normalization {
  const count = new Float64Array(256 * channels);
  for (let i = 0; i < images.length; i++) count[(i % channels) * 256 + (images[i] as number)]!++;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    for (let v = 0; v < 256; v++) {
      const k = count[c * 256 + v] as number;
      n += k;
      sum += k * (v / 255);
      sumSq += k * (v / 255) ** 2;
    }
    const m = n > 0 ? sum / n : 0;
    const s = n > 0 ? Math.sqrt(Math.max(0, sumSq / n - m * m)) : 1;
    mean.push(round6(m));
    std.push(s > 1e-6 ? round6(s) : 1);
  }
  return { mean, std };
}

// Six significant decimals keep run configs readable; the value used is exactly what is stored.
function round6(value: number): number {
  return Number(value.toFixed(6));
}

/**
 * Checks a normalisation against a channel count.
 * @throws {@link DataError} `BAD_OPTIONS` on a wrong count, a non-finite mean or a std ≤ 0
 */
export function checkNormalization(normalization: Normalization, channels: number): Normalization {
  const { mean, std } = normalization;
  if (!Array.isArray(mean) || !Array.isArray(std) || mean.length !== channels || std.length !== channels) {
    throw new DataError(DataErrorCode.BAD_OPTIONS, `normalisation has ${String(mean?.length)} means and ${String(std?.length)} stds, expected ${channels} of each (one per channel)`);
  }
  if (!mean.every((m) => typeof m === 'number' && Number.isFinite(m)) || !std.every((s) => typeof s === 'number' && Number.isFinite(s) && s > 0)) {
    throw new DataError(DataErrorCode.BAD_OPTIONS, `normalisation mean [${mean.join(', ')}] std [${std.join(', ')}]: means must be finite and stds positive`);
  }
  return { mean: [...mean], std: [...std] };
}

/** The float32 lookup table `table[c * 256 + v] = fround((fround(v / 255) - mean[c]) / std[c])`. */
export function normalizationTable(normalization: Normalization | undefined, channels: number): Float32Array {
  const table = new Float32Array(256 * channels);
  for (let c = 0; c < channels; c++) {
    const mean = normalization?.mean[c] ?? 0;
    const std = normalization?.std[c] ?? 1;
    for (let v = 0; v < 256; v++) table[c * 256 + v] = (Math.fround(v / 255) - mean) / std;
  }
  return table;
}

/** How sample `index` of epoch `epoch` is augmented: its crop offset and flip. */
export interface SampleAugmentation {
  /** Row offset into the padded image, in `[0, 2·padding]`. */
  readonly dy: number;
  /** Column offset into the padded image, in `[0, 2·padding]`. */
  readonly dx: number;
  /** Whether the (cropped) image is mirrored left–right. */
  readonly flip: boolean;
}

/** The crop offset and flip of one sample: a pure function of (seed, epoch, index). */
export function sampleAugmentation(augmentation: Augmentation, epoch: number, index: number): SampleAugmentation {
  const h = mix32(mix32(mix32(augmentation.seed ^ 0x61756721) ^ epoch) + Math.imul(index, 0x9e3779b9));
  const span = 2 * augmentation.cropPadding + 1;
  const dy = augmentation.cropPadding > 0 ? (h & 0xffff) % span : augmentation.cropPadding;
  const dx = augmentation.cropPadding > 0 ? (mix32(h) & 0xffff) % span : augmentation.cropPadding;
  return { dy, dx, flip: augmentation.flip && (h >>> 31) === 1 };
}

/** Options of {@link TransformedImageDataset}. */
export interface TransformOptions {
  /** Per-channel normalisation; absent: pixels are `v / 255`. */
  readonly normalization?: Normalization;
  /** Augmentation, applied only to batches with a `context.epoch` (training batches). */
  readonly augmentation?: Augmentation;
  /** Dataset name. Default: the source's. */
  readonly name?: string;
}

/**
 * An {@link ImageDataset} seen through a normalisation and, for training batches, an
 * augmentation. Without either it returns the same bits as the source.
 */
export class TransformedImageDataset implements Dataset {
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
  /** The source dataset (uint8 pixels). */
  readonly source: ImageDataset;
  /** The normalisation applied, if any. */
  readonly normalization?: Normalization;
  /** The augmentation applied to training batches, if any. */
  readonly augmentation?: Augmentation;
  private readonly table: Float32Array;

  /** @throws {@link DataError} `BAD_OPTIONS` on a bad normalisation or crop padding */
  constructor(source: ImageDataset, options: TransformOptions = {}) {
    const channels = source.sampleShape[2] as number;
    this.name = options.name ?? source.name;
    this.length = source.length;
    this.sampleShape = source.sampleShape;
    this.numClasses = source.numClasses;
    if (source.classNames !== undefined) this.classNames = source.classNames;
    this.source = source;
    if (options.normalization !== undefined) this.normalization = checkNormalization(options.normalization, channels);
    if (options.augmentation !== undefined) {
      const pad = options.augmentation.cropPadding;
      if (!Number.isInteger(pad) || pad < 0 || pad > 255) {
        throw new DataError(DataErrorCode.BAD_OPTIONS, `crop padding ${pad} must be an integer in [0, 255]`);
      }
      this.augmentation = options.augmentation;
    }
    this.table = normalizationTable(this.normalization, channels);
  }

  /** @inheritDoc */
  batch(indices: ArrayLike<number>, context?: BatchContext): Batch {
    checkIndices(indices, this.length, this.name);
    const [height = 0, width = 0, channels = 0] = this.sampleShape;
    const size = height * width * channels;
    const x = new Float32Array(indices.length * size);
    const y = new Int32Array(indices.length);
    const epoch = context?.epoch;
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i] as number;
      const pixels = this.source.images.subarray(index * size, (index + 1) * size);
      const out = x.subarray(i * size, (i + 1) * size);
      if (this.augmentation !== undefined && epoch !== undefined) {
        const how = sampleAugmentation(this.augmentation, epoch, index);
        writeAugmented(pixels, out, height, width, channels, this.augmentation.cropPadding, how, this.table);
      } else {
        for (let j = 0; j < size; j++) out[j] = this.table[(j % channels) * 256 + (pixels[j] as number)] as number;
      }
      y[i] = this.source.labels[index] as number;
    }
    return { x, y };
  }

  /** @inheritDoc */
  batchPixels(indices: ArrayLike<number>, context?: BatchContext): PixelBatch {
    checkIndices(indices, this.length, this.name);
    const [height = 0, width = 0, channels = 0] = this.sampleShape;
    const size = height * width * channels;
    const pixels = new Uint8Array(indices.length * size);
    const y = new Int32Array(indices.length);
    const epoch = context?.epoch;
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i] as number;
      const source = this.source.images.subarray(index * size, (index + 1) * size);
      if (this.augmentation !== undefined && epoch !== undefined) {
        const how = sampleAugmentation(this.augmentation, epoch, index);
        writeAugmentedPixels(source, pixels.subarray(i * size, (i + 1) * size), height, width, channels, this.augmentation.cropPadding, how);
      } else {
        pixels.set(source, i * size);
      }
      y[i] = this.source.labels[index] as number;
    }
    return this.normalization === undefined ? { pixels, y } : { pixels, y, normalization: this.normalization };
  }
}

/** {@link writeAugmented} on bytes: the augmented sample's pixels (padding is 0), before normalisation. */
export function writeAugmentedPixels(
  pixels: Uint8Array,
  out: Uint8Array,
  height: number,
  width: number,
  channels: number,
  padding: number,
  how: SampleAugmentation,
): void {
  for (let r = 0; r < height; r++) {
    const sr = r + how.dy - padding;
    for (let c = 0; c < width; c++) {
      const sc = (how.flip ? width - 1 - c : c) + how.dx - padding;
      const inside = sr >= 0 && sr < height && sc >= 0 && sc < width;
      const to = (r * width + c) * channels;
      const from = (sr * width + sc) * channels;
      for (let k = 0; k < channels; k++) out[to + k] = inside ? (pixels[from + k] as number) : 0;
    }
  }
}

/** `x[i] = table[(i mod channels)·256 + pixels[i]]`: a {@link PixelBatch}'s pixels as the float32 samples `batch` returns. */
export function pixelsToSamples(pixels: Uint8Array, channels: number, normalization?: Normalization): Float32Array {
  const table = normalizationTable(normalization, channels);
  const x = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) x[i] = table[(i % channels) * 256 + (pixels[i] as number)] as number;
  return x;
}

/**
 * Writes one augmented sample: the image padded by `padding` zero pixels (value 0 before
 * normalisation) on every side, cropped back to `height × width` at `(dy, dx)`, then mirrored
 * when `flip`.
 */
export function writeAugmented(
  pixels: Uint8Array,
  out: Float32Array,
  height: number,
  width: number,
  channels: number,
  padding: number,
  how: SampleAugmentation,
  table: Float32Array,
): void {
  for (let r = 0; r < height; r++) {
    const sr = r + how.dy - padding;
    for (let c = 0; c < width; c++) {
      const sc = (how.flip ? width - 1 - c : c) + how.dx - padding;
      const inside = sr >= 0 && sr < height && sc >= 0 && sc < width;
      const to = (r * width + c) * channels;
      const from = (sr * width + sc) * channels;
      for (let k = 0; k < channels; k++) out[to + k] = table[k * 256 + (inside ? (pixels[from + k] as number) : 0)] as number;
    }
  }
}
