import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { persistentBanList } from './ban-file.js';

describe('persistentBanList', () => {
  it('writes every change and a second instance (a restarted coordinator) reads it back', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'bans-')), 'bans.json');
    const first = await persistentBanList(path);
    expect(first.bans.list(0)).toEqual([]);
    first.bans.ban({ workerId: 'w3', address: '198.51.100.7' }, 'gradient differs', 1000, 10_000);
    await first.flush();
    expect(JSON.parse(readFileSync(path, 'utf8')).bans).toHaveLength(2);
    const second = await persistentBanList(path);
    expect(second.bans.find({ workerId: 'w3' }, 2000)?.reason).toBe('gradient differs');
    second.bans.lift('w3');
    await second.flush();
    expect((await persistentBanList(path)).bans.list(2000).map((b) => b.key)).toEqual(['address:198.51.100.7']);
    writeFileSync(path, '{"version":9}');
    await expect(persistentBanList(path)).rejects.toThrow(TypeError);
  });
});
