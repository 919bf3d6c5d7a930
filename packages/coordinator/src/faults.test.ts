import { describe, expect, it } from 'vitest';
import { encodeGradient, encodeMessage, type ErrorMessage, type ResultMessage, type TaskMessage } from '@swarmgrad/protocol';
import { Harness, referenceParams, tinyData, tinyRun, type FakeWorker } from './testing/harness.js';
import { REPROBE_AFTER_STEPS } from './scheduler.js';
import { paramsSha256 } from './sha256.js';
import { CloseCode, CoordinatorErrorCode } from './errors.js';
import type { ReissueEvent, RejectedEvent, StepAccounting } from './events.js';

const RUN = tinyRun({ batchSize: 32, microShardSize: 4, totalSteps: 5 }); // M = 8

async function expectedHash(): Promise<string> {
  return paramsSha256(await referenceParams(RUN, tinyData().train));
}

function expectExactCoverage(accounting: StepAccounting[], steps: number, shardCount: number): void {
  expect(accounting).toHaveLength(steps);
  for (const entry of accounting) {
    const counts = new Array<number>(shardCount).fill(0);
    for (const block of entry.blocks) for (let s = block.start; s < block.start + block.count; s++) counts[s] = (counts[s] ?? 0) + 1;
    expect(counts).toEqual(new Array<number>(shardCount).fill(1));
  }
}

function errorsTo(harness: Harness, worker: FakeWorker): ErrorMessage[] {
  return harness.network.to(worker.connId, 'error');
}

function setup(seed = 1): Harness {
  const harness = new Harness(seed);
  harness.create({ run: RUN, testData: undefined });
  return harness;
}

async function finish(harness: Harness): Promise<void> {
  if (harness.coordinator.status === 'waiting') harness.coordinator.start();
  await harness.run();
  expect(harness.failures).toEqual([]);
  expect(harness.coordinator.status).toBe('finished');
  expectExactCoverage(harness.coordinator.accounting(), RUN.totalSteps, 8);
  expect(paramsSha256(harness.coordinator.params())).toBe(await expectedHash());
}

describe('faults: death, deadlines, heartbeats', () => {
  it('a worker measured slow once (its first answer took 4 s) is probed again after idle steps and gets shares back', async () => {
    const run = tinyRun({ batchSize: 32, microShardSize: 4, totalSteps: 30 });
    const harness = new Harness(7);
    harness.create({ run, testData: undefined });
    // Both compute at the same speed per sample, so measured rates are comparable.
    harness.addWorker({ computeMsPerSample: 2 });
    const held: TaskMessage[] = [];
    const slow = harness.addWorker({
      computeMsPerSample: 2,
      onTask: (_w, task) => {
        if (held.length > 0) return 'answer';
        held.push(task);
        return 'ignore';
      },
    });
    harness.coordinator.start();
    await harness.run(() => held.length > 0 && harness.queued === 0);
    // Its first task takes 4 s (within the 5 s deadline): measured at a tiny fraction of the other's speed.
    harness.clock.advance(4_000);
    for (const result of await slow.compute(held[0]!)) slow.sendMessage(result);
    await harness.run(() => harness.coordinator.step >= 1);
    await harness.run();
    expect(harness.failures).toEqual([]);
    expect(paramsSha256(harness.coordinator.params())).toBe(paramsSha256(await referenceParams(run, tinyData().train)));
    const stepsWorked = [...new Set(slow.tasks.map((t) => t.step))];
    // Starved at first (the greedy gives it nothing), re-probed after REPROBE_AFTER_STEPS idle
    // steps, measured fast again, and back to a share of its own in the last steps.
    expect(stepsWorked.filter((s) => s >= 1 && s <= REPROBE_AFTER_STEPS)).toEqual([]);
    expect(stepsWorked.some((s) => s > REPROBE_AFTER_STEPS && s <= REPROBE_AFTER_STEPS + 2)).toBe(true);
    expect(stepsWorked).toContain(run.totalSteps - 1);
  });

  it('a worker whose heartbeat says paused gets no work until it says otherwise; waiting blocks then go to it', async () => {
    const harness = setup(4);
    harness.addWorker({});
    const paused = harness.addWorker({});
    paused.status = 'paused';
    paused.sendMessage({ type: 'heartbeat', sentAt: harness.clock.now, status: 'paused' });
    harness.coordinator.start();
    await harness.run(() => harness.coordinator.step >= 2);
    expect(paused.tasks).toEqual([]);
    paused.status = 'idle';
    paused.sendMessage({ type: 'heartbeat', sentAt: harness.clock.now, status: 'idle' });
    await finish(harness);
    expect(paused.tasks.length).toBeGreaterThan(0);
  });

  it('a lone worker that pauses: its declined blocks wait for it (never handed back while paused), and the run completes once it resumes', async () => {
    const harness = setup(6);
    const declined: string[] = [];
    const whilePaused: string[] = [];
    const lone = harness.addWorker({
      onTask: (w, task) => {
        if (w.status === 'paused') {
          whilePaused.push(task.taskId);
          return 'ignore';
        }
        if (task.step !== 1 || declined.length > 0) return 'answer';
        // Pauses at step 1: says so, then hands the task back (as GradientWorker.pause does).
        w.status = 'paused';
        w.sendMessage({ type: 'heartbeat', sentAt: harness.clock.now, status: 'paused' });
        w.sendMessage({ type: 'error', code: 'TASK_DECLINED', message: 'paused', ref: { step: task.step, taskId: task.taskId } });
        declined.push(task.taskId);
        return 'ignore';
      },
    });
    harness.coordinator.start();
    await harness.run(() => declined.length > 0);
    for (let i = 0; i < 50; i++) await harness.run(() => true, 1);
    expect(declined).toHaveLength(1);
    expect(whilePaused).toEqual([]);
    expect(harness.coordinator.step).toBe(1);
    lone.status = 'idle';
    lone.sendMessage({ type: 'heartbeat', sentAt: harness.clock.now, status: 'idle' });
    await finish(harness);
    expect(whilePaused).toEqual([]);
  });

  it('re-issues the blocks of a worker that dies mid-step, at once', async () => {
    const harness = setup(3);
    harness.addWorker({});
    harness.addWorker({ onTask: (_w, task) => (task.step === 2 ? 'die' : 'answer') });
    harness.addWorker({});
    await finish(harness);
    const reissues = harness.events.filter((e): e is ReissueEvent => e.kind === 'reissue');
    expect(reissues.length).toBeGreaterThan(0);
    expect(reissues.every((e) => e.reason === 'disconnect' && e.step === 2 && e.fromWorker === 'w2')).toBe(true);
    const step2 = harness.coordinator.accounting()[2]!;
    expect(step2.blocks.some((b) => b.workerId === 'w2')).toBe(false);
    expect(step2.blocks.some((b) => b.reissued)).toBe(true);
    const metrics = harness.events.find((e) => e.kind === 'step' && e.step === 2);
    expect(metrics).toMatchObject({ shardsReissued: expect.any(Number) });
    expect((metrics as { shardsReissued: number }).shardsReissued).toBeGreaterThan(0);
    expect(harness.events.some((e) => e.kind === 'worker' && e.action === 'left' && e.workerId === 'w2')).toBe(true);
  });

  it('re-issues the missing blocks of a task past its deadline; the late result is dropped without a strike', async () => {
    const harness = setup(5);
    const held: TaskMessage[] = [];
    harness.addWorker({});
    const slow = harness.addWorker({
      onTask: (_w, task) => {
        if (task.step === 1 && held.length === 0) {
          held.push(task);
          return 'ignore';
        }
        return 'answer';
      },
    });
    harness.coordinator.start();
    await harness.run(() => harness.coordinator.step >= 2);
    const reissues = harness.events.filter((e): e is ReissueEvent => e.kind === 'reissue');
    expect(reissues).toHaveLength(1);
    expect(reissues[0]).toMatchObject({ reason: 'deadline', step: 1, fromWorker: 'w2', toWorkers: ['w1'] });
    // The slow worker finally answers step 1: the step is complete, so the result is stale.
    for (const result of await slow.compute(held[0]!)) slow.sendMessage(result);
    const last = errorsTo(harness, slow).at(-1)!;
    expect(last).toMatchObject({ code: CoordinatorErrorCode.STALE_RESULT, fatal: false });
    expect(slow.isOpen).toBe(true);
    await harness.run();
    expect(harness.coordinator.status).toBe('finished');
    expect(paramsSha256(harness.coordinator.params())).toBe(await expectedHash());
    expectExactCoverage(harness.coordinator.accounting(), RUN.totalSteps, 8);
    // The late worker's throughput estimate was penalised.
    const snapshot = harness.coordinator.snapshot();
    expect(snapshot.workers.find((w) => w.id === 'w2')!.rejected).toBe(0);
  });

  it('accepts a late result that arrives before the re-issued copy (first result wins)', async () => {
    const harness = setup(6);
    let held: TaskMessage | undefined;
    const slow = harness.addWorker({
      onTask: (_w, task) => {
        if (task.step === 0 && !held) {
          held = task;
          return 'ignore';
        }
        return 'answer';
      },
    });
    let hold = true;
    const queued: TaskMessage[] = [];
    harness.addWorker({
      onTask: (_w, task) => {
        if (hold && task.step === 0 && task.blocks.some((b) => held?.blocks.some((h) => h.start === b.start))) {
          queued.push(task);
          return 'ignore';
        }
        return 'answer';
      },
    });
    harness.coordinator.start();
    await harness.run(() => queued.length > 0);
    // The re-issued copy is held back; the original (late) worker answers first.
    for (const result of await slow.compute(held!)) slow.sendMessage(result);
    hold = false;
    const fast = [...harness.network.peers.values()].find((p) => p.connId === 'conn-2') as FakeWorker;
    for (const result of await fast.compute(queued[0]!)) fast.sendMessage(result);
    expect(errorsTo(harness, fast).at(-1)).toMatchObject({ code: CoordinatorErrorCode.STALE_RESULT });
    await harness.run();
    expect(paramsSha256(harness.coordinator.params())).toBe(await expectedHash());
    const step0 = harness.coordinator.accounting()[0]!;
    expect(step0.blocks.filter((b) => held!.blocks.some((h) => h.start === b.start)).every((b) => b.workerId === 'w1')).toBe(true);
  });

  it('drops a worker that stops sending heartbeats and re-issues its blocks', async () => {
    const harness = new Harness(7);
    harness.create({ run: RUN, testData: undefined, heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 3_000 });
    harness.addWorker({});
    const silent = harness.addWorker({ silent: true, onTask: (_w, task) => (task.step >= 1 ? 'ignore' : 'answer') });
    await finish(harness);
    expect(silent.closed).toEqual({ code: CloseCode.HEARTBEAT_TIMEOUT, reason: 'heartbeat timeout' });
    expect(errorsTo(harness, silent).at(-1)).toMatchObject({ code: CoordinatorErrorCode.HEARTBEAT_TIMEOUT, fatal: true });
    // The heartbeat timeout (3 s) comes before the task deadline (5 s): the blocks moved then.
    const reasons = harness.events.filter((e): e is ReissueEvent => e.kind === 'reissue').map((e) => e.reason);
    expect(reasons).toEqual(['disconnect']);
    expect(harness.events.some((e) => e.kind === 'worker' && e.action === 'left' && e.reason === 'heartbeat timeout')).toBe(true);
  });

  it('waits when no worker is connected and gives the work to a worker that joins later', async () => {
    const harness = setup(8);
    const only = harness.addWorker({ onTask: (_w, task) => (task.step === 1 ? 'die' : 'answer') });
    harness.coordinator.start();
    await harness.run(() => !only.isOpen);
    for (let i = 0; i < 100; i++) await harness.idle();
    expect(harness.coordinator.step).toBe(1);
    expect(harness.coordinator.status).toBe('running');
    const reissue = harness.events.find((e): e is ReissueEvent => e.kind === 'reissue')!;
    expect(reissue.toWorkers).toEqual([]);
    const late = harness.addWorker({});
    expect(late.tasks.map((t) => t.step)).toEqual([1]);
    expect(late.tasks[0]!.blocks).toEqual([{ start: 0, count: 8 }]);
    await harness.run();
    expect(paramsSha256(harness.coordinator.params())).toBe(await expectedHash());
  });

  it('re-issues a task at once when its worker reports an error for it', async () => {
    const harness = setup(9);
    harness.addWorker({});
    harness.addWorker({
      onTask: (worker, task) => {
        if (task.step !== 3) return 'answer';
        worker.sendMessage({ type: 'error', code: 'OUT_OF_MEMORY', message: 'no memory', ref: { taskId: task.taskId } });
        return 'ignore';
      },
    });
    await finish(harness);
    expect(harness.events.filter((e) => e.kind === 'reissue').map((e) => (e as ReissueEvent).reason)).toEqual(['workerError']);
    expect(harness.coordinator.snapshot({ admin: true }).workers.find((w) => w.id === 'w2')!.lastError).toBe('OUT_OF_MEMORY: no memory');
    // Without the admin token the table has no error texts.
    expect(harness.coordinator.snapshot().workers.find((w) => w.id === 'w2')!.lastError).toBeNull();
  });
});

describe('faults: bad, duplicate and stale results', () => {
  it('drops duplicate results without a strike', async () => {
    const harness = setup(10);
    const dup = harness.addWorker({ duplicateResults: true });
    harness.addWorker({});
    await finish(harness);
    const codes = errorsTo(harness, dup).map((e) => e.code);
    expect(codes.length).toBeGreaterThan(0);
    // The second copy of a step's last result arrives after the step is complete: stale.
    expect(codes).toContain(CoordinatorErrorCode.DUPLICATE_RESULT);
    expect(codes.every((c) => c === CoordinatorErrorCode.DUPLICATE_RESULT || c === CoordinatorErrorCode.STALE_RESULT)).toBe(true);
    expect(errorsTo(harness, dup).every((e) => e.fatal === false)).toBe(true);
    expect(dup.closed?.reason).toBe('run finished');
    expect(harness.coordinator.metricsText()).toMatch(/swarmgrad_rejected_results_total\{run="test-run",code="DUPLICATE_RESULT"\} \d+/);
  });

  const forgeries: { name: string; code: string; tamper: (r: ResultMessage, t: TaskMessage) => ResultMessage }[] = [
    {
      name: 'wrong sampleCount',
      code: CoordinatorErrorCode.BAD_RESULT,
      tamper: (r) => ({ ...r, blocks: r.blocks.map((b) => ({ ...b, sampleCount: b.sampleCount + 1 })) }) as ResultMessage,
    },
    {
      name: 'a block that is not in the task',
      code: CoordinatorErrorCode.BAD_RESULT,
      tamper: (r) => ({ ...r, blocks: r.blocks.map((b) => ({ ...b, start: b.start + 64 * b.count })) }) as ResultMessage,
    },
    { name: 'a future step', code: CoordinatorErrorCode.BAD_RESULT, tamper: (r) => ({ ...r, step: r.step + 1 }) },
    { name: 'an unknown task id', code: CoordinatorErrorCode.UNKNOWN_TASK, tamper: (r) => ({ ...r, taskId: 'forged-1' }) },
    { name: 'another run', code: CoordinatorErrorCode.BAD_RESULT, tamper: (r) => ({ ...r, runId: 'other-run' }) },
    {
      name: 'a lossy codec the worker was not told to use',
      code: CoordinatorErrorCode.BAD_RESULT,
      tamper: (r) =>
        ({
          ...r,
          blocks: r.blocks.map((b) => ({ ...b, gradient: encodeGradient('f16', (b as { gradient: { payload: Float32Array } }).gradient.payload) })),
        }) as ResultMessage,
    },
    {
      name: 'a NaN in the gradient',
      code: 'NON_FINITE',
      tamper: (r) =>
        ({
          ...r,
          blocks: r.blocks.map((b) => {
            const payload = (b as { gradient: { payload: Float32Array } }).gradient.payload.slice();
            payload[3] = Number.NaN;
            return { ...b, gradient: encodeGradient('f32', payload) };
          }),
        }) as ResultMessage,
    },
    {
      name: 'a gradient of the wrong length',
      code: 'LENGTH_MISMATCH',
      tamper: (r) =>
        ({
          ...r,
          blocks: r.blocks.map((b) => ({ ...b, gradient: encodeGradient('f32', new Float32Array(14)) })),
        }) as ResultMessage,
    },
  ];

  for (const { name, code, tamper } of forgeries) {
    it(`rejects ${name} with ${code}, strikes the worker out after 3, and the run is unaffected`, async () => {
      const harness = setup(11);
      // Alone at first, the forger gets every block (no worker has proven a speed yet) until
      // it is struck out; an honest worker then finishes the run.
      const evil = harness.addWorker({ tamper, samplesPerSecond: 1e6 });
      harness.coordinator.start();
      await harness.run(() => evil.closed !== undefined);
      harness.addWorker({});
      await finish(harness);
      const errors = errorsTo(harness, evil);
      expect(errors.map((e) => e.code)).toEqual([code, code, code]);
      expect(errors.map((e) => e.fatal)).toEqual([false, false, true]);
      expect(evil.closed).toEqual({ code: CloseCode.POLICY_VIOLATION, reason: 'too many strikes' });
      const rejected = harness.events.filter((e): e is RejectedEvent => e.kind === 'rejected');
      expect(rejected.map((e) => e.strike)).toEqual([true, true, true]);
      expect(harness.coordinator.snapshot({ admin: true }).workers.find((w) => w.id === 'w1')!.rejected).toBe(3);
      expect(harness.coordinator.snapshot().totals.resultsRejected).toBe(3);
    });
  }

  it('rejects garbage frames with the protocol code and closes after maxStrikes', () => {
    const harness = setup();
    const worker = harness.addWorker({});
    worker.sendFrame(Uint8Array.of(0xc1));
    worker.sendFrame(encodeMessage({ type: 'bye', reason: 'x' }).subarray(0, 3));
    expect(errorsTo(harness, worker).map((e) => [e.code, e.fatal])).toEqual([
      ['MALFORMED', false],
      ['MALFORMED', false],
    ]);
    worker.sendMessage({ type: 'welcome' } as never);
    expect(errorsTo(harness, worker).map((e) => e.code)).toEqual(['MALFORMED', 'MALFORMED', 'BAD_FIELD']);
    expect(worker.closed?.code).toBe(CloseCode.POLICY_VIOLATION);
  });

  it('answers messages of the wrong role with NOT_A_WORKER / NOT_A_DASHBOARD / UNEXPECTED_MESSAGE / DUPLICATE_HELLO', () => {
    const harness = setup();
    harness.create({ run: RUN, testData: undefined, maxStrikes: 10 });
    const worker = harness.addWorker({});
    const dashboard = harness.addDashboard();
    dashboard.send({
      type: 'result',
      taskId: 't',
      runId: RUN.runId,
      step: 0,
      kind: 'eval',
      backend: 'cpu',
      timing: { computeMs: 1 },
      blocks: [{ start: 0, count: 1, lossSum: 1, sampleCount: 1, correct: 1 }],
    });
    worker.sendMessage({ type: 'subscribe' });
    worker.sendMessage({ type: 'params', runId: RUN.runId, step: 0, params: new Float32Array(15) });
    worker.sendMessage({ type: 'hello', protocolVersion: 1, role: 'worker', capabilities: { backend: 'cpu', environment: 'node', codecs: ['f32'] } });
    expect(dashboard.errors()).toEqual([CoordinatorErrorCode.NOT_A_WORKER]);
    expect(errorsTo(harness, worker).map((e) => e.code)).toEqual([
      CoordinatorErrorCode.NOT_A_DASHBOARD,
      CoordinatorErrorCode.UNEXPECTED_MESSAGE,
      CoordinatorErrorCode.DUPLICATE_HELLO,
    ]);
  });

  it('ignores frames on connections that were never opened or were already closed', () => {
    const harness = setup();
    const hello = encodeMessage({ type: 'hello', protocolVersion: 1, role: 'dashboard' });
    harness.coordinator.receive('never-opened', hello);
    expect(harness.network.sent).toEqual([]);
    const worker = harness.addWorker({ token: 'x' });
    worker.sendMessage({ type: 'bye', reason: 'leaving' });
    expect(harness.network.closed.get(worker.connId)).toEqual({ code: CloseCode.NORMAL, reason: 'bye' });
    const before = harness.network.sent.length;
    harness.coordinator.receive(worker.connId, hello);
    expect(harness.network.sent.length).toBe(before);
    expect(harness.events.filter((e) => e.kind === 'worker').map((e) => (e as { reason: string | null }).reason)).toEqual([null, 'bye: leaving']);
  });

  it('closes a connection whose first message is not a hello, or that sends none in time', () => {
    const harness = setup();
    harness.coordinator.open('raw-1');
    harness.coordinator.receive('raw-1', encodeMessage({ type: 'subscribe' }));
    expect(harness.network.closed.get('raw-1')).toEqual({ code: CloseCode.PROTOCOL_ERROR, reason: 'hello required' });
    expect(harness.network.to('raw-1', 'error')[0]).toMatchObject({ code: CoordinatorErrorCode.HELLO_REQUIRED, fatal: true });
    harness.coordinator.open('raw-2');
    harness.coordinator.receive('raw-2', encodeMessage({ type: 'hello', protocolVersion: 2, role: 'dashboard' }));
    expect(harness.network.to('raw-2', 'error')[0]).toMatchObject({ code: 'VERSION_MISMATCH', fatal: true });
    harness.coordinator.open('raw-3');
    harness.clock.advance(15_000);
    harness.coordinator.tick();
    expect(harness.network.closed.get('raw-3')).toEqual({ code: CloseCode.HEARTBEAT_TIMEOUT, reason: 'no hello' });
  });
});
