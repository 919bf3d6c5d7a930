/**
 * A generated colour image data set in the ImageFolder layout, for the image tests and the
 * worked example: 6 classes = 3 patterns (horizontal stripes, vertical stripes, a disk) × 2
 * palettes (warm, cool), each image with a random phase / position, random brightness and
 * pixel noise. Written as PNG files (a few as JPEG) with pngjs / jpeg-js.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';

export const CLASS_NAMES = ['cool-disk', 'cool-hstripes', 'cool-vstripes', 'warm-disk', 'warm-hstripes', 'warm-vstripes'];

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** RGBA pixels of one image of class `label`. */
export function drawImage(label: number, size: number, rnd: () => number): Buffer {
  const name = CLASS_NAMES[label]!;
  const warm = name.startsWith('warm');
  const pattern = name.split('-')[1]!;
  const period = 4 + Math.floor(rnd() * 4);
  const phase = rnd() * period;
  const cx = size * (0.3 + rnd() * 0.4);
  const cy = size * (0.3 + rnd() * 0.4);
  const radius = size * (0.18 + rnd() * 0.15);
  const bright = 0.6 + rnd() * 0.4;
  const fg = warm ? [230, 120 + rnd() * 60, 40] : [40, 120 + rnd() * 60, 230];
  const bg = [110 + rnd() * 40, 110 + rnd() * 40, 110 + rnd() * 40];
  const data = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const on =
        pattern === 'disk' ? (x - cx) ** 2 + (y - cy) ** 2 < radius ** 2 : ((pattern === 'hstripes' ? y : x) + phase) % period < period / 2;
      const base = on ? fg : bg;
      for (let k = 0; k < 3; k++) data[(y * size + x) * 4 + k] = Math.max(0, Math.min(255, Math.round(base[k]! * bright + (rnd() - 0.5) * 70)));
      data[(y * size + x) * 4 + 3] = 255;
    }
  }
  return data;
}

/** Writes `perClass` train and `testPerClass` test images of `size`×`size` into `dir`; every 25th train image is a JPEG. */
export function writeImageSet(dir: string, options: { perClass: number; testPerClass: number; size: number; seed?: number }): void {
  const rnd = lcg(options.seed ?? 1);
  for (const [split, count] of [['train', options.perClass], ['test', options.testPerClass]] as const) {
    CLASS_NAMES.forEach((name, label) => {
      const folder = join(dir, split, name);
      mkdirSync(folder, { recursive: true });
      for (let n = 0; n < count; n++) {
        const rgba = drawImage(label, options.size, rnd);
        if (split === 'train' && n % 25 === 24) {
          writeFileSync(join(folder, `${String(n).padStart(5, '0')}.jpg`), jpeg.encode({ width: options.size, height: options.size, data: rgba }, 95).data);
        } else {
          const png = new PNG({ width: options.size, height: options.size });
          rgba.copy(png.data);
          writeFileSync(join(folder, `${String(n).padStart(5, '0')}.png`), PNG.sync.write(png));
        }
      }
    });
  }
}
