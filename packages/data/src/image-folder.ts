/**
 * Node-only: image folders in the layout torchvision's `ImageFolder` uses —
 * `DIR/train/<class>/*.{png,jpg,jpeg}` and `DIR/test/<class>/*` (or `DIR/val/`) — decoded once
 * into a cache file so that later runs (and later epochs) never decode again.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { DataError, DataErrorCode } from './errors.js';
import { ImageDataset } from './dataset.js';
import { decodeImage, luma, resizeBilinear } from './image-decode.js';
import { cacheKey, readImageCache, writeImageCache, type ImageCacheContent } from './image-cache.js';

/** File-name endings read as images (case-insensitive). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;

/** Options of {@link loadImageFolder}. */
export interface LoadImageFolderOptions {
  /** `train` reads `DIR/train`; `test` reads `DIR/test`, else `DIR/val`. */
  readonly split: 'train' | 'test';
  /** Resize every image to `[height, width]`. Default: the first image's size (then all must match). */
  readonly imageSize?: readonly [number, number];
  /** Channels: 1 or 3. Default: 3 if any image has colour, else 1. */
  readonly channels?: 1 | 3;
  /** Class names to map folder names onto (the test split takes the train split's). Default: the sorted folder names. */
  readonly classNames?: readonly string[];
  /** Throw on the first corrupt image instead of skipping it. Default `false`. */
  readonly strict?: boolean;
  /** Folder for the decoded cache, or `false` for none. Default `DIR/.swarmgrad-cache`. */
  readonly cacheDir?: string | false;
  /** Called with one line per skipped image and per cache problem. Default: nothing. */
  readonly onWarning?: (message: string) => void;
}

/** What {@link loadImageFolder} did. */
export interface ImageFolderReport {
  /** The split's folder. */
  readonly directory: string;
  /** Image files found. */
  readonly files: number;
  /** Images in the dataset. */
  readonly images: number;
  /** Corrupt files skipped, with the reason. */
  readonly skipped: readonly { readonly file: string; readonly reason: string }[];
  /** Whether the pixels came from the cache (no decoding). */
  readonly fromCache: boolean;
  /** The cache file used or written, if any. */
  readonly cacheFile?: string;
}

/** An image folder split: the dataset and the report. */
export interface ImageFolder {
  readonly dataset: ImageDataset;
  readonly report: ImageFolderReport;
}

interface Listing {
  readonly directory: string;
  readonly classNames: readonly string[];
  /** Files with their class index, in class order, then sorted file order. */
  readonly files: readonly { readonly path: string; readonly label: number; readonly size: number; readonly mtimeMs: number }[];
}

async function listDirectory(path: string): Promise<import('node:fs').Dirent[]> {
  try {
    return await readdir(path, { withFileTypes: true });
  } catch (cause) {
    throw new DataError(DataErrorCode.NOT_FOUND, `${path}: cannot list directory (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, { cause });
  }
}

async function splitDirectory(dir: string, split: 'train' | 'test'): Promise<string> {
  const names = split === 'train' ? ['train'] : ['test', 'val'];
  const entries = await listDirectory(dir);
  for (const name of names) if (entries.some((e) => e.name === name && e.isDirectory())) return join(dir, name);
  throw new DataError(
    DataErrorCode.NOT_FOUND,
    `${dir}: no ${names.join(' or ')} folder, expected the layout DIR/train/<class>/*.png and DIR/test/<class>/*.png (or DIR/val/)`,
  );
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function listSplit(directory: string, given: readonly string[] | undefined): Promise<Listing> {
  const folders = (await listDirectory(directory)).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort(byName);
  if (folders.length === 0) {
    throw new DataError(DataErrorCode.NO_CLASSES, `${directory}: no class folders, expected ${directory}/<class>/*.png (one folder per class)`);
  }
  const classNames = given ?? folders;
  const files: Listing['files'][number][] = [];
  for (const folder of folders) {
    const label = classNames.indexOf(folder);
    if (label < 0) {
      throw new DataError(DataErrorCode.SPLIT_MISMATCH, `${join(directory, folder)}: class ${JSON.stringify(folder)} is not one of the training classes (${classNames.join(', ')})`);
    }
    const names = (await listDirectory(join(directory, folder)))
      .filter((e) => e.isFile() && IMAGE_EXTENSIONS.some((ext) => e.name.toLowerCase().endsWith(ext)))
      .map((e) => e.name)
      .sort(byName);
    if (names.length === 0) {
      throw new DataError(DataErrorCode.EMPTY_CLASS, `${join(directory, folder)}: class folder holds no .png, .jpg or .jpeg file`);
    }
    for (const name of names) {
      const path = join(directory, folder, name);
      const info = await stat(path);
      files.push({ path, label, size: info.size, mtimeMs: info.mtimeMs });
    }
  }
  return { directory, classNames, files };
}

/**
 * Load one split of an image folder: class names are the sorted class-folder names (the test
 * split maps its folders onto `classNames`), images are decoded with `pngjs` / `jpeg-js`,
 * RGBA drops alpha, grayscale sets stay one channel, and every image is resized to
 * `imageSize` with {@link resizeBilinear}. The decoded pixels are cached in
 * `cacheDir/<split>-<key>.bin`, where the key hashes every file's path, size and modification
 * time and the options; a second load reads the cache and decodes nothing.
 *
 * @throws {@link DataError} `NOT_FOUND` (no folder), `NO_CLASSES`, `EMPTY_CLASS`,
 *   `MIXED_SIZES` (sizes differ and no `imageSize`), `SPLIT_MISMATCH`, `CORRUPT_IMAGE` (only with `strict`), `BAD_OPTIONS`
 */
export async function loadImageFolder(dir: string, options: LoadImageFolderOptions): Promise<ImageFolder> {
  checkOptions(options);
  const directory = await splitDirectory(dir, options.split);
  const listing = await listSplit(directory, options.classNames);
  const cacheDir = options.cacheDir === undefined ? join(dir, '.swarmgrad-cache') : options.cacheDir;
  const key = cacheKey({
    version: 1,
    files: listing.files.map((f) => [relative(directory, f.path), f.size, f.mtimeMs, f.label]),
    classNames: listing.classNames,
    imageSize: options.imageSize ?? null,
    channels: options.channels ?? null,
    strict: options.strict === true,
  });
  const cacheFile = cacheDir === false ? undefined : join(cacheDir, `${options.split}-${key}.bin`);
  let content = cacheFile === undefined ? undefined : await readImageCache(cacheFile, key, options.onWarning);
  const fromCache = content !== undefined;
  if (content === undefined) {
    content = await decodeListing(listing, options);
    if (cacheFile !== undefined) await writeImageCache(cacheFile, key, content, options.onWarning);
  }
  for (const s of fromCache ? content.skipped : []) options.onWarning?.(`skipped ${s.file}: ${s.reason}`);
  const [height, width, channels] = content.shape;
  const dataset = new ImageDataset({
    name: `${dir.replace(/[/\\]+$/, '').split(/[/\\]/).pop() || 'images'}/${options.split}`,
    images: content.pixels,
    labels: content.labels,
    height,
    width,
    channels,
    numClasses: listing.classNames.length,
    classNames: listing.classNames,
  });
  const report = { directory, files: listing.files.length, images: dataset.length, skipped: content.skipped, fromCache, ...(cacheFile !== undefined && { cacheFile }) };
  return { dataset, report };
}

function checkOptions(options: LoadImageFolderOptions): void {
  if (options?.split !== 'train' && options?.split !== 'test') {
    throw new DataError(DataErrorCode.BAD_OPTIONS, `loadImageFolder: split is ${String(options?.split)}, expected 'train' or 'test'`);
  }
  const size = options.imageSize;
  if (size !== undefined && (size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 1 && v <= 4096))) {
    throw new DataError(DataErrorCode.BAD_OPTIONS, `imageSize [${String(size)}] must be [height, width], integers in [1, 4096]`);
  }
  if (options.channels !== undefined && options.channels !== 1 && options.channels !== 3) {
    throw new DataError(DataErrorCode.BAD_OPTIONS, `channels ${String(options.channels)} must be 1 or 3`);
  }
}

async function decodeListing(listing: Listing, options: LoadImageFolderOptions): Promise<ImageCacheContent> {
  const decoded: { rgb: Uint8Array; label: number }[] = [];
  const skipped: { file: string; reason: string }[] = [];
  let size = options.imageSize;
  let sizeFrom = '--image-size';
  let anyColour = false;
  for (const file of listing.files) {
    let image;
    try {
      image = decodeImage(file.path, await readFile(file.path));
    } catch (error) {
      if (!(error instanceof DataError) || options.strict === true) throw error;
      skipped.push({ file: file.path, reason: error.message.startsWith(file.path) ? error.message.slice(file.path.length + 2) : error.message });
      options.onWarning?.(`skipped ${error.message}`);
      continue;
    }
    if (size === undefined) {
      size = [image.height, image.width];
      sizeFrom = file.path;
    } else if (options.imageSize === undefined && (image.height !== size[0] || image.width !== size[1])) {
      throw new DataError(
        DataErrorCode.MIXED_SIZES,
        `${file.path} is ${image.height}×${image.width} but ${sizeFrom} is ${size[0]}×${size[1]}; pass an image size (--image-size ${size[0]}x${size[1]}) to resize every image to one shape`,
      );
    }
    anyColour ||= !image.gray;
    decoded.push({ rgb: resizeBilinear(image.rgb, image.height, image.width, 3, size[0], size[1]), label: file.label });
  }
  return packImages(listing, decoded, skipped, size, options.channels ?? (anyColour ? 3 : 1));
}

function packImages(
  listing: Listing,
  decoded: readonly { rgb: Uint8Array; label: number }[],
  skipped: { file: string; reason: string }[],
  size: readonly [number, number] | undefined,
  channels: 1 | 3,
): ImageCacheContent {
  const counts = new Array<number>(listing.classNames.length).fill(0);
  for (const d of decoded) counts[d.label]!++;
  const present = new Set(listing.files.map((f) => f.label));
  const empty = listing.classNames.findIndex((_, k) => present.has(k) && counts[k] === 0);
  if (empty >= 0 || size === undefined) {
    const name = listing.classNames[Math.max(empty, 0)] ?? '';
    throw new DataError(DataErrorCode.EMPTY_CLASS, `${join(listing.directory, name)}: every image of the class is corrupt (${skipped.length} skipped)`);
  }
  const [height, width] = size;
  const sampleSize = height * width * channels;
  const pixels = new Uint8Array(decoded.length * sampleSize);
  const labels = new Int32Array(decoded.length);
  decoded.forEach((d, n) => {
    labels[n] = d.label;
    if (channels === 3) pixels.set(d.rgb, n * sampleSize);
    else for (let i = 0; i < height * width; i++) pixels[n * sampleSize + i] = luma(d.rgb, i);
  });
  return { shape: [height, width, channels], labels, pixels, skipped };
}

