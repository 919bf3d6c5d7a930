import { describe, expect, it } from 'vitest';
import { Harness, referenceParams, tinyData, tinyRun } from './testing/harness.js';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpoint.js';
import { paramsSha256 } from './sha256.js';
import { CoordinatorErrorCode, isCoordinatorError } from './errors.js';
import { Coordinator } from './coordinator.js';
import type { CheckpointEvent } from './events.js';

const RUN = tinyRun({ batchSize: 32, microShardSize: 4, totalSteps: 6, checkpointEvery: 2, evalEvery: 3, evalSamples: 20 });

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(isCoordinatorError(thrown)).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
}

async function runToEnd(seed: number, workers: number, options: Partial<ConstructorParameters<typeof Coordinator>[0]> = {}): Promise<{ harness: Harness; saved: Uint8Array[] }> {
  const saved: Uint8Array[] = [];
  const harness = new Harness(seed);
  harness.create({ run: RUN, onCheckpoint: (c) => void saved.push(encodeCheckpoint(c)), ...options });
  for (let i = 0; i < workers; i++) harness.addWorker({});
  harness.coordinator.start();
  await harness.run();
  expect(harness.failures).toEqual([]);
  return { harness, saved };
}

describe('checkpoints', () => {
  it('round-trips through encode/decode', async () => {
    const { harness } = await runToEnd(1, 2);
    const checkpoint = harness.coordinator.checkpoint();
    const decoded = decodeCheckpoint(encodeCheckpoint(checkpoint));
    expect(decoded).toEqual(checkpoint);
    expect(decoded.params).toBeInstanceOf(Float32Array);
    expect(decoded.optimizer.buffers['expAvg']).toBeInstanceOf(Float32Array);
    expect(decoded).toMatchObject({ formatVersion: 1, step: 6, lr: null, run: { runId: 'test-run', evalEvery: 3, codec: 'f32' } });
    expect(decoded.history.steps).toHaveLength(6);
    expect(decoded.history.evals.map((e) => e.step)).toEqual([3, 6]);
  });

  it('is taken every checkpointEvery steps and at the end, after the final evaluation', async () => {
    const { harness, saved } = await runToEnd(2, 2);
    expect(saved.map((bytes) => decodeCheckpoint(bytes).step)).toEqual([2, 4, 6]);
    const kinds = harness.events.filter((e) => ['eval', 'checkpoint', 'status'].includes(e.kind)).map((e) => `${e.kind}:${e.kind === 'status' ? e.status : (e as { step: number }).step}`);
    expect(kinds.slice(-4)).toEqual(['eval:6', 'status:running', 'checkpoint:6', 'status:finished']);
    const last = decodeCheckpoint(saved.at(-1)!);
    expect(paramsSha256(last.params)).toBe(paramsSha256(harness.coordinator.params()));
  });

  it('resumes mid-run to the same final parameters as an uninterrupted run', async () => {
    const { harness: whole, saved } = await runToEnd(3, 3);
    const wholeHash = paramsSha256(whole.coordinator.params());
    expect(wholeHash).toBe(paramsSha256(await referenceParams(RUN, tinyData().train)));
    for (const bytes of saved.slice(0, 2)) {
      const checkpoint = decodeCheckpoint(bytes);
      const { harness: resumed } = await runToEnd(4 + checkpoint.step, 1 + checkpoint.step, { resume: checkpoint });
      expect(paramsSha256(resumed.coordinator.params())).toBe(wholeHash);
      const steps = resumed.coordinator.snapshot().history.map((s) => s.step);
      expect(steps).toEqual([0, 1, 2, 3, 4, 5]);
      expect(resumed.coordinator.accounting().map((a) => a.step)).toEqual([2, 3, 4, 5].filter((s) => s >= checkpoint.step));
    }
  });

  it('keeps a learning-rate override across a resume', async () => {
    const override = async (resumeFrom?: Checkpoint): Promise<{ hash: string; saved: Uint8Array[] }> => {
      const saved: Uint8Array[] = [];
      const harness = new Harness(9);
      harness.create({ run: RUN, onCheckpoint: (c) => void saved.push(encodeCheckpoint(c)), ...(resumeFrom ? { resume: resumeFrom } : {}) });
      harness.addWorker({});
      if (!resumeFrom) harness.coordinator.setLearningRate(0.01);
      harness.coordinator.start();
      await harness.run();
      return { hash: paramsSha256(harness.coordinator.params()), saved };
    };
    const whole = await override();
    const checkpoint = decodeCheckpoint(whole.saved[0]!);
    expect(checkpoint.lr).toBe(0.01);
    expect((await override(checkpoint)).hash).toBe(whole.hash);
  });

  it('waits for onCheckpoint before going on, and pauses when it fails', async () => {
    let release: () => void = () => {};
    let calls = 0;
    const harness = new Harness(5);
    harness.create({
      run: RUN,
      onCheckpoint: () => {
        calls++;
        if (calls === 1) return new Promise<void>((resolve) => (release = resolve));
        if (calls === 2) return Promise.reject(new Error('disk full'));
        return undefined;
      },
    });
    harness.addWorker({});
    harness.coordinator.start();
    await harness.run(() => calls === 1);
    for (let i = 0; i < 50; i++) await harness.idle();
    expect(harness.coordinator.step).toBe(2);
    expect(harness.queued).toBe(0);
    release();
    await harness.run(() => harness.coordinator.status === 'paused');
    expect(harness.coordinator.step).toBe(4);
    const events = harness.events.filter((e): e is CheckpointEvent => e.kind === 'checkpoint');
    expect(events).toEqual([
      { kind: 'checkpoint', step: 2, ok: true, error: null },
      { kind: 'checkpoint', step: 4, ok: false, error: 'disk full' },
    ]);
    harness.coordinator.resume();
    await harness.run();
    expect(harness.coordinator.status).toBe('finished');
    expect(harness.coordinator.metricsText()).toContain('swarmgrad_checkpoint_failures_total{run="test-run"} 1');
  });

  it('checkpoints the last applied step on stop', async () => {
    const saved: Checkpoint[] = [];
    const harness = new Harness(6);
    harness.create({ run: { ...RUN, checkpointEvery: 0 }, onCheckpoint: (c) => void saved.push(c) });
    harness.addWorker({});
    harness.coordinator.start();
    await harness.run(() => harness.coordinator.step === 3);
    harness.coordinator.stop();
    const final = await harness.coordinator.done;
    expect(final.status).toBe('stopped');
    expect(saved.map((c) => c.step)).toEqual([3]);
  });

  it('detects corruption, truncation and foreign bytes with clear codes', async () => {
    const { saved } = await runToEnd(7, 1);
    const bytes = saved[0]!;
    const flipped = bytes.slice();
    flipped[bytes.length - 10]! ^= 0x40;
    expectCode(() => decodeCheckpoint(flipped), CoordinatorErrorCode.CHECKPOINT_CORRUPT);
    expect(() => decodeCheckpoint(flipped)).toThrow(/SHA-256/);
    expectCode(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 1)), CoordinatorErrorCode.CHECKPOINT_CORRUPT);
    expectCode(() => decodeCheckpoint(bytes.subarray(0, 30)), CoordinatorErrorCode.CHECKPOINT_CORRUPT);
    const trailing = new Uint8Array(bytes.length + 1);
    trailing.set(bytes);
    expectCode(() => decodeCheckpoint(trailing), CoordinatorErrorCode.CHECKPOINT_CORRUPT);
    expectCode(() => decodeCheckpoint(new TextEncoder().encode('{"step": 3}')), CoordinatorErrorCode.CHECKPOINT_FORMAT);
    const future = bytes.slice();
    future[8] = 2;
    expectCode(() => decodeCheckpoint(future), CoordinatorErrorCode.CHECKPOINT_FORMAT);
  });

  it('refuses to resume a checkpoint of another run', async () => {
    const { saved } = await runToEnd(8, 1);
    const checkpoint = decodeCheckpoint(saved[0]!);
    const { train, test } = tinyData();
    const transport = { send: () => {}, close: () => {} };
    const make = (run: typeof RUN, resume: Checkpoint) => () => new Coordinator({ run, trainData: train, testData: test, transport, resume });
    expectCode(make({ ...RUN, seed: 8 }, checkpoint), CoordinatorErrorCode.RESUME_MISMATCH);
    expect(make({ ...RUN, seed: 8 }, checkpoint)).toThrow('run.seed is 7 in the checkpoint, 8 here');
    expectCode(make({ ...RUN, optimizer: { type: 'adam', lr: 0.06 } }, checkpoint), CoordinatorErrorCode.RESUME_MISMATCH);
    expectCode(make({ ...RUN, totalSteps: 1 }, checkpoint), CoordinatorErrorCode.RESUME_MISMATCH);
    expectCode(make(RUN, { ...checkpoint, params: new Float32Array(14) }), CoordinatorErrorCode.RESUME_MISMATCH);
    // Fields that do not change the trajectory may differ: a run can be extended.
    expect(make({ ...RUN, totalSteps: 10, evalEvery: 0, checkpointEvery: 5, optimizer: { type: 'adam', lr: 0.05, beta1: 0.9 } }, checkpoint)()).toBeInstanceOf(Coordinator);
  });
});
