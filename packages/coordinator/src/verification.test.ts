import { describe, expect, it } from 'vitest';
import type { ErrorMessage, ResultMessage } from '@swarmgrad/protocol';
import { BanList } from './ban-list.js';
import { CoordinatorErrorCode } from './errors.js';
import type { CoordinatorEvent, RollbackEvent } from './events.js';
import { paramsSha256 } from './sha256.js';
import { Harness, referenceParams, tinyData, tinyRun, type FakeWorker, type FakeWorkerOptions } from './testing/harness.js';
import type { VerificationOptions } from './verification-options.js';

// The engine's verification of untrusted volunteers, in memory (real codec both ways, fake
// clock, random delivery order): cheaters change nothing, are caught and banned; sleepers'
// unchecked lies are undone by rollback and replay; honest volunteers earn verified credit.

const RUN = tinyRun({ batchSize: 32, microShardSize: 4, totalSteps: 10, evalEvery: 5, evalSamples: 24 });
const expected = referenceParams(RUN, tinyData().train).then(paramsSha256);

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Rewrites every f32 gradient of a result with `f` (and optionally the loss sum). */
function rewrite(f: (v: number, i: number) => number, loss: (l: number) => number = (l) => l): (r: ResultMessage) => ResultMessage {
  return (result) => {
    for (const block of result.blocks) {
      block.lossSum = loss(block.lossSum);
      if ('gradient' in block && block.gradient.codec === 'f32') block.gradient = { ...block.gradient, payload: block.gradient.payload.map(f) };
    }
    return result;
  };
}

const ATTACKS: Record<string, (r: ResultMessage) => ResultMessage> = {
  scaled: rewrite((v) => v * 3),
  negated: rewrite((v) => -v),
  constant: rewrite(() => 0.25),
  zeros: rewrite(() => 0),
  noise: rewrite((_, i) => Math.sin(i * 12.9898) * 40),
  'one ulp': rewrite((v, i) => (i === 3 ? v + Math.abs(v) * 2 ** -22 : v)),
  'forged loss': rewrite((v) => v, (l) => l * 0.5),
};

/** A harness with one trusted worker and the given volunteers (verify mode). */
async function runWith(volunteers: FakeWorkerOptions[], verification: VerificationOptions = {}, seed = 3): Promise<{ harness: Harness; workers: FakeWorker[] }> {
  const harness = new Harness(seed);
  harness.create({ run: RUN, token: 'lab', verification: { untrustedShare: 0.5, random: seeded(seed), ...verification } });
  const workers = [harness.addWorker({ token: 'lab', name: 'lab' }), ...volunteers.map((v) => harness.addWorker(v))];
  harness.coordinator.start();
  await harness.run();
  expect(harness.failures).toEqual([]);
  expect(harness.coordinator.status).toBe('finished');
  return { harness, workers };
}

const errorsOf = (worker: FakeWorker) => worker.received.filter((m): m is ErrorMessage => m.type === 'error');
const of = <K extends CoordinatorEvent['kind']>(harness: Harness, kind: K) => harness.events.filter((e): e is Extract<CoordinatorEvent, { kind: K }> => e.kind === kind);

describe('verification of untrusted volunteers', () => {
  it('a volunteer that answers only after its step went on: the steps do not wait for it, and its late lie is still caught', async () => {
    const harness = new Harness(4);
    harness.create({ run: RUN, token: 'lab', minDeadlineMs: 60_000, verification: { untrustedShare: 0.5, random: seeded(4) } });
    harness.addWorker({ token: 'lab', name: 'lab' });
    const held: import('@swarmgrad/protocol').TaskMessage[] = [];
    const late = harness.addWorker({ name: 'late liar', onTask: (_w, task) => (held.push(task), 'ignore') });
    const startedAt = harness.clock.now;
    harness.coordinator.start();
    await harness.run(() => held.length > 0 && harness.coordinator.step > held[0]!.step);
    // The step went on without it (a 60 s deadline never passed on the fake clock).
    expect(harness.clock.now - startedAt).toBeLessThan(60_000);
    for (const result of await late.compute(held[0]!)) late.sendMessage(rewrite((v) => -v)(result));
    await harness.run();
    expect(harness.failures).toEqual([]);
    expect(paramsSha256(harness.coordinator.params())).toBe(await expected);
    const fatal = errorsOf(late).find((e) => e.fatal);
    expect(fatal?.code).toBe(CoordinatorErrorCode.VERIFICATION_FAILED);
    expect(harness.coordinator.snapshot().verification!.bans.map((b) => b.key)).toContain(`worker:${late.workerId}`);
  });

  for (const [name, tamper] of Object.entries(ATTACKS)) {
    it(`${name}: caught on its first result, banned, the run bitwise unchanged`, async () => {
      const { harness, workers } = await runWith([{ name: 'honest' }, { name, tamper }]);
      expect(paramsSha256(harness.coordinator.params())).toBe(await expected);
      const cheater = workers[2]!;
      const fatal = errorsOf(cheater).find((e) => e.fatal);
      expect(fatal?.code).toBe(CoordinatorErrorCode.VERIFICATION_FAILED);
      expect(cheater.answered).toBe(1);
      const report = harness.coordinator.snapshot().verification!;
      expect(report.bans.map((b) => b.key)).toContain(`worker:${cheater.workerId}`);
      expect(report.workers.find((w) => w.workerId === cheater.workerId)?.level).toBe('rejected');
      const honest = workers[1]!;
      expect(errorsOf(honest).filter((e) => e.fatal)).toEqual([]);
      expect(report.credit.find((c) => c.workerId === honest.workerId)?.verifiedSamples).toBeGreaterThan(0);
      expect(report.credit.find((c) => c.workerId === cheater.workerId)).toBeUndefined();
      // Every accepted block of every step came from the trusted worker or the honest volunteer.
      for (const step of harness.coordinator.accounting()) for (const block of step.blocks) expect(block.workerId).not.toBe(cheater.workerId);
    });
  }

  it('sleepers (honest through probation, then lying): unchecked lies are rolled back and replayed; exact result and history', async () => {
    const clean = (await runWith([])).harness.coordinator.checkpoint().history;
    const cleanSteps = clean.steps.map((s) => [s.step, s.loss]);
    const cleanEvals = clean.evals.map((e) => [e.step, e.accuracy, e.loss]);
    let rollbacks = 0;
    for (let seed = 1; seed <= 12; seed++) {
      let sent = 0;
      const sleeper: FakeWorkerOptions = { name: 'sleeper', tamper: (r) => (++sent > 3 ? rewrite((v) => v * 1.5)(r) : r) };
      // No final audit here: this test is about lies aggregated unchecked and rolled back.
      const { harness, workers } = await runWith([sleeper, { name: 'honest' }], { probationResults: 2, rateFloor: 0.25, auditSteps: 0 }, seed);
      expect(paramsSha256(harness.coordinator.params()), `seed ${seed}`).toBe(await expected);
      const history = harness.coordinator.checkpoint().history;
      expect(history.steps.map((s) => [s.step, s.loss])).toEqual(cleanSteps);
      expect(history.evals.map((e) => [e.step, e.accuracy, e.loss])).toEqual(cleanEvals);
      const caught = errorsOf(workers[1]!).find((e) => e.fatal);
      if (sent > 3) expect(caught?.code, `seed ${seed}`).toBe(CoordinatorErrorCode.VERIFICATION_FAILED);
      expect(errorsOf(workers[2]!).filter((e) => e.fatal)).toEqual([]);
      const events = of(harness, 'rollback') as RollbackEvent[];
      expect(events.every((r) => r.complete && r.toStep <= r.fromStep)).toBe(true);
      rollbacks += events.length;
      expect(harness.coordinator.snapshot().verification!.totals.rollbacks).toBe(events.length);
    }
    expect(rollbacks).toBeGreaterThan(0);
  });

  it('the final audit: a volunteer lying only in the last steps is caught before the run ends (without it, its lies stay in the final parameters)', async () => {
    // Honest for the first 7 steps (long past probation, checked at the 0.1 floor), lying in steps 7-9.
    const lateLiar = (): FakeWorkerOptions => ({ name: 'late liar', tamper: (r) => (r.step >= 7 ? rewrite((v) => v * 1.5)(r) : r) });
    const policy = { probationResults: 1, rateFloor: 0.1 };
    let corrupted = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const audited = await runWith([lateLiar(), { name: 'honest' }], { ...policy, auditSteps: 3 }, seed);
      expect(paramsSha256(audited.harness.coordinator.params()), `seed ${seed}, audit on`).toBe(await expected);
      expect(errorsOf(audited.workers[1]!).find((e) => e.fatal)?.code, `seed ${seed}`).toBe(CoordinatorErrorCode.VERIFICATION_FAILED);
      const report = audited.harness.coordinator.snapshot().verification!;
      expect(report.auditSteps).toBe(3);
      // In the audited steps nothing a volunteer sent was aggregated unchecked.
      for (const o of report.overhead) if (o.step >= 7) expect(o.uncheckedSamples, `seed ${seed}, step ${o.step}`).toBe(0);
      const unaudited = await runWith([lateLiar(), { name: 'honest' }], { ...policy, auditSteps: 0 }, seed);
      if (paramsSha256(unaudited.harness.coordinator.params()) !== (await expected)) corrupted++;
    }
    // The control: without the audit, the 0.1 spot checks let the late lies through in some runs.
    expect(corrupted).toBeGreaterThan(0);
  });

  it('refuses a banned worker id on return (BANNED), and a lifted ban admits it again', async () => {
    const bans = new BanList();
    const { harness, workers } = await runWith([{ name: 'cheat', tamper: ATTACKS.scaled! }], { bans });
    const id = workers[1]!.workerId!;
    expect(bans.find({ workerId: id }, harness.clock.now)?.reason).toMatch(/does not match the trusted recomputation/);
    // A new coordinator with the same ban list (a restart): the id is refused at hello.
    const next = new Harness(5);
    next.create({ run: RUN, token: 'lab', verification: { bans } });
    const back = next.addWorker({ workerId: id });
    const refused = errorsOf(back)[0];
    expect(refused).toMatchObject({ code: CoordinatorErrorCode.BANNED, fatal: true });
    expect(back.closed).toBeDefined();
    // The admin action lifts it (a wrong token is refused; an unknown key is BAD_STATE).
    next.create({ run: RUN, token: 'lab', adminToken: 'root', verification: { bans } });
    const dashboard = next.addDashboard();
    dashboard.send({ type: 'admin', action: 'liftBan', value: `worker:${id}`, adminToken: 'guess' });
    dashboard.send({ type: 'admin', action: 'liftBan', value: 'worker:nobody', adminToken: 'root' });
    expect(dashboard.errors()).toEqual([CoordinatorErrorCode.ADMIN_REFUSED, CoordinatorErrorCode.BAD_STATE]);
    expect(bans.find({ workerId: id }, next.clock.now)).toBeDefined();
    dashboard.send({ type: 'admin', action: 'liftBan', value: `worker:${id}`, adminToken: 'root' });
    expect(bans.find({ workerId: id }, next.clock.now)).toBeUndefined();
    expect(next.coordinator.liftBan(`worker:${id}`)).toBe(false);
    const again = next.addWorker({ workerId: id });
    expect(errorsOf(again)).toEqual([]);
    expect(again.welcome).toBeDefined();
    expect(again.welcome!.workerId).not.toBe(id); // volunteers never inherit an id
  });

  it('evaluation goes to trusted workers only; volunteers hold at most the untrusted share; their throughput hints are ignored', async () => {
    const { harness, workers } = await runWith([{ name: 'liar', samplesPerSecond: 50_000 }, { name: 'honest' }], { untrustedShare: 0.25 });
    expect(paramsSha256(harness.coordinator.params())).toBe(await expected);
    const volunteerIds = new Set(workers.slice(1).map((w) => w.workerId));
    for (const w of workers.slice(1)) expect(w.tasks.every((t) => t.kind === 'train')).toBe(true);
    const samples = new Map<number, number>();
    for (const w of workers.slice(1)) for (const t of w.tasks) samples.set(t.step, (samples.get(t.step) ?? 0) + t.indices.length);
    for (const s of samples.values()) expect(s).toBeLessThanOrEqual(0.25 * RUN.batchSize);
    const summary = harness.coordinator.snapshot({ admin: true }).workers.find((w) => w.name === 'liar')!;
    expect(summary.samplesPerSecond).not.toBe(50_000);
    expect(volunteerIds.size).toBe(2);
    expect(harness.coordinator.metricsText()).toMatch(/swarmgrad_verified_results_total\{run="test-run"\} [1-9]/);
  });

  it('a trusted worker returning zeros (a broken driver) is refused as implausible and the run stays exact', async () => {
    const harness = new Harness(9);
    harness.create({ run: RUN, token: 'lab', maxStrikes: 1000 });
    harness.addWorker({ token: 'lab' });
    let broken = 0;
    harness.addWorker({ token: 'lab', tamper: (r) => (++broken % 2 ? ATTACKS.zeros!(r) : r) });
    harness.coordinator.start();
    await harness.run();
    expect(paramsSha256(harness.coordinator.params())).toBe(await expected);
    expect(harness.events.some((e) => e.kind === 'rejected' && e.code === CoordinatorErrorCode.IMPLAUSIBLE_RESULT)).toBe(true);
  });

  it("mode trust aggregates volunteers' results unchecked (so a cheater changes the parameters)", async () => {
    const { harness } = await runWith([{ name: 'cheat', tamper: ATTACKS.scaled! }], { mode: 'trust' });
    expect(paramsSha256(harness.coordinator.params())).not.toBe(await expected);
  });
});
