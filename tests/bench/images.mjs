// Decode and cache times of an image folder: writes N 32×32 RGB PNGs (10 classes) into a temp
// directory, then loads it three times with @swarmgrad/data's loadImageFolder: cold (decode with
// pngjs + write the cache), warm (read the cache, no decoding) and with no cache (decode only).
// Prints one JSON line. Usage: node bench/images.mjs [count=10000]
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { loadImageFolder } from '@swarmgrad/data/node';

const count = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'swarmgrad-bench-images-'));
try {
  let seed = 1;
  const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  let bytes = 0;
  for (let n = 0; n < count; n++) {
    const folder = join(dir, 'train', `class${n % 10}`);
    if (n < 10) mkdirSync(folder, { recursive: true });
    const png = new PNG({ width: 32, height: 32 });
    for (let i = 0; i < 32 * 32; i++) {
      const base = (n % 10) * 25;
      for (let k = 0; k < 3; k++) png.data[4 * i + k] = (base + k * 40 + Math.floor(rnd() * 60)) & 255;
      png.data[4 * i + 3] = 255;
    }
    const file = PNG.sync.write(png);
    bytes += file.length;
    writeFileSync(join(folder, `${n}.png`), file);
  }
  const time = async (options) => {
    const start = process.hrtime.bigint();
    const loaded = await loadImageFolder(dir, { split: 'train', ...options });
    return { ms: Number(process.hrtime.bigint() - start) / 1e6, loaded };
  };
  const cold = await time({});
  const warm = await time({});
  const nocache = await time({ cacheDir: false });
  if (cold.loaded.report.fromCache || !warm.loaded.report.fromCache) throw new Error('cache did not behave');
  console.log(
    JSON.stringify({
      images: count,
      pngBytes: bytes,
      coldMs: cold.ms,
      warmMs: warm.ms,
      decodeOnlyMs: nocache.ms,
      cacheBytes: statSync(cold.loaded.report.cacheFile).size,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
