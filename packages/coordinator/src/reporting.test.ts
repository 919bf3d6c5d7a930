import { describe, expect, it } from 'vitest';
import type { CoordinatorEvent } from './events.js';
import { Reporter, WORKERS_EVENT_INTERVAL_MS, type RunView } from './reporting.js';
import { Parts } from './testing/parts.js';
import { createPhase, makeUnit } from './work.js';

function reporterFor(parts: Parts, view: Partial<RunView> = {}): Reporter {
  return new Reporter({
    run: parts.run,
    trainData: parts.data.train,
    testData: parts.data.test,
    membership: parts.membership,
    clock: parts.clock.read,
    send: parts.send,
    view: () => ({ status: 'running', step: 1, epoch: 0, lr: 0.05, startedAt: 5, ...view }),
  });
}

/** A complete two-block train phase: block 0+2 by w1 (cpu), block 2+2 by w2 (wasm, re-issued). */
function completePhase(parts: Parts) {
  const units = [makeUnit(0, 2, 8), makeUnit(2, 2, 8)];
  const phase = createPhase({ kind: 'train', step: 0, epoch: 0, shardCount: 4, shardSize: 4, indices: new Uint32Array(16), params: new Float32Array(0), startedAt: 1000 }, units);
  const task = (id: string, workerId: string, sentAt: number, computeMs: number, reissue: boolean) => ({ id, workerId, sentAt, computeMs, reissue }) as never;
  phase.accepted.set(0, { unit: units[0]!, task: task('s0-1', 'w1', 1000, 30, false), backend: 'cpu', receivedAt: 1040, value: null, correct: 0 });
  phase.accepted.set(2, { unit: units[1]!, task: task('s0-2', 'w2', 1010, 50, true), backend: 'wasm', receivedAt: 1090, value: null, correct: 0 });
  phase.shardsReissued = 2;
  return phase;
}

describe('Reporter alone', () => {
  it('numbers events, survives throwing listeners, and sends JSON-safe events to subscribed dashboards only', () => {
    const parts = new Parts();
    const reporter = reporterFor(parts);
    const seen: [string, number][] = [];
    reporter.on(() => {
      throw new Error('bad listener');
    });
    const off = reporter.on((event, seq) => seen.push([event.kind, seq]));
    parts.membership.open('dash', null);
    parts.membership.open('quiet', null);
    const dash = parts.membership.conns.get('dash')!;
    dash.role = 'dashboard';
    dash.subscribed = true;
    reporter.emit({ kind: 'lr', lr: 0.1, step: 0 });
    off();
    reporter.emit({ kind: 'error', message: 'x' });
    expect(seen).toEqual([['lr', 1]]);
    expect(reporter.seq).toBe(2);
    expect(parts.to('dash', 'event').map((m) => m.seq)).toEqual([1, 2]);
    expect(parts.sent.filter((s) => s.connId === 'quiet')).toEqual([]);
  });

  it('records a step: metrics from the slowest task, accounting per block and shard, at most one workers event per interval', () => {
    const parts = new Parts({ batchSize: 16, microShardSize: 4 });
    parts.join();
    parts.join();
    const reporter = reporterFor(parts);
    const events: CoordinatorEvent[] = [];
    reporter.on((e) => events.push(e));
    reporter.recordStep(completePhase(parts), { params: new Float32Array(0), lr: 0.05, loss: 0.5 }, 1100);
    expect(events[0]).toEqual({
      kind: 'step', step: 0, epoch: 0, loss: 0.5, lr: 0.05, samplesPerSecond: 16 * 1000 / 100, stepMs: 100,
      computeMs: 50, transferMs: 30, waitMs: 20, workers: 2, backends: ['cpu', 'wasm'], shardsReissued: 2, time: 1100,
    });
    expect(events[1]).toMatchObject({ kind: 'workers', time: 1100 });
    reporter.recordStep(completePhase(parts), { params: new Float32Array(0), lr: 0.05, loss: 0.5 }, 1100 + WORKERS_EVENT_INTERVAL_MS - 1);
    expect(events.map((e) => e.kind)).toEqual(['step', 'workers', 'step']);
    const [first] = reporter.accounting();
    expect(first!.blocks).toEqual([
      { start: 0, count: 2, workerId: 'w1', backend: 'cpu', taskId: 's0-1', reissued: false },
      { start: 2, count: 2, workerId: 'w2', backend: 'wasm', taskId: 's0-2', reissued: true },
    ]);
    expect(first!.shards.map((s) => s.workerId)).toEqual(['w1', 'w1', 'w2', 'w2']);
    expect(reporter.totals.samplesTrained).toBe(32);
  });

  it('snapshots the run with a history limit, and writes Prometheus text with a run label on every series', () => {
    const parts = new Parts({ batchSize: 16, microShardSize: 4 });
    parts.join();
    const reporter = reporterFor(parts, { step: 2 });
    for (let i = 0; i < 3; i++) reporter.recordStep(completePhase(parts), { params: new Float32Array(0), lr: 0.05, loss: i }, 2000 + i);
    reporter.countRejected('BAD_RESULT', true);
    reporter.countRejected('STALE_RESULT', false);
    reporter.checkpointReported(2, false, 'disk full');
    const snapshot = reporter.snapshot(2);
    expect(snapshot.history.map((h) => h.loss)).toEqual([1, 2]);
    expect(snapshot).toMatchObject({ runId: 'test-run', status: 'running', step: 2, loss: 2, startedAt: 5, totals: { resultsRejected: 1, samplesTrained: 48 } });
    expect(snapshot.workers.map((w) => w.id)).toEqual(['w1']);
    expect(snapshot.model.parameterCount).toBe(parts.run.plan.paramCount);
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
    const text = reporter.metricsText();
    expect(text).toContain('swarmgrad_step{run="test-run"} 2\n');
    expect(text).toContain('swarmgrad_rejected_results_total{run="test-run",code="BAD_RESULT"} 1\n');
    expect(text).toContain('swarmgrad_checkpoint_failures_total{run="test-run"} 1\n');
    expect(text).toContain('swarmgrad_workers{run="test-run",backend="cpu",environment="node",trusted="true"} 1\n');
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) expect(line).toMatch(/\{run="test-run"/);
  });
});
