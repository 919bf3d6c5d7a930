import { describe, expect, it } from 'vitest';
import { BanList, isLoopbackAddress } from './ban-list.js';

describe('BanList', () => {
  it('bans by worker and address, expires, lifts, survives a JSON round trip', () => {
    const writes: string[] = [];
    const list = new BanList((l) => writes.push(JSON.stringify(l.toJSON())));
    list.ban({ workerId: 'w7', address: '203.0.113.9' }, 'gradient differs', 1000, 60_000);
    expect(list.find({ workerId: 'w7' }, 2000)?.reason).toBe('gradient differs');
    expect(list.find({ workerId: 'w8', address: '203.0.113.9' }, 2000)?.kind).toBe('address');
    expect(list.find({ workerId: 'w8', address: '203.0.113.10' }, 2000)).toBeUndefined();
    const restored = BanList.fromJSON(JSON.parse(writes.at(-1)!));
    expect(restored.find({ workerId: 'w7' }, 2000)?.until).toBe(61_000);
    expect(restored.find({ workerId: 'w7' }, 61_000)).toBeUndefined(); // expired
    expect(list.lift('w7')).toBe(true);
    expect(list.find({ workerId: 'w7' }, 2000)).toBeUndefined();
    expect(list.lift('address:203.0.113.9')).toBe(true);
    expect(list.list(2000)).toEqual([]);
    expect(list.lift('nobody')).toBe(false);
  });

  it('never bans loopback addresses (shared by every local peer); worker bans still hold', () => {
    const list = new BanList();
    const added = list.ban({ workerId: 'w1', address: '::ffff:127.0.0.1' }, 'r', 0, Infinity);
    expect(added.map((e) => e.kind)).toEqual(['worker']);
    expect(isLoopbackAddress('::1')).toBe(true);
    expect(isLoopbackAddress('10.0.0.1')).toBe(false);
    expect(list.find({ workerId: 'w2', address: '::ffff:127.0.0.1' }, 1)).toBeUndefined();
    const json = list.toJSON();
    expect(json.bans[0]!.until).toBeNull();
    expect(BanList.fromJSON(json).find({ workerId: 'w1' }, 1e15)).toBeDefined();
  });

  it('rejects other formats and skips malformed entries', () => {
    expect(() => BanList.fromJSON({ version: 2, bans: [] })).toThrow(TypeError);
    expect(() => BanList.fromJSON(null)).toThrow(TypeError);
    const list = BanList.fromJSON({ version: 1, bans: [{ kind: 'worker', value: 5 }, { kind: 'worker', value: 'ok', reason: 'r', since: 0, until: null }] });
    expect(list.list(0).map((e) => e.key)).toEqual(['worker:ok']);
  });
});
