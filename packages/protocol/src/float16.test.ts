import { describe, expect, it } from 'vitest';
import { FLOAT16_MAX, decodeFloat16, encodeFloat16, float16BitsToFloat32, float32ToFloat16Bits } from './float16.js';
import { prng } from './test-support/fixtures.js';

/**
 * Independent reference: the half-precision value nearest to float32 `x`, ties to even,
 * computed in float64 from the definition (exponent, unit in the last place), with this
 * package's saturation at ±65504.
 */
function referenceHalfValue(x: number): number {
  if (Number.isNaN(x) || !Number.isFinite(x)) return x;
  const negative = x < 0 || Object.is(x, -0);
  const magnitude = Math.abs(x);
  let result: number;
  if (magnitude >= 65520) {
    result = FLOAT16_MAX;
  } else {
    let exponent = -14; // subnormals share the smallest normal's unit
    while (exponent < 15 && 2 ** (exponent + 1) <= magnitude) exponent++;
    const unit = 2 ** (exponent - 10);
    const scaled = magnitude / unit; // exact: a power-of-two scaling
    let rounded = Math.floor(scaled);
    const fraction = scaled - rounded;
    if (fraction > 0.5 || (fraction === 0.5 && rounded % 2 === 1)) rounded += 1;
    result = rounded * unit;
  }
  return negative ? -result : result;
}

const floatScratch = new Float32Array(1);
const bitsScratch = new Uint32Array(floatScratch.buffer);
function floatFromBits(bits: number): number {
  bitsScratch[0] = bits;
  return floatScratch[0]!;
}

function expectMatchesReference(x: number): void {
  const got = float16BitsToFloat32(float32ToFloat16Bits(x));
  const want = referenceHalfValue(x);
  if (!Object.is(got, want)) expect(got, `half(${x}) [bits 0x${bitsScratch[0]?.toString(16)}]`).toBe(want);
}

describe('float16', () => {
  it('round-trips every one of the 65,536 half bit patterns', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = float16BitsToFloat32(bits);
      const isNaNPattern = (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
      if (isNaNPattern) {
        expect(Number.isNaN(value)).toBe(true);
        expect(float32ToFloat16Bits(value) & 0x7fff).toBe(0x7e00);
      } else if (float32ToFloat16Bits(value) !== bits) {
        expect(float32ToFloat16Bits(value), `bits 0x${bits.toString(16)}`).toBe(bits);
      }
    }
  });

  it('decodes like a definition-based reference', () => {
    for (let bits = 0; bits < 0x10000; bits += 7) {
      const exponent = (bits >> 10) & 0x1f;
      const mantissa = bits & 0x3ff;
      if (exponent === 31) continue;
      const magnitude = exponent === 0 ? mantissa * 2 ** -24 : (1 + mantissa / 1024) * 2 ** (exponent - 15);
      expect(float16BitsToFloat32(bits)).toBe(bits & 0x8000 ? -magnitude : magnitude);
    }
  });

  it('rounds random float32 values (all exponents) like the reference', () => {
    const random = prng(101);
    for (let i = 0; i < 200_000; i++) {
      const bits = (Math.floor(random() * 0x100000000) >>> 0) as number;
      const x = floatFromBits(bits);
      if (Number.isNaN(x)) continue;
      expectMatchesReference(x);
    }
  });

  it('rounds random values in and around the half range like the reference', () => {
    const random = prng(102);
    for (let i = 0; i < 200_000; i++) {
      const x = Math.fround((random() < 0.5 ? -1 : 1) * 2 ** (random() * 44 - 28));
      expectMatchesReference(x);
    }
  });

  it('rounds exact midpoints between neighbouring halves to even', () => {
    const random = prng(103);
    for (let i = 0; i < 20_000; i++) {
      const bits = Math.floor(random() * 0x7bff); // below the largest finite half
      const low = float16BitsToFloat32(bits);
      const high = float16BitsToFloat32(bits + 1);
      const midpoint = Math.fround((low + high) / 2);
      expect(midpoint).toBe((low + high) / 2); // representable in float32
      expect(float32ToFloat16Bits(midpoint)).toBe(bits % 2 === 0 ? bits : bits + 1);
      expect(float32ToFloat16Bits(-midpoint)).toBe((bits % 2 === 0 ? bits : bits + 1) | 0x8000);
    }
  });

  it('handles the edge cases', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7bff], // IEEE would give Infinity; saturates
      [1e10, 0x7bff],
      [-1e30, 0xfbff],
      [3.4028234663852886e38, 0x7bff],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal: even is 0
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 units: even is 2
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up into the normals
      [1.401298464324817e-45, 0x0000], // smallest float32 subnormal
      [1 + 2 ** -11, 0x3c00], // tie: even is 1
      [1 + 3 * 2 ** -11, 0x3c02], // tie: even is 1 + 2^-9
    ];
    for (const [x, bits] of cases) expect(float32ToFloat16Bits(x), `${x}`).toBe(bits);
    expect(float32ToFloat16Bits(Number.NaN)).toBe(0x7e00);
  });

  it('keeps the relative error within 2^-11 in the normal range', () => {
    const random = prng(104);
    let worst = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = Math.fround(2 ** (random() * 29.99 - 14)); // 2^-14 .. < 65504
      const error = Math.abs(float16BitsToFloat32(float32ToFloat16Bits(x)) - x) / x;
      worst = Math.max(worst, error);
    }
    expect(worst).toBeLessThanOrEqual(2 ** -11);
    expect(worst).toBeGreaterThan(2 ** -12); // the bound is nearly reached: the test can fail
  });

  it('bulk encode/decode agree with the scalar functions', () => {
    const random = prng(105);
    const values = new Float32Array(10_000);
    for (let i = 0; i < values.length; i++) values[i] = (random() - 0.5) * 2 ** (random() * 50 - 30);
    values[3] = Infinity;
    values[4] = -0;
    const halves = encodeFloat16(values);
    const decoded = decodeFloat16(halves);
    for (let i = 0; i < values.length; i++) {
      expect(halves[i]).toBe(float32ToFloat16Bits(values[i]!));
      expect(Object.is(decoded[i], float16BitsToFloat32(halves[i]!))).toBe(true);
    }
    // Works on a view that does not start at offset 0 of its buffer.
    const view = values.subarray(5, 105);
    expect(Array.from(encodeFloat16(view))).toEqual(Array.from(halves.subarray(5, 105)));
    expect(() => encodeFloat16(values, new Uint16Array(3))).toThrow(RangeError);
    expect(() => decodeFloat16(halves, new Float32Array(3))).toThrow(RangeError);
  });
});
