import { describe, expect, it } from 'vitest';
import { Harness, referenceParams, tinyData, tinyRun, type FakeWorkerOptions } from './testing/harness.js';
import { paramsSha256 } from './sha256.js';
import type { RunConfig } from './config.js';
import type { StepAccounting } from './events.js';
import type { RunEvent } from '@swarmgrad/protocol';

function expectExactCoverage(accounting: StepAccounting[], steps: number, shardCount: number): void {
  expect(accounting.map((a) => a.step)).toEqual(Array.from({ length: steps }, (_, i) => i));
  for (const entry of accounting) {
    expect(entry.shardCount).toBe(shardCount);
    const counts = new Array<number>(shardCount).fill(0);
    for (const block of entry.blocks) for (let s = block.start; s < block.start + block.count; s++) counts[s] = (counts[s] ?? 0) + 1;
    expect(counts).toEqual(new Array<number>(shardCount).fill(1));
    expect(entry.shards.map((s) => s.shard)).toEqual(Array.from({ length: shardCount }, (_, i) => i));
    for (const shard of entry.shards) {
      const block = entry.blocks.find((b) => b.start <= shard.shard && shard.shard < b.start + b.count)!;
      expect([shard.workerId, shard.backend]).toEqual([block.workerId, block.backend]);
    }
  }
}

async function runWith(run: RunConfig, workers: FakeWorkerOptions[], seed: number): Promise<Harness> {
  const harness = new Harness(seed);
  harness.create({ run, testData: undefined });
  for (const options of workers) harness.addWorker(options);
  harness.coordinator.start();
  await harness.run();
  expect(harness.failures).toEqual([]);
  expect(harness.coordinator.status).toBe('finished');
  return harness;
}

describe('bitwise determinism', () => {
  const cases: { name: string; run: RunConfig }[] = [
    { name: 'M = 6 (not a power of two), adam', run: tinyRun({ batchSize: 24, microShardSize: 4, totalSteps: 8 }) },
    { name: 'M = 16, momentum', run: tinyRun({ batchSize: 32, microShardSize: 2, totalSteps: 6, optimizer: { type: 'momentum', lr: 0.1, momentum: 0.9 } }) },
    { name: 'M = 1, plain sgd', run: tinyRun({ batchSize: 24, microShardSize: 24, totalSteps: 5, optimizer: { type: 'sgd', lr: 0.3 } }) },
    { name: 'M = 12, sgd with weight decay', run: tinyRun({ batchSize: 36, microShardSize: 3, totalSteps: 4, optimizer: { type: 'sgd', lr: 0.2, weightDecay: 0.01 } }) },
  ];

  for (const { name, run } of cases) {
    it(`gives the reference loop's parameters with 1, 3 and 7 workers in random orders (${name})`, async () => {
      const { train } = tinyData();
      const expected = paramsSha256(await referenceParams(run, train));
      const shardCount = run.batchSize / run.microShardSize;
      const hashes: string[] = [];
      for (const [workers, seed] of [
        [1, 1],
        [3, 2],
        [3, 3],
        [7, 4],
        [7, 5],
      ] as const) {
        const options: FakeWorkerOptions[] = Array.from({ length: workers }, (_, i) => ({
          backend: i % 2 === 0 ? 'cpu' : 'wasm',
          splitResults: i % 3 === 1,
          samplesPerSecond: 50 + 40 * i,
        }));
        const harness = await runWith(run, options, seed);
        hashes.push(paramsSha256(harness.coordinator.params()));
        expectExactCoverage(harness.coordinator.accounting(), run.totalSteps, shardCount);
        const steps = harness.events.filter((e) => e.kind === 'step');
        expect(steps).toHaveLength(run.totalSteps);
      }
      expect(new Set(hashes)).toEqual(new Set([expected]));
    });
  }

  it('spreads a step over the workers with the largest power-of-two block ≤ M / workers, sibling blocks of one worker merged', async () => {
    const run = tinyRun({ batchSize: 64, microShardSize: 4, totalSteps: 1 }); // M = 16
    const harness = await runWith(run, [{}, {}, {}], 9);
    const [entry] = harness.coordinator.accounting();
    // 16 / 3 → blocks of 4: 4 blocks over 3 equally fast workers; the worker with two gets
    // them as one contiguous run, merged into their parent block {0, 8}.
    expect(entry!.blocks.map((b) => [b.start, b.count])).toEqual([[0, 8], [8, 4], [12, 4]]);
    expect(new Set(entry!.blocks.map((b) => b.workerId)).size).toBe(3);
    const step = harness.events.find((e) => e.kind === 'step');
    expect(step).toMatchObject({ kind: 'step', step: 0, epoch: 0, workers: 3, backends: ['cpu'], shardsReissued: 0 });
  });

  it('emits events that are protocol RunEvents (a listener typed for the wire accepts them)', async () => {
    const wire: RunEvent[] = [];
    const harness = new Harness(1);
    harness.create({ run: tinyRun({ totalSteps: 1 }) });
    harness.coordinator.on((event: RunEvent, seq: number) => void wire.push({ ...event, seq }));
    harness.addWorker({});
    harness.coordinator.start();
    await harness.run();
    expect(wire.map((e) => e['seq'])).toEqual(wire.map((_, i) => i + 1));
    expect(wire.map((e) => e.kind)).toEqual(['worker', 'status', 'step', 'workers', 'status', 'eval', 'status', 'worker', 'status']);
    const workers = wire.find((e) => e.kind === 'workers') as unknown as { workers: Array<{ tasksDone: number; shardsDone: number }> };
    expect(workers.workers).toHaveLength(1);
    expect(workers.workers[0]!.tasksDone).toBeGreaterThan(0);
    expect(workers.workers[0]!.shardsDone).toBe(harness.coordinator.shardCount);
  });

  it('reports the loss of the global batch and each worker gets params once per step', async () => {
    const run = tinyRun({ totalSteps: 3 });
    const harness = await runWith(run, [{}, {}], 3);
    for (const peer of ['conn-1', 'conn-2']) {
      const params = harness.network.to(peer, 'params').map((p) => p.step);
      expect(params).toEqual([...new Set(params)]);
    }
    const losses = harness.events.filter((e) => e.kind === 'step').map((e) => (e as { loss: number }).loss);
    expect(losses.every((l) => Number.isFinite(l) && l > 0)).toBe(true);
  });
});
