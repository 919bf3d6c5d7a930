/**
 * The untrusted share cap: at most a configured fraction of a step's samples go to untrusted
 * volunteers, whatever throughput they claim or show; the rest go to trusted workers.
 */
import type { WorkUnit, WorkerLoad } from './scheduler.js';

/** Default cap on the untrusted share of a step's samples. */
export const DEFAULT_UNTRUSTED_SHARE = 0.5;

/**
 * Greedy earliest-finish assignment (as `assignGreedy`), except that a unit goes to an
 * untrusted worker only while the untrusted workers' samples stay ≤ `maxShare` × the step's
 * samples. With no trusted worker in `workers`, untrusted workers get nothing (the units are
 * returned under `unassigned`): a volunteer's result cannot be checked without one.
 */
export function assignWithUntrustedCap<U extends WorkUnit>(
  units: readonly U[],
  workers: readonly (WorkerLoad & { trusted: boolean })[],
  maxShare: number,
): { byWorker: Map<string, U[]>; unassigned: U[] } {
  const total = units.reduce((sum, u) => sum + u.samples, 0);
  const budget = Math.floor(maxShare * total + 1e-9);
  const anyTrusted = workers.some((w) => w.trusted);
  const queued = workers.map((w) => w.queuedSamples);
  const byWorker = new Map<string, U[]>();
  const unassigned: U[] = [];
  let untrustedSamples = 0;
  for (const unit of units) {
    let best = -1;
    let bestFinish = Number.POSITIVE_INFINITY;
    for (let i = 0; i < workers.length; i++) {
      const worker = workers[i]!;
      if (!worker.trusted && (!anyTrusted || untrustedSamples + unit.samples > budget)) continue;
      const finish = (queued[i]! + unit.samples) / worker.samplesPerSecond;
      if (finish < bestFinish) {
        bestFinish = finish;
        best = i;
      }
    }
    if (best < 0) {
      unassigned.push(unit);
      continue;
    }
    queued[best] = queued[best]! + unit.samples;
    if (!workers[best]!.trusted) untrustedSamples += unit.samples;
    const id = workers[best]!.id;
    const list = byWorker.get(id);
    if (list) list.push(unit);
    else byWorker.set(id, [unit]);
  }
  return { byWorker, unassigned };
}
