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

  it('a cross-backend block in the inconclusive band neither verifies nor catches; a volunteer with many of them is caught', () => {
    const s = stage();
    const nudged = (start: number, seed: number) => ({ ...block(start, seed), grads: grads(seed).map((v) => v * (1 + 5e-4)) });
    const trusted = (k: number): TrustedValue => ({ ...block(k, k), backend: 'cpu' });
    // Honest-looking: 1 inconclusive block, then 60 that agree (a share of 1.6%), then 2 more inconclusive: never caught.
    s.register('t0', 'v', 0, [0], 16);
    expect(s.claim('t0', 'wasm-fma', [nudged(0, 0)], trusted)).toEqual([]);
    expect(s.policy.record('v')).toMatchObject({ verified: 0, pending: 0, rejected: 0 });
    for (let i = 1; i <= 60; i++) {
      s.register(`t${i}`, 'v', i, [i], 16);
      expect(s.claim(`t${i}`, 'wasm-fma', [block(i, i)], trusted)).toEqual([{ kind: 'verified', workerId: 'v', samples: 16 }]);
    }
    for (const i of [61, 62]) {
      s.register(`t${i}`, 'v', i, [i], 16);
      expect(s.claim(`t${i}`, 'wasm-fma', [nudged(i, i)], trusted)).toEqual([]);
    }
    expect(s.policy.record('v')).toMatchObject({ verified: 60, rejected: 0 });
    // Another volunteer that shifts every result within the band is caught at its fourth check.
    for (let i = 0; i < 3; i++) {
      s.register(`u${i}`, 'w', i, [i], 16);
      expect(s.claim(`u${i}`, 'wasm-fma', [nudged(i, i)], trusted)).toEqual([]);
    }
    s.register('u3', 'w', 3, [3], 16);
    const [caught] = s.claim('u3', 'wasm-fma', [nudged(3, 3)], trusted);
    expect(caught).toMatchObject({ kind: 'mismatch', workerId: 'w', step: 3, start: 3 });
    expect((caught as { reason: string }).reason).toMatch(/4 of this volunteer's 4 cross-backend comparisons were inconclusive/);
    expect(s.policy.record('w').level).toBe('rejected');
    // On the same backend the same nudge is caught at once, bit for bit.
    s.register('x0', 'x', 0, [0], 16);
    expect(s.claim('x0', 'cpu', [nudged(0, 0)], trusted)[0]).toMatchObject({ kind: 'mismatch', workerId: 'x' });
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
