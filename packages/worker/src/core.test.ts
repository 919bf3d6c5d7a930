import { useBackend } from '@swarmgrad/nn';
import {
  decodeGradient,
  encodeParamsDelta,
  type ErrorMessage,
  type EvalResultMessage,
  type HeartbeatMessage,
  type TrainResultMessage,
  type WorkerToCoordinatorMessage,
} from '@swarmgrad/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { GradientWorker, sampleSourceFromDatasets, type GradientWorkerOptions } from './core.js';
import { WorkerError } from './errors.js';
import { PARAMS, add, dataset, randomParams, sameBits, shardOf, task, tinyModel, tinySpec, welcome } from './testing/fixtures.js';

beforeAll(async () => {
  await useBackend('cpu');
});

/** A worker whose messages land in `sent`. */
function makeWorker(options: Partial<GradientWorkerOptions> = {}): { worker: GradientWorker; sent: WorkerToCoordinatorMessage[] } {
  const sent: WorkerToCoordinatorMessage[] = [];
  const worker = new GradientWorker({ send: (message) => sent.push(message), backend: 'cpu', ...options });
  return { worker, sent };
}

function only<T extends WorkerToCoordinatorMessage['type']>(sent: WorkerToCoordinatorMessage[], type: T): Array<Extract<WorkerToCoordinatorMessage, { type: T }>> {
  return sent.filter((m): m is Extract<WorkerToCoordinatorMessage, { type: T }> => m.type === type);
}

/** Per-shard gradients computed directly with `model.gradients`, one call per shard. */
async function shardGradients(t: ReturnType<typeof task>, params: Float32Array, shards: number) {
  const out = [];
  for (let s = 0; s < shards; s++) {
    const { x, y } = shardOf(t, s);
    out.push(await tinyModel.gradients(params, x, y));
  }
  return out;
}

describe('GradientWorker train tasks', () => {
  it('returns each block as the pairwise tree sum of one gradients call per micro-shard, bitwise', async () => {
    const { worker, sent } = makeWorker();
    const params = randomParams(11);
    worker.handle(welcome());
    worker.handle({ type: 'params', runId: 'run-1', step: 3, params });
    // 7 shards of 3 samples: blocks {0,4}, {4,2}, {6,1}
    const t = task({ step: 3, blocks: [{ start: 0, count: 4 }, { start: 4, count: 2 }, { start: 6, count: 1 }], microShardSize: 3, sampleCount: 21 });
    worker.handle(t);
    await worker.whenIdle();

    const [result] = only(sent, 'result') as TrainResultMessage[];
    expect(result).toBeDefined();
    expect(only(sent, 'error')).toEqual([]);
    expect(result!).toMatchObject({ taskId: 't-1', runId: 'run-1', step: 3, kind: 'train', backend: 'cpu' });
    expect(result!.timing.computeMs).toBeGreaterThan(0);
    expect(result!.timing.totalMs).toBeGreaterThanOrEqual(result!.timing.computeMs);

    const g = await shardGradients(t, params, 7);
    const expected = [
      add(add(g[0]!.grads, g[1]!.grads), add(g[2]!.grads, g[3]!.grads)),
      add(g[4]!.grads, g[5]!.grads),
      g[6]!.grads,
    ];
    const losses = [g[0]!.lossSum + g[1]!.lossSum + (g[2]!.lossSum + g[3]!.lossSum), g[4]!.lossSum + g[5]!.lossSum, g[6]!.lossSum];
    expect(result!.blocks.map((b) => [b.start, b.count, b.sampleCount])).toEqual([[0, 4, 12], [4, 2, 6], [6, 1, 3]]);
    result!.blocks.forEach((block, i) => {
      const decoded = decodeGradient(block.gradient, PARAMS);
      expect(sameBits(decoded, expected[i]!)).toBe(true);
      expect(block.lossSum).toBe(losses[i]);
    });
    // Not a vacuous comparison: the gradient is dense and differs between shards.
    expect(expected[0]!.filter((v) => v !== 0).length).toBeGreaterThan(PARAMS / 2);
    expect(sameBits(g[0]!.grads, g[1]!.grads)).toBe(false);
  });

  it('treats a block reaching past the last shard as the tree node over the shards present', async () => {
    const { worker, sent } = makeWorker();
    const params = randomParams(5);
    worker.handle(welcome());
    worker.handle({ type: 'params', runId: 'run-1', step: 0, params });
    // M = 6 shards of 2: blocks {0,4} and {4,4}, the latter holding shards 4 and 5 only.
    const t = task({ blocks: [{ start: 0, count: 4 }, { start: 4, count: 4 }], microShardSize: 2, sampleCount: 12 });
    worker.handle(t);
    await worker.whenIdle();
    const [result] = only(sent, 'result') as TrainResultMessage[];
    const g = await shardGradients(t, params, 6);
    expect(result!.blocks.map((b) => [b.start, b.count, b.sampleCount])).toEqual([[0, 4, 8], [4, 4, 4]]);
    expect(sameBits(decodeGradient(result!.blocks[1]!.gradient, PARAMS), add(g[4]!.grads, g[5]!.grads))).toBe(true);
  });

  it('computes tasks one at a time in arrival order and keeps counters', async () => {
    const statuses: string[] = [];
    const { worker, sent } = makeWorker({ onChange: (s) => statuses.push(s.state) });
    worker.handle(welcome());
    worker.handle({ type: 'params', runId: 'run-1', step: 0, params: randomParams(1) });
    worker.handle({ type: 'params', runId: 'run-1', step: 1, params: randomParams(2) });
    worker.handle(task({ taskId: 'a', step: 0, blocks: [{ start: 0, count: 2 }], microShardSize: 4, sampleCount: 8 }));
    worker.handle(task({ taskId: 'b', step: 1, blocks: [{ start: 2, count: 2 }], microShardSize: 4, sampleCount: 8 }));
    expect(worker.status()).toMatchObject({ state: 'busy', queuedTasks: 1, currentTask: { taskId: 'a', step: 0, kind: 'train', shards: 2 } });
    await worker.whenIdle();
    expect(only(sent, 'result').map((r) => r.taskId)).toEqual(['a', 'b']);
    const status = worker.status();
    expect(status).toMatchObject({ state: 'idle', tasksDone: 2, samplesDone: 16, queuedTasks: 0, lastStep: 1, runId: 'run-1', modelName: 'tiny', codec: 'f32' });
    expect(status.samplesPerSecond).toBeGreaterThan(0);
    expect(status.currentTask).toBeUndefined();
    expect(statuses).toContain('busy');
    expect(statuses.at(-1)).toBe('idle');
  });
});

describe('GradientWorker eval tasks', () => {
  it('sums loss, correct and count per block with one evaluate call per shard (last shard short)', async () => {
    const { worker, sent } = makeWorker();
    const params = randomParams(9);
    worker.handle(welcome());
    worker.handle({ type: 'params', runId: 'run-1', step: 2, params });
    // 3 shards of 4 over 10 samples: shard 2 has 2 samples.
    const t = task({ kind: 'eval', step: 2, blocks: [{ start: 0, count: 2 }, { start: 2, count: 1 }], microShardSize: 4, sampleCount: 10 });
    worker.handle(t);
    await worker.whenIdle();
    const [result] = only(sent, 'result') as EvalResultMessage[];
    expect(result!.kind).toBe('eval');
    const e = [];
    for (let s = 0; s < 3; s++) {
      const { x, y } = shardOf(t, s);
      e.push(await tinyModel.evaluate(params, x, y));
    }
    expect(result!.blocks).toEqual([
      { start: 0, count: 2, lossSum: e[0]!.lossSum + e[1]!.lossSum, sampleCount: 8, correct: e[0]!.correct + e[1]!.correct },
      { start: 2, count: 1, lossSum: e[2]!.lossSum, sampleCount: 2, correct: e[2]!.correct },
    ]);
    expect('gradient' in result!.blocks[0]!).toBe(false);
  });
});

describe('GradientWorker errors', () => {
  it('applies an xor-deflate params delta to the exact bits: the same gradient as with the full params', async () => {
    const step1 = randomParams(1);
    const step2 = randomParams(2);
    const full = makeWorker();
    full.worker.handle(welcome());
    full.worker.handle({ type: 'params', runId: 'run-1', step: 2, params: step2 });
    const viaDelta = makeWorker();
    viaDelta.worker.handle(welcome());
    viaDelta.worker.handle({ type: 'params', runId: 'run-1', step: 1, params: step1 });
    viaDelta.worker.handle({ type: 'params', runId: 'run-1', step: 2, params: new Float32Array(0), delta: { encoding: 'xor-deflate', baseStep: 1, bytes: encodeParamsDelta(step1, step2) } });
    for (const { worker } of [full, viaDelta]) {
      worker.handle(task({ taskId: 't-2', step: 2, blocks: [{ start: 0, count: 2 }], microShardSize: 4, sampleCount: 8 }));
      await worker.whenIdle();
    }
    const [a, b] = [full, viaDelta].map(({ sent }) => ((only(sent, 'result')[0] as TrainResultMessage).blocks[0]!.gradient as { payload: Float32Array }).payload);
    expect(only(viaDelta.sent, 'error')).toEqual([]);
    expect(sameBits(a!, b!)).toBe(true);
    // A delta whose base it does not hold: MISSING_PARAMS, and the step stays without params.
    viaDelta.worker.handle({ type: 'params', runId: 'run-1', step: 9, params: new Float32Array(0), delta: { encoding: 'xor-deflate', baseStep: 8, bytes: encodeParamsDelta(step1, step2) } });
    expect(only(viaDelta.sent, 'error')).toMatchObject([{ code: 'MISSING_PARAMS', ref: { step: 9 } }]);
  });

  it('answers a task without params for its step with MISSING_PARAMS and a ref', async () => {
    const { worker, sent } = makeWorker();
    worker.handle(welcome());
    worker.handle({ type: 'params', runId: 'run-1', step: 1, params: randomParams(1) });
    worker.handle(task({ taskId: 't-9', step: 2, blocks: [{ start: 0, count: 1 }], microShardSize: 4, sampleCount: 4 }));
    await worker.whenIdle();
    const errors = only(sent, 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'MISSING_PARAMS', ref: { taskId: 't-9', step: 2 } });
    expect(errors[0]!.fatal).toBeUndefined();
    expect(only(sent, 'result')).toEqual([]);
    expect(worker.status()).toMatchObject({ tasksFailed: 1, tasksDone: 0, lastError: { code: 'MISSING_PARAMS', source: 'local' } });
  });

  it('keeps only the most recent maxParamSteps steps', async () => {
    const { worker, sent } = makeWorker({ maxParamSteps: 2 });
    worker.handle(welcome());
    for (const step of [0, 1, 2]) worker.handle({ type: 'params', runId: 'run-1', step, params: randomParams(step + 1) });
    worker.handle(task({ taskId: 'old', step: 0, blocks: [{ start: 0, count: 1 }], microShardSize: 4, sampleCount: 4 }));
    worker.handle(task({ taskId: 'new', step: 1, blocks: [{ start: 0, count: 1 }], microShardSize: 4, sampleCount: 4 }));
    await worker.whenIdle();
    expect(only(sent, 'error').map((e) => [e.code, e.ref?.taskId])).toEqual([['MISSING_PARAMS', 'old']]);
    expect(only(sent, 'result').map((r) => r.taskId)).toEqual(['new']);
  });

  it('params of an earlier step (a coordinator rollback) replace the later ones, so the replayed step can be computed', async () => {
    const { worker, sent } = makeWorker({ maxParamSteps: 2 });
    worker.handle(welcome());
    for (const step of [3, 4]) worker.handle({ type: 'params', runId: 'run-1', step, params: randomParams(step + 1) });
    worker.handle({ type: 'params', runId: 'run-1', step: 2, params: randomParams(3) });
    worker.handle(task({ taskId: 'replayed', step: 2, blocks: [{ start: 0, count: 1 }], microShardSize: 4, sampleCount: 4 }));
    worker.handle(task({ taskId: 'void', step: 4, blocks: [{ start: 0, count: 1 }], microShardSize: 4, sampleCount: 4 }));
    await worker.whenIdle();
    expect(only(sent, 'result').map((r) => r.taskId)).toEqual(['replayed']);
    expect(only(sent, 'error').map((e) => [e.code, e.ref?.taskId])).toEqual([['MISSING_PARAMS', 'void']]);
  });

  it('refuses a welcome whose parameterCount differs from the model it builds (fatal)', () => {
    const { worker, sent } = makeWorker();
    let thrown: unknown;
    try {
      worker.handle(welcome({ parameterCount: PARAMS + 1 }));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WorkerError);
    expect((thrown as WorkerError).code).toBe('PARAMETER_COUNT_MISMATCH');
    expect(only(sent, 'error')).toMatchObject([{ code: 'PARAMETER_COUNT_MISMATCH', fatal: true }]);
    expect(worker.welcome).toBeUndefined();
  });

  it('refuses a welcome whose model spec it cannot build (fatal)', () => {
    const { worker, sent } = makeWorker();
    expect(() => worker.handle(welcome({ modelSpec: { inputShape: [8, 8, 1], layers: [{ type: 'warp' }] } }))).toThrow(
      expect.objectContaining({ code: 'INVALID_MODEL' }),
    );
    expect(only(sent, 'error')).toMatchObject([{ code: 'INVALID_MODEL', fatal: true }]);
  });

  it('answers params/tasks before a welcome or of another run without computing', async () => {
    const { worker, sent } = makeWorker();
    worker.handle({ type: 'params', runId: 'run-1', step: 0, params: randomParams(1) });
    worker.handle(welcome());
    worker.handle({ type: 'params', runId: 'run-2', step: 0, params: randomParams(1) });
    worker.handle({ ...task({ blocks: [{ start: 0, count: 1 }], microShardSize: 4, sampleCount: 4 }), runId: 'run-2' });
    await worker.whenIdle();
    expect(only(sent, 'error').map((e) => e.code)).toEqual(['NOT_READY', 'RUN_MISMATCH', 'RUN_MISMATCH']);
    expect(only(sent, 'result')).toEqual([]);
  });

  it('reports samples that do not fit the model as BAD_TASK and missing ones as MISSING_SAMPLES', async () => {
    const { worker, sent } = makeWorker();
    worker.handle(welcome());
    worker.handle({ type: 'params', runId: 'run-1', step: 0, params: randomParams(1) });
    const t = task({ taskId: 'short-x', blocks: [{ start: 0, count: 1 }], microShardSize: 4, sampleCount: 4 });
    worker.handle({ ...t, x: t.x!.subarray(0, 60) });
    worker.handle(task({ taskId: 'no-x', blocks: [{ start: 0, count: 1 }], microShardSize: 4, sampleCount: 4, inline: false }));
    const badLabel = task({ taskId: 'bad-label', blocks: [{ start: 0, count: 1 }], microShardSize: 4, sampleCount: 4 });
    worker.handle({ ...badLabel, labels: Int32Array.from([0, 1, 9, 2]) });
    await worker.whenIdle();
    expect(only(sent, 'error').map((e) => [e.code, e.ref?.taskId])).toEqual([
      ['BAD_TASK', 'short-x'],
      ['MISSING_SAMPLES', 'no-x'],
      ['BAD_TASK', 'bad-label'],
    ]);
  });

  it('loads samples from its own datasets when a task carries none', async () => {
    const { worker, sent } = makeWorker({ sampleSource: sampleSourceFromDatasets({ train: dataset }) });
    const params = randomParams(3);
    worker.handle(welcome());
    worker.handle({ type: 'params', runId: 'run-1', step: 0, params });
    const inline = task({ blocks: [{ start: 0, count: 2 }], microShardSize: 4, sampleCount: 8 });
    worker.handle(task({ blocks: [{ start: 0, count: 2 }], microShardSize: 4, sampleCount: 8, inline: false }));
    await worker.whenIdle();
    const [result] = only(sent, 'result') as TrainResultMessage[];
    const g = await shardGradients(inline, params, 2);
    expect(sameBits(decodeGradient(result!.blocks[0]!.gradient, PARAMS), add(g[0]!.grads, g[1]!.grads))).toBe(true);
  });
});

describe('GradientWorker codecs', () => {
  async function exactBlocks(params: Float32Array, t: ReturnType<typeof task>): Promise<Float32Array[]> {
    const { worker, sent } = makeWorker();
    worker.handle(welcome());
    worker.handle({ type: 'params', runId: 'run-1', step: 0, params });
    worker.handle(t);
    await worker.whenIdle();
    return (only(sent, 'result')[0] as TrainResultMessage).blocks.map((b) => decodeGradient(b.gradient, PARAMS).slice());
  }
  const t = task({ blocks: [{ start: 0, count: 2 }, { start: 2, count: 2 }], microShardSize: 4, sampleCount: 16 });

  it('f16 results decode to within half-precision rounding of the exact sums', async () => {
    const params = randomParams(21);
    const exact = await exactBlocks(params, t);
    const { worker, sent } = makeWorker();
    worker.handle(welcome({ codec: 'f16' }));
    worker.handle({ type: 'params', runId: 'run-1', step: 0, params });
    worker.handle(t);
    await worker.whenIdle();
    const [result] = only(sent, 'result') as TrainResultMessage[];
    result!.blocks.forEach((block, i) => {
      expect(block.gradient.codec).toBe('f16');
      const decoded = decodeGradient(block.gradient, PARAMS);
      let worst = 0;
      for (let j = 0; j < PARAMS; j++) {
        const e = exact[i]![j]!;
        const excess = Math.abs(decoded[j]! - e) - (Math.abs(e) * 2 ** -11 + 2 ** -25);
        worst = Math.max(worst, excess);
      }
      expect(worst).toBeLessThanOrEqual(0);
      expect(sameBits(decoded, exact[i]!)).toBe(false); // it is lossy
    });
  });

  it('int8 results decode to within half a step, and carry the quantisation error into the next block', async () => {
    const params = randomParams(22);
    const exact = await exactBlocks(params, t);
    const { worker, sent } = makeWorker();
    worker.handle(welcome({ codec: 'int8' }));
    worker.handle({ type: 'params', runId: 'run-1', step: 0, params });
    worker.handle(t);
    await worker.whenIdle();
    const [result] = only(sent, 'result') as TrainResultMessage[];
    const [first, second] = result!.blocks.map((b) => b.gradient);
    if (first?.codec !== 'int8' || second?.codec !== 'int8') throw new Error('expected int8 gradients');
    const d1 = decodeGradient(first, PARAMS);
    const d2 = decodeGradient(second, PARAMS);
    const slack = (scale: number): number => scale / 2 + scale * 1e-5 + 1e-12;
    // Block 1: plain quantisation, residual r1 = exact - decoded.
    const r1 = new Float64Array(PARAMS);
    for (let j = 0; j < PARAMS; j++) {
      r1[j] = exact[0]![j]! - d1[j]!;
      expect(Math.abs(r1[j]!)).toBeLessThanOrEqual(slack(first.scales[Math.floor(j / first.chunkSize)]!));
    }
    // Block 2 quantises exact + r1: its own residual is within half of its step.
    let carried = 0;
    for (let j = 0; j < PARAMS; j++) {
      const r2 = exact[1]![j]! + r1[j]! - d2[j]!;
      expect(Math.abs(r2)).toBeLessThanOrEqual(slack(second.scales[Math.floor(j / second.chunkSize)]!));
      carried += Math.abs(r1[j]!);
    }
    expect(carried).toBeGreaterThan(0);
  });
});

describe('GradientWorker pause', () => {
  it('finishes the current task, hands queued and new tasks back, and reports paused', async () => {
    const { worker, sent } = makeWorker({ slowdownMs: 30 });
    worker.handle(welcome());
    worker.handle({ type: 'params', runId: 'run-1', step: 0, params: randomParams(1) });
    worker.handle(task({ taskId: 'running', blocks: [{ start: 0, count: 1 }], microShardSize: 4, sampleCount: 4 }));
    worker.handle(task({ taskId: 'queued', blocks: [{ start: 1, count: 1 }], microShardSize: 4, sampleCount: 4 }));
    worker.pause();
    worker.handle(task({ taskId: 'later', blocks: [{ start: 2, count: 1 }], microShardSize: 4, sampleCount: 4 }));
    expect(worker.status().state).toBe('paused');
    expect((worker.heartbeat() as HeartbeatMessage).status).toBe('paused');
    await worker.whenIdle();
    expect(only(sent, 'result').map((r) => r.taskId)).toEqual(['running']);
    const declined = only(sent, 'error') as ErrorMessage[];
    expect(declined.map((e) => [e.code, e.ref?.taskId])).toEqual([
      ['TASK_DECLINED', 'queued'],
      ['TASK_DECLINED', 'later'],
    ]);
    expect(worker.status()).toMatchObject({ state: 'paused', tasksDone: 1, tasksDeclined: 2 });
    // The coordinator hears "paused" before the first decline (so it does not hand the blocks back here).
    const kinds = sent.map((m) => (m.type === 'heartbeat' ? `heartbeat:${m.status}` : m.type === 'error' ? `error:${m.ref?.taskId}` : m.type));
    expect(kinds.indexOf('heartbeat:paused')).toBeGreaterThanOrEqual(0);
    expect(kinds.indexOf('heartbeat:paused')).toBeLessThan(kinds.indexOf('error:queued'));
    worker.resume();
    expect(sent.at(-1)).toMatchObject({ type: 'heartbeat', status: 'idle' });
    worker.handle(task({ taskId: 'after', blocks: [{ start: 3, count: 1 }], microShardSize: 4, sampleCount: 4 }));
    await worker.whenIdle();
    expect(only(sent, 'result').map((r) => r.taskId)).toEqual(['running', 'after']);
    expect(worker.heartbeat(17)).toMatchObject({ type: 'heartbeat', status: 'idle', echo: 17 });
  });
});

describe('GradientWorker model', () => {
  it('builds the welcome model with the spec it was sent', () => {
    const { worker } = makeWorker();
    worker.handle(welcome());
    expect(worker.model?.paramCount).toBe(PARAMS);
    expect(worker.model?.spec).toEqual(tinySpec);
  });
});
