import { describe, expect, it } from 'vitest';
import { evalDueAfter, planEvalUnits, summarizeEval } from './evaluation.js';
import { createPhase } from './work.js';

describe('evaluation alone', () => {
  it('is due every evalEvery steps and at the end, never without test samples', () => {
    const run = { totalSteps: 10, evalEvery: 4, evalSamples: 50 };
    expect([1, 2, 3, 4, 5, 8, 9, 10].filter((s) => evalDueAfter(s, run))).toEqual([4, 8, 10]);
    expect([4, 10].filter((s) => evalDueAfter(s, { ...run, evalEvery: 0 }))).toEqual([10]);
    expect(evalDueAfter(10, { ...run, evalSamples: 0 })).toBe(false);
  });

  it('cuts the first evalSamples samples into shards, the last one short', () => {
    const units = planEvalUnits(50, 16);
    expect(units.map((u) => [u.start, u.count, u.samples])).toEqual([
      [0, 1, 16],
      [1, 1, 16],
      [2, 1, 16],
      [3, 1, 2],
    ]);
    expect(planEvalUnits(32, 16)).toHaveLength(2);
  });

  it('averages loss and accuracy over samples, not shards', () => {
    const units = planEvalUnits(20, 16);
    const phase = createPhase({ kind: 'eval', step: 7, epoch: 0, shardCount: 2, shardSize: 16, indices: new Uint32Array(0), params: new Float32Array(0), startedAt: 0 }, units);
    const task = { id: 'e7-1', workerId: 'w1' } as never;
    phase.accepted.set(0, { unit: units[0]!, task, backend: 'cpu', receivedAt: 0, value: { grads: new Float32Array(0), lossSum: 8, count: 16 }, correct: 12 });
    phase.accepted.set(1, { unit: units[1]!, task, backend: 'cpu', receivedAt: 0, value: { grads: new Float32Array(0), lossSum: 4, count: 4 }, correct: 4 });
    expect(summarizeEval(phase, 99)).toEqual({ kind: 'eval', step: 7, loss: 12 / 20, accuracy: 16 / 20, samples: 20, time: 99 });
  });
});
