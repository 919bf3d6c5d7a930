import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from './codec.js';
import { RUN_STATUSES, type CoordinatorEvent, type RunSnapshot, type SnapshotEvent, type StepMetrics } from './events.js';
import type { JsonObject, RunEvent } from './messages.js';

const step: StepMetrics = {
  kind: 'step', step: 3, epoch: 0, loss: 0.25, lr: 0.01, samplesPerSecond: 640, stepMs: 50, computeMs: 30, transferMs: 12, waitMs: 8,
  workers: 2, backends: ['cpu', 'webgpu'], shardsReissued: 1, time: 1_700_000_000_000,
};

const snapshot: RunSnapshot = {
  runId: 'r1', status: 'running', step: 4, totalSteps: 10, epoch: 0, lr: 0.01, loss: 0.25, samplesPerSecond: 640,
  config: { runId: 'r1', modelSpec: { name: 'lenet5', layers: [] }, dataset: { name: 'mnist' }, batchSize: 32, microShardSize: 4, optimizer: { type: 'sgd', lr: 0.01 }, seed: 1, totalSteps: 10 },
  model: { name: 'lenet5', parameterCount: 61706, inputShape: [28, 28, 1], outputShape: [10], loss: 'softmaxCrossEntropy', layers: [] },
  data: { train: { name: 'mnist/train', length: 60000 }, test: null, evalSamples: 0 },
  workers: [], history: [step], evals: [],
  totals: { resultsAccepted: 4, resultsRejected: 0, shardsReissued: 1, checkpoints: 0, samplesTrained: 128 },
  startedAt: 1_700_000_000_000, time: 1_700_000_000_050,
};

describe('events and snapshots (the coordinator → dashboard contract)', () => {
  it('travel unchanged in an `event` message through the validating decoder', () => {
    const events: (CoordinatorEvent | SnapshotEvent)[] = [
      step,
      { kind: 'status', status: 'paused', previous: 'running', step: 4 },
      { kind: 'reissue', step: 4, taskKind: 'train', reason: 'deadline', fromWorker: 'w1', toWorkers: [], blocks: [{ start: 0, count: 2 }] },
      { kind: 'snapshot', snapshot },
    ];
    for (const [seq, event] of events.entries()) {
      const message = { type: 'event' as const, runId: 'r1', seq, event: event as unknown as RunEvent };
      expect(decodeMessage(encodeMessage(message))).toEqual(message);
    }
  });

  it('list run statuses in lifecycle order', () => {
    expect(RUN_STATUSES).toEqual(['waiting', 'running', 'paused', 'evaluating', 'finished', 'stopped']);
    const asJson: JsonObject = JSON.parse(JSON.stringify(snapshot)) as JsonObject;
    expect(asJson).toEqual(snapshot);
  });
});
