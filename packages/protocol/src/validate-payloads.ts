/**
 * The payload checks of `validate.ts`: encoded gradients (per codec), lists of shard blocks
 * (aligned, ascending, disjoint, within the per-task cap) and the one-pass NaN/Infinity scans
 * of float vectors. Each throws a `ProtocolError` with the path of the offending field.
 */
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { MAX_INT8_CHUNK_SIZE, MAX_INT8_SCALE } from './gradient-codecs.js';
import type { ResolvedDecodeLimits } from './limits.js';
import { Fields } from './fields.js';
import { describe, isPlainObject } from './json.js';
import { GRADIENT_CODECS, type EncodedGradient, type ShardBlock } from './messages.js';

/** One encoded gradient (f32, f16 or int8): its length against the model, payload sizes, finite values and int8 scales. */
export function validateGradient(fields: Fields, limits: ResolvedDecodeLimits, label: string): EncodedGradient {
  const codec = fields.oneOf('codec', GRADIENT_CODECS);
  const length = fields.integer('length', 0);
  if (limits.parameterCount !== undefined && length !== limits.parameterCount) {
    throw new ProtocolError(
      ProtocolErrorCode.LENGTH_MISMATCH,
      `${label} has ${length} values; ${modelLabel(limits)} has ${limits.parameterCount} parameters`,
      { path: `${fields.path}.length` },
    );
  }
  const payloadLength = (payload: { length: number }): void => {
    if (payload.length !== length) {
      throw new ProtocolError(
        ProtocolErrorCode.LENGTH_MISMATCH,
        `${label}: ${codec} payload holds ${payload.length} values; its length field says ${length}`,
        { path: `${fields.path}.payload` },
      );
    }
  };
  const nonFinite = (index: number, what: string): ProtocolError =>
    new ProtocolError(ProtocolErrorCode.NON_FINITE, `${label}: gradient value ${index} is ${what}; gradients must be finite`, {
      path: `${fields.path}.payload`,
    });
  switch (codec) {
    case 'f32': {
      const payload = fields.typedArray('payload', Float32Array, 'Float32Array');
      payloadLength(payload);
      const bad = firstNonFiniteFloat(payload);
      if (bad >= 0) throw nonFinite(bad, String(payload[bad]));
      return { codec, length, payload };
    }
    case 'f16': {
      const payload = fields.typedArray('payload', Uint16Array, 'Uint16Array');
      payloadLength(payload);
      const bad = firstNonFiniteHalf(payload);
      if (bad >= 0) throw nonFinite(bad, (payload[bad]! & 0x3ff) === 0 ? 'an infinite half' : 'a NaN half');
      return { codec, length, payload };
    }
    case 'int8': {
      const chunkSize = fields.integer('chunkSize', 1);
      if (chunkSize > MAX_INT8_CHUNK_SIZE) throw fields.bad('chunkSize', `integer 1..${MAX_INT8_CHUNK_SIZE}`, `number ${chunkSize}`);
      const payload = fields.typedArray('payload', Int8Array, 'Int8Array');
      payloadLength(payload);
      const scales = fields.typedArray('scales', Float32Array, 'Float32Array');
      const chunks = Math.ceil(length / chunkSize);
      if (scales.length !== chunks) {
        throw new ProtocolError(
          ProtocolErrorCode.LENGTH_MISMATCH,
          `${label}: int8 gradient has ${scales.length} scales; ${length} values in chunks of ${chunkSize} need ${chunks}`,
          { path: `${fields.path}.scales` },
        );
      }
      for (let i = 0; i < chunks; i++) {
        const scale = scales[i]!;
        // `!(a <= b)` is also true for NaN.
        if (!(scale >= 0 && scale <= MAX_INT8_SCALE)) {
          throw new ProtocolError(
            scale < 0 ? ProtocolErrorCode.BAD_FIELD : ProtocolErrorCode.NON_FINITE,
            `${label}: int8 scale ${i} is ${scale}; scales must be finite, >= 0 and <= ${MAX_INT8_SCALE}`,
            { path: `${fields.path}.scales` },
          );
        }
      }
      return { codec, length, chunkSize, scales, payload };
    }
  }
}
// ---------------------------------------------------------------------------------------------
// blocks

/**
 * Check a list of shard blocks: non-empty, at most `maxShardsPerTask` entries and shards,
 * each aligned, ascending and disjoint. `read` validates one block's own fields.
 */
export function validateBlocks<T extends ShardBlock>(
  list: unknown[],
  path: string,
  limits: ResolvedDecodeLimits,
  read: (block: Fields, start: number, count: number) => T,
): { blocks: T[]; shards: number } {
  const max = limits.maxShardsPerTask;
  if (list.length === 0) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FIELD, `${path}: expected at least one block, got an empty array`, { path });
  }
  if (list.length > max) {
    throw new ProtocolError(
      ProtocolErrorCode.TOO_MANY_SHARDS,
      `${path} lists ${list.length} blocks; at most ${max} micro-shards per task`,
      { path },
    );
  }
  const blocks: T[] = [];
  let shards = 0;
  let previousEnd = 0;
  for (let i = 0; i < list.length; i++) {
    const blockPath = `${path}[${i}]`;
    const item = list[i];
    if (!isPlainObject(item)) {
      throw new ProtocolError(ProtocolErrorCode.BAD_FIELD, `${blockPath}: expected map, got ${describe(item)}`, {
        path: blockPath,
      });
    }
    const block = new Fields(item, blockPath);
    const start = block.integer('start', 0);
    const count = block.integer('count', 0);
    shards += count;
    if (shards > max) {
      throw new ProtocolError(
        ProtocolErrorCode.TOO_MANY_SHARDS,
        `${path} covers more than ${max} micro-shards (the most per task)`,
        { path: blockPath },
      );
    }
    if (!isPowerOfTwo(count) || start % count !== 0) {
      throw new ProtocolError(
        ProtocolErrorCode.BAD_BLOCK,
        `${blockPath} is {start: ${start}, count: ${count}}; a block's count must be a power of two and its start a multiple of count`,
        { path: blockPath },
      );
    }
    if (i > 0 && start < previousEnd) {
      throw new ProtocolError(
        ProtocolErrorCode.BAD_BLOCK,
        `${blockPath} starts at micro-shard ${start}, inside or before the previous block (which ends at ${previousEnd}); blocks must be ascending and disjoint`,
        { path: blockPath },
      );
    }
    previousEnd = start + count;
    blocks.push(read(block, start, count));
  }
  return { blocks, shards };
}

function isPowerOfTwo(value: number): boolean {
  if (value < 1) return false;
  let n = value;
  while (n > 0x40000000) {
    if (n % 2 !== 0) return false;
    n /= 2;
  }
  return (n & (n - 1)) === 0;
}

// ---------------------------------------------------------------------------------------------
// scans

/** Index of the first NaN or ±Infinity in `values`, or -1. One pass, no allocation. */
export function firstNonFiniteFloat(values: Float32Array): number {
  // x * 0 is 0 for finite x and NaN for NaN and ±Infinity; a NaN poisons the sum. No branch in the loop.
  const length = values.length;
  let poison = 0;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    poison += values[i]! * 0 + values[i + 1]! * 0 + values[i + 2]! * 0 + values[i + 3]! * 0;
  }
  for (; i < length; i++) poison += values[i]! * 0;
  if (poison === 0) return -1;
  for (let j = 0; j < length; j++) {
    if (!Number.isFinite(values[j]!)) return j;
  }
  return -1;
}

/** Index of the first half-precision Inf or NaN (exponent bits all ones) in `halves`, or -1. */
function firstNonFiniteHalf(halves: Uint16Array): number {
  const length = halves.length;
  let all = 0;
  // OR of (exponent == 31) bits: ((h & 0x7c00) + 0x0400) & 0x8000 is set exactly when the exponent is all ones.
  for (let i = 0; i < length; i++) all |= ((halves[i]! & 0x7c00) + 0x0400) & 0x8000;
  if (all === 0) return -1;
  for (let i = 0; i < length; i++) {
    if ((halves[i]! & 0x7c00) === 0x7c00) return i;
  }
  return -1;
}

/** "model <name>" when the limits name the model, else "the model" (for error texts). */
export function modelLabel(limits: ResolvedDecodeLimits): string {
  return limits.modelName === undefined ? 'the model' : `model ${limits.modelName}`;
}
