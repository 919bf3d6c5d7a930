import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Prng } from '@swarmgrad/data';
import { Sha256, paramsSha256, sha256, toHex } from './sha256.js';

describe('sha256', () => {
  it('matches the FIPS 180-4 examples', () => {
    expect(toHex(sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(toHex(sha256(new TextEncoder().encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('matches node:crypto on random inputs of every length up to 300 bytes and in random chunks', () => {
    const rng = Prng.fromSeed(5);
    for (let length = 0; length <= 300; length++) {
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) bytes[i] = rng.nextInt(256);
      const want = createHash('sha256').update(bytes).digest('hex');
      expect(toHex(sha256(bytes))).toBe(want);
      const hash = new Sha256();
      let offset = 0;
      while (offset < length) {
        const take = Math.min(length - offset, rng.nextInt(80) + 1);
        hash.update(bytes.subarray(offset, offset + take));
        offset += take;
      }
      expect(toHex(hash.digest())).toBe(want);
    }
  });

  it('hashes the raw little-endian bytes of parameters', () => {
    const params = Float32Array.of(1, -2.5, 3e-7, 0);
    const want = createHash('sha256').update(new Uint8Array(params.buffer)).digest('hex');
    expect(paramsSha256(params)).toBe(want);
    expect(paramsSha256(new Float32Array(Float32Array.of(9, 1, -2.5, 3e-7, 0).buffer, 4, 4))).toBe(want);
  });
});
