import { describe, expect, it } from 'vitest';
import { Harness, tinyRun } from './testing/harness.js';
import { decodeCheckpoint, encodeCheckpoint, MAX_CHECKPOINT_PARAMETERS, type Checkpoint } from './checkpoint.js';
import { CoordinatorErrorCode, isCoordinatorError } from './errors.js';

const RUN = tinyRun({ batchSize: 32, microShardSize: 4, totalSteps: 2, checkpointEvery: 0, evalEvery: 0 });

async function finishedCheckpoint(): Promise<Checkpoint> {
  const harness = new Harness(7);
  harness.create({ run: RUN });
  harness.addWorker({});
  harness.coordinator.start();
  await harness.run();
  return harness.coordinator.checkpoint();
}

/** Encodes (so the SHA-256 in the header is recomputed, as a tamperer would) and decodes. */
function reload(checkpoint: Checkpoint): unknown {
  try {
    return decodeCheckpoint(encodeCheckpoint(checkpoint));
  } catch (error) {
    return error;
  }
}

function expectCode(result: unknown, code: string, text?: RegExp): void {
  expect(isCoordinatorError(result), String(result)).toBe(true);
  expect((result as { code: string }).code).toBe(code);
  if (text) expect((result as Error).message).toMatch(text);
}

describe('checkpoint validation on load (tampered files with a recomputed hash)', () => {
  it('accepts an honest checkpoint', async () => {
    expect(reload(await finishedCheckpoint())).toMatchObject({ step: 2 });
  });

  it('refuses NaN, infinite or negative-second-moment Adam state', async () => {
    const good = await finishedCheckpoint();
    for (const [name, value] of [['expAvg', Number.NaN], ['expAvgSq', Number.POSITIVE_INFINITY], ['expAvgSq', -1e-3]] as const) {
      const buffers = { ...good.optimizer.buffers, [name]: good.optimizer.buffers[name]!.slice() };
      buffers[name]![5] = value;
      expectCode(reload({ ...good, optimizer: { ...good.optimizer, buffers } }), CoordinatorErrorCode.CHECKPOINT_CORRUPT, new RegExp(`${name}\\[5\\]`));
    }
  });

  it('refuses state whose sizes disagree with the model, a missing buffer, or a step count off the checkpoint step', async () => {
    const good = await finishedCheckpoint();
    expectCode(reload({ ...good, params: good.params.subarray(1) }), CoordinatorErrorCode.CHECKPOINT_CORRUPT, /parameters/);
    const short = { ...good.optimizer.buffers, expAvg: good.optimizer.buffers['expAvg']!.subarray(3) };
    expectCode(reload({ ...good, optimizer: { ...good.optimizer, buffers: short } }), CoordinatorErrorCode.CHECKPOINT_CORRUPT, /expAvg has/);
    expectCode(reload({ ...good, optimizer: { ...good.optimizer, buffers: { expAvg: good.optimizer.buffers['expAvg']! } } }), CoordinatorErrorCode.CHECKPOINT_CORRUPT, /buffers/);
    expectCode(reload({ ...good, optimizer: { ...good.optimizer, stepCount: 99 } }), CoordinatorErrorCode.CHECKPOINT_CORRUPT, /99 steps/);
  });

  it('refuses a model of 159 G parameters with CHECKPOINT_TOO_LARGE before allocating it', async () => {
    const good = await finishedCheckpoint();
    // Two dense layers of 400,000 × 400,000 weights: 1.6e11 parameters.
    const huge = { ...good.run.modelSpec, inputShape: [400000], layers: [{ type: 'dense', units: 400000 }, { type: 'dense', units: 10 }] };
    const before = process.memoryUsage().rss;
    const result = reload({ ...good, run: { ...good.run, modelSpec: huge as never } });
    expectCode(result, CoordinatorErrorCode.CHECKPOINT_TOO_LARGE, new RegExp(MAX_CHECKPOINT_PARAMETERS.toLocaleString('en-US')));
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });

  it('refuses a model spec that is not a model', async () => {
    const good = await finishedCheckpoint();
    expectCode(reload({ ...good, run: { ...good.run, modelSpec: { layers: 'x' } as never } }), CoordinatorErrorCode.CHECKPOINT_CORRUPT, /model spec/);
  });
});
