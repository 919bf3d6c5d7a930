/**
 * Evaluation: when the run evaluates, how the first `evalSamples` test samples are cut
 * into eval shards, and how accepted eval results become an `EvalResult`. Evaluation uses
 * the scheduler and the aggregator like a training step, with units of one eval shard each.
 */
import type { EvalResult } from './events.js';
import { jsonSafe, makeUnit, type Phase, type Unit } from './work.js';

/** Whether an evaluation is due after `step` steps: at the end, and every `evalEvery` steps (0: only at the end). */
export function evalDueAfter(step: number, run: { totalSteps: number; evalEvery: number; evalSamples: number }): boolean {
  return run.evalSamples > 0 && (step >= run.totalSteps || (run.evalEvery > 0 && step % run.evalEvery === 0));
}

/** The units of an evaluation: one per eval shard of `shardSize` samples over samples `0..evalSamples-1` (the last may be short). */
export function planEvalUnits(evalSamples: number, shardSize: number): Unit[] {
  const count = Math.ceil(evalSamples / shardSize);
  const units: Unit[] = [];
  for (let s = 0; s < count; s++) units.push(makeUnit(s, 1, Math.min(shardSize, evalSamples - s * shardSize)));
  return units;
}

/** The result of a complete eval phase: mean loss and accuracy over its samples. */
export function summarizeEval(phase: Phase, time: number): EvalResult {
  let lossSum = 0;
  let correct = 0;
  let samples = 0;
  for (const unit of phase.units) {
    const accepted = phase.accepted.get(unit.start)!;
    lossSum += accepted.value!.lossSum;
    correct += accepted.correct;
    samples += unit.samples;
  }
  return jsonSafe({
    kind: 'eval',
    step: phase.step,
    loss: samples > 0 ? lossSum / samples : 0,
    accuracy: samples > 0 ? correct / samples : 0,
    samples,
    time,
  }) as EvalResult;
}
