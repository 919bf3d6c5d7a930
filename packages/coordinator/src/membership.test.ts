import { describe, expect, it } from 'vitest';
import type { EventMessage, WelcomeMessage } from '@swarmgrad/protocol';
import { Harness, tinyRun } from './testing/harness.js';
import { CloseCode, CoordinatorErrorCode } from './errors.js';
import type { RunSnapshot, StepMetrics } from './events.js';
import { DEFAULT_SAMPLES_PER_SECOND, chooseCodec, safeEqual } from './membership.js';
import { Parts, workerHello } from './testing/parts.js';

const RUN = tinyRun({ batchSize: 32, microShardSize: 4, totalSteps: 4 });

describe('authentication', () => {
  it('refuses a wrong lab token with AUTH_FAILED and closes; admits the right one trusted and volunteers untrusted', () => {
    const harness = new Harness();
    harness.create({ run: RUN, token: 'lab-secret' });
    const wrong = harness.addWorker({ token: 'guess' });
    expect(harness.network.to(wrong.connId, 'error')).toEqual([
      { type: 'error', code: CoordinatorErrorCode.AUTH_FAILED, message: 'wrong lab token', fatal: true },
    ]);
    expect(wrong.closed).toEqual({ code: CloseCode.POLICY_VIOLATION, reason: 'authentication failed' });
    expect(wrong.welcome).toBeUndefined();

    const lab = harness.addWorker({ token: 'lab-secret' });
    expect(lab.welcome).toMatchObject({ trusted: true, workerId: 'w1', runId: 'test-run', codec: 'f32', parameterCount: 15, microShardSize: 4 });
    const volunteer = harness.addWorker({});
    expect(volunteer.welcome).toMatchObject({ trusted: false, workerId: 'w2' });
    expect(harness.coordinator.snapshot().workers.map((w) => [w.id, w.trusted])).toEqual([
      ['w1', true],
      ['w2', false],
    ]);
  });

  it('refuses workers without a token when volunteers are not allowed', () => {
    const harness = new Harness();
    harness.create({ run: RUN, token: 'lab-secret', allowVolunteers: false });
    const volunteer = harness.addWorker({});
    expect(harness.network.to(volunteer.connId, 'error')[0]).toMatchObject({ code: CoordinatorErrorCode.AUTH_FAILED, fatal: true });
    expect(volunteer.closed?.code).toBe(CloseCode.POLICY_VIOLATION);
  });

  it('trusts everyone when no lab token is configured', () => {
    const harness = new Harness();
    harness.create({ run: RUN });
    expect(harness.addWorker({ token: 'anything' }).welcome?.trusted).toBe(true);
    expect(harness.addWorker({}).welcome?.trusted).toBe(true);
  });
});

describe('welcome and identity', () => {
  it('announces heartbeats, limits, the model and the run codec (or f32 when the worker lacks it)', () => {
    const harness = new Harness();
    harness.create({ run: { ...RUN, codec: 'f16' }, heartbeatIntervalMs: 2000 });
    const both = harness.addWorker({ codecs: ['f32', 'f16'] });
    const f32only = harness.addWorker({ codecs: ['f32'] });
    const welcome = both.welcome as WelcomeMessage;
    expect(welcome).toMatchObject({ codec: 'f16', heartbeatIntervalMs: 2000, heartbeatTimeoutMs: 6000, dataset: { name: 'synthetic' } });
    expect(welcome.modelSpec).toEqual(RUN.modelSpec);
    expect(welcome.limits.maxShardsPerTask).toBe(1024);
    expect(welcome.limits).toEqual(harness.coordinator.limits);
    expect(welcome.limits.maxFrameBytes).toBeGreaterThanOrEqual(64 * 1024 * 1024);
    expect(f32only.welcome?.codec).toBe('f32');
    const none = harness.addWorker({ codecs: ['int8'] });
    expect(harness.network.to(none.connId, 'error')[0]).toMatchObject({ code: CoordinatorErrorCode.CODEC_UNSUPPORTED, fatal: true });
  });

  it('gives a reconnecting worker its old id only with its resume token and when that id is not connected', () => {
    const harness = new Harness();
    harness.create({ run: RUN });
    const first = harness.addWorker({});
    expect(first.workerId).toBe('w1');
    const token = first.welcome!.resumeToken!;
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    const impostor = harness.addWorker({ workerId: 'w1', resumeToken: token });
    expect(impostor.workerId).toBe('w2');
    first.disconnect();
    // After the blip, the id alone (or a guessed token) is not enough to take it over.
    expect(harness.addWorker({ workerId: 'w1' }).workerId).toBe('w3');
    expect(harness.addWorker({ workerId: 'w1', resumeToken: '0'.repeat(32) }).workerId).toBe('w4');
    const again = harness.addWorker({ workerId: 'w1', resumeToken: token });
    expect(again.workerId).toBe('w1');
    expect(harness.addWorker({ workerId: 'w99' }).workerId).toBe('w5');
  });

  it('echoes heartbeats with the coordinator clock', () => {
    const harness = new Harness();
    harness.create({ run: RUN });
    const worker = harness.addWorker({});
    worker.sendMessage({ type: 'heartbeat', sentAt: 1234 });
    expect(harness.network.to(worker.connId, 'heartbeat')).toEqual([{ type: 'heartbeat', sentAt: harness.clock.now, echo: 1234 }]);
  });

  it('refuses new workers once the run has ended', async () => {
    const harness = new Harness();
    harness.create({ run: RUN });
    harness.addWorker({});
    harness.coordinator.start();
    await harness.run();
    const late = harness.addWorker({});
    expect(harness.network.to(late.connId, 'error')[0]).toMatchObject({ code: CoordinatorErrorCode.RUN_FINISHED, fatal: true });
    expect(late.closed?.code).toBe(CloseCode.NORMAL);
  });
});

describe('late joins', () => {
  it('gives a worker that joins mid-step a probe block at the next step, then a share once it has completed work', async () => {
    const harness = new Harness(4);
    harness.create({ run: RUN });
    harness.addWorker({});
    harness.coordinator.start();
    expect(harness.queued).toBe(1); // step 0 is handed out to w1 only
    const late = harness.addWorker({});
    expect(late.tasks).toEqual([]);
    await harness.run(() => harness.coordinator.step === 1);
    expect(late.tasks.map((t) => t.step)).toEqual([1]);
    expect(harness.coordinator.accounting()[0]!.blocks.every((b) => b.workerId === 'w1')).toBe(true);
    await harness.run();
    const steps = harness.events.filter((e): e is StepMetrics => e.kind === 'step');
    // Step 1: the probe duplicates a block of w1's, whose result came first; from step 2 on the late worker has a share.
    expect(steps.map((s) => s.workers)).toEqual([1, 1, 2, 2]);
  });
});

describe('dashboards and admin', () => {
  function events(dashboard: { received: unknown[] }): EventMessage[] {
    return dashboard.received.filter((m): m is EventMessage => (m as { type: string }).type === 'event');
  }

  it('sends a snapshot on subscribe, then every event with consecutive seq numbers', async () => {
    const harness = new Harness(2);
    harness.create({ run: RUN });
    harness.addWorker({ name: 'lab-1' });
    const dashboard = harness.addDashboard();
    dashboard.send({ type: 'subscribe' });
    harness.coordinator.start();
    await harness.run();
    const received = events(dashboard);
    expect(received[0]!.event.kind).toBe('snapshot');
    const snapshot = (received[0]!.event as unknown as { snapshot: RunSnapshot }).snapshot;
    expect(snapshot).toMatchObject({ runId: 'test-run', status: 'waiting', step: 0, totalSteps: 4, model: { name: 'tiny', parameterCount: 15 } });
    // Without the admin token: ids and counters, no names, addresses or user agents.
    expect(snapshot.workers).toMatchObject([{ id: 'w1', name: null, remoteAddress: null, userAgent: null, connected: true, backend: 'cpu', environment: 'node' }]);
    expect(harness.coordinator.snapshot({ admin: true }).workers).toMatchObject([{ id: 'w1', name: 'lab-1' }]);
    const seqs = received.slice(1).map((m) => m.seq!);
    expect(seqs[0]).toBe(received[0]!.seq! + 1);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    const kinds = received.slice(1).map((m) => m.event.kind);
    expect(kinds.filter((k) => k === 'step')).toHaveLength(4);
    expect(kinds[0]).toBe('status');
    expect(received.at(-1)!.event).toMatchObject({ kind: 'status', status: 'finished' });
    expect(dashboard.closed).toBeUndefined();
  });

  it('refuses admin messages without the right token (ADMIN_REFUSED, not fatal) and honours the right one', async () => {
    const harness = new Harness(3);
    harness.create({ run: { ...RUN, totalSteps: 6 }, adminToken: 'admin-secret' });
    harness.addWorker({});
    const dashboard = harness.addDashboard();
    dashboard.send({ type: 'subscribe', adminToken: 'nope' });
    expect(dashboard.errors()).toEqual([CoordinatorErrorCode.ADMIN_REFUSED]);
    dashboard.send({ type: 'admin', adminToken: 'wrong', action: 'stop' });
    expect(dashboard.errors()).toEqual([CoordinatorErrorCode.ADMIN_REFUSED, CoordinatorErrorCode.ADMIN_REFUSED]);
    expect(dashboard.closed).toBeUndefined();
    expect(harness.coordinator.status).toBe('waiting');

    dashboard.send({ type: 'admin', adminToken: 'admin-secret', action: 'resume' });
    expect(dashboard.errors().at(-1)).toBe(CoordinatorErrorCode.BAD_STATE);
    harness.coordinator.start();
    dashboard.send({ type: 'admin', adminToken: 'admin-secret', action: 'pause' });
    expect(harness.coordinator.status).toBe('paused');
    await harness.run(() => harness.coordinator.step === 1);
    for (let i = 0; i < 20; i++) await harness.idle();
    expect(harness.coordinator.step).toBe(1); // the step in flight completed; no new one started
    dashboard.send({ type: 'admin', adminToken: 'admin-secret', action: 'setLearningRate', value: 0.0125 });
    dashboard.send({ type: 'admin', adminToken: 'admin-secret', action: 'resume' });
    expect(harness.coordinator.status).toBe('running');
    await harness.run(() => harness.coordinator.step === 3);
    dashboard.send({ type: 'admin', adminToken: 'admin-secret', action: 'stop', runId: 'test-run' });
    const final = await harness.coordinator.done;
    expect(final.status).toBe('stopped');
    expect(final.step).toBe(3);
    const steps = harness.events.filter((e): e is StepMetrics => e.kind === 'step');
    expect(steps.map((s) => s.lr)).toEqual([0.05, 0.0125, 0.0125]);
    const statuses = harness.events.filter((e) => e.kind === 'status').map((e) => (e as { status: string }).status);
    expect(statuses).toEqual(['running', 'paused', 'running', 'stopped']);
    expect(harness.network.closed.get('conn-1')).toEqual({ code: CloseCode.NORMAL, reason: 'run stopped' });
  });

  it('refuses every admin message when no admin token is configured, and strikes out brute force', () => {
    const harness = new Harness();
    harness.create({ run: RUN });
    const dashboard = harness.addDashboard();
    for (let i = 0; i < 3; i++) dashboard.send({ type: 'admin', adminToken: `guess-${i}`, action: 'pause' });
    expect(dashboard.errors()).toEqual([CoordinatorErrorCode.ADMIN_REFUSED, CoordinatorErrorCode.ADMIN_REFUSED, CoordinatorErrorCode.ADMIN_REFUSED]);
    expect(dashboard.closed?.code).toBe(CloseCode.POLICY_VIOLATION);
  });

  it('answers a subscribe for another run with UNKNOWN_RUN', () => {
    const harness = new Harness();
    harness.create({ run: RUN });
    const dashboard = harness.addDashboard();
    dashboard.send({ type: 'subscribe', runId: 'other' });
    expect(dashboard.errors()).toEqual([CoordinatorErrorCode.UNKNOWN_RUN]);
    expect(events(dashboard)).toEqual([]);
  });
});

describe('metrics', () => {
  it('exposes Prometheus text', async () => {
    const harness = new Harness();
    harness.create({ run: RUN });
    harness.addWorker({ backend: 'wasm' });
    harness.coordinator.start();
    await harness.run();
    const text = harness.coordinator.metricsText();
    expect(text).toContain('# TYPE swarmgrad_step gauge\nswarmgrad_step{run="test-run"} 4\n');
    expect(text).toMatch(/swarmgrad_loss\{run="test-run"\} \d/);
    expect(text).toContain('swarmgrad_status{run="test-run",status="finished"} 1');
    expect(text).toContain('swarmgrad_workers{run="test-run"} 0');
    expect(text).toMatch(/swarmgrad_eval_accuracy\{run="test-run"\} (0|1|0\.\d+)\n/);
    expect(text).toContain('swarmgrad_samples_trained_total{run="test-run"} 128');
    for (const line of text.trimEnd().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [-+\deE.Inaf]+)$/);
  });
});

describe('Membership alone', () => {
  it('admits by token: lab token trusted, none a volunteer (or refused), a wrong one refused', () => {
    const lab = new Parts({}, { token: 'lab' }).membership;
    expect(lab.authenticate(workerHello({ token: 'lab' }))).toEqual({ admitted: true, trusted: true });
    expect(lab.authenticate(workerHello({}))).toEqual({ admitted: true, trusted: false });
    expect(lab.authenticate(workerHello({ token: 'lab2' }))).toEqual({ admitted: false, reason: 'wrong lab token' });
    expect(lab.authenticate(workerHello({ token: '' }))).toMatchObject({ admitted: false });
    const closed = new Parts({}, { token: 'lab', allowVolunteers: false }).membership;
    expect(closed.authenticate(workerHello({}))).toMatchObject({ admitted: false });
    expect(new Parts().membership.authenticate(workerHello({ token: 'anything' }))).toEqual({ admitted: true, trusted: true });
  });

  it('compares tokens whole, whatever their lengths', () => {
    expect(safeEqual('secret', 'secret')).toBe(true);
    for (const other of ['', 's', 'secre', 'secreT', 'secret ', 'secretsecret']) expect(safeEqual('secret', other)).toBe(false);
  });

  it('chooses the run codec, else f32, else none', () => {
    expect(chooseCodec(['f32', 'f16'], 'f16')).toBe('f16');
    expect(chooseCodec(['f32'], 'int8')).toBe('f32');
    expect(chooseCodec(['int8'], 'f16')).toBeUndefined();
  });

  it('gives fresh ids, and reattaches a disconnected worker that names its id (keeping its measured rate)', () => {
    const parts = new Parts();
    const a = parts.join(50);
    const b = parts.join();
    expect([a.worker.id, b.worker.id]).toEqual(['w1', 'w2']);
    parts.membership.taskCompleted(a.worker, 400, 2000);
    expect(a.worker.rate).toBe(200);
    expect(parts.membership.detach(a.conn)).toBe(a.worker);
    expect(parts.membership.detach(a.conn)).toBeUndefined();
    expect(parts.membership.liveWorkers().map((w) => w.id)).toEqual(['w2']);
    parts.membership.open('again', null);
    const conn = parts.membership.conns.get('again')!;
    expect(parts.membership.admit(conn, workerHello({ workerId: 'w1', samplesPerSecond: 5 }), false, 'f32').id).toBe('w3');
    parts.membership.detach(conn);
    parts.membership.open('again', null);
    const back = parts.membership.admit(parts.membership.conns.get('again')!, workerHello({ workerId: 'w1', resumeToken: a.worker.resumeToken, samplesPerSecond: 5 }), false, 'f32');
    expect(back).toBe(a.worker);
    expect([back.connId, back.trusted, back.rate, back.rateSource]).toEqual(['again', false, 200, 'measured']);
    // A connected worker's id cannot be taken over: the newcomer gets a fresh id.
    parts.membership.open('thief', null);
    expect(parts.membership.admit(parts.membership.conns.get('thief')!, workerHello({ workerId: 'w2', resumeToken: b.worker.resumeToken }), true, 'f32').id).toBe('w4');
  });

  it('estimates throughput from measurements only (a claimed speed is ignored), else the mean of measured workers, else the default; EWMA; halved on penalty', () => {
    const parts = new Parts();
    const { membership } = parts;
    const first = parts.join().worker;
    expect(membership.rateOf(first)).toBe(DEFAULT_SAMPLES_PER_SECOND);
    const claimed = parts.join(1e6).worker;
    const other = parts.join(100).worker;
    expect([membership.rateOf(claimed), membership.proven(claimed)]).toEqual([DEFAULT_SAMPLES_PER_SECOND, false]);
    membership.taskCompleted(claimed, 100, 1000);
    expect([claimed.rate, claimed.rateSource, membership.proven(claimed)]).toEqual([100, 'measured', true]);
    expect(membership.rateOf(first)).toBe(100);
    membership.taskCompleted(claimed, 300, 1000);
    expect(claimed.rate).toBe(200);
    expect(claimed.tasksDone).toBe(2);
    membership.penalise(other);
    expect([other.rate, other.rateSource]).toEqual([100, 'measured']);
    // A trusted worker that has completed nothing is never dropped for missed deadlines (it may be starting up) ...
    expect(other.trusted).toBe(true);
    expect([membership.missedDeadline(other), membership.missedDeadline(other), membership.missedDeadline(other)]).toEqual([false, false, false]);
    // ... once it has completed work, or if it is a volunteer, three in a row drop it.
    membership.taskCompleted(other, 10, 1000);
    expect([membership.missedDeadline(other), membership.missedDeadline(other), membership.missedDeadline(other)]).toEqual([false, false, true]);
    other.trusted = false;
    other.tasksDone = 0;
    other.missedDeadlines = 0;
    expect([membership.missedDeadline(other), membership.missedDeadline(other), membership.missedDeadline(other)]).toEqual([false, false, true]);
    membership.taskCompleted(other, 10, 1000);
    expect(other.missedDeadlines).toBe(0);
  });

  it('counts strikes per connection and says when the limit is reached', () => {
    const parts = new Parts({}, { maxStrikes: 2 });
    const { conn, worker } = parts.join();
    expect(parts.membership.strike(conn)).toBe(false);
    expect(parts.membership.strike(conn)).toBe(true);
    expect([conn.strikes, worker.rejected]).toEqual([2, 2]);
  });

  it('finds connections without hello and silent workers, not dashboards', () => {
    const parts = new Parts({}, { heartbeatTimeoutMs: 1000 });
    const { membership, clock } = parts;
    membership.open('pending', null);
    const { conn } = parts.join();
    membership.open('dash', null);
    membership.conns.get('dash')!.role = 'dashboard';
    clock.now += 999;
    expect(membership.expired(clock.now)).toEqual([]);
    membership.touch(conn, clock.now);
    clock.now += 1;
    expect(membership.expired(clock.now).map((e) => [e.conn.id, e.missing, e.silentMs])).toEqual([['pending', 'hello', 1000]]);
    clock.now += 999;
    expect(membership.expired(clock.now).map((e) => e.conn.id)).toEqual(['pending', conn.id]);
  });
});
