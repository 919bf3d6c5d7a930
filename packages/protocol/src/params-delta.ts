/**
 * `xor-deflate`, the lossless parameter delta of the `params` message: the XOR of the float32
 * bit patterns of two parameter vectors, split into four byte planes (all lowest bytes, then
 * the next, ...: sign and exponent bytes of small updates are mostly zero) and compressed with
 * raw DEFLATE (fflate: pure JS, synchronous, the same code in Node, browsers and Web Workers).
 * Applying it to the base gives the new vector bit for bit, so the determinism contract holds.
 */
import { deflateSync, inflateSync } from 'fflate';
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { firstNonFiniteFloat } from './validate.js';

/** Bit patterns of a float32 vector (a view, no copy). */
function bits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

/**
 * The `xor-deflate` bytes that turn `base` into `next` (same length).
 * @param level DEFLATE level 0–9 (default 1: fast, most of the gain)
 */
export function encodeParamsDelta(base: Float32Array, next: Float32Array, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 1): Uint8Array {
  if (base.length !== next.length) throw new RangeError(`encodeParamsDelta: base has ${base.length} values, next ${next.length}`);
  const a = bits(base);
  const b = bits(next);
  const n = a.length;
  const planes = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) {
    const x = a[i]! ^ b[i]!;
    planes[i] = x & 0xff;
    planes[n + i] = (x >>> 8) & 0xff;
    planes[2 * n + i] = (x >>> 16) & 0xff;
    planes[3 * n + i] = x >>> 24;
  }
  return deflateSync(planes, { level });
}

/**
 * The vector `bytes` (from {@link encodeParamsDelta}) makes of `base`: a new array.
 * @throws ProtocolError `MALFORMED` when the bytes are not a delta of exactly `base.length`
 *   values (the output is bounded by `4 × base.length` bytes, so no input can inflate
 *   further), `NON_FINITE` when the result holds an Inf or NaN
 */
export function applyParamsDelta(base: Float32Array, bytes: Uint8Array): Float32Array {
  const n = base.length;
  let planes: Uint8Array;
  try {
    // One byte of room past the expected size, to tell "exactly" from "more".
    const out = new Uint8Array(4 * n + 1);
    planes = inflateSync(bytes, { out });
  } catch (error) {
    throw new ProtocolError(ProtocolErrorCode.MALFORMED, `params delta does not inflate: ${(error as Error).message}`, { path: 'params.delta.bytes' });
  }
  if (planes.length !== 4 * n) {
    throw new ProtocolError(ProtocolErrorCode.MALFORMED, `params delta inflates to ${planes.length} bytes; ${n} parameters need ${4 * n}`, { path: 'params.delta.bytes' });
  }
  const next = new Float32Array(n);
  const a = bits(base);
  const b = bits(next);
  for (let i = 0; i < n; i++) {
    b[i] = (a[i]! ^ (planes[i]! | (planes[n + i]! << 8) | (planes[2 * n + i]! << 16) | (planes[3 * n + i]! << 24))) >>> 0;
  }
  const bad = firstNonFiniteFloat(next);
  if (bad >= 0) throw new ProtocolError(ProtocolErrorCode.NON_FINITE, `params delta gives ${next[bad]} at index ${bad}; parameters must be finite`, { path: 'params.delta' });
  return next;
}
