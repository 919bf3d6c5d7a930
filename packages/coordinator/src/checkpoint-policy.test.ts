import { describe, expect, it } from 'vitest';
import { createOptimizer } from '@swarmgrad/nn/core';
import { CHECKPOINT_FORMAT_VERSION, type Checkpoint } from './checkpoint.js';
import { CheckpointPolicy, checkResume } from './checkpoint-policy.js';
import { CoordinatorErrorCode } from './errors.js';
import { Parts } from './testing/parts.js';
import type { RunConfig } from './config.js';

function checkpointOf(parts: Parts, step: number, changes: Partial<Checkpoint> = {}): Checkpoint {
  const optimizer = createOptimizer(parts.run.config.optimizer, parts.run.plan.paramCount);
  const params = new Float32Array(parts.run.plan.paramCount);
  for (let i = 0; i < step; i++) optimizer.step(params, new Float32Array(params.length).fill(0.01));
  return {
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    run: JSON.parse(JSON.stringify(parts.run.config)) as RunConfig,
    step,
    params,
    optimizer: optimizer.state(),
    lr: null,
    history: { steps: [], evals: [] },
    createdAt: 0,
    ...changes,
  };
}

describe('CheckpointPolicy alone', () => {
  it('is due every checkpointEvery steps and at the end, only with a sink', () => {
    const policy = new CheckpointPolicy(() => undefined, () => undefined);
    const run = { totalSteps: 9, checkpointEvery: 3 };
    expect([1, 3, 4, 6, 8, 9].filter((s) => policy.dueAfter(s, run))).toEqual([3, 6, 9]);
    expect(new CheckpointPolicy(undefined, () => undefined).dueAfter(9, run)).toBe(false);
  });

  it('writes one at a time, reports success and failure, and remembers the last step written', async () => {
    const reports: [number, boolean, string | null][] = [];
    let fail = false;
    const written: number[] = [];
    const policy = new CheckpointPolicy(
      async (c) => {
        if (fail) throw new Error('disk full');
        written.push(c.step);
      },
      (step, ok, error) => reports.push([step, ok, error]),
    );
    const parts = new Parts();
    const outcomes: boolean[] = [];
    policy.pending = true;
    policy.start(checkpointOf(parts, 2), (ok) => outcomes.push(ok));
    expect(policy.pending).toBe(false);
    expect(policy.inFlight).not.toBeNull();
    await policy.inFlight;
    expect(policy.inFlight).toBeNull();
    fail = true;
    expect(await policy.write(checkpointOf(parts, 3))).toBe(false);
    expect(outcomes).toEqual([true]);
    expect(written).toEqual([2]);
    expect(reports).toEqual([
      [2, true, null],
      [3, false, 'disk full'],
    ]);
    expect(policy.lastStep).toBe(2);
    expect([policy.needsStopCheckpoint(2), policy.needsStopCheckpoint(3)]).toEqual([false, true]);
  });
});

describe('checkResume', () => {
  it('loads a matching checkpoint and refuses other runs, models and inconsistent ones with RESUME_MISMATCH', () => {
    const parts = new Parts();
    const target = () => ({ config: parts.run.config as RunConfig, parameterCount: parts.run.plan.paramCount, modelName: parts.run.plan.name, optimizer: createOptimizer(parts.run.config.optimizer, parts.run.plan.paramCount) });
    const good = target();
    checkResume(checkpointOf(parts, 3), good);
    expect(good.optimizer.state().stepCount).toBe(3);
    const bad: Partial<Checkpoint>[] = [
      { run: { ...(parts.run.config as RunConfig), seed: 8 } },
      { step: 99 },
      { params: new Float32Array(3) },
      { lr: -1 },
      { step: 2 },
    ];
    for (const changes of bad) expect(() => checkResume(checkpointOf(parts, 3, changes), target())).toThrow(expect.objectContaining({ code: CoordinatorErrorCode.RESUME_MISMATCH }));
    expect(() => checkResume({ formatVersion: 9 } as unknown as Checkpoint, target())).toThrow(expect.objectContaining({ code: CoordinatorErrorCode.CHECKPOINT_FORMAT }));
  });
});
