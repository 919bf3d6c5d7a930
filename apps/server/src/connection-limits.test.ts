import { describe, expect, it } from 'vitest';
import { AddressBook, DEFAULT_CONNECTION_LIMITS, resolveConnectionLimits } from './connection-limits.js';

function book(limits: Parameters<typeof resolveConnectionLimits>[0] = {}) {
  let now = 1_000_000;
  const addresses = new AddressBook(resolveConnectionLimits(limits), () => now);
  return { addresses, advance: (ms: number) => (now += ms) };
}

describe('AddressBook', () => {
  it('caps open connections per address and frees a slot on release', () => {
    const { addresses } = book({ maxPerAddress: 3, connectBurst: 100 });
    expect([0, 1, 2].map(() => addresses.admit('a'))).toEqual([null, null, null]);
    expect(addresses.admit('a')).toBe('TOO_MANY_FROM_ADDRESS');
    expect(addresses.admit('b')).toBeNull();
    addresses.release('a');
    expect(addresses.admit('a')).toBeNull();
  });

  it('rate-limits new connections with a token bucket that refills over time', () => {
    const { addresses, advance } = book({ connectBurst: 4, connectRatePerSecond: 2, maxPerAddress: 100 });
    for (let i = 0; i < 4; i++) expect(addresses.admit('a')).toBeNull();
    expect(addresses.admit('a')).toBe('CONNECT_RATE');
    advance(500);
    expect(addresses.admit('a')).toBeNull();
    expect(addresses.admit('a')).toBe('CONNECT_RATE');
    addresses.refund('a');
    expect(addresses.admit('a')).toBeNull();
  });

  it('locks an address out after maxFailedSecrets wrong tokens, for lockoutMs', () => {
    const { addresses, advance } = book({ maxFailedSecrets: 3, lockoutMs: 60_000 });
    expect([1, 2, 3].map(() => addresses.failedSecret('a'))).toEqual([false, false, true]);
    expect(addresses.lockedOut('a')).toBe(true);
    expect(addresses.admit('a')).toBe('LOCKED_OUT');
    expect(addresses.admit('b')).toBeNull();
    advance(60_001);
    expect(addresses.admit('a')).toBeNull();
  });

  it('remembers at most maxAddresses addresses, forgetting idle ones first', () => {
    const { addresses } = book({ maxAddresses: 8 });
    expect(addresses.admit('busy')).toBeNull();
    for (let i = 0; i < 1000; i++) addresses.failedSecret(`10.0.${i >> 8}.${i & 255}`);
    expect(addresses.size).toBeLessThanOrEqual(8);
    // The address with an open connection is kept: releasing it still counts down.
    expect(addresses.admit('busy')).toBeNull();
  });

  it('refuses limits that are not positive integers', () => {
    expect(() => resolveConnectionLimits({ maxConnections: 0 })).toThrow(TypeError);
    expect(() => resolveConnectionLimits({ helloDeadlineMs: 1.5 })).toThrow(TypeError);
    expect(resolveConnectionLimits()).toEqual(DEFAULT_CONNECTION_LIMITS);
  });
});
