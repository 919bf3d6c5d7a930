import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataErrorCode } from './errors.js';
import { encodeIdx } from './idx.js';
import { readIdxFile, readIdxFileSync } from './idx-file.js';

let dir = '';
const tensor = { shape: [5, 3], data: Int16Array.from({ length: 15 }, (_, i) => (i * 2731) % 65536 - 32768) };
const raw = encodeIdx(tensor);
const gz = gzipSync(raw);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarmgrad-data-idx-file-'));
  const corrupt = Buffer.from(gz);
  corrupt[10] = 0xff;
  const corruptCrc = Buffer.from(gz);
  corruptCrc[corruptCrc.length - 5] = (corruptCrc[corruptCrc.length - 5] ?? 0) ^ 0xff;
  await Promise.all([
    writeFile(join(dir, 'raw-idx2-short'), raw),
    // gzip is detected by content, not by name: this one has no .gz suffix.
    writeFile(join(dir, 'gz-no-suffix'), gz),
    writeFile(join(dir, 'data.gz'), gz),
    writeFile(join(dir, 'truncated.gz'), gz.subarray(0, gz.length - 9)),
    writeFile(join(dir, 'corrupt.gz'), corrupt),
    writeFile(join(dir, 'corrupt-crc.gz'), corruptCrc),
    writeFile(join(dir, 'bad-magic'), Uint8Array.of(1, 0, 8, 1, 0, 0, 0, 0)),
  ]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readIdxFile', () => {
  it('reads raw and gzipped files (gzip detected by magic) to the same tensor', async () => {
    for (const file of ['raw-idx2-short', 'gz-no-suffix', 'data.gz']) {
      const back = await readIdxFile(join(dir, file));
      expect(back.dtype).toBe('int16');
      expect(back.shape).toEqual([5, 3]);
      expect(Array.from(back.data)).toEqual(Array.from(tensor.data));
      expect(readIdxFileSync(join(dir, file))).toEqual(back);
    }
  });

  it.each([
    ['missing', DataErrorCode.NOT_FOUND],
    ['truncated.gz', DataErrorCode.TRUNCATED],
    ['corrupt.gz', DataErrorCode.BAD_GZIP],
    ['corrupt-crc.gz', DataErrorCode.BAD_GZIP],
    ['bad-magic', DataErrorCode.BAD_MAGIC],
  ])('%s → %s (async and sync)', async (file, code) => {
    const path = join(dir, file);
    await expect(readIdxFile(path)).rejects.toMatchObject({ name: 'DataError', code });
    expect(() => readIdxFileSync(path)).toThrow(expect.objectContaining({ code }));
    await expect(readIdxFile(path)).rejects.toThrow(file);
  });
});
