/**
 * Node-only: load an image/label IDX pair from a directory (MNIST, Fashion-MNIST, KMNIST,
 * EMNIST, gzipped or not). Exported from `@swarmgrad/data/node`.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError, DataErrorCode } from './errors.js';
import { imageDatasetFromIdx, type ImageDataset } from './dataset.js';
import { readIdxFile } from './idx-file.js';

/** Which half of a dataset to load. */
export type Split = 'train' | 'test';

/** Options of {@link loadIdxDataset}. */
export interface LoadIdxDatasetOptions {
  /** `train` (files `…train-images…`) or `test` (files `…t10k-images…` or `…test-images…`). */
  readonly split: Split;
  /**
   * File-name prefix that selects one family when a directory holds several, e.g.
   * `emnist-balanced-` (for `emnist-balanced-train-images-idx3-ubyte.gz`). Default: the only
   * family present; `''` means the plain MNIST names.
   */
  readonly prefix?: string;
  /** Number of classes. Default: the largest label + 1. */
  readonly numClasses?: number;
  /** Class names, exactly `numClasses` of them. */
  readonly classNames?: readonly string[];
  /** Dataset name. Default `<prefix or directory name>/<split>`. */
  readonly name?: string;
  /** Swap rows and columns of each image (EMNIST stores them transposed). Default `false`. */
  readonly transpose?: boolean;
}

/** The image and label files {@link findIdxFiles} chose. */
export interface IdxFilePair {
  /** Path of the images file. */
  readonly images: string;
  /** Path of the labels file. */
  readonly labels: string;
  /** The family prefix, e.g. `''` for MNIST or `emnist-balanced-`. */
  readonly prefix: string;
}

// <prefix><split token><sep>images<sep>idx3|4-ubyte[.gz]; separators '-' (official) or '.' (some mirrors).
const IMAGES_PATTERN = /^(.*?)(train|t10k|test)([-.])images[-.](idx[34])-ubyte(\.gz)?$/;
const LABELS_PATTERN = /^(.*?)(train|t10k|test)([-.])labels[-.]idx1-ubyte(\.gz)?$/;

interface Candidate {
  readonly file: string;
  readonly prefix: string;
  readonly token: string;
  readonly gz: boolean;
}

function splitTokens(split: Split): readonly string[] {
  return split === 'train' ? ['train'] : ['t10k', 'test'];
}

function prefixOk(prefix: string): boolean {
  return prefix === '' || /[-_.]$/.test(prefix);
}

function candidates(files: readonly string[], pattern: RegExp, split: Split): Candidate[] {
  const tokens = splitTokens(split);
  const out: Candidate[] = [];
  for (const file of files) {
    const match = pattern.exec(file);
    if (match === null) continue;
    const prefix = match[1] ?? '';
    const token = match[2] ?? '';
    if (!tokens.includes(token) || !prefixOk(prefix)) continue;
    out.push({ file, prefix, token, gz: file.endsWith('.gz') });
  }
  // Prefer the uncompressed file when both `x` and `x.gz` are present.
  return out.sort((a, b) => Number(a.gz) - Number(b.gz) || a.file.localeCompare(b.file));
}

/**
 * Find the images and labels files of `split` in `dir` by name: a file matches when its name,
 * without `.gz`, is `<prefix><token>-images-idx3-ubyte` (or `idx4`; `.` instead of `-` before
 * `images`/`idx` is also accepted) where `token` is `train`, or `t10k` / `test` for the test
 * split, and `prefix` is empty or ends in `-`, `_` or `.`. The labels file must have the same
 * prefix and token. Uncompressed files win over `.gz` twins.
 *
 * @throws {@link DataError} `NOT_FOUND` (no directory, no match), `AMBIGUOUS_FILES` (several prefixes)
 */
export async function findIdxFiles(dir: string, options: { readonly split: Split; readonly prefix?: string }): Promise<IdxFilePair> {
  let files: string[];
  try {
    files = (await readdir(dir)).sort();
  } catch (cause) {
    throw new DataError(DataErrorCode.NOT_FOUND, `${dir}: cannot list directory (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, { cause });
  }
  let images = candidates(files, IMAGES_PATTERN, options.split);
  if (options.prefix !== undefined) images = images.filter((c) => c.prefix === options.prefix);
  const want = `${options.prefix ?? '<prefix>'}${splitTokens(options.split).join('|')}-images-idx3-ubyte[.gz]`;
  if (images.length === 0) {
    const shown = files.slice(0, 12).join(', ') + (files.length > 12 ? `, … (${files.length} files)` : '');
    throw new DataError(
      DataErrorCode.NOT_FOUND,
      `${dir}: no ${options.split} images file, expected a name like ${want}; directory has: ${shown || 'nothing'}`,
    );
  }
  const prefixes = [...new Set(images.map((c) => `${c.prefix}${c.token}`))];
  if (prefixes.length > 1) {
    throw new DataError(
      DataErrorCode.AMBIGUOUS_FILES,
      `${dir}: several ${options.split} image files (${images.map((c) => c.file).join(', ')}); pass prefix to choose one of ${[...new Set(images.map((c) => JSON.stringify(c.prefix)))].join(', ')}`,
    );
  }
  const chosen = images[0] as Candidate;
  const labels = candidates(files, LABELS_PATTERN, options.split).filter(
    (c) => c.prefix === chosen.prefix && c.token === chosen.token,
  );
  const label = labels[0];
  if (label === undefined) {
    throw new DataError(
      DataErrorCode.NOT_FOUND,
      `${dir}: found ${chosen.file} but no labels file, expected ${chosen.prefix}${chosen.token}-labels-idx1-ubyte[.gz]`,
    );
  }
  return { images: join(dir, chosen.file), labels: join(dir, label.file), prefix: chosen.prefix };
}

function defaultName(dir: string, prefix: string, split: Split): string {
  const family = prefix.replace(/[-_.]$/, '') || dir.replace(/[/\\]+$/, '').split(/[/\\]/).pop() || 'idx';
  return `${family}/${split}`;
}

/**
 * Load one split of an IDX image dataset from a directory holding the usual files —
 * `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]`,
 * `t10k-labels-idx1-ubyte[.gz]` — or EMNIST-style prefixed names such as
 * `emnist-balanced-train-images-idx3-ubyte.gz` (see {@link findIdxFiles}). Works for MNIST,
 * Fashion-MNIST, KMNIST and EMNIST. Node only.
 *
 * @throws {@link DataError} `NOT_FOUND`, `AMBIGUOUS_FILES`, `BAD_OPTIONS`, and every IDX and
 *   dataset error (`BAD_MAGIC`, `TRUNCATED`, `LENGTH_MISMATCH`, `BAD_LABEL`, …)
 * @example
 * ```ts
 * const fashion = await loadIdxDataset('/data/fashion-mnist', { split: 'train' });
 * const balanced = await loadIdxDataset('/data/emnist', { split: 'test', prefix: 'emnist-balanced-', transpose: true });
 * ```
 */
export async function loadIdxDataset(dir: string, options: LoadIdxDatasetOptions): Promise<ImageDataset> {
  if (options === undefined || (options.split !== 'train' && options.split !== 'test')) {
    throw new DataError(DataErrorCode.BAD_OPTIONS, `loadIdxDataset: split is ${String(options?.split)}, expected 'train' or 'test'`);
  }
  const files = await findIdxFiles(dir, options);
  const [images, labels] = await Promise.all([readIdxFile(files.images), readIdxFile(files.labels)]);
  return imageDatasetFromIdx(images, labels, {
    name: options.name ?? defaultName(dir, files.prefix, options.split),
    ...(options.numClasses !== undefined && { numClasses: options.numClasses }),
    ...(options.classNames !== undefined && { classNames: options.classNames }),
    ...(options.transpose !== undefined && { transpose: options.transpose }),
  });
}
