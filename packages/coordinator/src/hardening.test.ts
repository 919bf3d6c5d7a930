import { describe, expect, it } from 'vitest';
import { encodeGradient, type ResultMessage } from '@swarmgrad/protocol';
import { Harness, referenceParams, tinyData, tinyRun } from './testing/harness.js';
import { paramsSha256 } from './sha256.js';
import { CloseCode, CoordinatorErrorCode } from './errors.js';
import { MAX_DEPARTED_WORKERS, MAX_LABEL_CHARS } from './membership.js';

const RUN = tinyRun({ batchSize: 32, microShardSize: 4, totalSteps: 5 }); // M = 8

describe('engine hardening', () => {
  it('silent workers claiming 1e6 samples/s get probes only; the run finishes with the reference parameters and they are dropped as TOO_SLOW', async () => {
    const harness = new Harness(21);
    harness.create({ run: RUN, testData: undefined });
    harness.addWorker({});
    harness.coordinator.start();
    await harness.run(() => harness.coordinator.step === 1);
    const fakes = Array.from({ length: 3 }, () => harness.addWorker({ samplesPerSecond: 1e6, onTask: () => 'ignore' }));
    await harness.run();
    expect(harness.failures).toEqual([]);
    expect(harness.coordinator.status).toBe('finished');
    expect(paramsSha256(harness.coordinator.params())).toBe(paramsSha256(await referenceParams(RUN, tinyData().train)));
    // No step waited for a fake: every block was accepted from the honest worker.
    expect(harness.coordinator.accounting().every((entry) => entry.blocks.every((b) => b.workerId === 'w1'))).toBe(true);
    // Each fake got probe blocks (one task of one block at a time), never a share.
    for (const fake of fakes) expect(fake.tasks.every((t) => t.blocks.length === 1)).toBe(true);
    expect(fakes.some((fake) => fake.tasks.length > 0)).toBe(true);
  });

  it('a worker that misses its deadline 3 times in a row is dropped with TOO_SLOW; its blocks go to a worker that completes work', async () => {
    const harness = new Harness(24);
    harness.create({ run: RUN, testData: undefined });
    const stalling = harness.addWorker({ onTask: (_worker, task) => (task.step === 0 ? 'answer' : 'ignore') });
    harness.coordinator.start();
    await harness.run(() => stalling.closed !== undefined);
    expect(stalling.closed).toEqual({ code: CloseCode.POLICY_VIOLATION, reason: 'too slow' });
    expect(harness.network.to(stalling.connId, 'error').at(-1)).toMatchObject({ code: CoordinatorErrorCode.TOO_SLOW, fatal: true });
    harness.addWorker({});
    await harness.run();
    expect(harness.coordinator.status).toBe('finished');
    expect(paramsSha256(harness.coordinator.params())).toBe(paramsSha256(await referenceParams(RUN, tinyData().train)));
  });

  it('a step that overflows (finite gradients of 3e38) is refused: the run stops with NON_FINITE_STATE, no loop, no stop checkpoint', async () => {
    const harness = new Harness(22);
    const saved: number[] = [];
    harness.create({ run: { ...RUN, checkpointEvery: 1 }, testData: undefined, onCheckpoint: (c) => void saved.push(c.step) });
    harness.addWorker({
      tamper: (r) => ({ ...r, blocks: r.blocks.map((b) => ({ ...b, gradient: encodeGradient('f32', new Float32Array(harness.coordinator.parameterCount).fill(r.step >= 2 ? 3e38 : 1e-3)) })) }) as ResultMessage,
    });
    harness.coordinator.start();
    await harness.run();
    const final = await harness.coordinator.done;
    expect(final.status).toBe('stopped');
    expect(harness.coordinator.step).toBe(2);
    expect(harness.events.filter((e) => e.kind === 'error').map((e) => (e as { message: string }).message)).toEqual([expect.stringMatching(/^NON_FINITE_STATE: step 2 produced/)]);
    expect(saved).toEqual([1, 2]);
    expect([...harness.coordinator.params()].every(Number.isFinite)).toBe(true);
  });

  it('cuts labels to 64 characters and keeps at most MAX_DEPARTED_WORKERS records of workers that left', () => {
    const harness = new Harness(23);
    harness.create({ run: RUN });
    const label = 'z'.repeat(4096);
    for (let i = 0; i < MAX_DEPARTED_WORKERS + 50; i++) harness.addWorker({ name: label }).disconnect();
    const table = harness.coordinator.snapshot({ admin: true }).workers;
    expect(table).toHaveLength(MAX_DEPARTED_WORKERS);
    expect(table.every((w) => w.name!.length === MAX_LABEL_CHARS)).toBe(true);
    // The longest gone were dropped first.
    expect(table[0]!.id).toBe('w51');
  });
});
