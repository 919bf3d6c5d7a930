import { describe, expect, it } from 'vitest';
import { bitwiseEqual, compareResults, CROSS_BACKEND_INCONCLUSIVE_BOUND, CROSS_BACKEND_TOLERANCE, implausibleTrainResult, relativeError } from './result-compare.js';

function randomGrads(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}
const result = (grads: Float32Array, lossSum = 3.25, correct = 0) => ({ grads, lossSum, sampleCount: 16, correct });

describe('compareResults', () => {
  const reference = randomGrads(1000, 1);

  it('same backend: equal bits match; one ulp anywhere does not', () => {
    expect(compareResults(result(reference.slice()), result(reference), { sameBackend: true })).toMatchObject({ match: true, mode: 'bitwise', relativeError: 0 });
    for (const index of [0, 499, 999]) {
      const nudged = reference.slice();
      new Uint32Array(nudged.buffer)[index]! += 1;
      const c = compareResults(result(nudged), result(reference), { sameBackend: true });
      expect(c.match).toBe(false);
      expect(c.relativeError).toBeGreaterThan(0);
      expect(c.relativeError).toBeLessThan(1e-6);
    }
  });

  it('same backend: -0 and +0 differ, forged lossSum or correct fails', () => {
    const a = new Float32Array([0, 1]);
    const b = new Float32Array([-0, 1]);
    expect(bitwiseEqual(a, b)).toBe(false);
    expect(compareResults(result(reference), result(reference, 3.5), { sameBackend: true }).match).toBe(false);
    expect(compareResults(result(new Float32Array(0), 1, 7), result(new Float32Array(0), 1, 9), { sameBackend: true }).reason).toMatch(/correct/);
  });

  it('across backends: relative error within the tolerance matches, beyond it fails', () => {
    const close = reference.map((v, i) => v * (1 + (i % 2 ? 1 : -1) * 2e-6));
    const c = compareResults(result(close), result(reference), { sameBackend: false });
    expect(c).toMatchObject({ match: true, mode: 'tolerance' });
    expect(c.relativeError).toBeCloseTo(relativeError(close, reference), 12);
    const far = reference.map((v, i) => v + (i === 3 ? 0.05 : 0));
    expect(compareResults(result(far), result(reference), { sameBackend: false }).match).toBe(false);
    expect(compareResults(result(reference.map((v) => -v)), result(reference), { sameBackend: false }).match).toBe(false);
    expect(compareResults(result(reference.map((v) => v * 1.01)), result(reference), { sameBackend: false }).match).toBe(false);
    expect(CROSS_BACKEND_TOLERANCE).toBe(1e-5);
  });

  it('across backends: a difference in (tolerance, 1e-2] is inconclusive, not a match; beyond it, or on one backend, never', () => {
    const scaled = (f: number) => reference.map((v) => v * f);
    const flip = compareResults(result(scaled(1 + 5e-4)), result(reference), { sameBackend: false });
    expect(flip).toMatchObject({ match: false, mode: 'tolerance', inconclusive: true });
    expect(flip.reason).toMatch(/inconclusive across backends/);
    expect(compareResults(result(scaled(1 + 2e-6)), result(reference), { sameBackend: false }).inconclusive).toBeUndefined();
    expect(compareResults(result(scaled(1.02)), result(reference), { sameBackend: false })).toMatchObject({ match: false });
    expect(compareResults(result(scaled(1.02)), result(reference), { sameBackend: false }).inconclusive).toBeUndefined();
    // The same small difference on one backend is a bitwise mismatch, never inconclusive.
    expect(compareResults(result(scaled(1 + 5e-4)), result(reference), { sameBackend: true }).inconclusive).toBeUndefined();
    // A forged loss is not excused by a gradient in the band.
    expect(compareResults(result(scaled(1 + 5e-4), 3.5), result(reference), { sameBackend: false }).inconclusive).toBeUndefined();
    expect(CROSS_BACKEND_INCONCLUSIVE_BOUND).toBe(1e-2);
  });

  it('relativeError against a float64 loop', () => {
    const a = randomGrads(257, 5);
    const b = randomGrads(257, 6);
    let d = 0;
    let n = 0;
    for (let i = 0; i < 257; i++) {
      d += (a[i]! - b[i]!) ** 2;
      n += b[i]! ** 2;
    }
    expect(relativeError(a, b)).toBeCloseTo(Math.sqrt(d / n), 12);
    expect(relativeError(a, b.subarray(1))).toBe(Infinity);
  });
});

describe('implausibleTrainResult', () => {
  it('flags an all-zero gradient with a positive loss (a broken driver), passes a real one', () => {
    expect(implausibleTrainResult(result(new Float32Array(100)))).toMatch(/all zeros/);
    expect(implausibleTrainResult(result(randomGrads(100, 2)))).toBeNull();
    const one = new Float32Array(100);
    one[99] = 1e-30;
    expect(implausibleTrainResult(result(one))).toBeNull();
    expect(implausibleTrainResult(result(randomGrads(10, 3), -1))).toMatch(/negative/);
  });
});
