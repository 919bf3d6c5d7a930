import { describe, expect, it } from 'vitest';
import { VerificationPolicy } from './verification-policy.js';
import { CoordinatorErrorCode } from './errors.js';
import { DEFAULT_AUDIT_STEPS, resolveVerification } from './verification-options.js';

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('VerificationPolicy', () => {
  it('holds every result on probation, then samples at a rate that thins to the floor, never zero', () => {
    const policy = new VerificationPolicy({ probationResults: 5, rateFloor: 0.1, random: seeded(1) });
    for (let i = 0; i < 5; i++) {
      expect(policy.decide('v1')).toBe('hold');
      policy.pending('v1');
      policy.verified('v1');
    }
    expect(policy.record('v1').level).toBe('spot-checked');
    expect(policy.rateFor(5)).toBe(1);
    expect(policy.rateFor(6)).toBe(0.5);
    expect(policy.rateFor(8)).toBe(0.125);
    expect(policy.rateFor(9)).toBe(0.1);
    expect(policy.rateFor(10_000)).toBe(0.1);
    // Drive the history up and count checks over a long honest stretch.
    for (let i = 0; i < 200; i++) policy.verified('v1');
    let checks = 0;
    const draws = 20_000;
    for (let i = 0; i < draws; i++) if (policy.decide('v1') === 'check') checks++;
    expect(checks / draws).toBeGreaterThan(0.08);
    expect(checks / draws).toBeLessThan(0.12);
  });

  it('a rejection is final; trusted workers are never checked', () => {
    const policy = new VerificationPolicy({ random: seeded(2) });
    policy.record('lab', true);
    expect(policy.decide('lab')).toBe('accept');
    policy.pending('v2');
    policy.rejected('v2');
    expect(policy.record('v2')).toMatchObject({ level: 'rejected', rejected: 1, pending: 0 });
    expect(policy.decide('v2')).toBe('hold');
    policy.forget('v2');
    expect(policy.list().map((r) => r.workerId)).toContain('v2');
  });

  it('pending results count toward probation so a burst of tasks is all held', () => {
    const policy = new VerificationPolicy({ probationResults: 2, rateFloor: 1, random: seeded(3) });
    expect(policy.decide('v')).toBe('hold');
    policy.pending('v');
    expect(policy.decide('v')).toBe('hold');
    policy.pending('v');
    policy.verified('v');
    policy.verified('v');
    expect(policy.decide('v')).toBe('check'); // floor 1: everything checked
  });

  it('audit: a spot-checked volunteer\'s next result is checked, never accepted; probation and trusted workers are unchanged', () => {
    const policy = new VerificationPolicy({ probationResults: 1, rateFloor: 0.1, random: () => 0.99 });
    policy.record('lab', true);
    expect(policy.decide('lab', true)).toBe('accept');
    expect(policy.decide('v', true)).toBe('hold');
    policy.pending('v');
    policy.verified('v');
    policy.verified('v');
    expect(policy.decide('v')).toBe('accept'); // the draw (0.99) is above the rate
    expect(policy.decide('v', true)).toBe('check');
  });

  it('rejects bad options', () => {
    expect(() => new VerificationPolicy({ rateFloor: 0 })).toThrow(TypeError);
    expect(() => new VerificationPolicy({ rateFloor: 1.5 })).toThrow(TypeError);
    expect(() => new VerificationPolicy({ probationResults: -1 })).toThrow(TypeError);
  });
});

describe('resolveVerification', () => {
  it('fills in the defaults (final audit of 8 steps) and names a bad field', () => {
    expect(resolveVerification(undefined, true)).toMatchObject({ mode: 'verify', replaySteps: 64, auditSteps: DEFAULT_AUDIT_STEPS });
    expect(DEFAULT_AUDIT_STEPS).toBe(8);
    expect(resolveVerification({ auditSteps: 0 }, true).auditSteps).toBe(0);
    for (const auditSteps of [-1, 1.5, Number.NaN]) expect(() => resolveVerification({ auditSteps }, true)).toThrow(/verification\.auditSteps must be an integer ≥ 0/);
    expect(() => resolveVerification({ replaySteps: 0 }, true)).toThrow(expect.objectContaining({ code: CoordinatorErrorCode.BAD_CONFIG }));
  });
});
