/**
 * Learning-rate schedules: JSON-serialisable configs and one pure function,
 * {@link learningRateAt}, that maps a base learning rate and a 0-based step index to the
 * learning rate of that step. No tfjs; plain numbers.
 *
 * Every schedule may start with a linear warmup of `warmupSteps` steps. Step indices are
 * 0-based: step `t` is the `(t + 1)`-th optimizer step, i.e. the optimizer's `stepCount`
 * before the step is taken.
 */
import { NnError, NnErrorCode } from './errors.js';

/** Fields every schedule accepts. */
export interface ScheduleWarmup {
  /**
   * Length of the linear warmup, in steps (integer ≥ 0, default 0). For
   * `step < warmupSteps` the learning rate is `baseLr · (step + 1) / warmupSteps`, so the
   * first step already moves and step `warmupSteps − 1` reaches `baseLr`. The schedule
   * proper starts after the warmup: its own clock is `step − warmupSteps`.
   */
  warmupSteps?: number;
}

/** The learning rate stays at `baseLr` (after the optional warmup). */
export interface ConstantScheduleConfig extends ScheduleWarmup {
  /** Tag. */
  type: 'constant';
}

/**
 * Step decay, like PyTorch's `StepLR`: `lr = baseLr · gamma^⌊t / stepSize⌋` with
 * `t = step − warmupSteps`.
 */
export interface StepScheduleConfig extends ScheduleWarmup {
  /** Tag. */
  type: 'step';
  /** Steps between two decays (integer ≥ 1). */
  stepSize: number;
  /** Factor applied at each decay (finite, > 0; usually < 1, e.g. 0.1). */
  gamma: number;
}

/**
 * Cosine decay from `baseLr` to `minLr` over the steps after the warmup, like PyTorch's
 * `CosineAnnealingLR` (one half period, no restarts) and the usual "cosine with warmup":
 * `p = min(1, (step − warmupSteps) / (totalSteps − warmupSteps))`,
 * `lr = minLr + (baseLr − minLr) · (1 + cos(π·p)) / 2`. From `totalSteps` on, `lr = minLr`.
 */
export interface CosineScheduleConfig extends ScheduleWarmup {
  /** Tag. */
  type: 'cosine';
  /** Length of the whole run in steps, warmup included (integer > `warmupSteps`). */
  totalSteps: number;
  /** Final learning rate (finite, 0 ≤ minLr ≤ baseLr; default 0). */
  minLr?: number;
}

/** A learning-rate schedule, tagged by `type`. Plain JSON. */
export type ScheduleConfig = ConstantScheduleConfig | StepScheduleConfig | CosineScheduleConfig;

const SCHEDULE_FIELDS: Record<ScheduleConfig['type'], readonly string[]> = {
  constant: ['type', 'warmupSteps'],
  step: ['type', 'warmupSteps', 'stepSize', 'gamma'],
  cosine: ['type', 'warmupSteps', 'totalSteps', 'minLr'],
};

function badOptions(message: string): NnError {
  return new NnError(NnErrorCode.BAD_OPTIONS, message);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireInteger(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw badOptions(`schedule.${field} must be an integer ≥ ${min}; got ${String(value)}`);
  }
  return value;
}

/**
 * Checks a schedule config (which may come from JSON) and returns a normalised copy with
 * every default filled in (`warmupSteps: 0`, `minLr: 0`).
 *
 * @param schedule the config to check; `undefined` means `{ type: 'constant' }`.
 * @param baseLr when given, also checks that a cosine `minLr` does not exceed it.
 * @throws NnError `BAD_OPTIONS` naming the offending field.
 */
export function validateScheduleConfig(schedule: unknown, baseLr?: number): ScheduleConfig {
  if (schedule === undefined) return { type: 'constant', warmupSteps: 0 };
  if (!isPlainObject(schedule)) {
    throw badOptions(`schedule must be an object like { type: 'cosine', totalSteps: 1000 }; got ${String(schedule)}`);
  }
  const type = schedule['type'];
  if (type !== 'constant' && type !== 'step' && type !== 'cosine') {
    throw badOptions(`schedule.type must be 'constant', 'step' or 'cosine'; got ${JSON.stringify(type)}`);
  }
  for (const key of Object.keys(schedule)) {
    if (!SCHEDULE_FIELDS[type].includes(key)) {
      throw badOptions(`schedule.${key} is not an option of a '${type}' schedule; expected one of ${SCHEDULE_FIELDS[type].join(', ')}`);
    }
  }
  const warmupSteps = schedule['warmupSteps'] === undefined ? 0 : requireInteger(schedule['warmupSteps'], 'warmupSteps', 0);
  switch (type) {
    case 'constant':
      return { type, warmupSteps };
    case 'step': {
      const stepSize = requireInteger(schedule['stepSize'], 'stepSize', 1);
      const gamma = schedule['gamma'];
      if (typeof gamma !== 'number' || !Number.isFinite(gamma) || gamma <= 0) {
        throw badOptions(`schedule.gamma must be a finite number > 0; got ${String(gamma)}`);
      }
      return { type, stepSize, gamma, warmupSteps };
    }
    case 'cosine': {
      const totalSteps = requireInteger(schedule['totalSteps'], 'totalSteps', 1);
      if (totalSteps <= warmupSteps) {
        throw badOptions(`schedule.totalSteps (${totalSteps}) must be greater than schedule.warmupSteps (${warmupSteps})`);
      }
      const minLr = schedule['minLr'] === undefined ? 0 : schedule['minLr'];
      if (typeof minLr !== 'number' || !Number.isFinite(minLr) || minLr < 0) {
        throw badOptions(`schedule.minLr must be a finite number ≥ 0; got ${String(minLr)}`);
      }
      if (baseLr !== undefined && minLr > baseLr) {
        throw badOptions(`schedule.minLr (${minLr}) must not exceed the base learning rate (${baseLr})`);
      }
      return { type, totalSteps, minLr, warmupSteps };
    }
  }
}

/**
 * The learning rate of step `step` (0-based) under `schedule`, in float64.
 *
 * - warmup (`step < warmupSteps`): `baseLr · (step + 1) / warmupSteps`;
 * - then, with `t = step − warmupSteps`:
 *   - `constant`: `baseLr`;
 *   - `step`: `baseLr · gamma^⌊t / stepSize⌋`;
 *   - `cosine`: `minLr + (baseLr − minLr) · (1 + cos(π · min(1, t / (totalSteps − warmupSteps)))) / 2`.
 *
 * The result depends only on its arguments (`Math.cos` and `**` are the only non-IEEE
 * operations), so it is reproducible on one JavaScript engine.
 *
 * @param baseLr the optimizer's `lr` (finite, > 0).
 * @param schedule the schedule; `undefined` means constant.
 * @param step 0-based step index (integer ≥ 0).
 * @throws NnError `BAD_OPTIONS` for an invalid schedule or `baseLr`, `BAD_INPUT` for a bad `step`.
 * @example
 * learningRateAt(0.1, { type: 'step', stepSize: 30, gamma: 0.1 }, 30); // 0.010000000000000002
 * learningRateAt(0.1, { type: 'cosine', totalSteps: 100, warmupSteps: 10 }, 0); // 0.01
 */
export function learningRateAt(baseLr: number, schedule: ScheduleConfig | undefined, step: number): number {
  if (typeof baseLr !== 'number' || !Number.isFinite(baseLr) || baseLr <= 0) {
    throw badOptions(`lr must be a finite number > 0; got ${String(baseLr)}`);
  }
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
    throw new NnError(NnErrorCode.BAD_INPUT, `step must be an integer ≥ 0; got ${String(step)}`);
  }
  const config = validateScheduleConfig(schedule, baseLr);
  const warmupSteps = config.warmupSteps ?? 0;
  if (step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps;
  const t = step - warmupSteps;
  switch (config.type) {
    case 'constant':
      return baseLr;
    case 'step':
      return baseLr * config.gamma ** Math.floor(t / config.stepSize);
    case 'cosine': {
      const minLr = config.minLr ?? 0;
      const progress = Math.min(1, t / (config.totalSteps - warmupSteps));
      return minLr + ((baseLr - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
    }
  }
}
