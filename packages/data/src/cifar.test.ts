import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CIFAR10_CLASS_NAMES, parseCifar } from './cifar.js';
import { loadCifar } from './cifar-files.js';

/** `count` records in the official layout; pixel (channel k, row r, col c) of record n is (n + 3k + 5r + 7c) mod 256. */
function records(count: number, variant: 'cifar10' | 'cifar100', label: (n: number) => number): Uint8Array {
  const labelBytes = variant === 'cifar10' ? 1 : 2;
  const out = new Uint8Array(count * (labelBytes + 3072));
  for (let n = 0; n < count; n++) {
    const base = n * (labelBytes + 3072);
    if (labelBytes === 2) out[base] = n % 20;
    out[base + labelBytes - 1] = label(n);
    for (let k = 0; k < 3; k++) for (let r = 0; r < 32; r++) for (let c = 0; c < 32; c++) out[base + labelBytes + k * 1024 + r * 32 + c] = (n + 3 * k + 5 * r + 7 * c) & 255;
  }
  return out;
}

describe('parseCifar', () => {
  it('converts channel-planar records to NHWC and reads the fine label of CIFAR-100', () => {
    const ten = parseCifar(records(3, 'cifar10', (n) => n + 4), 'cifar10');
    expect(Array.from(ten.labels)).toEqual([4, 5, 6]);
    for (const [n, r, c, k] of [[0, 0, 0, 0], [2, 31, 5, 2], [1, 7, 30, 1]] as const) {
      expect(ten.pixels[n * 3072 + (r * 32 + c) * 3 + k]).toBe((n + 3 * k + 5 * r + 7 * c) & 255);
    }
    const hundred = parseCifar(records(2, 'cifar100', (n) => 99 - n), 'cifar100');
    expect(Array.from(hundred.labels)).toEqual([99, 98]);
  });

  it('refuses empty, cut and wrong-variant files and out-of-range labels with stable codes', () => {
    expect(() => parseCifar(new Uint8Array(0), 'cifar10')).toThrow(expect.objectContaining({ code: 'TRUNCATED' }));
    const cut = records(2, 'cifar10', () => 1).subarray(0, 3073 + 100);
    expect(() => parseCifar(cut, 'cifar10', 'data_batch_1.bin')).toThrow(expect.objectContaining({ code: 'TRUNCATED', message: expect.stringMatching(/data_batch_1\.bin: 3173 bytes is 1 records of 3073 bytes and 100 bytes over/) }));
    expect(() => parseCifar(records(3, 'cifar100', () => 1), 'cifar10')).toThrow(expect.objectContaining({ code: 'TRUNCATED', message: expect.stringContaining('CIFAR-100') }));
    expect(() => parseCifar(records(3, 'cifar10', (n) => (n === 2 ? 10 : 0)), 'cifar10')).toThrow(expect.objectContaining({ code: 'BAD_LABEL', message: expect.stringContaining('record 2 (byte 6146) has label 10') }));
    const coarse = records(1, 'cifar100', () => 3);
    coarse[0] = 20;
    expect(() => parseCifar(coarse, 'cifar100')).toThrow(expect.objectContaining({ code: 'BAD_LABEL' }));
  });
});

describe('loadCifar', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sg-cifar-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the five CIFAR-10 batches in order from the archive folder, with class names', async () => {
    const sub = join(dir, 'cifar-10-batches-bin');
    await mkdir(sub);
    for (let b = 1; b <= 5; b++) await writeFile(join(sub, `data_batch_${b}.bin`), records(2, 'cifar10', () => b));
    await writeFile(join(sub, 'test_batch.bin'), records(3, 'cifar10', () => 9));
    const train = await loadCifar(dir, 'cifar10', 'train');
    expect(train.length).toBe(10);
    expect(Array.from(train.labels)).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    expect(train.classNames).toEqual(CIFAR10_CLASS_NAMES);
    expect(train.sampleShape).toEqual([32, 32, 3]);
    const test = await loadCifar(dir, 'cifar10', 'test');
    expect(test.length).toBe(3);
    await rm(join(sub, 'data_batch_4.bin'));
    await expect(loadCifar(dir, 'cifar10', 'train')).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('data_batch_4.bin') });
  });

  it('reads CIFAR-100 with names from fine_label_names.txt and reports a missing folder', async () => {
    await writeFile(join(dir, 'train.bin'), records(4, 'cifar100', (n) => n));
    await writeFile(join(dir, 'test.bin'), records(1, 'cifar100', () => 7));
    await writeFile(join(dir, 'fine_label_names.txt'), Array.from({ length: 100 }, (_, i) => `c${i}`).join('\n'));
    const train = await loadCifar(dir, 'cifar100', 'train');
    expect(train.numClasses).toBe(100);
    expect(train.classNames?.[3]).toBe('c3');
    await expect(loadCifar(join(dir, 'nope'), 'cifar100', 'train')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(loadCifar(dir, 'cifar10', 'train')).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('test_batch.bin') });
  });
});
