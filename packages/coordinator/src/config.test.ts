import { describe, expect, it } from 'vitest';
import { syntheticDataset } from '@swarmgrad/data';
import { Coordinator, type CoordinatorOptions } from './coordinator.js';
import { CoordinatorErrorCode, isCoordinatorError } from './errors.js';
import { tinyData, tinyRun } from './testing/harness.js';

const transport = { send: () => {}, close: () => {} };

function codeOf(options: Partial<CoordinatorOptions>): string | undefined {
  const { train, test } = tinyData();
  try {
    new Coordinator({ run: tinyRun(), trainData: train, testData: test, transport, ...options });
    return undefined;
  } catch (error) {
    expect(isCoordinatorError(error)).toBe(true);
    return (error as { code: string }).code;
  }
}

describe('options', () => {
  it('accepts a valid run', () => {
    expect(codeOf({})).toBeUndefined();
  });

  it.each([
    ['batch not a multiple of the micro-shard', { run: tinyRun({ batchSize: 10, microShardSize: 4 }) }],
    ['batch larger than the training set', { run: tinyRun({ batchSize: 480, microShardSize: 4 }) }],
    ['unknown run field', { run: { ...tinyRun(), learningRate: 1 } as never }],
    ['bad optimizer', { run: tinyRun({ optimizer: { type: 'sgd', lr: -1 } }) }],
    ['bad model', { run: tinyRun({ modelSpec: { inputShape: [4], layers: [] } }) }],
    ['model input ≠ sample size', { run: tinyRun({ modelSpec: { inputShape: [5], layers: [{ type: 'dense', units: 3 }] } }) }],
    ['fewer outputs than classes', { run: tinyRun({ modelSpec: { inputShape: [4], layers: [{ type: 'dense', units: 2 }] } }) }],
    ['evalSamples beyond the test set', { run: tinyRun({ evalSamples: 51 }) }],
    ['unknown codec', { run: tinyRun({ codec: 'f8' as never }) }],
    ['negative totalSteps', { run: tinyRun({ totalSteps: -1 }) }],
    ['seed out of range', { run: tinyRun({ seed: 2 ** 32 }) }],
    ['empty runId', { run: tinyRun({ runId: '' }) }],
    ['heartbeat timeout ≤ interval', { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 1000 }],
    ['deadline factor < 1', { deadlineFactor: 0.5 }],
    ['zero strikes', { maxStrikes: 0 }],
    ['frame limit below one gradient', { limits: { maxFrameBytes: 1000 } }],
    ['empty token', { token: '' }],
    ['transport without close', { transport: { send: () => {} } as never }],
  ])('refuses %s with BAD_CONFIG', (_name, options) => {
    expect(codeOf(options as Partial<CoordinatorOptions>)).toBe(CoordinatorErrorCode.BAD_CONFIG);
  });

  it('names the offending field', () => {
    const { train } = tinyData();
    expect(() => new Coordinator({ run: tinyRun({ batchSize: 10 }), trainData: train, transport })).toThrow(
      'run.batchSize 10 is not a multiple of run.microShardSize 4',
    );
    const images = syntheticDataset({ length: 64, height: 3, width: 3 });
    expect(() => new Coordinator({ run: tinyRun(), trainData: images, transport })).toThrow(/samples of shape \[3, 3, 1\] \(9 values\); model tiny expects input \[4\]/);
  });

  it('throws BAD_STATE for lifecycle calls out of order', () => {
    const { train } = tinyData();
    const coordinator = new Coordinator({ run: tinyRun(), trainData: train, transport });
    expect(coordinator.status).toBe('waiting');
    expect(() => coordinator.pause()).toThrow(expect.objectContaining({ code: CoordinatorErrorCode.BAD_STATE }));
    coordinator.start();
    expect(() => coordinator.start()).toThrow(expect.objectContaining({ code: CoordinatorErrorCode.BAD_STATE }));
    expect(() => coordinator.setLearningRate(0)).toThrow(expect.objectContaining({ code: CoordinatorErrorCode.BAD_CONFIG }));
    coordinator.stop();
    coordinator.stop();
    expect(coordinator.status).toBe('stopped');
  });
});
