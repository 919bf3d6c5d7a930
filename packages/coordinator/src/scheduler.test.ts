import { describe, expect, it } from 'vitest';
import { Prng } from '@swarmgrad/data';
import { assignGreedy, blockSizeFor, floorPowerOfTwo, groupIntoTasks, mergeSiblingBlocks, planBlocks, taskIndices } from './scheduler.js';
import type { ReissueEvent } from './events.js';
import { Parts } from './testing/parts.js';
import { isAlignedBlock } from '@swarmgrad/nn-core';

describe('scheduler', () => {
  it('picks the largest power of two ≤ M / workers, capped', () => {
    expect(floorPowerOfTwo(1)).toBe(1);
    expect(floorPowerOfTwo(7)).toBe(4);
    expect(blockSizeFor(16, 3, 1024)).toBe(4);
    expect(blockSizeFor(16, 1, 1024)).toBe(16);
    expect(blockSizeFor(6, 7, 1024)).toBe(1);
    expect(blockSizeFor(64, 0, 1024)).toBe(64);
    expect(blockSizeFor(64, 1, 12)).toBe(8);
  });

  it('cuts [0, M) into aligned blocks that stay inside the step', () => {
    for (let M = 1; M <= 40; M++) {
      for (const size of [1, 2, 4, 8, 16, 32, 64]) {
        const blocks = planBlocks(M, size);
        let next = 0;
        for (const block of blocks) {
          expect(block.start).toBe(next);
          expect(isAlignedBlock(block, M)).toBe(true);
          expect(block.count).toBeLessThanOrEqual(size);
          next = block.start + block.count;
        }
        expect(next).toBe(M);
      }
    }
    expect(planBlocks(6, 4)).toEqual([
      { start: 0, count: 4 },
      { start: 4, count: 2 },
    ]);
  });

  it('assigns greedily by earliest finish, in proportion to throughput', () => {
    const units = Array.from({ length: 8 }, (_, i) => ({ block: { start: i, count: 1 }, samples: 10 }));
    const out = assignGreedy(units, [
      { id: 'fast', samplesPerSecond: 300, queuedSamples: 0 },
      { id: 'slow', samplesPerSecond: 100, queuedSamples: 0 },
    ]);
    expect(out.get('fast')!.length).toBe(6);
    expect(out.get('slow')!.length).toBe(2);
    const busy = assignGreedy(units.slice(0, 2), [
      { id: 'busy', samplesPerSecond: 100, queuedSamples: 1000 },
      { id: 'idle', samplesPerSecond: 100, queuedSamples: 0 },
    ]);
    expect([...busy.keys()]).toEqual(['idle']);
    expect(assignGreedy(units, []).size).toBe(0);
  });

  it('groups units into tasks under the caps', () => {
    const units = [3, 0, 2, 1, 4].map((start) => ({ block: { start, count: 1 }, samples: 4 }));
    expect(groupIntoTasks(units, { maxShards: 2, maxBlocks: 10, maxSamples: 100 }).map((t) => t.map((u) => u.block.start))).toEqual([[0, 1], [2, 3], [4]]);
    expect(groupIntoTasks(units, { maxShards: 10, maxBlocks: 10, maxSamples: 12 }).map((t) => t.length)).toEqual([3, 2]);
    expect(groupIntoTasks(units, { maxShards: 10, maxBlocks: 1, maxSamples: 100 })).toHaveLength(5);
  });
});

describe('mergeSiblingBlocks', () => {
  const unit = (start: number, count: number) => ({ block: { start, count }, samples: count * 4 });
  const make = (block: { start: number; count: number }) => ({ block, samples: block.count * 4 });
  const blocks = (units: Array<{ block: { start: number; count: number } }>) => units.map((u) => [u.block.start, u.block.count]);

  it('merges siblings into their parent, repeatedly', () => {
    expect(blocks(mergeSiblingBlocks([unit(0, 2), unit(2, 2), unit(6, 2)], 8, make))).toEqual([[0, 4], [6, 2]]);
    expect(blocks(mergeSiblingBlocks([unit(3, 1), unit(0, 1), unit(1, 1), unit(2, 1)], 8, make))).toEqual([[0, 4]]);
  });
  it('leaves non-siblings (same size but not aligned to the parent) and respects the size cap', () => {
    expect(blocks(mergeSiblingBlocks([unit(2, 2), unit(4, 2)], 8, make))).toEqual([[2, 2], [4, 2]]);
    expect(blocks(mergeSiblingBlocks([unit(0, 4), unit(4, 4)], 4, make))).toEqual([[0, 4], [4, 4]]);
    expect(blocks(mergeSiblingBlocks([unit(0, 2), unit(2, 1)], 8, make))).toEqual([[0, 2], [2, 1]]);
  });
});

describe('taskIndices (micro-shard slicing through @swarmgrad/data)', () => {
  it("gives each unit's micro-shards of the step's batch, in unit order, like BatchSchedule.shardBlock", () => {
    const parts = new Parts({ batchSize: 48, microShardSize: 3 });
    const rng = Prng.fromSeed(5);
    for (let trial = 0; trial < 50; trial++) {
      const step = rng.nextInt(40);
      const indices = parts.schedule.batch(step).indices;
      const units = planBlocks(16, 1 << rng.nextInt(5)).filter(() => rng.nextInt(2) === 0);
      const got = taskIndices({ kind: 'train', shardSize: 3, indices }, units.map((b) => ({ start: b.start, count: b.count, samples: b.count * 3 })));
      const expected = units.flatMap((b) => [...parts.schedule.shardBlock(step, b.start, b.count)]);
      expect([...got]).toEqual(expected);
    }
  });

  it('gives eval units consecutive test samples, the last one short', () => {
    const units = [
      { start: 0, count: 1, samples: 4 },
      { start: 2, count: 1, samples: 2 },
    ];
    expect([...taskIndices({ kind: 'eval', shardSize: 4, indices: new Uint32Array(0) }, units)]).toEqual([0, 1, 2, 3, 8, 9]);
  });
});

describe('Scheduler alone', () => {
  it('covers every micro-shard once, sends params once per connection, and sets deadlines from the estimate', () => {
    const parts = new Parts({ batchSize: 48, microShardSize: 4 });
    const a = parts.join();
    const b = parts.join();
    // Measured speeds (claimed ones are ignored): b is three times faster.
    parts.membership.taskCompleted(a.worker, 100, 1000);
    parts.membership.taskCompleted(b.worker, 300, 1000);
    const scheduler = parts.scheduler();
    const params = new Float32Array(parts.run.plan.paramCount).fill(0.5);
    const plan = scheduler.planTrainStep(2, params);
    scheduler.sendShares(plan);
    const tasks = [...parts.to(a.conn.id, 'task'), ...parts.to(b.conn.id, 'task')];
    const covered = tasks.flatMap((t) => t.blocks.flatMap((blk) => Array.from({ length: blk.count }, (_, i) => blk.start + i))).sort((x, y) => x - y);
    expect(covered).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(parts.to(a.conn.id, 'params')).toHaveLength(1);
    expect(parts.to(b.conn.id, 'params')[0]!.params).toBe(params);
    // The faster worker gets the larger share.
    const samplesOf = (connId: string): number => parts.to(connId, 'task').reduce((n, t) => n + t.indices.length, 0);
    expect(samplesOf(b.conn.id)).toBeGreaterThan(samplesOf(a.conn.id));
    for (const task of tasks) {
      expect(task.deadlineMs).toBeGreaterThanOrEqual(parts.options.minDeadlineMs);
      expect(task.step).toBe(2);
    }
    expect(plan.phase.pending.size).toBe(0);
  });

  it('with nobody connected every block waits, and is handed out when a worker comes', () => {
    const parts = new Parts();
    const scheduler = parts.scheduler();
    const { phase } = scheduler.planTrainStep(0, new Float32Array(parts.run.plan.paramCount));
    expect(phase.pending.size).toBe(phase.units.length);
    scheduler.drainPending(phase);
    const { conn } = parts.join();
    scheduler.drainPending(phase);
    expect(phase.pending.size).toBe(0);
    expect(parts.to(conn.id, 'task').length).toBeGreaterThan(0);
  });

  it('re-issues the blocks of an overdue task to another worker, once, halves its worker\'s estimate, and reports it', () => {
    const parts = new Parts();
    const a = parts.join();
    const b = parts.join();
    const reissues: { event: ReissueEvent; shards: number }[] = [];
    const scheduler = parts.scheduler(reissues);
    const plan = scheduler.planTrainStep(0, new Float32Array(parts.run.plan.paramCount));
    scheduler.sendShares(plan);
    const [task] = scheduler.tasksOn(plan.phase, a.conn.id);
    const before = parts.to(b.conn.id, 'task').length;
    parts.clock.now = task!.deadlineAt;
    for (const other of scheduler.tasksOn(plan.phase, b.conn.id)) other.missing.clear(); // b delivered in time
    expect(scheduler.overdue(plan.phase, parts.clock.now)).toEqual([task]);
    const rate = parts.membership.rateOf(a.worker);
    parts.membership.penalise(a.worker); // what the coordinator does for an overdue task, then kill
    scheduler.kill(plan.phase, task!, 'deadline');
    expect([a.worker.rate, a.worker.rateSource]).toEqual([rate / 2, 'measured']);
    expect(reissues).toHaveLength(1);
    expect(reissues[0]!.event).toMatchObject({ kind: 'reissue', reason: 'deadline', fromWorker: a.worker.id, toWorkers: [b.worker.id] });
    expect(reissues[0]!.shards).toBe(task!.units.reduce((n, u) => n + u.count, 0));
    expect(plan.phase.shardsReissued).toBe(reissues[0]!.shards);
    const again = parts.to(b.conn.id, 'task').slice(before);
    expect(again.flatMap((t) => t.blocks)).toEqual(task!.units.map((u) => ({ start: u.start, count: u.count })));
  });
});
