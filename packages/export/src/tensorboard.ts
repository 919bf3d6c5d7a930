/**
 * TensorBoard event files: `events.out.tfevents.<seconds>.<host>` holding TFRecords of
 * `tensorflow.Event` protobufs (scalars and histograms), written with protobufjs from a
 * vendored subset of TensorFlow's `event.proto` / `summary.proto` / `histogram.proto`.
 *
 * TFRecord framing, per record: `uint64 length` (little-endian), `uint32 masked_crc32c(length bytes)`,
 * `data`, `uint32 masked_crc32c(data)`, where `masked(c) = ((c >>> 15) | (c << 17)) + 0xa282ead8`.
 * CRC-32C comes from the `crc-32` npm package (SheetJS).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import CRC32C from 'crc-32/crc32c.js';
import { ExportError, ExportErrorCode } from './errors.js';

const EVENT_PROTO = `
syntax = "proto3";
package tensorflow;
message HistogramProto {
  double min = 1; double max = 2; double num = 3; double sum = 4; double sum_squares = 5;
  repeated double bucket_limit = 6 [packed = true];
  repeated double bucket = 7 [packed = true];
}
message Summary {
  message Value {
    string node_name = 7;
    string tag = 1;
    oneof value { float simple_value = 2; HistogramProto histo = 5; }
  }
  repeated Value value = 1;
}
message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what { string file_version = 3; Summary summary = 5; }
}
`;

let eventType: protobuf.Type | undefined;
function events(): protobuf.Type {
  eventType ??= protobuf.parse(EVENT_PROTO, { keepCase: true }).root.lookupType('tensorflow.Event');
  return eventType;
}

/** CRC-32C of `bytes`, masked as TFRecord does. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = CRC32C.buf(bytes) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, its masked CRC, the data, the data's masked CRC. */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/**
 * Splits a TFRecord file into its records, checking every length and CRC.
 * @throws {@link ExportError} `BAD_OPTIONS` naming the record and offset of a bad frame
 */
export function readRecords(bytes: Uint8Array): Uint8Array[] {
  const records: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    const bad = (why: string): never => {
      throw new ExportError(ExportErrorCode.BAD_OPTIONS, `TFRecord ${records.length} at byte ${at}: ${why}`);
    };
    if (at + 12 > bytes.length) bad('ends inside the header');
    const length = Number(view.getBigUint64(at, true));
    if (view.getUint32(at + 8, true) !== maskedCrc32c(bytes.subarray(at, at + 8))) bad('length CRC mismatch');
    if (at + 16 + length > bytes.length) bad(`length ${length} runs past the end`);
    const data = bytes.subarray(at + 12, at + 12 + length);
    if (view.getUint32(at + 12 + length, true) !== maskedCrc32c(data)) bad('data CRC mismatch');
    records.push(data);
    at += 16 + length;
  }
  return records;
}

/** A decoded event, for tests and tools. */
export interface DecodedEvent {
  wall_time: number;
  step?: number;
  file_version?: string;
  summary?: { value: { tag: string; simple_value?: number; histo?: { min: number; max: number; num: number; sum: number; sum_squares: number; bucket_limit: number[]; bucket: number[] } }[] };
}

/** Decodes one event record. */
export function decodeEvent(record: Uint8Array): DecodedEvent {
  const type = events();
  return type.toObject(type.decode(record), { longs: Number, defaults: false }) as DecodedEvent;
}

/** A histogram of `values` as TensorBoard's `HistogramProto`: `buckets` equal-width buckets over [min, max]. */
export function histogram(values: ArrayLike<number>, buckets = 30): object {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sumSquares = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sumSquares += v * v;
  }
  if (values.length === 0) return { min: 0, max: 0, num: 0, sum: 0, sum_squares: 0, bucket_limit: [], bucket: [] };
  const width = (max - min) / buckets || 1;
  const counts = new Array<number>(buckets).fill(0);
  for (let i = 0; i < values.length; i++) counts[Math.min(buckets - 1, Math.floor(((values[i] as number) - min) / width))]!++;
  // bucket_limit[k] is the upper edge of bucket k; the last one is max itself.
  const limits = counts.map((_, k) => (k === buckets - 1 ? max : min + (k + 1) * width));
  return { min, max, num: values.length, sum, sum_squares: sumSquares, bucket_limit: limits, bucket: counts };
}

/**
 * Appends TensorBoard events to one new file in a log directory. Each `scalar`/`histogram`
 * call writes one framed event at once (no buffering), so a killed run keeps every event
 * written before. Node only.
 *
 * @example
 * ```ts
 * const tb = TensorBoardWriter.open('runs/tb');
 * tb.scalar('loss', 0.31, 12);
 * tb.close();
 * ```
 */
export class TensorBoardWriter {
  /** The event file's path. */
  readonly file: string;
  private fd: number | undefined;

  private constructor(file: string) {
    this.file = file;
    this.fd = openSync(file, 'a');
    this.write({ wall_time: Date.now() / 1000, file_version: 'brain.Event:2' });
  }

  /** Creates `dir` if needed and a new event file in it. */
  static open(dir: string, now = Date.now()): TensorBoardWriter {
    mkdirSync(dir, { recursive: true });
    return new TensorBoardWriter(join(dir, `events.out.tfevents.${Math.floor(now / 1000)}.${hostname()}.${process.pid}`));
  }

  /** Writes a scalar (`simple_value`, float32) for `tag` at `step`. */
  scalar(tag: string, value: number, step: number, wallTime = Date.now() / 1000): void {
    this.summary(step, wallTime, { tag, simple_value: value });
  }

  /** Writes a histogram of `values` for `tag` at `step`. */
  histogram(tag: string, values: ArrayLike<number>, step: number, buckets = 30, wallTime = Date.now() / 1000): void {
    this.summary(step, wallTime, { tag, histo: histogram(values, buckets) });
  }

  /** Flushes to disk and closes the file; later writes are ignored. */
  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }

  private summary(step: number, wallTime: number, value: object): void {
    if (!Number.isInteger(step) || step < 0) throw new ExportError(ExportErrorCode.BAD_OPTIONS, `step ${step} must be a non-negative integer`);
    this.write({ wall_time: wallTime, step, summary: { value: [value] } });
  }

  private write(event: object): void {
    if (this.fd === undefined) return;
    const type = events();
    const bytes = frameRecord(type.encode(type.fromObject(event)).finish());
    let at = 0;
    while (at < bytes.length) at += writeSync(this.fd, bytes, at);
  }
}
