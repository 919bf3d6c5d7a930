/**
 * A bounded ring of per-step states (parameters, optimizer state, learning-rate override)
 * kept so that a run can roll back to the start of any of the last `capacity` steps and
 * replay them deterministically without a detected cheater's contributions.
 */
import type { OptimizerState } from '@swarmgrad/nn-core';

/** The state before step `step` was applied. */
export interface StepState {
  step: number;
  /** Parameters before the step (the engine never mutates a params array once stepped past). */
  params: Float32Array;
  /** Optimizer state before the step (a copy). */
  optimizer: OptimizerState;
  lr: number | null;
}

/** Default number of step states kept. */
export const DEFAULT_REPLAY_STEPS = 64;

/** Holds the last `capacity` step states; memory ≈ capacity × (1 + optimizer buffers) × 4P bytes. */
export class ReplayRing {
  /** Most states kept. */
  readonly capacity: number;
  private readonly states: StepState[] = [];

  /** @throws TypeError unless capacity is an integer ≥ 1. */
  constructor(capacity = DEFAULT_REPLAY_STEPS) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError(`replay ring capacity must be an integer ≥ 1; got ${capacity}`);
    this.capacity = capacity;
  }

  /** Records the state before `state.step`; drops states of that step or later (after a rollback) and the oldest beyond capacity. */
  push(state: StepState): void {
    while (this.states.length && this.states[this.states.length - 1]!.step >= state.step) this.states.pop();
    this.states.push(state);
    while (this.states.length > this.capacity) this.states.shift();
  }

  /**
   * When the next {@link push} (of the state before `step`) would drop the oldest state
   * because the ring is full, drops it now and returns its optimizer state, whose buffers
   * the caller may reuse for the new state; otherwise undefined.
   */
  spare(step: number): OptimizerState | undefined {
    const last = this.states[this.states.length - 1];
    if (this.states.length < this.capacity || last === undefined || last.step >= step) return undefined;
    return this.states.shift()!.optimizer;
  }

  /** The state before `step`, if still held. */
  get(step: number): StepState | undefined {
    return this.states.find((s) => s.step === step);
  }

  /** The oldest step a rollback can reach (undefined when empty). */
  get oldestStep(): number | undefined {
    return this.states[0]?.step;
  }

  /** States held. */
  get size(): number {
    return this.states.length;
  }
}
