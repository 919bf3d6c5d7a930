import { describe, expect, it } from 'vitest';
import { createOptimizer, treeWidth } from '@swarmgrad/nn-core';
import { Prng } from '@swarmgrad/data';
import type { ResultMessage, TrainBlockResult } from '@swarmgrad/protocol';
import { encodeGradient } from '@swarmgrad/protocol';
import { Aggregator, locateTask, validateResult, type CheckedBlock } from './aggregator.js';
import { CoordinatorErrorCode } from './errors.js';
import { PASS_THROUGH_GATE, type ResultGate } from './result-gate.js';
import { Parts } from './testing/parts.js';
import type { Phase, TaskRecord } from './work.js';

const P = 15;

function setup(workers = 2): { parts: Parts; phase: Phase; tasks: TaskRecord[] } {
  const parts = new Parts({ batchSize: 32, microShardSize: 4 });
  for (let i = 0; i < workers; i++) parts.join();
  const scheduler = parts.scheduler();
  const plan = scheduler.planTrainStep(0, new Float32Array(P));
  scheduler.sendShares(plan);
  return { parts, phase: plan.phase, tasks: [...plan.phase.tasks.values()] };
}

function randomLeaf(rng: Prng): Float32Array {
  return Float32Array.from({ length: P }, () => rng.nextFloat() * 2 - 1);
}

/** A correct result of `task`: each block's subtree sum of the leaves, in the fixed tree order. */
function resultFor(task: TaskRecord, leaves: Map<number, Float32Array>): ResultMessage {
  const blocks: TrainBlockResult[] = task.units.map((u) => ({
    start: u.start,
    count: u.count,
    lossSum: u.count,
    sampleCount: u.samples,
    gradient: encodeGradient('f32', subtree(u.start, u.count, leaves)),
  }));
  return { type: 'result', taskId: task.id, runId: 'test-run', step: 0, kind: 'train', backend: 'cpu', timing: { computeMs: 3 }, blocks };
}

/** Naive pairwise tree sum over leaves `start .. start + count - 1` (count a power of two). */
function subtree(start: number, count: number, leaves: Map<number, Float32Array>): Float32Array {
  if (count === 1) return leaves.get(start)!.slice();
  const left = subtree(start, count / 2, leaves);
  const right = subtree(start + count / 2, count / 2, leaves);
  return left.map((v, i) => v + right[i]!);
}

describe('validateResult', () => {
  it('accepts the blocks of the task and refuses foreign blocks, wrong sample counts, other codecs and short gradients', () => {
    const { phase, tasks } = setup(1);
    const task = tasks[0]!;
    const leaves = new Map(Array.from({ length: 8 }, (_, i) => [i, randomLeaf(Prng.fromSeed(i))] as const));
    const good = resultFor(task, leaves);
    const ok = validateResult(good, task, phase, 'f32', P);
    expect(ok.ok && ok.blocks.map((b) => [b.start, b.count, b.grads!.length])).toEqual(task.units.map((u) => [u.start, u.count, P]));
    const first = good.blocks[0] as TrainBlockResult;
    const withBlock = (block: TrainBlockResult): ResultMessage => ({ ...good, kind: 'train', blocks: [block] }) as ResultMessage;
    const variants: [ResultMessage, string][] = [
      [withBlock({ ...first, start: first.start + 64 }), CoordinatorErrorCode.BAD_RESULT],
      [withBlock({ ...first, sampleCount: first.sampleCount - 1 }), CoordinatorErrorCode.BAD_RESULT],
      [withBlock({ ...first, gradient: encodeGradient('f16', new Float32Array(P)) }), CoordinatorErrorCode.BAD_RESULT],
      [withBlock({ ...first, gradient: encodeGradient('f32', new Float32Array(P - 1)) }), 'LENGTH_MISMATCH'],
    ];
    for (const [result, code] of variants) expect(validateResult(result, task, phase, 'f32', P)).toMatchObject({ ok: false, code });
  });
});

describe('locateTask', () => {
  it('names the task, or says stale / future / unknown / other run', () => {
    const { parts, phase, tasks } = setup(2);
    const [a, b] = [...parts.membership.workers.values()];
    const task = tasks.find((t) => t.workerId === a!.id)!;
    const msg = { runId: 'test-run', step: 0, taskId: task.id, kind: 'train' } as ResultMessage;
    const at = { runId: 'test-run', phase, step: 0, retired: new Map<string, { workerId: string }>() };
    expect(locateTask(msg, a!, at)).toEqual({ phase, task });
    expect(locateTask(msg, b!, at)).toMatchObject({ code: CoordinatorErrorCode.UNKNOWN_TASK, strike: true });
    expect(locateTask({ ...msg, runId: 'other' }, a!, at)).toMatchObject({ code: CoordinatorErrorCode.BAD_RESULT, strike: true });
    const later = { ...at, phase: null, step: 1, retired: new Map([[task.id, { workerId: a!.id }]]) };
    expect(locateTask(msg, a!, later)).toMatchObject({ code: CoordinatorErrorCode.STALE_RESULT, strike: false });
    expect(locateTask({ ...msg, step: 5, taskId: 'x' }, a!, later)).toMatchObject({ code: CoordinatorErrorCode.BAD_RESULT, strike: true });
    expect(locateTask({ ...msg, step: 1, taskId: 'x' }, a!, later)).toMatchObject({ code: CoordinatorErrorCode.UNKNOWN_TASK });
  });
});

describe('Aggregator alone', () => {
  it('accepts each block once (first result wins) and applies the same step as a naive float32 tree + optimizer', () => {
    const { parts, phase, tasks } = setup(3);
    const rng = Prng.fromSeed(9);
    const leaves = new Map(Array.from({ length: 8 }, (_, i) => [i, randomLeaf(rng)] as const));
    const optimizer = createOptimizer({ type: 'sgd', lr: 0.1 }, P);
    const aggregator = new Aggregator(PASS_THROUGH_GATE, optimizer, P, 32);
    for (const task of tasks) {
      const worker = parts.membership.workers.get(task.workerId)!;
      const msg = resultFor(task, leaves);
      const check = validateResult(msg, task, phase, 'f32', P);
      if (!check.ok) throw new Error(check.message);
      expect(aggregator.isComplete(phase)).toBe(false);
      const first = aggregator.submit(phase, task, worker, msg, check.blocks, 10);
      expect(first).toMatchObject({ admitted: true, fresh: task.units.length, duplicates: 0, taskCompleted: true });
      const again = aggregator.submit(phase, task, worker, msg, check.blocks, 11);
      expect(again).toMatchObject({ admitted: true, fresh: 0, duplicates: task.units.length, taskCompleted: false });
    }
    expect(aggregator.isComplete(phase)).toBe(true);
    const params = Float32Array.from({ length: P }, (_, i) => i / P);
    const applied = aggregator.applyStep(phase, params, null);
    // Naive reference: the pairwise tree over 8 leaves, / B, then p -= lr * g, all in float32.
    const root = subtree(0, treeWidth(8), leaves);
    const expected = params.map((p, i) => Math.fround(p - Math.fround(0.1 * Math.fround(root[i]! / 32))));
    expect([...applied.params]).toEqual([...expected]);
    expect(applied.params).not.toBe(params);
    expect(applied.loss).toBe(8 / 32);
    expect(applied.lr).toBe(0.1);
  });

  it('asks the gate before accepting; a refused result accepts nothing', () => {
    const { parts, phase, tasks } = setup(1);
    const task = tasks[0]!;
    const worker = parts.membership.workers.get(task.workerId)!;
    const leaves = new Map(Array.from({ length: 8 }, (_, i) => [i, randomLeaf(Prng.fromSeed(i))] as const));
    const msg = resultFor(task, leaves);
    const check = validateResult(msg, task, phase, 'f32', P) as { ok: true; blocks: CheckedBlock[] };
    const seen: string[] = [];
    const gate: ResultGate = {
      admit: (r) => {
        seen.push(`${r.workerId}:${r.taskId}:${r.blocks.length}:${r.trusted}`);
        return { action: 'reject', code: CoordinatorErrorCode.RESULT_REFUSED, message: 'no', strike: false };
      },
    };
    const outcome = new Aggregator(gate, createOptimizer({ type: 'sgd', lr: 0.1 }, P), P, 32).submit(phase, task, worker, msg, check.blocks, 5);
    expect(outcome).toEqual({ admitted: false, verdict: { action: 'reject', code: CoordinatorErrorCode.RESULT_REFUSED, message: 'no', strike: false } });
    expect(seen).toEqual([`${worker.id}:${task.id}:${task.units.length}:true`]);
    expect(phase.accepted.size).toBe(0);
    expect(task.answered.size).toBe(0);
  });
});
