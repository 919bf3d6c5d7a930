/**
 * The seam between "a result was received and validated" and "a result is aggregated".
 *
 * Every `result` message that passed validation (right run, step, task, worker, blocks,
 * sample counts, codec, gradient length) reaches `ResultGate.admit` before any of its blocks
 * counts. The gate decides whether the result is aggregated now or refused. The default,
 * `PASS_THROUGH_GATE`, admits everything, which is the behaviour of a closed deployment.
 *
 * Verification of untrusted volunteers plugs in here: e.g. a gate that admits results of
 * trusted workers, spot-checks a volunteer's blocks by recomputing them on trusted workers,
 * and refuses results that disagree. Pass it as `CoordinatorOptions.resultGate`. Holding a
 * result until a check completes (and releasing it later) needs a third verdict; the
 * aggregator's `submit` (in `aggregator.ts`) is the one place that would handle it.
 */
import type { Backend, TaskKind } from '@swarmgrad/protocol';

/** One validated block of a result: its place in the tree and its numbers. */
export interface ValidatedBlock {
  /** First micro-shard of the block. */
  start: number;
  /** Micro-shards in the block (a power of two). */
  count: number;
  lossSum: number;
  sampleCount: number;
  /** Correctly classified samples (eval; 0 for train). */
  correct: number;
  /** The block's gradient sum, decoded (train); null for eval. Do not modify. */
  grads: Float32Array | null;
}

/** A result that passed validation, as the gate sees it. */
export interface ValidatedResult {
  kind: TaskKind;
  step: number;
  taskId: string;
  workerId: string;
  /** Whether the worker joined with the lab token (or no token is configured). */
  trusted: boolean;
  backend: Backend;
  /** Coordinator clock when it arrived (ms). */
  receivedAt: number;
  blocks: readonly ValidatedBlock[];
}

/** The gate's answer. `reject`: the result is refused with `code` and `message` (a strike when `strike`), and its task's blocks are re-issued. */
export type ResultVerdict = { readonly action: 'accept' } | { readonly action: 'reject'; readonly code: string; readonly message: string; readonly strike: boolean };

/** Decides whether a validated result is aggregated. Must not throw; called synchronously. */
export interface ResultGate {
  admit(result: ValidatedResult): ResultVerdict;
}

/** The verdict that lets a result through. */
export const ACCEPT: ResultVerdict = Object.freeze({ action: 'accept' });

/** The default gate: every validated result is aggregated at once. */
export const PASS_THROUGH_GATE: ResultGate = Object.freeze({ admit: (): ResultVerdict => ACCEPT });
