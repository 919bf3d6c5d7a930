/**
 * IEEE-754 binary16 ("half") conversion in plain TypeScript, by float32 bit manipulation.
 *
 * float32 → half rounds to nearest, ties to even, with half subnormals. Deviation from
 * IEEE, on purpose: a finite value too large for a half (|x| >= 65520, which IEEE rounds to
 * Infinity) **saturates to ±65504** (`FLOAT16_MAX`), so a large but finite gradient stays
 * finite on the wire. ±Infinity stays ±Infinity and NaN becomes the quiet NaN 0x7e00 (the
 * decoder then rejects both with `NON_FINITE`).
 */

/** Largest finite half-precision value. */
export const FLOAT16_MAX = 65504;

const scratchFloat = new Float32Array(1);
// Int32 (not Uint32) views: bit patterns of negative floats then stay small integers for V8, not doubles.
const scratchBits = new Int32Array(scratchFloat.buffer);

/** 2^-24: the value of the half-precision unit in the last place for subnormals. */
const HALF_SUBNORMAL_UNIT = 5.960464477539063e-8;

/** Convert one float32 bit pattern (as a 32-bit integer) to half bits. */
function halfFromFloatBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x38800000) {
    // |x| >= 2^-14: a normal half, or too large for one.
    if (abs >= 0x477ff000) {
      // |x| >= 65520 (rounds to Infinity under IEEE): saturate; keep Inf and NaN.
      if (abs > 0x7f800000) return sign | 0x7e00;
      if (abs === 0x7f800000) return sign | 0x7c00;
      return sign | 0x7bff;
    }
    // Re-bias the exponent (127 → 15) and round the 13 dropped mantissa bits to nearest even;
    // a carry out of the mantissa correctly bumps the exponent.
    return sign | ((abs + 0x0fff + ((abs >>> 13) & 1) - 0x38000000) >>> 13);
  }
  if (abs > 0x33000000) {
    // 2^-25 < |x| < 2^-14: a half subnormal (or, after rounding up, the smallest normal).
    const exponent = abs >>> 23;
    const mantissa = (abs & 0x7fffff) | 0x800000;
    const shift = 126 - exponent; // 14 .. 24
    let half = mantissa >>> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  // |x| <= 2^-25 (half of the smallest subnormal; the tie goes to even, i.e. zero).
  return sign;
}

/** Convert a number (rounded to float32 first) to its half-precision bit pattern. */
export function float32ToFloat16Bits(value: number): number {
  scratchFloat[0] = value;
  return halfFromFloatBits(scratchBits[0]!);
}

/** Convert a half-precision bit pattern (0..0xffff) to its exact value. */
export function float16BitsToFloat32(bits: number): number {
  const exponent = bits & 0x7c00;
  const sign = bits & 0x8000;
  if (exponent === 0) {
    const magnitude = (bits & 0x3ff) * HALF_SUBNORMAL_UNIT;
    return sign === 0 ? magnitude : -magnitude;
  }
  if (exponent === 0x7c00) {
    scratchBits[0] = (sign << 16) | 0x7f800000 | ((bits & 0x3ff) << 13);
  } else {
    scratchBits[0] = (sign << 16) | (((bits & 0x7fff) + 0x1c000) << 13);
  }
  return scratchFloat[0]!;
}

/**
 * Convert float32 values to half bit patterns (round to nearest even, saturating; see the
 * module doc). Writes into `out` when given (same length), else a new array.
 */
export function encodeFloat16(values: Float32Array, out?: Uint16Array): Uint16Array {
  const length = values.length;
  const target = out ?? new Uint16Array(length);
  if (target.length !== length) {
    throw new RangeError(`encodeFloat16: out has ${target.length} slots for ${length} values`);
  }
  const bits = new Int32Array(values.buffer, values.byteOffset, length);
  for (let i = 0; i < length; i++) target[i] = halfFromFloatBits(bits[i]!);
  return target;
}

/** Convert half bit patterns to float32 values (exact). Writes into `out` when given (same length), else a new array. */
export function decodeFloat16(halves: Uint16Array, out?: Float32Array): Float32Array {
  const length = halves.length;
  const target = out ?? new Float32Array(length);
  if (target.length !== length) {
    throw new RangeError(`decodeFloat16: out has ${target.length} slots for ${length} values`);
  }
  const targetBits = new Int32Array(target.buffer, target.byteOffset, length);
  for (let i = 0; i < length; i++) {
    const half = halves[i]!;
    const exponent = half & 0x7c00;
    if (exponent === 0) {
      const magnitude = (half & 0x3ff) * HALF_SUBNORMAL_UNIT;
      target[i] = (half & 0x8000) === 0 ? magnitude : -magnitude;
    } else if (exponent === 0x7c00) {
      targetBits[i] = ((half & 0x8000) << 16) | 0x7f800000 | ((half & 0x3ff) << 13);
    } else {
      targetBits[i] = ((half & 0x8000) << 16) | (((half & 0x7fff) + 0x1c000) << 13);
    }
  }
  return target;
}
