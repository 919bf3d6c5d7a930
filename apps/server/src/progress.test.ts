import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CoordinatorEvent } from '@swarmgrad/coordinator';
import { createProgress, eventLine, formatDuration, statusLine } from './progress.js';

const step = (n: number, time: number): CoordinatorEvent => ({
  kind: 'step', step: n, epoch: 0, loss: 0.25, lr: 0.01, samplesPerSecond: 0, stepMs: 0, computeMs: 0, transferMs: 0, waitMs: 0,
  workers: 2, backends: ['cpu'], shardsReissued: 0, time,
});

describe('formatDuration', () => {
  it.each([
    [0, '0:00'],
    [59.4, '0:59'],
    [59.6, '1:00'],
    [3599.5, '1:00:00'],
    [3725, '1:02:05'],
    [-1, '--:--'],
    [Infinity, '--:--'],
  ])('%s s → %s', (seconds, text) => expect(formatDuration(seconds)).toBe(text));
});

describe('statusLine', () => {
  it('epoch, step, loss, accuracy, samples/s, workers and the ETA from the step rate', () => {
    const line = statusLine({ step: 12, totalSteps: 100, stepsPerEpoch: 25, batchSize: 128, loss: 0.30104, accuracy: 0.9123, workers: 1, stepsPerSecond: 2 });
    // (100 - 12) steps at 2 steps/s = 44 s
    expect(line).toBe('epoch 1/4 · step 12/100 · loss 0.3010 · test acc 91.23% · 256 samples/s · 1 worker · ETA 0:44');
  });

  it('before the first step: dashes and no ETA', () => {
    expect(statusLine({ step: 0, totalSteps: 10, stepsPerEpoch: 3, batchSize: 8, loss: NaN, accuracy: undefined, workers: 0, stepsPerSecond: 0 })).toBe(
      'epoch 1/4 · step 0/10 · loss — · test acc — · 0 samples/s · 0 workers · ETA --:--',
    );
  });
});

describe('eventLine', () => {
  it.each<[CoordinatorEvent, string | undefined]>([
    [{ kind: 'eval', step: 10, loss: 0.123456, accuracy: 0.98765, samples: 10000, time: 0 }, 'eval at step 10: test loss 0.1235, accuracy 98.77% on 10,000 images'],
    [{ kind: 'worker', action: 'left', workerId: 'w3', name: 'lab-1', backend: 'wasm', environment: 'node', adapter: null, trusted: false, reason: 'timeout' }, 'worker w3 (lab-1) left: node, wasm, untrusted — timeout'],
    [{ kind: 'rejected', workerId: null, code: 'BAD_FRAME', message: 'garbage', step: null, strike: false, fatal: true }, 'rejected a connection: BAD_FRAME — garbage'],
    [{ kind: 'checkpoint', step: 5, ok: true, error: null }, undefined],
    [{ kind: 'checkpoint', step: 5, ok: false, error: 'EACCES' }, 'checkpoint at step 5 FAILED: EACCES (run paused)'],
    [{ kind: 'status', status: 'running', previous: 'waiting', step: 0 }, undefined],
    [{ kind: 'status', status: 'stopped', previous: 'running', step: 9 }, 'run stopped at step 9'],
    [{ kind: 'lr', lr: 0.001, step: 4 }, 'learning rate set to 0.001 from step 4'],
    [{ kind: 'error', message: 'boom' }, 'engine error: boom'],
  ])('%j', (event, line) => expect(eventLine(event)).toBe(line));
});

describe('createProgress (plain)', () => {
  it('a status line per interval and at the last step; event lines; the measured rate in the ETA', () => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream;
    let written = '';
    (stream as unknown as PassThrough).on('data', (d: Buffer) => (written += d.toString()));
    const progress = createProgress({ totalSteps: 4, stepsPerEpoch: 2, batchSize: 10, startStep: 0, stream, plain: true, intervalMs: 1e9 });
    progress.onEvent(step(0, 1000));
    progress.onEvent(step(1, 1500)); // within the interval: no line
    progress.onEvent({ kind: 'eval', step: 2, loss: 0.5, accuracy: 0.5, samples: 10, time: 0 });
    progress.onEvent(step(2, 2000));
    progress.onEvent(step(3, 2500)); // the last step: always a line
    progress.finish();
    const lines = written.trim().split('\n');
    expect(lines).toEqual([
      'epoch 1/2 · step 1/4 · loss 0.2500 · test acc — · 0 samples/s · 2 workers · ETA --:--',
      'eval at step 2: test loss 0.5000, accuracy 50.00% on 10 images',
      // 3 steps in 1.5 s: 2 steps/s, 20 samples/s
      'epoch 2/2 · step 4/4 · loss 0.2500 · test acc 50.00% · 20 samples/s · 2 workers · ETA 0:00',
    ]);
  });
});
