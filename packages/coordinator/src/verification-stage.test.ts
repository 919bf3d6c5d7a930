import { describe, expect, it } from 'vitest';
import { BanList } from './ban-list.js';
import { CreditLedger } from './credit-ledger.js';
import { VerificationPolicy } from './verification-policy.js';
import { VerificationStage, type TrustedValue } from './verification-stage.js';

const grads = (seed: number) => Float32Array.from({ length: 50 }, (_, i) => Math.sin(seed * 100 + i));
const block = (start: number, seed: number, lossSum = 2) => ({ start, count: 2, grads: grads(seed), lossSum, sampleCount: 16, correct: 0 });

function stage(): VerificationStage {
  return new VerificationStage({ mode: 'verify', policy: new VerificationPolicy({ probationResults: 1, rateFloor: 1, random: () => 0.5 }), bans: new BanList(), credit: new CreditLedger() });
}

describe('VerificationStage', () => {
  it('holds a claim until the trusted value arrives, then verifies it bit for bit', () => {
    const s = stage();
    expect(s.decide('v', false)).toBe('hold');
    expect(s.decide('lab', true)).toBe('accept');
    s.register('t1', 'v', 0, [0, 2], 32);
    expect(s.isHeld('t1')).toBe(true);
    const trusted = new Map<number, TrustedValue>();
    expect(s.claim('t1', 'cpu', [block(0, 1), block(2, 2)], (k) => trusted.get(k))).toEqual([]);
    expect(s.outstanding(0)).toBe(1);
    trusted.set(0, { ...block(0, 1), backend: 'cpu' });
    expect(s.trustedArrived(0, (k) => trusted.get(k))).toEqual([]);
    trusted.set(2, { ...block(2, 2), backend: 'cpu' });
    expect(s.trustedArrived(0, (k) => trusted.get(k))).toEqual([{ kind: 'verified', workerId: 'v', samples: 32 }]);
    expect(s.outstanding(0)).toBe(0);
    expect(s.policy.record('v')).toMatchObject({ verified: 1, pending: 0, level: 'spot-checked' });
  });

  it('a forged lossSum or gradient is a mismatch that names the block', () => {
    const s = stage();
    s.register('t1', 'v', 3, [4], 16);
    const trusted = (k: number): TrustedValue | undefined => (k === 4 ? { ...block(4, 9), backend: 'cpu' } : undefined);
    const [outcome] = s.claim('t1', 'cpu', [block(4, 9, 1)], trusted);
    expect(outcome).toMatchObject({ kind: 'mismatch', workerId: 'v', step: 3, start: 4 });
    expect((outcome as { reason: string }).reason).toMatch(/lossSum .*step 3, block 4\+2, bitwise/);
    expect(s.policy.record('v').level).toBe('rejected');
  });

  it('tracks unchecked contributions for rollback and forgets replayed steps', () => {
    const s = stage();
    s.noteUnchecked('v', 5, 8);
    s.noteUnchecked('v', 5, 8);
    s.noteUnchecked('v', 7, 8);
    expect(s.firstUncheckedStep('v')).toBe(5);
    s.register('t9', 'v', 7, [0], 8);
    s.rolledBack(5, 3, true);
    expect(s.firstUncheckedStep('v')).toBeUndefined();
    expect(s.isHeld('t9')).toBe(false);
    expect(s.totals).toMatchObject({ rollbacks: 1, replayedSteps: 3, rollbacksIncomplete: 0 });
    expect(s.stepApplied(5, 0)).toEqual({ shadowSamples: 0, uncheckedSamples: 0 });
  });

  it('a task that died is not waited for', () => {
    const s = stage();
    s.register('t1', 'v', 0, [0], 16);
    expect(s.outstanding(0)).toBe(1);
    s.taskDied('t1');
    expect(s.outstanding(0)).toBe(0);
  });
});
