import { describe, expect, it } from 'vitest';
import { Harness, referenceParams, tinyData, tinyRun, type FakeWorkerOptions } from './testing/harness.js';
import { CoordinatorErrorCode } from './errors.js';
import { paramsSha256 } from './sha256.js';
import type { RejectedEvent } from './events.js';
import { PASS_THROUGH_GATE, type ResultGate, type ValidatedResult } from './result-gate.js';

const RUN = tinyRun({ batchSize: 24, microShardSize: 4, totalSteps: 4 });

/** A volunteer that sends f32 gradients scaled by 3: valid frames, wrong numbers. */
const cheat: FakeWorkerOptions = {
  tamper: (result) => {
    for (const block of result.blocks) {
      if ('gradient' in block && block.gradient.codec === 'f32') block.gradient = { ...block.gradient, payload: block.gradient.payload.map((v) => v * 3) };
    }
    return result;
  },
};

async function train(gate: ResultGate | undefined): Promise<Harness> {
  const harness = new Harness(3);
  harness.create({ run: RUN, testData: undefined, token: 'lab', resultGate: gate });
  harness.addWorker({ token: 'lab', samplesPerSecond: 100 });
  harness.addWorker({ ...cheat, samplesPerSecond: 100 });
  harness.addWorker({ ...cheat, samplesPerSecond: 100 });
  harness.coordinator.start();
  await harness.run();
  expect(harness.failures).toEqual([]);
  expect(harness.coordinator.status).toBe('finished');
  return harness;
}

describe('ResultGate (the seam between validation and aggregation)', () => {
  it('the pass-through gate aggregates what it is given: cheating volunteers change the parameters', async () => {
    const expected = paramsSha256(await referenceParams(RUN, tinyData().train));
    const harness = await train(undefined);
    expect(paramsSha256(harness.coordinator.params())).not.toBe(expected);
    expect(PASS_THROUGH_GATE.admit({} as ValidatedResult)).toEqual({ action: 'accept' });
  });

  it('a gate that refuses untrusted results keeps the reference parameters; refused blocks are re-issued to the trusted worker', async () => {
    const expected = paramsSha256(await referenceParams(RUN, tinyData().train));
    const seen: ValidatedResult[] = [];
    const gate: ResultGate = {
      admit: (result) => {
        seen.push(result);
        return result.trusted ? { action: 'accept' } : { action: 'reject', code: CoordinatorErrorCode.RESULT_REFUSED, message: 'volunteer results are not verified yet', strike: false };
      },
    };
    const harness = await train(gate);
    expect(paramsSha256(harness.coordinator.params())).toBe(expected);
    for (const step of harness.coordinator.accounting()) for (const block of step.blocks) expect(block.workerId).toBe('w1');
    const refused = harness.events.filter((e): e is RejectedEvent => e.kind === 'rejected' && e.code === CoordinatorErrorCode.RESULT_REFUSED);
    expect(refused.length).toBeGreaterThan(0);
    expect(new Set(refused.map((e) => e.workerId))).toEqual(new Set(['w2', 'w3']));
    expect(refused.every((e) => !e.strike && !e.fatal)).toBe(true);
    // The gate saw decoded, validated blocks of every worker (grads of P values for train).
    expect(new Set(seen.map((r) => r.workerId))).toEqual(new Set(['w1', 'w2', 'w3']));
    for (const result of seen) for (const block of result.blocks) expect(block.grads?.length).toBe(harness.coordinator.parameterCount);
    expect(harness.coordinator.snapshot().totals.resultsRejected).toBe(0);
  });

  it('a refusal with a strike counts against the worker and closes it at maxStrikes', async () => {
    const harness = new Harness(4);
    const gate: ResultGate = { admit: (r) => (r.trusted ? { action: 'accept' } : { action: 'reject', code: CoordinatorErrorCode.RESULT_REFUSED, message: 'refused', strike: true }) };
    harness.create({ run: RUN, testData: undefined, token: 'lab', resultGate: gate, maxStrikes: 2 });
    harness.addWorker({ token: 'lab' });
    const volunteer = harness.addWorker({});
    harness.coordinator.start();
    await harness.run();
    expect(harness.coordinator.status).toBe('finished');
    expect(paramsSha256(harness.coordinator.params())).toBe(paramsSha256(await referenceParams(RUN, tinyData().train)));
    expect(volunteer.closed?.reason).toBe('too many strikes');
  });

  it('refuses a resultGate without admit as BAD_CONFIG', () => {
    const harness = new Harness();
    expect(() => harness.create({ run: RUN, resultGate: {} as ResultGate })).toThrow(expect.objectContaining({ code: CoordinatorErrorCode.BAD_CONFIG }));
  });
});
