/**
 * Gradient codecs: how a block's gradient sum (a Float32Array of P values) travels.
 *
 * | codec  | bytes per value | exact | notes |
 * | ------ | --------------- | ----- | ----- |
 * | `f32`  | 4               | yes   | default; zero-copy both ways; required for bitwise-deterministic steps |
 * | `f16`  | 2               | no    | IEEE half, round to nearest even, saturates at ±65504 |
 * | `int8` | ~1 (+4 per chunk) | no  | per-chunk scale `maxabs / 127`; pair with `Int8Encoder` for error feedback |
 */
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { decodeFloat16, encodeFloat16 } from './float16.js';
import {
  GRADIENT_CODECS,
  type EncodedGradient,
  type F16Gradient,
  type F32Gradient,
  type GradientCodecName,
  type Int8Gradient,
} from './messages.js';

/** Values per scale in an `int8` gradient unless chosen otherwise. */
export const DEFAULT_INT8_CHUNK_SIZE = 256;

/** Largest accepted `int8` chunk size. */
export const MAX_INT8_CHUNK_SIZE = 1 << 20;

/**
 * Largest accepted `int8` scale: FLT_MAX / 128 (exact), so that every `int8` value times
 * its scale (|q| <= 128) is a finite float32.
 */
export const MAX_INT8_SCALE = 3.4028234663852886e38 / 128;

/**
 * Encode a gradient with a codec.
 *
 * - `f32` returns a view of `values` itself (no copy): do not change `values` until the
 *   message holding it has been encoded.
 * - `f16` converts with round-to-nearest-even; finite values beyond ±65504 saturate.
 * - `int8` quantises each chunk of `DEFAULT_INT8_CHUNK_SIZE` values to `round(v / scale)`
 *   with `scale = maxabs / 127`. Pass an `Int8Encoder` as `state` to get error feedback
 *   (the quantisation error is carried into the next call instead of being lost); without
 *   one each call is independent.
 *
 * Throws `TypeError` for an unknown codec or a `state` given with another codec, and
 * `RangeError` if `int8` meets a non-finite value (there is no finite encoding of it).
 */
export function encodeGradient(
  codec: GradientCodecName,
  values: Float32Array,
  state?: Int8Encoder,
): EncodedGradient {
  if (state !== undefined && codec !== 'int8') {
    throw new TypeError(`encodeGradient: an Int8Encoder state was given with codec ${codec}`);
  }
  switch (codec) {
    case 'f32':
      return { codec: 'f32', length: values.length, payload: values } satisfies F32Gradient;
    case 'f16':
      return { codec: 'f16', length: values.length, payload: encodeFloat16(values) } satisfies F16Gradient;
    case 'int8':
      return state !== undefined
        ? state.encode(values)
        : quantizeInt8(values, undefined, DEFAULT_INT8_CHUNK_SIZE);
    default:
      throw new TypeError(`encodeGradient: unknown codec ${String(codec)}; expected one of ${GRADIENT_CODECS.join(', ')}`);
  }
}

/**
 * Decode a gradient to `expectedLength` float32 values. Checks that the declared length is
 * `expectedLength` and that the payload sizes agree with it (`LENGTH_MISMATCH`), and the
 * codec and payload types (`BAD_FIELD`); it does not scan for NaN: `decodeMessage` already
 * did (f32 and f16 payloads with Inf/NaN, or non-finite int8 scales, never get past it).
 *
 * `f32` returns the payload itself (zero-copy) unless `out` is given. `f16` and `int8`
 * write into `out` when given, else a new array.
 */
export function decodeGradient(encoded: EncodedGradient, expectedLength: number, out?: Float32Array): Float32Array {
  const length: unknown = encoded.length;
  if (length !== expectedLength) {
    throw new ProtocolError(
      ProtocolErrorCode.LENGTH_MISMATCH,
      `gradient has ${String(length)} values; expected ${expectedLength}`,
    );
  }
  if (out !== undefined && out.length !== expectedLength) {
    throw new RangeError(`decodeGradient: out has ${out.length} slots for ${expectedLength} values`);
  }
  const codec: unknown = encoded.codec;
  switch (codec) {
    case 'f32': {
      const payload = checkPayload(encoded.payload, Float32Array, 'Float32Array', expectedLength);
      if (out === undefined) return payload;
      out.set(payload);
      return out;
    }
    case 'f16': {
      const payload = checkPayload(encoded.payload, Uint16Array, 'Uint16Array', expectedLength);
      return decodeFloat16(payload, out);
    }
    case 'int8': {
      const gradient = encoded as Int8Gradient;
      const payload = checkPayload(gradient.payload, Int8Array, 'Int8Array', expectedLength);
      const chunkSize = gradient.chunkSize;
      if (!Number.isSafeInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_INT8_CHUNK_SIZE) {
        throw new ProtocolError(
          ProtocolErrorCode.BAD_FIELD,
          `gradient.chunkSize: expected integer 1..${MAX_INT8_CHUNK_SIZE}, got ${String(chunkSize)}`,
          { path: 'gradient.chunkSize' },
        );
      }
      const chunks = Math.ceil(expectedLength / chunkSize);
      const scales = checkPayload(gradient.scales, Float32Array, 'Float32Array', chunks, 'scales');
      return dequantizeInt8(payload, scales, chunkSize, out ?? new Float32Array(expectedLength));
    }
    default:
      throw new ProtocolError(
        ProtocolErrorCode.BAD_FIELD,
        `gradient.codec: expected one of ${GRADIENT_CODECS.join(', ')}, got ${String(codec)}`,
        { path: 'gradient.codec' },
      );
  }
}

/**
 * Bytes a gradient of `length` values occupies on the wire with `codec` (payload and the
 * typed-array headers, without the surrounding map keys).
 */
export function encodedGradientBytes(
  codec: GradientCodecName,
  length: number,
  chunkSize: number = DEFAULT_INT8_CHUNK_SIZE,
): number {
  const typedArrayBytes = (bytes: number): number => bytes + (bytes + 1 < 0x100 ? 4 : bytes + 1 < 0x10000 ? 5 : 7);
  switch (codec) {
    case 'f32':
      return typedArrayBytes(4 * length);
    case 'f16':
      return typedArrayBytes(2 * length);
    case 'int8':
      return typedArrayBytes(length) + typedArrayBytes(4 * Math.ceil(length / chunkSize));
    default:
      throw new TypeError(`encodedGradientBytes: unknown codec ${String(codec)}`);
  }
}

/**
 * `int8` encoder with **error feedback** for one stream of gradients of a fixed length
 * (one per worker and run).
 *
 * It keeps a residual: before quantising it adds the residual to the input, and after, it
 * stores what the quantisation lost (`corrected - decoded`). So over any number of calls
 * the sum of the decoded vectors equals the sum of the inputs minus the current residual,
 * and the residual stays within half a quantisation step per value (`scale / 2` of its
 * chunk): small components that one call would round to zero accumulate until they
 * count, instead of being lost every time.
 *
 * Feed it every block gradient the worker sends, in order: the coordinator sums blocks, so
 * carrying the residual from one block into the next preserves the invariant. A block
 * whose result the coordinator discards (a duplicate that lost the race) breaks it by that
 * block's share. Lossy codecs trade away bitwise determinism; use `f32` when it matters.
 * Call `reset()` when the run or the model changes.
 */
export class Int8Encoder {
  /** Number of values per gradient. */
  readonly length: number;
  /** Values per scale. */
  readonly chunkSize: number;
  /** What the last calls lost to quantisation, to be added to the next input. */
  readonly residual: Float32Array;

  /**
   * @param length number of values per gradient (the model's parameter count)
   * @param options.chunkSize values per scale, default `DEFAULT_INT8_CHUNK_SIZE`
   */
  constructor(length: number, options: { chunkSize?: number } = {}) {
    const chunkSize = options.chunkSize ?? DEFAULT_INT8_CHUNK_SIZE;
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new TypeError(`Int8Encoder: length must be a non-negative integer, got ${String(length)}`);
    }
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_INT8_CHUNK_SIZE) {
      throw new TypeError(`Int8Encoder: chunkSize must be an integer 1..${MAX_INT8_CHUNK_SIZE}, got ${String(chunkSize)}`);
    }
    this.length = length;
    this.chunkSize = chunkSize;
    this.residual = new Float32Array(length);
  }

  /**
   * Quantise `values + residual` and keep the new residual. Throws `RangeError` on a length
   * other than `length`, or on a non-finite value (the residual is left unchanged then).
   */
  encode(values: Float32Array): Int8Gradient {
    if (values.length !== this.length) {
      throw new RangeError(`Int8Encoder: got ${values.length} values; this encoder is for ${this.length}`);
    }
    return quantizeInt8(values, this.residual, this.chunkSize);
  }

  /** Forget the residual (start a new stream). */
  reset(): void {
    this.residual.fill(0);
  }
}

function quantizeInt8(values: Float32Array, residual: Float32Array | undefined, chunkSize: number): Int8Gradient {
  const length = values.length;
  const chunks = Math.ceil(length / chunkSize);
  // Check every chunk is finite before touching the residual, so a failed call changes nothing.
  const maxAbs = new Float64Array(chunks);
  for (let chunk = 0; chunk < chunks; chunk++) {
    const end = Math.min(length, (chunk + 1) * chunkSize);
    let max = 0;
    if (residual === undefined) {
      for (let i = chunk * chunkSize; i < end; i++) {
        const magnitude = Math.abs(values[i]!);
        if (magnitude > max) max = magnitude;
        else if (!(magnitude <= max)) max = Number.NaN; // NaN: sticks, as NaN compares false both ways
      }
    } else {
      for (let i = chunk * chunkSize; i < end; i++) {
        const magnitude = Math.abs(values[i]! + residual[i]!);
        if (magnitude > max) max = magnitude;
        else if (!(magnitude <= max)) max = Number.NaN;
      }
    }
    if (!Number.isFinite(max)) {
      throw new RangeError(`int8 gradient encoding: non-finite value in values ${chunk * chunkSize}..${end - 1}`);
    }
    maxAbs[chunk] = max;
  }
  const payload = new Int8Array(length);
  const scales = new Float32Array(chunks);
  for (let chunk = 0; chunk < chunks; chunk++) {
    const start = chunk * chunkSize;
    const end = Math.min(length, start + chunkSize);
    const scale = Math.min(Math.fround(maxAbs[chunk]! / 127), MAX_INT8_SCALE);
    scales[chunk] = scale;
    if (scale === 0) {
      // All zeros (or below float32 resolution): every q is 0, the residual keeps everything.
      if (residual !== undefined) for (let i = start; i < end; i++) residual[i] = values[i]! + residual[i]!;
      continue;
    }
    const inverse = 1 / scale;
    for (let i = start; i < end; i++) {
      const corrected = residual === undefined ? values[i]! : values[i]! + residual[i]!;
      // floor(x + 0.5), not Math.round: same rounding here (half up), and several times faster in V8.
      let q = Math.floor(corrected * inverse + 0.5);
      if (q > 127) q = 127;
      else if (q < -127) q = -127;
      payload[i] = q;
      if (residual !== undefined) residual[i] = corrected - Math.fround(q * scale);
    }
  }
  return { codec: 'int8', length, chunkSize, scales, payload };
}

function dequantizeInt8(payload: Int8Array, scales: Float32Array, chunkSize: number, out: Float32Array): Float32Array {
  const length = payload.length;
  for (let chunk = 0, start = 0; start < length; chunk++, start += chunkSize) {
    const scale = scales[chunk]!;
    const end = Math.min(length, start + chunkSize);
    for (let i = start; i < end; i++) out[i] = payload[i]! * scale;
  }
  return out;
}

type TypedArrayConstructor<T> = abstract new (...args: never[]) => T;

function checkPayload<T extends { length: number }>(
  value: unknown,
  type: TypedArrayConstructor<T>,
  typeName: string,
  expectedLength: number,
  field = 'payload',
): T {
  if (!(value instanceof type)) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FIELD, `gradient.${field}: expected ${typeName}`, {
      path: `gradient.${field}`,
    });
  }
  if (value.length !== expectedLength) {
    throw new ProtocolError(
      ProtocolErrorCode.LENGTH_MISMATCH,
      `gradient.${field} has ${value.length} values; expected ${expectedLength}`,
      { path: `gradient.${field}` },
    );
  }
  return value;
}
