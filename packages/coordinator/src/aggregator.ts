/**
 * The aggregator: checks each result against the task it answers, passes it through the
 * `ResultGate` (the verification seam, see `result-gate.ts`), accepts each block exactly
 * once (first result wins), and, when every block of a step is in, completes the fixed
 * pairwise tree, divides by B and applies the optimizer step. Owns the `accepted` field of
 * a `Phase`.
 */
import { decodeGradient, firstNonFiniteFloat, isProtocolError, type GradientCodecName, type ResultMessage } from '@swarmgrad/protocol';
import { combineNodes, type Optimizer } from '@swarmgrad/nn-core';
import { CoordinatorErrorCode } from './errors.js';
import type { WorkerRecord } from './membership.js';
import type { ResultGate, ResultVerdict, ValidatedBlock } from './result-gate.js';
import type { Phase, TaskRecord, Unit } from './work.js';

/** A validated block and the unit of the task it answers. */
export interface CheckedBlock extends ValidatedBlock {
  unit: Unit;
}

/** Outcome of `validateResult`: every block checked, or the first problem (the whole result is refused). */
export type ResultCheck = { ok: true; blocks: CheckedBlock[] } | { ok: false; code: string; message: string };

/** Outcome of accepting a result's blocks. */
export interface Acceptance {
  /** Blocks accepted now (first delivery). */
  fresh: number;
  /** Micro-shards in the fresh blocks. */
  freshShards: number;
  /** Blocks already delivered (by this task or another one) and dropped. */
  duplicates: number;
  /** Whether this result made its task complete (every unit answered) for the first time. */
  taskCompleted: boolean;
}

/** What `submit` did: the gate refused the result, or its blocks were accepted. */
export type Submission = { admitted: false; verdict: Extract<ResultVerdict, { action: 'reject' }> } | ({ admitted: true } & Acceptance);

/** A step applied: the new parameters (a fresh array), the learning rate used and the mean loss. */
export interface AppliedStep {
  params: Float32Array;
  lr: number;
  loss: number;
}

/**
 * Validates a result of `task` (already known to be this worker's, for this phase's kind and
 * step) block by block: each block must be one of the task's, carry its sample count, and
 * (train) a gradient of `parameterCount` values in the worker's codec.
 */
export function validateResult(msg: ResultMessage, task: TaskRecord, phase: Pick<Phase, 'step' | 'shardSize'>, codec: GradientCodecName, parameterCount: number): ResultCheck {
  const blocks: CheckedBlock[] = [];
  for (const block of msg.blocks) {
    const where = `block ${block.start}+${block.count}`;
    const unit = task.units.find((u) => u.start === block.start && u.count === block.count);
    if (!unit) {
      const list = task.units.map((u) => `${u.start}+${u.count}`).join(', ');
      return { ok: false, code: CoordinatorErrorCode.BAD_RESULT, message: `${where} is not a block of task ${task.id} (${list})` };
    }
    if (block.sampleCount !== unit.samples) {
      const message = `${where} of step ${phase.step} reports ${block.sampleCount} samples; it has ${unit.samples} (${block.count} × ${phase.shardSize})`;
      return { ok: false, code: CoordinatorErrorCode.BAD_RESULT, message };
    }
    let grads: Float32Array | null = null;
    if (msg.kind === 'train' && 'gradient' in block) {
      if (block.gradient.codec !== codec) {
        return { ok: false, code: CoordinatorErrorCode.BAD_RESULT, message: `${where} uses codec ${block.gradient.codec}; this worker was told to use ${codec}` };
      }
      try {
        grads = decodeGradient(block.gradient, parameterCount);
      } catch (error) {
        if (!isProtocolError(error)) throw error;
        return { ok: false, code: error.code, message: `${where} of step ${phase.step}: ${error.message}` };
      }
    }
    blocks.push({ unit, start: unit.start, count: unit.count, lossSum: block.lossSum, sampleCount: block.sampleCount, correct: block.correct ?? 0, grads });
  }
  return { ok: true, blocks };
}

/** Where a result belongs, or why it belongs nowhere. */
export type Located = { phase: Phase; task: TaskRecord } | { code: string; text: string; strike: boolean };

/** What `locateTask` looks at: the run, the phase in flight, the step, and the tasks of the last finished phase (task id → worker id). */
export interface ResultContext {
  runId: string;
  phase: Phase | null;
  step: number;
  retired: ReadonlyMap<string, Pick<TaskRecord, 'workerId'>>;
  /** After a rollback: results for steps below this (the steps before the rollback) are stale, not from the future. */
  staleBelow?: number;
}

/**
 * The phase and task a result answers, or why there is none: for another run, stale (its
 * work is complete; no strike), for a future step, or a task never given to this worker.
 */
export function locateTask(msg: ResultMessage, worker: WorkerRecord, at: ResultContext): Located {
  const { phase } = at;
  const currentStep = phase ? phase.step : at.step;
  const task = phase?.tasks.get(msg.taskId);
  const unknown = { code: CoordinatorErrorCode.UNKNOWN_TASK, text: `task ${msg.taskId} was never given to worker ${worker.id}`, strike: true };
  if (msg.runId !== at.runId) {
    return { code: CoordinatorErrorCode.BAD_RESULT, text: `result is for run ${msg.runId}; this coordinator runs ${at.runId}`, strike: true };
  }
  if (!phase || !task) {
    if (at.retired.get(msg.taskId)?.workerId === worker.id || msg.step < currentStep || msg.step < (at.staleBelow ?? 0)) {
      return { code: CoordinatorErrorCode.STALE_RESULT, text: `result for ${msg.kind} step ${msg.step} (task ${msg.taskId}) arrived after that work was complete`, strike: false };
    }
    if (msg.step > currentStep) return { code: CoordinatorErrorCode.BAD_RESULT, text: `result for step ${msg.step}; the coordinator is at step ${currentStep}`, strike: true };
    return unknown;
  }
  return task.workerId === worker.id ? { phase, task } : unknown;
}

/**
 * A complete answer to a task of the last phase that came after the phase was done (e.g. a
 * probe that a proven worker beat) still shows the worker's throughput. Returns that task
 * (marked completed, so it counts once) to be measured, or undefined.
 */
export function lateAnswer(retired: ReadonlyMap<string, TaskRecord>, worker: WorkerRecord, msg: ResultMessage): TaskRecord | undefined {
  const task = retired.get(msg.taskId);
  if (!task || task.workerId !== worker.id || task.completed || msg.blocks.length !== task.units.length) return undefined;
  task.completed = true;
  return task;
}

/** Accepts validated results exactly once per block and turns a complete step into an optimizer step. */
export class Aggregator {
  private gradScratch: Float32Array | undefined;

  constructor(
    private readonly gate: ResultGate,
    private readonly optimizer: Optimizer,
    private readonly parameterCount: number,
    private readonly batchSize: number,
  ) {}

  /**
   * Hands a validated result to the gate, then (if admitted) accepts its blocks. This is
   * the seam between validation and aggregation.
   */
  submit(phase: Phase, task: TaskRecord, worker: WorkerRecord, msg: ResultMessage, blocks: CheckedBlock[], now: number): Submission {
    const verdict = this.gate.admit({
      kind: phase.kind,
      step: phase.step,
      taskId: task.id,
      workerId: worker.id,
      trusted: worker.trusted,
      backend: msg.backend,
      receivedAt: now,
      blocks,
    });
    if (verdict.action === 'reject') return { admitted: false, verdict };
    task.computeMs += msg.timing.computeMs;
    return { admitted: true, ...this.accept(phase, task, msg.backend, blocks, now) };
  }

  /** Records each block's first delivery; later deliveries of a block are duplicates. */
  accept(phase: Phase, task: TaskRecord, backend: ResultMessage['backend'], blocks: readonly CheckedBlock[], now: number): Acceptance {
    let duplicates = 0;
    let fresh = 0;
    let freshShards = 0;
    for (const item of blocks) {
      const start = item.unit.start;
      if (task.answered.has(start)) {
        duplicates++;
        continue;
      }
      task.answered.add(start);
      if (phase.accepted.has(start)) {
        duplicates++;
        continue;
      }
      fresh++;
      freshShards += item.unit.count;
      const value = { grads: item.grads ?? new Float32Array(0), lossSum: item.lossSum, count: item.sampleCount };
      phase.accepted.set(start, { unit: item.unit, task, backend, receivedAt: now, value, correct: item.correct });
      for (const holder of phase.holders.get(start) ?? []) holder.missing.delete(start);
      phase.holders.delete(start);
      phase.pending.delete(start);
    }
    const taskCompleted = !task.completed && task.answered.size === task.units.length;
    if (taskCompleted) task.completed = true;
    return { fresh, freshShards, duplicates, taskCompleted };
  }

  /** Whether every unit of `phase` has an accepted result. */
  isComplete(phase: Phase): boolean {
    return phase.accepted.size === phase.units.length;
  }

  /**
   * Completes the fixed pairwise tree over the step's accepted blocks, divides by B and
   * steps the optimizer on a copy of `params` (messages already handed to the transport
   * keep the old array unchanged).
   */
  applyStep(phase: Phase, params: Float32Array, lrOverride: number | null): AppliedStep {
    const B = this.batchSize;
    const blocks = phase.units.map((unit) => ({ block: { start: unit.start, count: unit.count }, value: phase.accepted.get(unit.start)!.value! }));
    const root = combineNodes(phase.shardCount, blocks);
    // The optimizer reads the averaged gradient and keeps nothing of it: one array serves every step.
    this.gradScratch ??= new Float32Array(this.parameterCount);
    const grad = this.gradScratch;
    const sum = root.grads;
    for (let i = 0; i < grad.length; i++) grad[i] = sum[i]! / B;
    const next = params.slice();
    const lr = this.optimizer.step(next, grad, lrOverride ?? undefined);
    return { params: next, lr, loss: root.lossSum / B };
  }
}

/** Describes the first non-finite value among a step's parameters, loss and optimizer buffers, or null when all are finite. */
export function nonFiniteState(params: Float32Array, loss: number, optimizer: Pick<Optimizer, 'firstNonFinite'>): string | null {
  if (!Number.isFinite(loss)) return `a loss of ${loss}`;
  const bad = firstNonFiniteFloat(params);
  if (bad >= 0) return `params[${bad}] = ${params[bad]}`;
  return optimizer.firstNonFinite();
}
