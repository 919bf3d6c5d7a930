/**
 * The one seeded pseudo-random generator of swarmgrad: xoshiro128** (Blackman & Vigna, 2018)
 * seeded through splitmix32. It draws the epoch permutations of the sampling schedule
 * (`sampling.ts`), the synthetic data sets of `@swarmgrad/data` and the initial parameters
 * (`params.ts`, through {@link Xoshiro128}).
 *
 * Everything is 32-bit integer arithmetic (`Math.imul`, shifts, xor) plus divisions by powers
 * of two, so every JavaScript engine on every platform produces the same bits. Part of the
 * determinism contract: another implementation must reproduce it exactly (see README).
 */
import { NnError, NnErrorCode } from './errors.js';

const GOLDEN_GAMMA = 0x9e3779b9;
const TWO_POW_32 = 4294967296;
const TWO_POW_24 = 16777216;

/**
 * Check that `value` is an integer in `[0, 2^32)` and return it.
 * @throws {@link NnError} `BAD_OPTIONS`
 */
export function checkUint32(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new NnError(NnErrorCode.BAD_OPTIONS, `${what} is ${String(value)}, expected an integer in [0, 2^32)`);
  }
  return value;
}

/**
 * The splitmix32 output function (murmur3's fmix32 finaliser) — a bijection on 32-bit words.
 * `mix32(x)`: `x ^= x >>> 16; x *= 0x85ebca6b; x ^= x >>> 13; x *= 0xc2b2ae35; x ^= x >>> 16` (mod 2^32).
 */
export function mix32(value: number): number {
  let z = value | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * The first `count` outputs of splitmix32 from `seed`: output `k` (1-based) is
 * `mix32(seed + k · 0x9e3779b9 mod 2^32)`.
 */
export function splitmix32(seed: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  let state = seed | 0;
  for (let k = 0; k < count; k++) {
    state = (state + GOLDEN_GAMMA) | 0;
    out[k] = mix32(state);
  }
  return out;
}

/**
 * xoshiro128** with a serialisable 128-bit state. Not cryptographic.
 *
 * @example
 * ```ts
 * const rng = Prng.fromSeed(42);
 * rng.nextUint32(); rng.nextInt(10); rng.nextFloat();
 * const saved = rng.getState(); // Uint32Array(4), e.g. for a checkpoint
 * const again = Prng.fromState(saved);
 * ```
 */
export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(state: ArrayLike<number>) {
    this.s0 = (state[0] ?? 0) >>> 0;
    this.s1 = (state[1] ?? 0) >>> 0;
    this.s2 = (state[2] ?? 0) >>> 0;
    this.s3 = (state[3] ?? 0) >>> 0;
  }

  /**
   * A generator whose state is the first four splitmix32 outputs of `seed`.
   * @param seed - integer in `[0, 2^32)`
   * @throws {@link NnError} `BAD_OPTIONS`
   */
  static fromSeed(seed: number): Prng {
    return new Prng(splitmix32(checkUint32(seed, 'seed'), 4));
  }

  /**
   * A generator keyed by two words, e.g. `(seed, epoch)`: `fromSeed(mix32(mix32(key0) + key1 mod 2^32))`.
   * For a fixed `key0`, distinct `key1` give distinct generators (every step is a bijection in
   * `key1`), and all four state words depend on both keys, so streams for neighbouring keys
   * are unrelated from their first output.
   * @throws {@link NnError} `BAD_OPTIONS` if a key is not in `[0, 2^32)`
   */
  static fromKeys(key0: number, key1: number): Prng {
    checkUint32(key0, 'key0');
    checkUint32(key1, 'key1');
    return new Prng(splitmix32(mix32((mix32(key0) + key1) >>> 0), 4));
  }

  /**
   * Restore a generator from {@link Prng.getState}.
   * @param state - four words in `[0, 2^32)`, not all zero
   * @throws {@link NnError} `BAD_OPTIONS`
   */
  static fromState(state: ArrayLike<number>): Prng {
    if (state.length !== 4) {
      throw new NnError(NnErrorCode.BAD_OPTIONS, `PRNG state has ${state.length} words, expected 4`);
    }
    for (let i = 0; i < 4; i++) checkUint32(state[i], `PRNG state word ${i}`);
    if (state[0] === 0 && state[1] === 0 && state[2] === 0 && state[3] === 0) {
      throw new NnError(NnErrorCode.BAD_OPTIONS, 'PRNG state is all zero, which xoshiro128** never leaves; expected at least one non-zero word');
    }
    return new Prng(state);
  }

  /** The current state, four 32-bit words `[s0, s1, s2, s3]`; a copy. */
  getState(): Uint32Array {
    return Uint32Array.of(this.s0, this.s1, this.s2, this.s3);
  }

  /** An independent generator in the same state. */
  clone(): Prng {
    return new Prng(this.getState());
  }

  /** The next output, an integer in `[0, 2^32)`. */
  nextUint32(): number {
    const s0 = this.s0;
    const s1 = this.s1;
    const product = Math.imul(s1, 5);
    const result = Math.imul((product << 7) | (product >>> 25), 9) >>> 0;
    const t = s1 << 9;
    let s2 = this.s2 ^ s0;
    let s3 = this.s3 ^ s1;
    this.s1 = (s1 ^ s2) >>> 0;
    this.s0 = (s0 ^ s3) >>> 0;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
    return result;
  }

  /** A float in `[0, 1)`: `nextUint32() / 2^32` (exact in float64). */
  nextFloat(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** A float in `[0, 1)` with 24 random bits: `(nextUint32() >>> 8) / 2^24` (exact in float32). */
  nextFloat24(): number {
    return (this.nextUint32() >>> 8) / TWO_POW_24;
  }

  /**
   * A uniform integer in `[0, bound)` by bitmask rejection: `mask` is the smallest `2^k - 1`
   * with `mask ≥ bound - 1`; draw `x = nextUint32() & mask` until `x < bound`. Consumes at
   * least one output, even when `bound` is 1.
   * @param bound - integer in `[1, 2^32]`
   * @throws {@link NnError} `BAD_OPTIONS`
   */
  nextInt(bound: number): number {
    if (!Number.isInteger(bound) || bound < 1 || bound > TWO_POW_32) {
      throw new NnError(NnErrorCode.BAD_OPTIONS, `nextInt bound is ${bound}, expected an integer in [1, 2^32]`);
    }
    return this.nextIntUnchecked(bound);
  }

  /** {@link Prng.nextInt} without the argument check, for hot loops that already know the bound is valid. */
  nextIntUnchecked(bound: number): number {
    let mask = (bound - 1) >>> 0;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    for (;;) {
      const x = (this.nextUint32() & mask) >>> 0;
      if (x < bound) return x;
    }
  }
}

/**
 * The parameter-initialisation view of {@link Prng}: `new Xoshiro128(seed)` is
 * `Prng.fromSeed(seed >>> 0)` (any number is accepted; only its low 32 bits are used) and
 * `nextFloat()` is {@link Prng.nextFloat24}, so its floats are exact in float32. Kept as its
 * own small class because `initParams` and many tests draw from it by this name.
 */
export class Xoshiro128 {
  private readonly prng: Prng;

  /** @param seed any integer; only its low 32 bits are used. */
  constructor(seed: number) {
    this.prng = Prng.fromSeed(seed >>> 0);
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    return this.prng.nextUint32();
  }

  /** A uniform number in [0, 1) with 24 random bits (exactly representable in float32). */
  nextFloat(): number {
    return this.prng.nextFloat24();
  }
}
