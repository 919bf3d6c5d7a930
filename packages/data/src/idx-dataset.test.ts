import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataErrorCode } from './errors.js';
import { encodeIdx } from './idx.js';
import { findIdxFiles, loadIdxDataset } from './idx-dataset.js';

const throwsCode = (code: string) => expect.objectContaining({ name: 'DataError', code });

let root = '';

/** Write an images/labels pair: `count` images of h×w whose pixels encode (sample, position). */
async function writePair(
  dir: string,
  stem: { images: string; labels: string },
  count: number,
  options: { gzip?: boolean; labelOffset?: number; h?: number; w?: number } = {},
): Promise<{ images: Uint8Array; labels: Uint8Array }> {
  const h = options.h ?? 4;
  const w = options.w ?? 3;
  const images = Uint8Array.from({ length: count * h * w }, (_, i) => (i * 37 + 11) & 0xff);
  const labels = Uint8Array.from({ length: count }, (_, i) => ((i * 3) % 7) + (options.labelOffset ?? 0));
  const encode = (bytes: Uint8Array): Uint8Array => (options.gzip === true ? gzipSync(bytes) : bytes);
  const suffix = options.gzip === true ? '.gz' : '';
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, stem.images + suffix), encode(encodeIdx({ shape: [count, h, w], data: images })));
  await writeFile(join(dir, stem.labels + suffix), encode(encodeIdx({ shape: [count], data: labels })));
  return { images, labels };
}

const MNIST_TRAIN = { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' };
const MNIST_TEST = { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'swarmgrad-data-idx-dataset-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loadIdxDataset', () => {
  it('loads MNIST-style gzipped files (Fashion-MNIST, KMNIST use the same names)', async () => {
    const dir = join(root, 'fashion');
    const train = await writePair(dir, MNIST_TRAIN, 12, { gzip: true });
    const test = await writePair(dir, MNIST_TEST, 5, { gzip: true });
    const ds = await loadIdxDataset(dir, { split: 'train' });
    expect(ds.name).toBe('fashion/train');
    expect(ds.length).toBe(12);
    expect(ds.sampleShape).toEqual([4, 3, 1]);
    expect(ds.numClasses).toBe(Math.max(...train.labels) + 1);
    expect(Array.from(ds.labels)).toEqual(Array.from(train.labels));
    expect(Array.from(ds.images)).toEqual(Array.from(train.images));
    const t = await loadIdxDataset(dir, { split: 'test', numClasses: 10 });
    expect(t.length).toBe(5);
    expect(t.numClasses).toBe(10);
    expect(Array.from(t.labels)).toEqual(Array.from(test.labels));
  });

  it('loads raw files and prefers them over .gz twins', async () => {
    const dir = join(root, 'raw');
    await writePair(dir, MNIST_TRAIN, 3, { gzip: true });
    await writePair(dir, MNIST_TRAIN, 4);
    const files = await findIdxFiles(dir, { split: 'train' });
    expect(files.images).toBe(join(dir, 'train-images-idx3-ubyte'));
    expect((await loadIdxDataset(dir, { split: 'train' })).length).toBe(4);
  });

  it('accepts the dotted mirror names (train-images.idx3-ubyte)', async () => {
    const dir = join(root, 'dotted');
    await writePair(dir, { images: 'train-images.idx3-ubyte', labels: 'train-labels.idx1-ubyte' }, 2);
    expect((await loadIdxDataset(dir, { split: 'train' })).length).toBe(2);
  });

  it('matches EMNIST names by suffix, and needs prefix when several families share a directory', async () => {
    const dir = join(root, 'emnist');
    await writePair(dir, { images: 'emnist-balanced-train-images-idx3-ubyte', labels: 'emnist-balanced-train-labels-idx1-ubyte' }, 6, { gzip: true });
    await writePair(dir, { images: 'emnist-balanced-test-images-idx3-ubyte', labels: 'emnist-balanced-test-labels-idx1-ubyte' }, 2, { gzip: true });
    const balanced = await loadIdxDataset(dir, { split: 'test' });
    expect(balanced.name).toBe('emnist-balanced/test');
    expect(balanced.length).toBe(2);

    // Like EMNIST letters (labels 1..26): numClasses defaults to the largest label + 1.
    await writePair(dir, { images: 'emnist-letters-train-images-idx3-ubyte', labels: 'emnist-letters-train-labels-idx1-ubyte' }, 7, { gzip: true, labelOffset: 1, h: 2, w: 5 });
    await expect(loadIdxDataset(dir, { split: 'train' })).rejects.toMatchObject({ code: DataErrorCode.AMBIGUOUS_FILES });
    const letters = await loadIdxDataset(dir, { split: 'train', prefix: 'emnist-letters-', transpose: true });
    expect(letters.length).toBe(7);
    expect(letters.sampleShape).toEqual([5, 2, 1]);
    expect(letters.numClasses).toBe(Math.max(...letters.labels) + 1);
    expect(Math.min(...letters.labels)).toBe(1);
    await expect(loadIdxDataset(dir, { split: 'train', prefix: 'emnist-digits-' })).rejects.toMatchObject({ code: DataErrorCode.NOT_FOUND });
  });

  it('does not match names that only end like IDX files', async () => {
    const dir = join(root, 'decoy');
    await writePair(dir, { images: 'mytrain-images-idx3-ubyte', labels: 'mytrain-labels-idx1-ubyte' }, 2);
    await expect(loadIdxDataset(dir, { split: 'train' })).rejects.toMatchObject({ code: DataErrorCode.NOT_FOUND });
  });

  it('reports missing files and directories as NOT_FOUND', async () => {
    await expect(loadIdxDataset(join(root, 'nope'), { split: 'train' })).rejects.toMatchObject({ code: DataErrorCode.NOT_FOUND });
    const dir = join(root, 'no-labels');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'train-images-idx3-ubyte'), encodeIdx({ shape: [1, 1, 1], data: new Uint8Array(1) }));
    await expect(loadIdxDataset(dir, { split: 'train' })).rejects.toMatchObject({ code: DataErrorCode.NOT_FOUND });
    await expect(loadIdxDataset(dir, { split: 'test' })).rejects.toMatchObject({ code: DataErrorCode.NOT_FOUND });
  });

  it('passes on IDX and dataset errors with their codes', async () => {
    const dir = join(root, 'broken');
    await writePair(dir, MNIST_TRAIN, 3);
    await writePair(dir, MNIST_TEST, 3);
    // Labels for 4 samples next to 3 images.
    await writeFile(join(dir, MNIST_TEST.labels), encodeIdx({ shape: [4], data: new Uint8Array(4) }));
    await expect(loadIdxDataset(dir, { split: 'test' })).rejects.toMatchObject({ code: DataErrorCode.LENGTH_MISMATCH });
    // A truncated images file.
    await writeFile(join(dir, MNIST_TRAIN.images), encodeIdx({ shape: [3, 4, 3], data: new Uint8Array(36) }).subarray(0, 30));
    await expect(loadIdxDataset(dir, { split: 'train' })).rejects.toMatchObject({ code: DataErrorCode.TRUNCATED });
  });

  it('checks options', async () => {
    await expect(loadIdxDataset(root, { split: 'validation' as 'train' })).rejects.toThrow(throwsCode(DataErrorCode.BAD_OPTIONS));
  });
});
