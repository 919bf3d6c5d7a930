import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from './codec.js';
import { isProtocolError } from './errors.js';
import { applyParamsDelta, encodeParamsDelta } from './params-delta.js';

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** A vector and a small Adam-like update of it, with -0, subnormals and exact zeros in it. */
function vectors(n: number): [Float32Array, Float32Array] {
  let s = 12345;
  const rand = (): number => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5;
  const base = Float32Array.from({ length: n }, () => rand() * 0.1);
  const next = base.map((v) => v - 1e-3 * Math.sign(rand()));
  base[0] = -0;
  next[0] = 0;
  base[1] = 1e-45;
  next[1] = -1e-45;
  next[2] = base[2]!;
  return [base, next];
}

describe('xor-deflate params delta', () => {
  it('gives the exact bits of the next vector, and fewer bytes than the full vector', () => {
    const [base, next] = vectors(50_000);
    const bytes = encodeParamsDelta(base, next);
    const got = applyParamsDelta(base, bytes);
    expect(sameBits(got, next)).toBe(true);
    expect(Object.is(got[0], 0)).toBe(true);
    expect(bytes.length).toBeLessThan(next.byteLength);
    // Applied to another base it gives other bits: the check above can fail.
    expect(sameBits(applyParamsDelta(next, bytes), next)).toBe(false);
  });

  it('travels in a params message and back', () => {
    const [base, next] = vectors(1000);
    const frame = encodeMessage({ type: 'params', runId: 'r', step: 5, params: new Float32Array(0), delta: { encoding: 'xor-deflate', baseStep: 4, bytes: encodeParamsDelta(base, next) } });
    const decoded = decodeMessage(frame, { parameterCount: 1000 });
    if (decoded.type !== 'params' || !decoded.delta) throw new Error('not a delta');
    expect(decoded.delta.baseStep).toBe(4);
    expect(sameBits(applyParamsDelta(base, decoded.delta.bytes), next)).toBe(true);
  });

  it('refuses a delta with a base not before its step, or with full params beside it', () => {
    const bad = (message: object) => {
      try {
        decodeMessage(encodeMessage(message as never));
        return 'accepted';
      } catch (error) {
        return isProtocolError(error) ? error.code : 'other';
      }
    };
    expect(bad({ type: 'params', runId: 'r', step: 5, delta: { encoding: 'xor-deflate', baseStep: 5, bytes: new Uint8Array(3) } })).toBe('BAD_FIELD');
    expect(bad({ type: 'params', runId: 'r', step: 5, params: new Float32Array(2), delta: { encoding: 'xor-deflate', baseStep: 4, bytes: new Uint8Array(3) } })).toBe('BAD_FIELD');
    expect(bad({ type: 'params', runId: 'r', step: 5, delta: { encoding: 'zstd', baseStep: 4, bytes: new Uint8Array(3) } })).toBe('BAD_FIELD');
  });

  it('an adversary cannot inflate past the model size or smuggle in non-finite values', () => {
    const [base] = vectors(100);
    // A deflate bomb: 1 MB of zeros in a few hundred bytes.
    const bomb = encodeParamsDelta(new Float32Array(250_000), new Float32Array(250_000));
    expect(() => applyParamsDelta(base, bomb)).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
    expect(() => applyParamsDelta(base, Uint8Array.of(1, 2, 3, 4, 5))).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
    const nan = base.slice();
    nan[7] = Number.NaN;
    expect(() => applyParamsDelta(base, encodeParamsDelta(base, nan))).toThrow(expect.objectContaining({ code: 'NON_FINITE' }));
    // A short delta (fewer values than the model) is refused too.
    expect(() => applyParamsDelta(base, encodeParamsDelta(base.subarray(0, 50), base.subarray(0, 50)))).toThrow(expect.objectContaining({ code: 'MALFORMED' }));
  });
});
