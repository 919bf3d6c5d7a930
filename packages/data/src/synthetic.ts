/**
 * Small synthetic datasets for fast tests: generated on demand from a seed, identical on every
 * machine (integer PRNG, only `+ - * /` on doubles, no `Math.sin`/`Math.log` whose last bits
 * may differ between engines), and learnable in a few hundred steps by a tiny CNN.
 */
import { DataError, DataErrorCode } from './errors.js';
import { checkIndices, type Batch, type Dataset } from './dataset.js';
import { Prng, mix32 } from '@swarmgrad/nn-core';

/** Key domain of synthetic classification data (ASCII "SYNT"), so it never shares streams with sampling. */
const IMAGE_DOMAIN = 0x53594e54;
/** Key domain of synthetic regression data (ASCII "SYNR"). */
const REGRESSION_DOMAIN = 0x53594e52;
/** Second key of the stream that draws the fixed parameters (templates, weights); samples use their index. */
const PARAMETER_STREAM = 0xffffffff;
/** Template cells per side: class templates are coarse blocks, so they survive pooling. */
const TEMPLATE_GRID = 4;

/** Options of {@link syntheticDataset}. Every field has a default. */
export interface SyntheticDatasetOptions {
  /** Seed, integer in `[0, 2^32)`. Default 0. */
  readonly seed?: number;
  /** Number of samples, integer in `[1, 2^32 - 1)`. Default 1024. */
  readonly length?: number;
  /** Image height. Default 8. */
  readonly height?: number;
  /** Image width. Default 8. */
  readonly width?: number;
  /** Channels. Default 1. */
  readonly channels?: number;
  /** Number of classes, ≥ 2. Default 4. */
  readonly numClasses?: number;
  /**
   * Noise amplitude in `[0, 1]`: each pixel gets `noise · (u1 + u2 - 1)` with `u1, u2` uniform
   * in `[0, 1)` (triangular noise in `(-noise, noise)`). Default 0.3.
   */
  readonly noise?: number;
  /** Name. Default `synthetic`. */
  readonly name?: string;
}

const IMAGE_DEFAULTS = {
  seed: 0,
  length: 1024,
  height: 8,
  width: 8,
  channels: 1,
  numClasses: 4,
  noise: 0.3,
  name: 'synthetic',
} as const;

function integerOption(value: number, what: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new DataError(DataErrorCode.BAD_OPTIONS, `synthetic: ${what} is ${String(value)}, expected an integer in [${min}, ${max}]`);
  }
  return value;
}

function noiseOption(value: number): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new DataError(DataErrorCode.BAD_OPTIONS, `synthetic: noise is ${String(value)}, expected a number in [0, 1]`);
  }
  return value;
}

/** A seeded synthetic image-classification dataset; see {@link syntheticDataset}. */
export class SyntheticImageDataset implements Dataset {
  /** @inheritDoc */
  readonly name: string;
  /** @inheritDoc */
  readonly length: number;
  /** @inheritDoc */
  readonly sampleShape: number[];
  /** @inheritDoc */
  readonly numClasses: number;
  /** The seed the dataset was made from. */
  readonly seed: number;
  /** The noise amplitude. */
  readonly noise: number;
  /** Class templates, `numClasses × height × width × channels` values in `[0, 1)`; read-only by convention. */
  readonly templates: Float64Array;
  private readonly key: number;
  private readonly sampleSize: number;

  /** @throws {@link DataError} `BAD_OPTIONS` */
  constructor(options: SyntheticDatasetOptions = {}) {
    const o = { ...IMAGE_DEFAULTS, ...options };
    this.seed = integerOption(o.seed, 'seed', 0, 0xffffffff);
    this.length = integerOption(o.length, 'length', 1, PARAMETER_STREAM - 1);
    const height = integerOption(o.height, 'height', 1, 4096);
    const width = integerOption(o.width, 'width', 1, 4096);
    const channels = integerOption(o.channels, 'channels', 1, 64);
    this.numClasses = integerOption(o.numClasses, 'numClasses', 2, 65536);
    this.noise = noiseOption(o.noise);
    this.name = o.name;
    this.sampleShape = Object.freeze([height, width, channels]) as number[];
    this.sampleSize = height * width * channels;
    this.key = mix32(this.seed ^ IMAGE_DOMAIN);

    // Template of class c: a gridH × gridW × channels array of uniform cells (class-major,
    // then cell row, cell column, channel), upsampled by nearest neighbour to H × W.
    const gridH = Math.min(TEMPLATE_GRID, height);
    const gridW = Math.min(TEMPLATE_GRID, width);
    const rng = Prng.fromKeys(this.key, PARAMETER_STREAM);
    this.templates = new Float64Array(this.numClasses * this.sampleSize);
    const cells = new Float64Array(gridH * gridW * channels);
    for (let c = 0; c < this.numClasses; c++) {
      for (let i = 0; i < cells.length; i++) cells[i] = rng.nextFloat();
      const base = c * this.sampleSize;
      for (let y = 0; y < height; y++) {
        const gy = Math.floor((y * gridH) / height);
        for (let x = 0; x < width; x++) {
          const gx = Math.floor((x * gridW) / width);
          for (let k = 0; k < channels; k++) {
            this.templates[base + (y * width + x) * channels + k] = cells[(gy * gridW + gx) * channels + k] as number;
          }
        }
      }
    }
  }

  /** The label of sample `index`: `index mod numClasses` (classes are exactly balanced). */
  label(index: number): number {
    checkIndices([index], this.length, this.name);
    return index % this.numClasses;
  }

  /** @inheritDoc */
  batch(indices: ArrayLike<number>): Batch {
    checkIndices(indices, this.length, this.name);
    const size = this.sampleSize;
    const x = new Float32Array(indices.length * size);
    const y = new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i] as number;
      const label = index % this.numClasses;
      y[i] = label;
      // Sample `index` has its own stream, so any subset is generated without the others.
      const rng = Prng.fromKeys(this.key, index);
      const template = label * size;
      for (let j = 0; j < size; j++) {
        const u = rng.nextFloat() + rng.nextFloat() - 1;
        const v = (this.templates[template + j] as number) + this.noise * u;
        x[i * size + j] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
    return { x, y };
  }
}

/**
 * A seeded synthetic image-classification dataset. Each class has a fixed random template
 * (a coarse 4 × 4 grid of uniform grey levels per channel, upsampled to the image size); sample
 * `i` has label `i mod numClasses` and pixels `clamp(template + noise · (u1 + u2 - 1), 0, 1)`
 * with its own PRNG stream. Samples are generated on demand (no memory per sample), and are
 * bitwise identical for the same options on every machine.
 *
 * @throws {@link DataError} `BAD_OPTIONS`
 * @example
 * ```ts
 * const ds = syntheticDataset({ seed: 1, length: 2048, height: 12, width: 12, numClasses: 10 });
 * const { x, y } = ds.batch([0, 1, 2, 3]);
 * ```
 */
export function syntheticDataset(options: SyntheticDatasetOptions = {}): SyntheticImageDataset {
  return new SyntheticImageDataset(options);
}

/** One regression batch: inputs and float targets, sample-major. */
export interface RegressionBatch {
  /** Inputs, `n × inputSize`, each in `[0, 1)`. */
  readonly x: Float32Array;
  /** Targets, `n × targetSize`. */
  readonly y: Float32Array;
}

/** A regression dataset: like {@link Dataset} but with float targets. */
export interface RegressionDataset {
  /** Name. */
  readonly name: string;
  /** Number of samples. */
  readonly length: number;
  /** Shape of one input, `[inputSize]`. */
  readonly sampleShape: number[];
  /** Values per target. */
  readonly targetSize: number;
  /** Gather samples. @throws {@link DataError} `BAD_INDEX` */
  batch(indices: ArrayLike<number>): RegressionBatch;
}

/** Options of {@link syntheticRegression}. Every field has a default. */
export interface SyntheticRegressionOptions {
  /** Seed, integer in `[0, 2^32)`. Default 0. */
  readonly seed?: number;
  /** Number of samples. Default 1024. */
  readonly length?: number;
  /** Inputs per sample. Default 8. */
  readonly inputSize?: number;
  /** Targets per sample. Default 1. */
  readonly targetSize?: number;
  /** Noise amplitude in `[0, 1]` added to each target as `noise · (u1 + u2 - 1)`. Default 0.01. */
  readonly noise?: number;
  /** Name. Default `synthetic-regression`. */
  readonly name?: string;
}

const REGRESSION_DEFAULTS = {
  seed: 0,
  length: 1024,
  inputSize: 8,
  targetSize: 1,
  noise: 0.01,
  name: 'synthetic-regression',
} as const;

/**
 * A seeded linear-regression dataset: `y = b + W·x + noise`, with `W` (`targetSize × inputSize`,
 * row-major) and `b` uniform in `[-1, 1)`, inputs uniform in `[0, 1)`. Also exposes `weights`
 * and `bias` so tests can compare a fit against the truth.
 *
 * @throws {@link DataError} `BAD_OPTIONS`
 * @example
 * ```ts
 * const ds = syntheticRegression({ seed: 3, inputSize: 4 });
 * const { x, y } = ds.batch([0, 1]); // x: 2·4 floats, y: 2 floats
 * ```
 */
export function syntheticRegression(options: SyntheticRegressionOptions = {}): RegressionDataset & {
  readonly weights: Float64Array;
  readonly bias: Float64Array;
} {
  const o = { ...REGRESSION_DEFAULTS, ...options };
  const seed = integerOption(o.seed, 'seed', 0, 0xffffffff);
  const length = integerOption(o.length, 'length', 1, PARAMETER_STREAM - 1);
  const inputSize = integerOption(o.inputSize, 'inputSize', 1, 1 << 20);
  const targetSize = integerOption(o.targetSize, 'targetSize', 1, 1 << 16);
  const noise = noiseOption(o.noise);
  const name = o.name;
  const key = mix32(seed ^ REGRESSION_DOMAIN);
  const parameters = Prng.fromKeys(key, PARAMETER_STREAM);
  const weights = new Float64Array(targetSize * inputSize);
  for (let i = 0; i < weights.length; i++) weights[i] = 2 * parameters.nextFloat() - 1;
  const bias = new Float64Array(targetSize);
  for (let i = 0; i < bias.length; i++) bias[i] = 2 * parameters.nextFloat() - 1;
  const sampleShape = Object.freeze([inputSize]) as number[];
  return {
    name,
    length,
    sampleShape,
    targetSize,
    weights,
    bias,
    batch(indices: ArrayLike<number>): RegressionBatch {
      checkIndices(indices, length, name);
      const x = new Float32Array(indices.length * inputSize);
      const y = new Float32Array(indices.length * targetSize);
      const input = new Float64Array(inputSize);
      for (let n = 0; n < indices.length; n++) {
        const rng = Prng.fromKeys(key, indices[n] as number);
        for (let i = 0; i < inputSize; i++) {
          // 24-bit uniforms are exact float32 values in [0, 1), so targets are exact functions of the stored inputs.
          input[i] = (rng.nextUint32() >>> 8) / 16777216;
          x[n * inputSize + i] = input[i] as number;
        }
        for (let t = 0; t < targetSize; t++) {
          let sum = bias[t] as number;
          for (let i = 0; i < inputSize; i++) sum += (weights[t * inputSize + i] as number) * (input[i] as number);
          y[n * targetSize + t] = sum + noise * (rng.nextFloat() + rng.nextFloat() - 1);
        }
      }
      return { x, y };
    },
  };
}
