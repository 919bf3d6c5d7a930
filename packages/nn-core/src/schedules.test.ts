import { describe, expect, it } from 'vitest';
import { NnErrorCode } from './errors.js';
import { learningRateAt, validateScheduleConfig, type ScheduleConfig } from './schedules.js';
import { expectNnError } from './testing/expect-nn-error.js';

describe('learningRateAt', () => {
  it('constant: baseLr at every step; no schedule means constant', () => {
    for (const step of [0, 1, 17, 1e6]) {
      expect(learningRateAt(0.3, { type: 'constant' }, step)).toBe(0.3);
      expect(learningRateAt(0.3, undefined, step)).toBe(0.3);
    }
  });

  it('linear warmup: baseLr·(step+1)/warmupSteps, then the schedule', () => {
    const schedule: ScheduleConfig = { type: 'constant', warmupSteps: 4 };
    expect([0, 1, 2, 3, 4, 5].map((s) => learningRateAt(1, schedule, s))).toEqual([0.25, 0.5, 0.75, 1, 1, 1]);
  });

  it('step: baseLr·gamma^floor(t/stepSize), counted after the warmup', () => {
    const schedule: ScheduleConfig = { type: 'step', stepSize: 3, gamma: 0.5 };
    expect([0, 2, 3, 5, 6, 9].map((s) => learningRateAt(2, schedule, s))).toEqual([2, 2, 1, 1, 0.5, 0.25]);
    const warm: ScheduleConfig = { type: 'step', stepSize: 3, gamma: 0.5, warmupSteps: 2 };
    expect([0, 1, 2, 4, 5, 8].map((s) => learningRateAt(2, warm, s))).toEqual([1, 2, 2, 2, 1, 0.5]);
  });

  it('cosine: baseLr at the start, midpoint at half way, minLr at and after totalSteps', () => {
    const schedule: ScheduleConfig = { type: 'cosine', totalSteps: 100, minLr: 0.1 };
    expect(learningRateAt(1, schedule, 0)).toBe(1);
    expect(learningRateAt(1, schedule, 50)).toBeCloseTo(0.55, 15);
    expect(learningRateAt(1, schedule, 25)).toBeCloseTo(0.1 + 0.9 * (1 + Math.SQRT1_2) / 2, 15);
    expect(learningRateAt(1, schedule, 100)).toBe(0.1);
    expect(learningRateAt(1, schedule, 1000)).toBe(0.1);
    expect(learningRateAt(1, { type: 'cosine', totalSteps: 10 }, 10)).toBe(0);
    // Monotone non-increasing.
    let previous = Infinity;
    for (let s = 0; s <= 120; s++) {
      const lr = learningRateAt(1, schedule, s);
      expect(lr).toBeLessThanOrEqual(previous);
      previous = lr;
    }
  });

  it('cosine with warmup: totalSteps includes the warmup', () => {
    const schedule: ScheduleConfig = { type: 'cosine', totalSteps: 110, warmupSteps: 10 };
    expect(learningRateAt(0.1, schedule, 0)).toBeCloseTo(0.01, 17);
    expect(learningRateAt(0.1, schedule, 9)).toBe(0.1);
    expect(learningRateAt(0.1, schedule, 10)).toBe(0.1);
    expect(learningRateAt(0.1, schedule, 60)).toBeCloseTo(0.05, 15);
    expect(learningRateAt(0.1, schedule, 110)).toBe(0);
  });

  it('rejects bad arguments: BAD_OPTIONS for lr and configs, BAD_INPUT for step', () => {
    expectNnError(() => learningRateAt(0, undefined, 0), NnErrorCode.BAD_OPTIONS);
    expectNnError(() => learningRateAt(Number.NaN, undefined, 0), NnErrorCode.BAD_OPTIONS);
    expectNnError(() => learningRateAt(1, undefined, -1), NnErrorCode.BAD_INPUT);
    expectNnError(() => learningRateAt(1, undefined, 0.5), NnErrorCode.BAD_INPUT);
  });
});

describe('validateScheduleConfig', () => {
  it('fills defaults', () => {
    expect(validateScheduleConfig(undefined)).toEqual({ type: 'constant', warmupSteps: 0 });
    expect(validateScheduleConfig({ type: 'cosine', totalSteps: 5 })).toEqual({ type: 'cosine', totalSteps: 5, minLr: 0, warmupSteps: 0 });
    expect(validateScheduleConfig({ type: 'step', stepSize: 5, gamma: 0.1, warmupSteps: 3 })).toEqual({
      type: 'step',
      stepSize: 5,
      gamma: 0.1,
      warmupSteps: 3,
    });
  });

  const bad: Array<[string, unknown]> = [
    ['a string', 'cosine'],
    ['an array', []],
    ['unknown type', { type: 'exponential' }],
    ['unknown field', { type: 'constant', gamma: 0.1 }],
    ['negative warmup', { type: 'constant', warmupSteps: -1 }],
    ['fractional warmup', { type: 'constant', warmupSteps: 1.5 }],
    ['missing stepSize', { type: 'step', gamma: 0.1 }],
    ['stepSize 0', { type: 'step', stepSize: 0, gamma: 0.1 }],
    ['gamma 0', { type: 'step', stepSize: 2, gamma: 0 }],
    ['gamma NaN', { type: 'step', stepSize: 2, gamma: Number.NaN }],
    ['missing totalSteps', { type: 'cosine' }],
    ['totalSteps not above warmup', { type: 'cosine', totalSteps: 10, warmupSteps: 10 }],
    ['negative minLr', { type: 'cosine', totalSteps: 10, minLr: -0.1 }],
  ];
  for (const [name, schedule] of bad) {
    it(`rejects ${name} with BAD_OPTIONS`, () => {
      expectNnError(() => validateScheduleConfig(schedule), NnErrorCode.BAD_OPTIONS);
      expectNnError(() => learningRateAt(1, schedule as ScheduleConfig, 0), NnErrorCode.BAD_OPTIONS);
    });
  }

  it('rejects minLr above the base learning rate', () => {
    expect(() => validateScheduleConfig({ type: 'cosine', totalSteps: 10, minLr: 2 })).not.toThrow();
    expectNnError(() => validateScheduleConfig({ type: 'cosine', totalSteps: 10, minLr: 2 }, 1), NnErrorCode.BAD_OPTIONS);
  });
});
