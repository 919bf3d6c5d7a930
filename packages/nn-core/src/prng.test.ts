import { describe, expect, it } from 'vitest';
import { NnErrorCode } from './errors.js';
import { Prng, Xoshiro128, mix32, splitmix32 } from './prng.js';

const throwsCode = (code: string) => expect.objectContaining({ name: 'NnError', code });

// Independent reference in BigInt arithmetic, written from the published algorithms.
const M32 = 0xffffffffn;
const mul = (a: bigint, b: bigint): bigint => (a * b) & M32;
const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & M32;
function refMix(x: bigint): bigint {
  x = mul(x ^ (x >> 16n), 0x85ebca6bn);
  x = mul(x ^ (x >> 13n), 0xc2b2ae35n);
  return x ^ (x >> 16n);
}
function refSplitmix(seed: number, count: number): number[] {
  let state = BigInt(seed);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    state = (state + 0x9e3779b9n) & M32;
    out.push(Number(refMix(state)));
  }
  return out;
}
function refXoshiro(state: number[], count: number): number[] {
  const s = state.map(BigInt);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const [s0, s1, s2, s3] = s as [bigint, bigint, bigint, bigint];
    out.push(Number(mul(rotl(mul(s1, 5n), 7n), 9n)));
    const t = (s1 << 9n) & M32;
    let n2 = s2 ^ s0;
    let n3 = s3 ^ s1;
    const n1 = s1 ^ n2;
    const n0 = s0 ^ n3;
    n2 ^= t;
    n3 = rotl(n3, 11n);
    s.splice(0, 4, n0, n1, n2, n3);
  }
  return out;
}

describe('splitmix32 / mix32', () => {
  it('matches the BigInt reference', () => {
    for (const seed of [0, 1, 42, 0x9e3779b9, 0xffffffff, 123456789]) {
      expect(Array.from(splitmix32(seed, 5))).toEqual(refSplitmix(seed, 5));
    }
    for (const x of [0, 1, 0x80000000, 0xdeadbeef]) expect(mix32(x)).toBe(Number(refMix(BigInt(x))));
  });
});

describe('Prng (xoshiro128**)', () => {
  it('matches the published sequence for state [1, 2, 3, 4]', () => {
    const rng = Prng.fromState([1, 2, 3, 4]);
    const got = Array.from({ length: 6 }, () => rng.nextUint32());
    // First two by hand: rotl(2·5, 7)·9 = 11520; then s1 becomes 0, so 0.
    expect(got.slice(0, 2)).toEqual([11520, 0]);
    // The values the reference C implementation prints for this state.
    expect(got).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
    expect(got).toEqual(refXoshiro([1, 2, 3, 4], 6));
  });

  it('matches the BigInt reference over a long run from splitmix seeding', () => {
    const rng = Prng.fromSeed(42);
    const state = Array.from(rng.getState());
    expect(state).toEqual(refSplitmix(42, 4));
    const got = Array.from({ length: 1000 }, () => rng.nextUint32());
    expect(got).toEqual(refXoshiro(state, 1000));
  });

  it('pins golden values for seed 42 (catches any platform or refactoring change)', () => {
    const rng = Prng.fromSeed(42);
    expect(Array.from(rng.getState())).toEqual([939911724, 3948730756, 321366731, 3317318717]);
    expect([rng.nextUint32(), rng.nextUint32(), rng.nextUint32()]).toEqual([2837322924, 544945897, 479756282]);
  });

  it('keys two words through mix32 into a splitmix-seeded state', () => {
    for (const [k0, k1] of [[5, 9], [0, 0], [42, 7], [0xffffffff, 0xffffffff]] as const) {
      const key = Number(refMix((refMix(BigInt(k0)) + BigInt(k1)) & M32));
      expect(Array.from(Prng.fromKeys(k0, k1).getState())).toEqual(refSplitmix(key, 4));
    }
  });

  it('gives unrelated first outputs for neighbouring second keys (no shared state word)', () => {
    const firsts = new Set<number>();
    const words = new Set<number>();
    for (let k1 = 0; k1 < 1000; k1++) {
      const rng = Prng.fromKeys(7, k1);
      for (const w of rng.getState()) words.add(w);
      firsts.add(rng.nextUint32());
    }
    expect(firsts.size).toBe(1000);
    expect(words.size).toBe(4000);
    expect(Prng.fromKeys(3, 4).getState()).not.toEqual(Prng.fromKeys(4, 3).getState());
  });

  it('serialises and restores its state mid-stream', () => {
    const rng = Prng.fromSeed(3);
    for (let i = 0; i < 17; i++) rng.nextUint32();
    const saved = rng.getState();
    const restored = Prng.fromState(Array.from(saved));
    const clone = rng.clone();
    const expected = Array.from({ length: 50 }, () => rng.nextUint32());
    expect(Array.from({ length: 50 }, () => restored.nextUint32())).toEqual(expected);
    expect(Array.from({ length: 50 }, () => clone.nextUint32())).toEqual(expected);
    saved[0] = 0; // getState returns a copy
    expect(Prng.fromState(rng.getState()).nextUint32()).toBe(rng.clone().nextUint32());
  });

  it('rejects invalid seeds and states with BAD_OPTIONS', () => {
    for (const seed of [-1, 1.5, 2 ** 32, Number.NaN]) expect(() => Prng.fromSeed(seed)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => Prng.fromState([1, 2, 3])).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => Prng.fromState([0, 0, 0, 0])).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => Prng.fromState([1, 2, 3, -4])).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
    expect(() => Prng.fromKeys(1, 2 ** 32)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
  });

  it('nextFloat is nextUint32 / 2^32, in [0, 1)', () => {
    const a = Prng.fromSeed(9);
    const b = Prng.fromSeed(9);
    for (let i = 0; i < 1000; i++) {
      const f = a.nextFloat();
      expect(f).toBe(b.nextUint32() / 2 ** 32);
      expect(f >= 0 && f < 1).toBe(true);
    }
  });

  it('nextInt is bitmask rejection, in range, and roughly uniform', () => {
    const a = Prng.fromSeed(11);
    const b = Prng.fromSeed(11);
    const bound = 6; // mask 7: rejects 6 and 7
    const counts = new Array<number>(bound).fill(0);
    const got = new Uint32Array(60_000);
    const expected = new Uint32Array(60_000);
    for (let i = 0; i < got.length; i++) {
      const v = a.nextInt(bound);
      let x: number;
      do x = b.nextUint32() & 7;
      while (x >= bound);
      got[i] = v;
      expected[i] = x;
      counts[v] = (counts[v] ?? 0) + 1;
    }
    expect(got).toEqual(expected);
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500); // > 5 sigma
    expect(a.getState()).toEqual(b.getState());
  });

  it('nextInt handles the extreme bounds and rejects bad ones', () => {
    const rng = Prng.fromSeed(1);
    const before = rng.getState();
    expect(rng.nextInt(1)).toBe(0);
    expect(rng.getState()).not.toEqual(before); // consumes one output
    const big = rng.nextInt(2 ** 32);
    expect(Number.isInteger(big) && big >= 0 && big < 2 ** 32).toBe(true);
    for (const bound of [0, -1, 2.5, 2 ** 32 + 1]) expect(() => rng.nextInt(bound)).toThrow(throwsCode(NnErrorCode.BAD_OPTIONS));
  });
});

describe('Xoshiro128 (the parameter-initialisation view)', () => {
  it('is splitmix32-seeded xoshiro128** on the low 32 bits of the seed, with 24-bit floats', () => {
    for (const seed of [0, 7, 42, -1, 2 ** 32 + 5, 0xffffffff]) {
      const expected = refXoshiro(refSplitmix(seed >>> 0, 4), 8);
      const ints = new Xoshiro128(seed);
      expect(Array.from({ length: 8 }, () => ints.nextUint32())).toEqual(expected);
      const floats = new Xoshiro128(seed);
      const got = Array.from({ length: 8 }, () => floats.nextFloat());
      expect(got).toEqual(expected.map((u) => Math.floor(u / 256) / 16777216));
      for (const f of got) expect(Math.fround(f)).toBe(f);
    }
  });
});
