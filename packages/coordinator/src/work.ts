/**
 * The state of one phase of work (a training step or an evaluation) that the scheduler and
 * the aggregator share: the units (aligned shard blocks) it was cut into, the tasks that
 * hold them, and the results accepted so far. Plain records; the collaborators that own
 * each field say so below.
 */
import type { Backend, TaskKind } from '@swarmgrad/protocol';
import type { TreeValue } from '@swarmgrad/nn/core';
import type { WorkUnit } from './scheduler.js';

/** A block of one phase, as the scheduler hands it out. */
export interface Unit extends WorkUnit {
  start: number;
  count: number;
  /** Times the unit was handed out. */
  issues: number;
}

/** One `task` message sent to one worker (scheduler-owned; the aggregator marks what it answered). */
export interface TaskRecord {
  id: string;
  workerId: string;
  connId: string;
  units: Unit[];
  /** Starts of units nobody has delivered yet. */
  missing: Set<number>;
  /** Starts of units this task's own results delivered (accepted or duplicate). */
  answered: Set<number>;
  samples: number;
  sentAt: number;
  deadlineAt: number;
  /** False once expired, failed or its connection closed: its units no longer count as held. Its results are still accepted if first. */
  live: boolean;
  completed: boolean;
  reissue: boolean;
  computeMs: number;
}

/** The first result delivered for a unit (aggregator-owned). */
export interface Accepted {
  unit: Unit;
  task: TaskRecord;
  backend: Backend;
  receivedAt: number;
  value: TreeValue | null;
  correct: number;
}

/** One training step or evaluation in flight. */
export interface Phase {
  kind: TaskKind;
  step: number;
  epoch: number;
  shardCount: number;
  shardSize: number;
  units: Unit[];
  unitByStart: Map<number, Unit>;
  /** Aggregator: unit start → its first accepted result. */
  accepted: Map<number, Accepted>;
  /** Scheduler: unit start → live tasks that hold it. */
  holders: Map<number, Set<TaskRecord>>;
  /** Scheduler: starts of units waiting for a worker. */
  pending: Set<number>;
  /** Scheduler: every task of the phase, by id. */
  tasks: Map<string, TaskRecord>;
  startedAt: number;
  shardsReissued: number;
  /** Train: the step's batch. Eval: unused (samples 0..N-1 in order). */
  indices: Uint32Array;
  params: Float32Array;
}

/** What a new phase needs besides its units. */
export interface PhaseInit {
  kind: TaskKind;
  step: number;
  epoch: number;
  shardCount: number;
  shardSize: number;
  indices: Uint32Array;
  params: Float32Array;
  startedAt: number;
}

/** A phase with no task sent and nothing accepted yet. */
export function createPhase(init: PhaseInit, units: Unit[]): Phase {
  return {
    ...init,
    units,
    unitByStart: new Map(units.map((u) => [u.start, u])),
    accepted: new Map(),
    holders: new Map(),
    pending: new Set(),
    tasks: new Map(),
    shardsReissued: 0,
  };
}

/** A unit of `count` shards of `shardSize` samples starting at shard `start`, never handed out yet. */
export function makeUnit(start: number, count: number, samples: number): Unit {
  return { block: { start, count }, start, count, samples, issues: 0 };
}

/** JSON-safe copy: non-finite numbers become null, undefined fields are dropped. */
export function jsonSafe(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) if (item !== undefined) out[key] = jsonSafe(item);
    return out;
  }
  return value;
}

/** The message of an error (or its string form). */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
