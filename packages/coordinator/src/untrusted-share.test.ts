import { describe, expect, it } from 'vitest';
import { ReplayRing } from './replay-ring.js';
import { assignWithUntrustedCap } from './untrusted-share.js';

const units = Array.from({ length: 16 }, (_, i) => ({ block: { start: i, count: 1 }, samples: 8 }));
const samplesOf = (list: { samples: number }[] | undefined) => (list ?? []).reduce((s, u) => s + u.samples, 0);

describe('assignWithUntrustedCap', () => {
  it('keeps untrusted workers at or under the cap however fast they claim to be', () => {
    const workers = [
      { id: 'lab', samplesPerSecond: 10, queuedSamples: 0, trusted: true },
      { id: 'v1', samplesPerSecond: 50_000, queuedSamples: 0, trusted: false },
      { id: 'v2', samplesPerSecond: 50_000, queuedSamples: 0, trusted: false },
    ];
    for (const cap of [0, 0.25, 0.3, 0.5, 1]) {
      const { byWorker, unassigned } = assignWithUntrustedCap(units, workers, cap);
      expect(unassigned).toEqual([]);
      const untrusted = samplesOf(byWorker.get('v1')) + samplesOf(byWorker.get('v2'));
      expect(untrusted).toBeLessThanOrEqual(cap * 128);
      expect(untrusted + samplesOf(byWorker.get('lab'))).toBe(128);
      if (cap === 1) expect(untrusted).toBeGreaterThan(100);
    }
  });

  it('gives untrusted workers nothing without a trusted one', () => {
    const { byWorker, unassigned } = assignWithUntrustedCap(units, [{ id: 'v', samplesPerSecond: 1, queuedSamples: 0, trusted: false }], 0.5);
    expect(byWorker.size).toBe(0);
    expect(unassigned).toHaveLength(16);
  });
});

describe('ReplayRing', () => {
  const state = (step: number) => ({ step, params: new Float32Array([step]), optimizer: { type: 'sgd', stepCount: step, buffers: {} } as never, lr: null });
  it('keeps the last capacity steps and forgets replayed ones', () => {
    const ring = new ReplayRing(3);
    for (let s = 0; s < 5; s++) ring.push(state(s));
    expect(ring.oldestStep).toBe(2);
    expect(ring.get(1)).toBeUndefined();
    expect(ring.get(4)?.params[0]).toBe(4);
    ring.push(state(3)); // a rollback to 3 replays step 3: 3 and 4 are replaced
    expect(ring.size).toBe(2);
    expect(ring.get(4)).toBeUndefined();
    expect(() => new ReplayRing(0)).toThrow(TypeError);
  });

  it('hands out the oldest state for reuse only when the next push would drop it', () => {
    const ring = new ReplayRing(2);
    expect(ring.spare(0)).toBeUndefined();
    ring.push(state(0));
    expect(ring.spare(1)).toBeUndefined(); // not full
    ring.push(state(1));
    const spare = ring.spare(2);
    expect(spare?.stepCount).toBe(0);
    expect(ring.oldestStep).toBe(1);
    ring.push(state(2));
    expect(ring.size).toBe(2);
    // After a rollback the push replaces later states: nothing older is dropped, so no spare.
    expect(ring.spare(1)).toBeUndefined();
    expect(ring.oldestStep).toBe(1);
  });
});
