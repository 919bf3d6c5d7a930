import { describe, expect, it } from 'vitest';
import { CreditLedger } from './credit-ledger.js';

describe('CreditLedger', () => {
  it('credits verified work only, ranks by verified samples, revokes a cheater', () => {
    const ledger = new CreditLedger();
    ledger.credit('a', 'alice', 64);
    ledger.credit('b', 'bob', 32);
    ledger.credit('b', null, 64);
    ledger.credit('c', 'carol', 16);
    expect(ledger.leaderboard().map((e) => [e.workerId, e.verifiedSamples, e.verifiedResults])).toEqual([
      ['b', 96, 2],
      ['a', 64, 1],
      ['c', 16, 1],
    ]);
    expect(ledger.get('b').name).toBe('bob');
    ledger.revoke('b');
    ledger.credit('b', null, 1000);
    expect(ledger.get('b')).toMatchObject({ revoked: true, verifiedSamples: 0 });
    expect(ledger.leaderboard(1).map((e) => e.workerId)).toEqual(['a']);
    expect(ledger.totalVerifiedSamples()).toBe(80);
    expect(ledger.get('nobody').verifiedResults).toBe(0);
  });
});
