/**
 * Node-only: the decoded-image cache file of {@link loadImageFolder}. Layout (little-endian):
 *
 * | bytes | content |
 * | --- | --- |
 * | 8 | magic `SGIMGC01` |
 * | 4 | header length `L` (uint32) |
 * | L | UTF-8 JSON `{ key, shape: [H, W, C], count, skipped }` |
 * | 4·count | labels, int32 |
 * | count·H·W·C | pixels, uint8 NHWC |
 *
 * A cache that does not parse, has another key or the wrong length is ignored (and rebuilt):
 * it is ours to rewrite, never trusted further than its own checks.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** What a cache file holds. */
export interface ImageCacheContent {
  readonly shape: readonly [number, number, number];
  readonly labels: Int32Array;
  readonly pixels: Uint8Array;
  readonly skipped: readonly { readonly file: string; readonly reason: string }[];
}

const MAGIC = 'SGIMGC01';

/** A 32-hex-digit key for a JSON-able description of the inputs. */
export function cacheKey(inputs: unknown): string {
  return createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 32);
}

/** Reads a cache file; `undefined` when it is absent, for another key, or damaged (then `onWarning` says why). */
export async function readImageCache(file: string, key: string, onWarning?: (message: string) => void): Promise<ImageCacheContent | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    return undefined;
  }
  const content = parseCache(bytes, key);
  if (typeof content === 'string') {
    onWarning?.(`ignoring image cache ${file}: ${content}; decoding again`);
    return undefined;
  }
  return content;
}

function parseCache(bytes: Buffer, key: string): ImageCacheContent | string {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 8) !== MAGIC) return 'bad magic';
  const headerLength = bytes.readUInt32LE(8);
  if (12 + headerLength > bytes.length) return 'truncated header';
  let header: { key?: unknown; shape?: unknown; count?: unknown; skipped?: unknown };
  try {
    header = JSON.parse(bytes.toString('utf8', 12, 12 + headerLength)) as typeof header;
  } catch {
    return 'header is not JSON';
  }
  if (header.key !== key) return 'made for other files or options';
  const shape = header.shape;
  const count = header.count;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((v) => Number.isInteger(v) && v > 0) || !Number.isInteger(count) || (count as number) < 0) {
    return 'bad shape or count';
  }
  const [h, w, c] = shape as [number, number, number];
  const n = count as number;
  const start = 12 + headerLength;
  if (bytes.length !== start + 4 * n + n * h * w * c) return `length ${bytes.length} does not match ${n} images of ${h}×${w}×${c}`;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = bytes.readInt32LE(start + 4 * i);
  const pixels = new Uint8Array(bytes.buffer, bytes.byteOffset + start + 4 * n, n * h * w * c);
  const skipped = Array.isArray(header.skipped) ? (header.skipped as ImageCacheContent['skipped']) : [];
  return { shape: [h, w, c], labels, pixels, skipped };
}

/** Writes a cache file atomically (temporary file, fsync, rename); a failure is a warning, not an error. */
export async function writeImageCache(file: string, key: string, content: ImageCacheContent, onWarning?: (message: string) => void): Promise<void> {
  const header = Buffer.from(JSON.stringify({ key, shape: content.shape, count: content.labels.length, skipped: content.skipped }), 'utf8');
  const prefix = Buffer.alloc(12);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(header.length, 8);
  const labels = Buffer.alloc(4 * content.labels.length);
  content.labels.forEach((label, i) => labels.writeInt32LE(label, 4 * i));
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true });
    const handle = await open(temporary, 'w');
    try {
      for (const part of [prefix, header, labels, content.pixels]) await handle.writeFile(part);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    onWarning?.(`cannot write image cache ${file} (${(error as Error).message}); the next run decodes again`);
  }
}
