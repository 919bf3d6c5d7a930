import { describe, expect, it } from 'vitest';
import { planModel, zooModel } from '@swarmgrad/nn-core';
import { MAX_LOG, MAX_STEPS, modelSummaryOf, RunState } from './store.js';
import type { EvalResult, RunConfig, RunSnapshot, StepMetrics, WorkerSummary } from './types.js';

const step = (n: number, loss = 1 / (n + 1)): StepMetrics => ({
  kind: 'step', step: n, epoch: Math.floor(n / 10), loss, lr: 0.01, samplesPerSecond: 100, stepMs: 10, computeMs: 5,
  transferMs: 3, waitMs: 2, workers: 1, backends: ['cpu'], shardsReissued: 0, time: 1000 + n,
});
const evaluation = (n: number, accuracy: number): EvalResult => ({ kind: 'eval', step: n, loss: 0.5, accuracy, samples: 1000, time: 2000 + n });
const worker = (id: string, connected: boolean): WorkerSummary => ({
  id, name: `w-${id}`, connected, environment: 'node', backend: 'cpu', adapter: null, cores: 2, userAgent: null, remoteAddress: '127.0.0.1',
  trusted: true, codec: 'f32', samplesPerSecond: 50, measured: true, tasksDone: 3, shardsDone: 12, rejected: 0, joinedAt: 0, lastSeen: 0, lastError: null,
} as WorkerSummary);
const config = (): RunConfig => ({
  runId: 'r', modelSpec: zooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10 }), dataset: { name: 'mnist' }, batchSize: 64, microShardSize: 16,
  optimizer: { type: 'adam', lr: 0.01, schedule: { type: 'constant' } }, seed: 1, totalSteps: 100, evalEvery: 10, checkpointEvery: 10, codec: 'f32',
} as RunConfig);
const snapshot = (fields: Partial<RunSnapshot>): RunSnapshot => ({
  runId: 'r', status: 'running', step: 0, totalSteps: 100, epoch: 0, lr: 0.01, config: config(), model: null, data: null,
  totals: { checkpoints: 0 }, startedAt: 0, time: Date.now(), history: [], evals: [], workers: [], ...fields,
} as unknown as RunSnapshot);

describe('RunState.apply', () => {
  it('steps are appended in order; a step seen before changes nothing', () => {
    const state = new RunState('r', true);
    expect([...state.apply(step(0))].sort()).toEqual(['status', 'steps']);
    state.apply(step(1));
    state.apply(step(12));
    expect(state.apply(step(12)).size).toBe(0);
    expect(state.apply(step(5)).size).toBe(0);
    expect(state.history.map((h) => h.step)).toEqual([0, 1, 12]);
    expect(state.step).toBe(13);
    expect(state.epoch).toBe(1);
  });

  it('evaluations: appended once, logged with the accuracy', () => {
    const state = new RunState('r', true);
    state.apply(evaluation(10, 0.91234));
    expect(state.apply(evaluation(10, 0.5)).size).toBe(0);
    expect(state.evals).toHaveLength(1);
    expect(state.lastEval?.accuracy).toBe(0.91234);
    expect(state.log.at(-1)).toMatchObject({ kind: 'eval', tone: 'good', text: 'evaluation at step 10: accuracy 91.23%, loss 0.5000 on 1,000 images' });
  });

  it('workers join and leave; a struck rejection counts against the worker', () => {
    const state = new RunState('r', true);
    state.apply({ kind: 'worker', action: 'joined', workerId: 'w1', name: 'lab', backend: 'wasm', environment: 'node', adapter: null, trusted: false, reason: null });
    expect(state.workers.get('w1')).toMatchObject({ connected: true, backend: 'wasm', trusted: false, leftReason: null });
    expect(state.log.at(-1)?.text).toBe('worker w1 (lab) joined · node, wasm · volunteer');
    state.apply({ kind: 'rejected', workerId: 'w1', code: 'BAD_RESULT', message: 'nope', step: 3, strike: true, fatal: false });
    state.apply({ kind: 'rejected', workerId: 'w1', code: 'LATE', message: 'late', step: 3, strike: false, fatal: false });
    expect(state.workers.get('w1')?.rejected).toBe(1);
    state.apply({ kind: 'worker', action: 'left', workerId: 'w1', name: 'lab', backend: 'wasm', environment: 'node', adapter: null, trusted: false, reason: 'closed' });
    expect(state.workers.get('w1')).toMatchObject({ connected: false, leftReason: 'closed', rejected: 1 });
    expect(state.log.at(-1)).toMatchObject({ tone: 'warn', text: 'worker w1 (lab) left — closed' });
  });

  it('status, learning rate and checkpoints', () => {
    const state = new RunState('r', true);
    state.apply({ kind: 'snapshot', snapshot: snapshot({ totals: { checkpoints: 2 } as RunSnapshot['totals'] }) } as never);
    state.apply({ kind: 'status', status: 'paused', previous: 'running', step: 7 });
    expect(state.status).toBe('paused');
    expect(state.log.at(-1)).toMatchObject({ tone: 'warn', text: 'running → paused at step 7' });
    state.apply({ kind: 'lr', lr: 0.003, step: 8 });
    expect(state.lr).toBe(0.003);
    state.apply({ kind: 'checkpoint', step: 10, ok: true, error: null });
    state.apply({ kind: 'checkpoint', step: 20, ok: false, error: 'disk full' });
    expect(state.totals?.checkpoints).toBe(3);
    expect(state.log.at(-1)).toMatchObject({ tone: 'bad', text: 'checkpoint at step 20 failed: disk full — the run is paused' });
    state.apply({ kind: 'status', status: 'stopped', previous: 'paused', step: 20 });
    expect(state.finished).toBe(true);
  });

  it('re-issues are logged with the number of micro-shards', () => {
    const state = new RunState('r', true);
    state.apply({ kind: 'reissue', step: 4, taskKind: 'grad', reason: 'deadline', fromWorker: 'w1', toWorkers: ['w2'], blocks: [{ start: 0, count: 2 }, { start: 4, count: 1 }] } as never);
    expect(state.log.at(-1)?.text).toBe('grad step 4: 3 micro-shards of w1 re-issued to w2 (deadline)');
  });

  it('a snapshot keeps the steps before its history window and takes the engine workers table', () => {
    const state = new RunState('old', true);
    for (let n = 0; n < 5; n++) state.apply(step(n), n + 1);
    const changed = state.apply({ kind: 'snapshot', snapshot: snapshot({ runId: 'r', step: 9, history: [step(3), step(4), step(8)], evals: [evaluation(5, 0.8)], workers: [worker('a', true), worker('b', false)] }) } as never, 42);
    expect(state.runId).toBe('r');
    expect(state.history.map((h) => h.step)).toEqual([0, 1, 2, 3, 4, 8]);
    expect(state.evals).toHaveLength(1);
    expect(state.seq).toBe(42);
    expect([...state.workers.keys()]).toEqual(['a', 'b']);
    expect([...changed].sort()).toEqual(['config', 'evals', 'status', 'steps', 'verification', 'workers']);
    state.apply({ kind: 'workers', workers: [worker('a', false)] } as never, 43);
    expect(state.workers.get('a')?.connected).toBe(false);
    expect(state.seq).toBe(43);
  });

  it(`keeps at most ${MAX_STEPS} steps by thinning the older half, and the last ${MAX_LOG} log lines`, () => {
    const state = new RunState('r', true);
    for (let n = 0; n <= MAX_STEPS; n++) state.apply(step(n));
    // MAX_STEPS + 1 records: of the older half only every other one stays
    const half = (MAX_STEPS + 1) >> 1;
    expect(state.history).toHaveLength(Math.ceil(half / 2) + (MAX_STEPS + 1 - half));
    expect(state.history.at(-1)?.step).toBe(MAX_STEPS);
    expect(state.history.every((h, i, all) => i === 0 || h.step > all[i - 1]!.step)).toBe(true);
    for (let n = 0; n < MAX_LOG + 30; n++) state.note(`line ${n}`);
    expect(state.log).toHaveLength(MAX_LOG);
    expect(state.log[0]?.text).toBe('line 30');
  });
});

describe('RunState.fromPast', () => {
  it('a past run: its status, history, model summary and a rebuilt log', () => {
    const state = RunState.fromPast({
      runId: 'p', status: 'finished', step: 30, out: '/runs/p', testAccuracy: 0.9, live: false, config: config(), paramsSha256: 'ab',
      history: { steps: [step(28), step(29)], evals: [evaluation(10, 0.7), evaluation(30, 0.9)] },
    });
    expect(state).toMatchObject({ live: false, status: 'finished', step: 30, totalSteps: 100, epoch: 2, lr: 0.01, paramsSha256: 'ab' });
    expect(state.evals.map((e) => e.step)).toEqual([10, 30]);
    expect(state.log.map((l) => l.kind)).toEqual(['eval', 'eval', 'checkpoint']);
    expect(state.model?.parameterCount).toBe(planModel(config().modelSpec).paramCount);
  });
});

describe('modelSummaryOf', () => {
  it('the layers and parameter count of the spec; null for a spec that does not plan', () => {
    const plan = planModel(config().modelSpec);
    const summary = modelSummaryOf(config())!;
    expect(summary).toMatchObject({ name: plan.name, parameterCount: plan.paramCount, inputShape: plan.inputShape, outputShape: plan.outputShape });
    expect(summary.layers.reduce((sum, layer) => sum + layer.paramCount, 0)).toBe(plan.paramCount);
    expect(modelSummaryOf({ ...config(), modelSpec: { inputShape: [4], layers: [{ type: 'conv2d', filters: 2, kernelSize: 3 }] } } as RunConfig)).toBeNull();
  });
});
