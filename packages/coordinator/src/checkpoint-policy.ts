/**
 * Checkpoint policy: when the run checkpoints (every `checkpointEvery` steps, at the end,
 * on stop), the one write in flight, the last step written, and whether a checkpoint may
 * resume this run. The bytes are `checkpoint.ts`'s; where they go is `onCheckpoint`'s.
 */
import { validateOptimizerConfig, type Optimizer } from '@swarmgrad/nn/core';
import { CHECKPOINT_FORMAT_VERSION, type Checkpoint } from './checkpoint.js';
import { TRAJECTORY_FIELDS, canonicalJson, type RunConfig } from './config.js';
import { CoordinatorError, CoordinatorErrorCode } from './errors.js';
import { errorText } from './work.js';

/** Where checkpoints go (see `CoordinatorOptions.onCheckpoint`). */
export type CheckpointSink = (checkpoint: Checkpoint) => void | Promise<void>;

/** Called after each write: ok, or the error text. */
export type CheckpointReport = (step: number, ok: boolean, error: string | null) => void;

/** Decides when to checkpoint and writes one checkpoint at a time. */
export class CheckpointPolicy {
  /** A checkpoint is due and not started yet. */
  pending = false;
  /** The write in flight, if any. */
  inFlight: Promise<void> | null = null;
  /** Step of the last checkpoint written (or resumed from). */
  lastStep = 0;

  constructor(
    private readonly sink: CheckpointSink | undefined,
    private readonly report: CheckpointReport,
  ) {}

  /** Whether checkpoints are written at all. */
  get enabled(): boolean {
    return this.sink !== undefined;
  }

  /** Whether a checkpoint is due after `step` steps: at the end, and every `checkpointEvery` steps (0: only at the end). */
  dueAfter(step: number, run: { totalSteps: number; checkpointEvery: number }): boolean {
    return this.enabled && (step >= run.totalSteps || (run.checkpointEvery > 0 && step % run.checkpointEvery === 0));
  }

  /** Whether a stopped run at `step` still needs its checkpoint. */
  needsStopCheckpoint(step: number): boolean {
    return this.enabled && step > this.lastStep;
  }

  /** Starts writing `checkpoint` (clears `pending`); `after` runs when it is done, with its outcome. */
  start(checkpoint: Checkpoint, after: (ok: boolean) => void): void {
    this.pending = false;
    this.inFlight = this.write(checkpoint).then((ok) => {
      this.inFlight = null;
      after(ok);
    });
  }

  /** Writes `checkpoint` through the sink; never rejects (a failure is reported and returns false). */
  async write(checkpoint: Checkpoint): Promise<boolean> {
    try {
      await this.sink!(checkpoint);
      this.lastStep = checkpoint.step;
      this.report(checkpoint.step, true, null);
      return true;
    } catch (error) {
      this.report(checkpoint.step, false, errorText(error));
      return false;
    }
  }
}

/** What a resumed checkpoint is checked against. */
export interface ResumeTarget {
  config: RunConfig;
  parameterCount: number;
  modelName: string;
  optimizer: Optimizer;
}

function mismatch(text: string, cause?: unknown): CoordinatorError {
  return new CoordinatorError(CoordinatorErrorCode.RESUME_MISMATCH, text, cause === undefined ? undefined : { cause });
}

function normalise(field: (typeof TRAJECTORY_FIELDS)[number], run: RunConfig): string {
  const value: unknown = run[field];
  if (field === 'codec') return canonicalJson(value ?? 'f32');
  if (field === 'optimizer') {
    try {
      return canonicalJson(validateOptimizerConfig(value));
    } catch {
      return canonicalJson(value);
    }
  }
  return canonicalJson(value);
}

/**
 * Checks that `checkpoint` continues the run described by `target` and loads its optimizer
 * state into `target.optimizer`.
 * @throws CoordinatorError `CHECKPOINT_FORMAT` when it is not a checkpoint object,
 *   `RESUME_MISMATCH` when it belongs to another run or model or is inconsistent.
 */
export function checkResume(checkpoint: Checkpoint, target: ResumeTarget): void {
  if (typeof checkpoint !== 'object' || checkpoint === null || checkpoint.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw new CoordinatorError(CoordinatorErrorCode.CHECKPOINT_FORMAT, `resume must be a Checkpoint of format version ${CHECKPOINT_FORMAT_VERSION}`);
  }
  const ours = target.config;
  const theirs = checkpoint.run;
  if (typeof theirs !== 'object' || theirs === null) throw mismatch('checkpoint has no run config');
  const differing = TRAJECTORY_FIELDS.filter((field) => normalise(field, ours) !== normalise(field, theirs));
  if (differing.length > 0) {
    const each = differing.map((f) => `run.${f} is ${normalise(f, theirs).slice(0, 120)} in the checkpoint, ${normalise(f, ours).slice(0, 120)} here`);
    throw mismatch(`checkpoint belongs to another run: ${each.join('; ')}`);
  }
  if (!Number.isSafeInteger(checkpoint.step) || checkpoint.step < 0 || checkpoint.step > ours.totalSteps) {
    throw mismatch(`checkpoint is at step ${checkpoint.step}; this run has totalSteps ${ours.totalSteps}`);
  }
  if (!(checkpoint.params instanceof Float32Array) || checkpoint.params.length !== target.parameterCount) {
    throw mismatch(`checkpoint has ${checkpoint.params?.length} parameters; model ${target.modelName} has ${target.parameterCount}`);
  }
  if (checkpoint.optimizer?.stepCount !== checkpoint.step) {
    throw mismatch(`checkpoint's optimizer has taken ${checkpoint.optimizer?.stepCount} steps; the checkpoint is at step ${checkpoint.step}`);
  }
  try {
    target.optimizer.loadState(checkpoint.optimizer);
  } catch (error) {
    throw mismatch(`checkpoint's optimizer state does not fit: ${errorText(error)}`, error);
  }
  if (checkpoint.lr !== null && (typeof checkpoint.lr !== 'number' || !Number.isFinite(checkpoint.lr) || checkpoint.lr <= 0)) {
    throw mismatch(`checkpoint lr is ${String(checkpoint.lr)}; expected null or a number > 0`);
  }
}
