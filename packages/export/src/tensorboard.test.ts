import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TensorBoardWriter, decodeEvent, frameRecord, maskedCrc32c, readRecords } from './tensorboard.js';

/** Bitwise CRC-32C (Castagnoli, reflected 0x82F63B78): an independent reference for the library's. */
function crc32cReference(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
const mask = (crc: number): number => ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sg-tb-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('TFRecord framing', () => {
  it('masks CRC-32C as TensorFlow does (check value of "123456789" is 0xE3069283)', () => {
    expect(crc32cReference(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) & 255);
    expect(maskedCrc32c(data)).toBe(mask(crc32cReference(data)));
  });

  it('detects a flipped bit and a truncated record', () => {
    const framed = frameRecord(new Uint8Array([1, 2, 3, 4, 5]));
    expect(readRecords(framed)).toHaveLength(1);
    const flipped = framed.slice();
    flipped[14]! ^= 4;
    expect(() => readRecords(flipped)).toThrow(/data CRC mismatch/);
    expect(() => readRecords(framed.subarray(0, framed.length - 2))).toThrow(/past the end/);
    const badLength = framed.slice();
    badLength[0] = 6;
    expect(() => readRecords(badLength)).toThrow(/length CRC mismatch/);
  });
});

describe('TensorBoardWriter', () => {
  it('writes a version event, scalars and histograms that read back with valid lengths, CRCs and values', async () => {
    const tb = TensorBoardWriter.open(join(dir, 'logs'));
    tb.scalar('train/loss', 0.75, 1, 1000.5);
    tb.scalar('test/accuracy', 0.9, 10, 1001);
    const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    tb.histogram('params/conv0', values, 10, 20, 1002);
    tb.close();
    tb.scalar('ignored', 1, 11);
    const files = await readdir(join(dir, 'logs'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^events\.out\.tfevents\.\d+\./);
    const bytes = new Uint8Array(await readFile(join(dir, 'logs', files[0]!)));
    // Walk the framing by hand with the reference CRC.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    let count = 0;
    while (at < bytes.length) {
      const length = Number(view.getBigUint64(at, true));
      expect(view.getUint32(at + 8, true)).toBe(mask(crc32cReference(bytes.subarray(at, at + 8))));
      expect(view.getUint32(at + 12 + length, true)).toBe(mask(crc32cReference(bytes.subarray(at + 12, at + 12 + length))));
      at += 16 + length;
      count++;
    }
    expect(at).toBe(bytes.length);
    const events = readRecords(bytes).map(decodeEvent);
    expect(count).toBe(4);
    expect(events[0]!.file_version).toBe('brain.Event:2');
    expect(events[1]).toMatchObject({ wall_time: 1000.5, step: 1, summary: { value: [{ tag: 'train/loss', simple_value: 0.75 }] } });
    expect(events[2]!.summary!.value[0]!.simple_value).toBeCloseTo(0.9, 6);
    const histo = events[3]!.summary!.value[0]!.histo!;
    expect(histo.num).toBe(1000);
    expect(histo.bucket).toHaveLength(20);
    expect(histo.bucket.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(histo.min).toBeCloseTo(Math.min(...values), 12);
    expect(histo.max).toBe(histo.bucket_limit[19]);
    expect(histo.sum).toBeCloseTo(values.reduce((a, b) => a + b, 0), 6);
  });

  it('refuses a negative or fractional step', () => {
    const tb = TensorBoardWriter.open(dir);
    expect(() => tb.scalar('x', 1, -1)).toThrow(expect.objectContaining({ code: 'BAD_OPTIONS' }));
    expect(() => tb.scalar('x', 1, 1.5)).toThrow(expect.objectContaining({ code: 'BAD_OPTIONS' }));
    tb.close();
  });
});
