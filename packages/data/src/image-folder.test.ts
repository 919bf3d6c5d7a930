import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeImage, resizeBilinear } from './image-decode.js';
import { loadImageFolder } from './image-folder.js';

/** A PNG of the given colour type (0 gray, 2 RGB, 6 RGBA) whose pixel (r, c) is a pattern of the seed. */
function png(height: number, width: number, seed: number, colorType: 0 | 2 | 6 = 2): Buffer {
  const image = new PNG({ width, height, colorType, inputColorType: 6, inputHasAlpha: true } as ConstructorParameters<typeof PNG>[0]);
  for (let i = 0; i < width * height; i++) {
    const v = (seed * 37 + i * 11) & 255;
    image.data[4 * i] = v;
    image.data[4 * i + 1] = colorType === 0 ? v : (v + 85) & 255;
    image.data[4 * i + 2] = colorType === 0 ? v : (v + 170) & 255;
    image.data[4 * i + 3] = colorType === 6 ? 128 : 255; // alpha: dropped on read
  }
  return PNG.sync.write(image, { colorType });
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sg-images-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(join(dir, path, '..'), { recursive: true });
  await writeFile(join(dir, path), bytes);
}

describe('decodeImage', () => {
  it('reads RGB, RGBA (alpha dropped) and gray PNGs and RGB JPEGs', () => {
    const rgb = decodeImage('a.png', png(3, 4, 1, 2));
    const rgba = decodeImage('b.png', png(3, 4, 1, 6));
    expect(rgb).toMatchObject({ height: 3, width: 4, gray: false });
    expect(rgba.rgb).toEqual(rgb.rgb);
    expect(Array.from(rgb.rgb.subarray(0, 3))).toEqual([37, 122, 207]);
    const gray = decodeImage('c.png', png(2, 2, 3, 0));
    expect(gray.gray).toBe(true);
    expect(gray.rgb[0]).toBe(gray.rgb[1]);
    const pixels = Buffer.alloc(8 * 8 * 4, 200);
    const jpg = jpeg.encode({ width: 8, height: 8, data: pixels }, 95).data;
    const decoded = decodeImage('d.jpg', jpg);
    expect(decoded).toMatchObject({ height: 8, width: 8 });
    expect(Math.abs(decoded.rgb[0]! - 200)).toBeLessThanOrEqual(2);
  });

  it('names the file of a corrupt image and refuses a PNG that claims a huge size before inflating it', () => {
    const truncated = png(8, 8, 1).subarray(0, 60);
    expect(() => decodeImage('bad.png', truncated)).toThrow(expect.objectContaining({ code: 'CORRUPT_IMAGE', message: expect.stringContaining('bad.png') }));
    expect(() => decodeImage('x.gif', Buffer.from('GIF89a....'))).toThrow(expect.objectContaining({ code: 'CORRUPT_IMAGE' }));
    const bomb = Buffer.from(png(1, 1, 1));
    bomb.writeUInt32BE(100000, 16);
    bomb.writeUInt32BE(100000, 20);
    expect(() => decodeImage('bomb.png', bomb)).toThrow(expect.objectContaining({ code: 'CORRUPT_IMAGE', message: expect.stringContaining('100000×100000') }));
  });
});

describe('resizeBilinear', () => {
  it('matches a float64 reference with half-pixel centres', () => {
    const src = Uint8Array.from({ length: 5 * 7 * 2 }, (_, i) => (i * 53) & 255);
    const out = resizeBilinear(src, 5, 7, 2, 3, 11);
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 11; c++) {
        const y = Math.min(Math.max((r + 0.5) * (5 / 3) - 0.5, 0), 4);
        const x = Math.min(Math.max((c + 0.5) * (7 / 11) - 0.5, 0), 6);
        for (let k = 0; k < 2; k++) {
          const at = (yy: number, xx: number) => src[(yy * 7 + xx) * 2 + k]!;
          const [y0, x0] = [Math.floor(y), Math.floor(x)];
          const [y1, x1] = [Math.min(y0 + 1, 4), Math.min(x0 + 1, 6)];
          const v = (1 - (y - y0)) * ((1 - (x - x0)) * at(y0, x0) + (x - x0) * at(y0, x1)) + (y - y0) * ((1 - (x - x0)) * at(y1, x0) + (x - x0) * at(y1, x1));
          expect(Math.abs(out[(r * 11 + c) * 2 + k]! - v)).toBeLessThanOrEqual(0.5 + 1e-9);
        }
      }
    }
    expect(resizeBilinear(src, 5, 7, 2, 5, 7)).toBe(src);
  });
});

describe('loadImageFolder', () => {
  it('reads sorted classes, labels each image by its folder, and caches the decoded pixels', async () => {
    await put('train/dog/1.png', png(4, 4, 1));
    await put('train/dog/2.PNG', png(4, 4, 2));
    await put('train/cat/a.png', png(4, 4, 3));
    await put('train/cat/notes.txt', Buffer.from('ignored'));
    await put('test/cat/x.png', png(4, 4, 4));
    const first = await loadImageFolder(dir, { split: 'train' });
    expect(first.dataset.classNames).toEqual(['cat', 'dog']);
    expect(Array.from(first.dataset.labels)).toEqual([0, 1, 1]);
    expect(first.dataset.sampleShape).toEqual([4, 4, 3]);
    expect(first.report).toMatchObject({ files: 3, images: 3, fromCache: false });
    expect(first.dataset.images.subarray(0, 3)).toEqual(decodeImage('', png(4, 4, 3)).rgb.subarray(0, 3));
    const second = await loadImageFolder(dir, { split: 'train' });
    expect(second.report.fromCache).toBe(true);
    expect(second.dataset.images).toEqual(first.dataset.images);
    // The test split maps its folders onto the training classes.
    const test = await loadImageFolder(dir, { split: 'test', classNames: ['cat', 'dog'] });
    expect(Array.from(test.dataset.labels)).toEqual([0]);
    // Changing a file invalidates the cache.
    await put('train/dog/2.PNG', png(4, 4, 9));
    const third = await loadImageFolder(dir, { split: 'train' });
    expect(third.report.fromCache).toBe(false);
    expect(third.dataset.images).not.toEqual(first.dataset.images);
  });

  it('rebuilds a damaged cache file instead of trusting it', async () => {
    await put('train/a/1.png', png(3, 3, 1));
    const first = await loadImageFolder(dir, { split: 'train' });
    const cacheFile = first.report.cacheFile!;
    const bytes = await readFile(cacheFile);
    await writeFile(cacheFile, bytes.subarray(0, bytes.length - 5));
    const warnings: string[] = [];
    const again = await loadImageFolder(dir, { split: 'train', onWarning: (m) => warnings.push(m) });
    expect(again.report.fromCache).toBe(false);
    expect(again.dataset.images).toEqual(first.dataset.images);
    expect(warnings.join('\n')).toMatch(/ignoring image cache/);
  });

  it('keeps grayscale sets one channel and resizes mixed sizes only when given a size', async () => {
    await put('train/a/1.png', png(4, 6, 1, 0));
    await put('train/b/1.png', png(8, 8, 2, 0));
    await expect(loadImageFolder(dir, { split: 'train', cacheDir: false })).rejects.toMatchObject({ code: 'MIXED_SIZES', message: expect.stringMatching(/8×8.*4×6.*--image-size 4x6/) });
    const resized = await loadImageFolder(dir, { split: 'train', imageSize: [5, 5], cacheDir: false });
    expect(resized.dataset.sampleShape).toEqual([5, 5, 1]);
  });

  it('skips a corrupt image with its name and a count, or stops under strict', async () => {
    await put('train/a/1.png', png(4, 4, 1));
    await put('train/a/2.png', Buffer.from('not a png at all'));
    await put('train/b/1.jpg', png(4, 4, 2).subarray(0, 40));
    await put('train/b/2.png', png(4, 4, 3));
    const warnings: string[] = [];
    const loaded = await loadImageFolder(dir, { split: 'train', onWarning: (m) => warnings.push(m) });
    expect(loaded.dataset.length).toBe(2);
    expect(loaded.report.skipped.map((s) => s.file)).toEqual([join(dir, 'train/a/2.png'), join(dir, 'train/b/1.jpg')]);
    expect(warnings.filter((w) => w.startsWith('skipped'))).toHaveLength(2);
    // The cache remembers what was skipped.
    const cached = await loadImageFolder(dir, { split: 'train' });
    expect(cached.report).toMatchObject({ fromCache: true, skipped: loaded.report.skipped });
    await expect(loadImageFolder(dir, { split: 'train', strict: true })).rejects.toMatchObject({ code: 'CORRUPT_IMAGE', message: expect.stringContaining('2.png') });
  });

  it('gives stable codes for a missing split, no classes, an empty class, an unknown test class', async () => {
    await expect(loadImageFolder(dir, { split: 'train' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await mkdir(join(dir, 'train'));
    await expect(loadImageFolder(dir, { split: 'train' })).rejects.toMatchObject({ code: 'NO_CLASSES' });
    await put('train/a/1.png', png(2, 2, 1));
    await mkdir(join(dir, 'train/empty'));
    await expect(loadImageFolder(dir, { split: 'train' })).rejects.toMatchObject({ code: 'EMPTY_CLASS', message: expect.stringContaining('empty') });
    await rm(join(dir, 'train/empty'), { recursive: true });
    await put('train/b/1.png', Buffer.from('junk'));
    await expect(loadImageFolder(dir, { split: 'train' })).rejects.toMatchObject({ code: 'EMPTY_CLASS', message: expect.stringContaining('corrupt') });
    await put('val/zebra/1.png', png(2, 2, 1));
    await expect(loadImageFolder(dir, { split: 'test', classNames: ['a', 'b'] })).rejects.toMatchObject({ code: 'SPLIT_MISMATCH' });
    await expect(loadImageFolder(dir, { split: 'train', imageSize: [0, 3] as [number, number] })).rejects.toMatchObject({ code: 'BAD_OPTIONS' });
    expect((await readdir(dir)).sort()).toEqual(['train', 'val']);
  });
});
