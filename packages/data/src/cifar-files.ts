/**
 * Node-only: load CIFAR-10 / CIFAR-100 binary files from a directory (or its
 * `cifar-10-batches-bin/` / `cifar-100-binary/` subfolder, as the official archives unpack).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError, DataErrorCode } from './errors.js';
import type { ImageDataset } from './dataset.js';
import { CIFAR100_CLASS_NAMES, CIFAR10_CLASS_NAMES, cifarDataset, cifarLayout, parseCifar, type CifarVariant } from './cifar.js';

const FILES = {
  cifar10: { train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'], test: ['test_batch.bin'], meta: 'batches.meta.txt', sub: 'cifar-10-batches-bin' },
  cifar100: { train: ['train.bin'], test: ['test.bin'], meta: 'fine_label_names.txt', sub: 'cifar-100-binary' },
} as const;

async function folderOf(dir: string, variant: CifarVariant): Promise<string> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (cause) {
    throw new DataError(DataErrorCode.NOT_FOUND, `${dir}: cannot list directory (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, { cause });
  }
  const files = FILES[variant];
  if (names.includes(files.test[0])) return dir;
  if (names.includes(files.sub)) return folderOf(join(dir, files.sub), variant);
  throw new DataError(DataErrorCode.NOT_FOUND, `${dir}: no ${files.test[0]}, expected the ${variant} binary files (${[...files.train, ...files.test].join(', ')}) here or in ${files.sub}/`);
}

async function classNamesOf(folder: string, variant: CifarVariant): Promise<readonly string[]> {
  const fallback = variant === 'cifar10' ? CIFAR10_CLASS_NAMES : CIFAR100_CLASS_NAMES;
  const text = await readFile(join(folder, FILES[variant].meta), 'utf8').catch(() => undefined);
  const names = text?.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
  return names?.length === cifarLayout(variant).numClasses ? names : fallback;
}

/**
 * Load one split of CIFAR-10 (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`) or
 * CIFAR-100 (`train.bin`, `test.bin`). Class names come from `batches.meta.txt` /
 * `fine_label_names.txt` when present, else the official lists. Every train file must be present.
 *
 * @throws {@link DataError} `NOT_FOUND`, `TRUNCATED`, `BAD_LABEL`
 */
export async function loadCifar(dir: string, variant: CifarVariant, split: 'train' | 'test'): Promise<ImageDataset> {
  if (variant !== 'cifar10' && variant !== 'cifar100') throw new DataError(DataErrorCode.BAD_OPTIONS, `loadCifar: variant ${String(variant)}, expected cifar10 or cifar100`);
  const folder = await folderOf(dir, variant);
  const parts = [];
  for (const file of FILES[variant][split]) {
    const path = join(folder, file);
    const bytes = await readFile(path).catch((cause: NodeJS.ErrnoException) => {
      throw new DataError(DataErrorCode.NOT_FOUND, `${path}: cannot read (${cause.code ?? String(cause)}); ${variant} ${split} needs ${FILES[variant][split].join(', ')}`, { cause });
    });
    parts.push(parseCifar(bytes, variant, path));
  }
  return cifarDataset(parts, variant, `${variant}/${split}`, await classNamesOf(folder, variant));
}
