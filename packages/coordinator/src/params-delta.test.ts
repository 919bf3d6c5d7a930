import { describe, expect, it } from 'vitest';
import type { ParamsMessage } from '@swarmgrad/protocol';
import { Harness, referenceParams, tinyData, tinyRun, type FakeWorker } from './testing/harness.js';
import { paramsSha256 } from './sha256.js';

// Params deltas to direct workers: a worker that lists `xor-deflate` gets, from its second
// step on, the lossless delta from the params it holds instead of the full vector; the
// parameters (and so the run) stay bit for bit those of a run with full params.
const RUN = tinyRun({ batchSize: 32, microShardSize: 4, totalSteps: 6 });

function paramsTo(harness: Harness, worker: FakeWorker): ParamsMessage[] {
  return harness.network.to(worker.connId, 'params') as ParamsMessage[];
}

async function run(workers: Array<Parameters<Harness['addWorker']>[0]>, options: { paramsDelta?: boolean } = {}, seed = 2, config = RUN): Promise<{ harness: Harness; fakes: FakeWorker[] }> {
  const harness = new Harness(seed);
  harness.create({ run: config, testData: undefined, paramsDelta: true, ...options });
  const fakes = workers.map((w) => harness.addWorker(w));
  harness.coordinator.start();
  await harness.run();
  expect(harness.failures).toEqual([]);
  expect(harness.coordinator.status).toBe('finished');
  expect(paramsSha256(harness.coordinator.params())).toBe(paramsSha256(await referenceParams(config, tinyData().train)));
  return { harness, fakes };
}

describe('params deltas to direct workers', () => {
  it('a worker that can apply them gets deltas after its first params, smaller than the vector; same parameters', async () => {
    const { harness, fakes } = await run([{ paramsDelta: true }, { paramsDelta: true }]);
    for (const fake of fakes) {
      const sent = paramsTo(harness, fake);
      expect(sent.length).toBeGreaterThan(1);
      expect(sent[0]!.delta).toBeUndefined();
      const deltas = sent.filter((m) => m.delta);
      expect(deltas.length).toBeGreaterThan(0);
      expect(fake.deltas).toBe(deltas.length);
      for (const m of deltas) {
        expect(m.params.length).toBe(0);
        expect(m.delta!.bytes.byteLength).toBeLessThan(harness.coordinator.params().byteLength);
      }
    }
    // Prometheus shows the fan-out by form, and the bytes saved.
    const deltas = fakes.reduce((n, f) => n + f.deltas, 0);
    const text = harness.coordinator.metricsText();
    expect(text).toContain(`swarmgrad_params_frames_total{run="${RUN.runId}",form="delta"} ${deltas}`);
    const bytes = Number(/swarmgrad_params_bytes_total\{[^}]*\} (\d+)/.exec(text)?.[1]);
    const full = Number(/swarmgrad_params_full_bytes_total\{[^}]*\} (\d+)/.exec(text)?.[1]);
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThan(full);
  });

  it('a worker that does not list xor-deflate, or a run with paramsDelta off (the default), gets full params only', async () => {
    const mixed = await run([{ paramsDelta: true }, {}]);
    expect(paramsTo(mixed.harness, mixed.fakes[1]!).every((m) => !m.delta)).toBe(true);
    expect(paramsTo(mixed.harness, mixed.fakes[0]!).some((m) => m.delta)).toBe(true);
    const off = await run([{ paramsDelta: true }], { paramsDelta: false });
    expect(paramsTo(off.harness, off.fakes[0]!).every((m) => !m.delta)).toBe(true);
    const byDefault = new Harness(2);
    byDefault.create({ run: RUN, testData: undefined });
    const fake = byDefault.addWorker({ paramsDelta: true });
    byDefault.coordinator.start();
    await byDefault.run();
    expect(paramsTo(byDefault, fake).every((m) => !m.delta)).toBe(true);
  });

  it('a worker that cannot apply a delta (MISSING_PARAMS) gets full params from then on; nothing is lost', async () => {
    // (On this tiny model a delta is smaller than the vector only once the learning rate has decayed: 16 steps.)
    const { harness, fakes } = await run([{ paramsDelta: 'fail' }, { paramsDelta: true }], {}, 5, tinyRun({ batchSize: 32, microShardSize: 4, totalSteps: 16 }));
    const failing = fakes[0]!;
    expect(failing.deltas).toBe(1);
    const sent = paramsTo(harness, failing);
    const firstDelta = sent.findIndex((m) => m.delta);
    expect(firstDelta).toBeGreaterThan(0);
    expect(sent.slice(firstDelta + 1).every((m) => !m.delta)).toBe(true);
    expect(sent.length).toBeGreaterThan(firstDelta + 1);
  });
});
