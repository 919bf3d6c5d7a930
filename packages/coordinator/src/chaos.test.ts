import { describe, expect, it } from 'vitest';
import { Prng } from '@swarmgrad/data';
import { Harness, referenceParams, tinyData, tinyRun, type FakeWorkerOptions, type TaskAction } from './testing/harness.js';
import { paramsSha256 } from './sha256.js';

describe('chaos', () => {
  const run = tinyRun({ batchSize: 48, microShardSize: 2, totalSteps: 12, evalEvery: 4, evalSamples: 30, evalShardSize: 4 }); // M = 24

  for (const seed of [1, 2, 3, 4]) {
    it(`survives random deaths, reconnects, missed deadlines and duplicates with the same final hash (seed ${seed})`, async () => {
      const expected = paramsSha256(await referenceParams(run, tinyData().train));
      const harness = new Harness(seed);
      const chaos = Prng.fromSeed(1000 + seed);
      harness.create({ run, minDeadlineMs: 500 });
      let spawned = 0;
      const spawn = (workerId?: string): void => {
        spawned++;
        const options: FakeWorkerOptions = {
          backend: chaos.nextInt(2) === 0 ? 'cpu' : 'wasm',
          splitResults: chaos.nextInt(2) === 0,
          duplicateResults: chaos.nextInt(5) === 0,
          onTask: (worker): TaskAction => {
            const roll = chaos.nextInt(20);
            if (roll === 0 && spawned < 40) {
              // Dies; a replacement (sometimes reclaiming the same id) joins a little later.
              const id = chaos.nextInt(2) === 0 ? worker.workerId : undefined;
              harness.enqueue(async () => spawn(id));
              return 'die';
            }
            if (roll === 1) return 'ignore';
            return 'answer';
          },
        };
        if (workerId !== undefined) options.workerId = workerId;
        harness.addWorker(options);
      };
      for (let i = 0; i < 5; i++) spawn();
      harness.coordinator.start();
      await harness.run();
      expect(harness.failures).toEqual([]);
      expect(harness.coordinator.status).toBe('finished');
      expect(paramsSha256(harness.coordinator.params())).toBe(expected);
      const accounting = harness.coordinator.accounting();
      expect(accounting).toHaveLength(12);
      for (const entry of accounting) expect(entry.shards.map((s) => s.shard)).toEqual(Array.from({ length: 24 }, (_, i) => i));
      expect(harness.events.filter((e) => e.kind === 'eval').map((e) => e.step)).toEqual([4, 8, 12]);
      const reasons = new Set(harness.events.filter((e) => e.kind === 'reissue').map((e) => (e as { reason: string }).reason));
      expect(reasons).toEqual(new Set(['disconnect', 'deadline']));
      expect(spawned).toBeGreaterThan(5);
    });
  }
});
