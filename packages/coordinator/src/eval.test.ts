import { describe, expect, it } from 'vitest';
import { Harness, referenceParams, tinyData, tinyRun, INPUTS, CLASSES } from './testing/harness.js';
import { evaluate } from './testing/linear-model.js';
import type { EvalResult } from './events.js';

describe('evaluation', () => {
  const run = tinyRun({ batchSize: 32, microShardSize: 4, totalSteps: 4, evalEvery: 2, evalSamples: 23, evalShardSize: 5 });

  async function expected(step: number): Promise<{ loss: number; accuracy: number }> {
    const { train, test } = tinyData();
    const params = await referenceParams(run, train, step);
    let lossSum = 0;
    let correct = 0;
    for (let first = 0; first < 23; first += 5) {
      const count = Math.min(5, 23 - first);
      const indices = Array.from({ length: count }, (_, i) => first + i);
      const { x, y } = test.batch(indices);
      const result = evaluate(params, x, y, 0, count, INPUTS, CLASSES);
      lossSum += result.lossSum;
      correct += result.correct;
    }
    return { loss: lossSum / 23, accuracy: correct / 23 };
  }

  it('evaluates every evalEvery steps and at the end, aggregating shard results in order', async () => {
    const harness = new Harness(21);
    harness.create({ run });
    harness.addWorker({});
    harness.addWorker({ onTask: (_w, task) => (task.kind === 'eval' && task.step === 2 ? 'die' : 'answer') });
    harness.addWorker({ backend: 'wasm' });
    harness.coordinator.start();
    await harness.run();
    expect(harness.failures).toEqual([]);
    const evals = harness.events.filter((e): e is EvalResult => e.kind === 'eval');
    expect(evals.map((e) => [e.step, e.samples])).toEqual([
      [2, 23],
      [4, 23],
    ]);
    for (const result of evals) {
      const want = await expected(result.step);
      expect(result.loss).toBe(want.loss);
      expect(result.accuracy).toBe(want.accuracy);
    }
    // Training pauses while evaluating: the status goes evaluating → running between steps.
    const sequence = harness.events.filter((e) => e.kind === 'status' || e.kind === 'step' || e.kind === 'eval').map((e) =>
      e.kind === 'status' ? e.status : `${e.kind}${e.step}`,
    );
    expect(sequence).toEqual(['running', 'step0', 'step1', 'evaluating', 'eval2', 'running', 'step2', 'step3', 'evaluating', 'eval4', 'running', 'finished']);
    // Eval tasks carry the test samples inline, as shards of 5 with a short last one.
    const evalTasks = harness.network.sent.map((s) => s.message).filter((m) => m.type === 'task' && m.kind === 'eval');
    expect(evalTasks.every((t) => t.type === 'task' && t.split === 'test' && t.microShardSize === 5)).toBe(true);
    expect(harness.events.some((e) => e.kind === 'reissue' && e.taskKind === 'eval' && e.reason === 'disconnect')).toBe(true);
    expect(harness.coordinator.snapshot().evals).toEqual(evals);
  });

  it('evaluates only at the end when evalEvery is 0, and not at all without test data', async () => {
    const harness = new Harness(22);
    harness.create({ run: { ...run, evalEvery: 0 } });
    harness.addWorker({});
    harness.coordinator.start();
    await harness.run();
    expect(harness.events.filter((e) => e.kind === 'eval').map((e) => e.step)).toEqual([4]);

    const none = new Harness(23);
    none.create({ run: { ...run, evalSamples: undefined }, testData: undefined });
    none.addWorker({});
    none.coordinator.start();
    await none.run();
    expect(none.events.filter((e) => e.kind === 'eval')).toEqual([]);
    expect(none.coordinator.status).toBe('finished');
  });
});
