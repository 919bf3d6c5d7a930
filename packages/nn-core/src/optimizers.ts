/**
 * Optimizers on plain `Float32Array`s — no tfjs, so the coordinator can step a model
 * without loading a backend. The update formulas are PyTorch's (`torch.optim.SGD`,
 * `torch.optim.Adam`, `torch.optim.AdamW`); every elementary operation is rounded to
 * float32 (`Math.fround`) in a fixed order, so a run is bitwise reproducible and its
 * results are those of a float32 implementation that performs the same operations in the
 * same order without fused multiply-adds.
 */
import { NnError, NnErrorCode } from './errors.js';
import { learningRateAt, validateScheduleConfig, type ScheduleConfig } from './schedules.js';
import { createAdamSimd, type AdamScalars, type AdamSimd } from './adam-simd.js';

let useSimd = true;

/**
 * Whether optimizers created afterwards run Adam's update in WebAssembly SIMD (the default,
 * where it can run) or in the JavaScript loop; both give the same bits. For comparisons and tests.
 */
export function setAdamSimd(on: boolean): void {
  useSimd = on;
}

/** Fields shared by every optimizer config. */
export interface OptimizerConfigBase {
  /** Base learning rate (finite, > 0). A `schedule` scales it per step. */
  lr: number;
  /**
   * Weight decay coefficient (finite, ≥ 0, default 0). For `sgd`, `momentum` and `adam`
   * it is L2 regularisation added to the gradient (`g ← g + weightDecay·p`, as PyTorch's
   * `weight_decay`); for `adam` with `decoupledWeightDecay` it is AdamW's decoupled decay.
   */
  weightDecay?: number;
  /**
   * Learning-rate schedule used when `step` is called without an explicit `lr`
   * (default: constant `lr`).
   */
  schedule?: ScheduleConfig;
}

/** Plain stochastic gradient descent: `p ← p − lr·(g + wd·p)`. */
export interface SgdOptimizerConfig extends OptimizerConfigBase {
  /** Tag. */
  type: 'sgd';
}

/**
 * SGD with (heavy-ball or Nesterov) momentum, PyTorch's `torch.optim.SGD` with
 * `dampening = 0`: `g ← g + wd·p`, `v ← μ·v + g`, then `p ← p − lr·v`, or with Nesterov
 * `p ← p − lr·(g + μ·v)`. The buffer starts at zero, so the first step has `v = g`
 * exactly as PyTorch's `momentum_buffer = clone(g)`.
 */
export interface MomentumOptimizerConfig extends OptimizerConfigBase {
  /** Tag. */
  type: 'momentum';
  /** Momentum factor μ (finite, 0 ≤ μ < 1, default 0.9). */
  momentum?: number;
  /** Use Nesterov momentum (default false). */
  nesterov?: boolean;
}

/**
 * Adam with bias correction (PyTorch's `torch.optim.Adam`), or AdamW with
 * `decoupledWeightDecay`. With `t` the 1-based step number:
 * `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
 * `p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)`.
 * L2 weight decay adds `wd·p` to `g` first; decoupled (AdamW) decay multiplies
 * `p ← p·(1 − lr·wd)` first and leaves `g` alone.
 */
export interface AdamOptimizerConfig extends OptimizerConfigBase {
  /** Tag. */
  type: 'adam';
  /** Decay of the first-moment average β1 (finite, 0 ≤ β1 < 1, default 0.9). */
  beta1?: number;
  /** Decay of the second-moment average β2 (finite, 0 ≤ β2 < 1, default 0.999). */
  beta2?: number;
  /** ε added to the denominator (finite, > 0, default 1e-8). */
  epsilon?: number;
  /**
   * Decoupled weight decay, i.e. AdamW (default false). Note that PyTorch's `AdamW`
   * defaults `weight_decay` to 0.01; here `weightDecay` always defaults to 0.
   */
  decoupledWeightDecay?: boolean;
}

/** An optimizer config, tagged by `type`. Plain JSON: it travels in run configs and checkpoints. */
export type OptimizerConfig = SgdOptimizerConfig | MomentumOptimizerConfig | AdamOptimizerConfig;

/**
 * An optimizer's state for a checkpoint. Buffer names: `sgd` has none, `momentum` has
 * `momentumBuffer`, `adam` has `expAvg` (m) and `expAvgSq` (v); each buffer has one value
 * per parameter, in the flat parameter layout.
 */
export interface OptimizerState {
  /** The optimizer type the state belongs to. */
  type: OptimizerConfig['type'];
  /** Steps taken so far (integer ≥ 0); Adam's bias correction uses it. */
  stepCount: number;
  /** The state buffers, by name. */
  buffers: Record<string, Float32Array>;
}

/** An optimizer bound to one flat parameter vector of a fixed length. */
export interface Optimizer {
  /** The config with every default filled in; frozen. */
  readonly config: Readonly<OptimizerConfig>;
  /** Length of the parameter vectors this optimizer steps. */
  readonly parameterCount: number;
  /** Steps taken so far (0 before the first `step`). */
  readonly stepCount: number;
  /**
   * Takes one step: updates `params` in place from the (already averaged) gradient `grad`
   * and advances `stepCount`. Does not check values for finiteness (the coordinator
   * validates gradients before they get here).
   *
   * @param params the parameters, length `parameterCount`; updated in place.
   * @param grad the gradient, length `parameterCount`; not modified.
   * @param lr explicit learning rate for this step (finite, ≥ 0); default: the schedule's
   *   value for this step, see {@link Optimizer.learningRate}.
   * @returns the learning rate used.
   * @throws NnError `BAD_INPUT` if `params` or `grad` is not a `Float32Array` of length
   *   `parameterCount`; `BAD_OPTIONS` for an invalid `lr`.
   */
  step(params: Float32Array, grad: Float32Array, lr?: number): number;
  /** The learning rate the next `step` uses when called without `lr`. */
  learningRate(): number;
  /**
   * A copy of the state (buffers are copied, later steps do not change it). With `into` (a
   * state of this optimizer's type and size that the caller no longer needs) the buffers are
   * copied into its arrays and `into` is returned, so that a ring of states allocates nothing.
   */
  state(into?: OptimizerState): OptimizerState;
  /**
   * The first non-finite value in the optimizer's buffers, as `expAvgSq[12] = Infinity`, or
   * null when all are finite; reads the buffers in place (no copy, unlike `state()`).
   */
  firstNonFinite(): string | null;
  /**
   * Replaces the state with a copy of `state`, e.g. from a checkpoint.
   * @throws NnError `BAD_INPUT` if the type, step count, buffer names or lengths do not fit.
   */
  loadState(state: OptimizerState): void;
}

const DEFAULT_MOMENTUM = 0.9;
const DEFAULT_BETA1 = 0.9;
const DEFAULT_BETA2 = 0.999;
const DEFAULT_EPSILON = 1e-8;

const CONFIG_FIELDS: Record<OptimizerConfig['type'], readonly string[]> = {
  sgd: ['type', 'lr', 'weightDecay', 'schedule'],
  momentum: ['type', 'lr', 'weightDecay', 'schedule', 'momentum', 'nesterov'],
  adam: ['type', 'lr', 'weightDecay', 'schedule', 'beta1', 'beta2', 'epsilon', 'decoupledWeightDecay'],
};

const BUFFER_NAMES: Record<OptimizerConfig['type'], readonly string[]> = {
  sgd: [],
  momentum: ['momentumBuffer'],
  adam: ['expAvg', 'expAvgSq'],
};

function badOptions(message: string): NnError {
  return new NnError(NnErrorCode.BAD_OPTIONS, message);
}

function badInput(message: string): NnError {
  return new NnError(NnErrorCode.BAD_INPUT, message);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads an optional number field, checking `min ≤ x` (or `<` when `minExclusive`) and `x < maxExclusive`. */
function numberField(
  config: Record<string, unknown>,
  field: string,
  fallback: number | undefined,
  bounds: { min: number; minExclusive?: boolean; maxExclusive?: number },
): number {
  const value = config[field] === undefined ? fallback : config[field];
  const low = bounds.minExclusive === true ? `> ${bounds.min}` : `≥ ${bounds.min}`;
  const range = bounds.maxExclusive === undefined ? low : `${low} and < ${bounds.maxExclusive}`;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (bounds.minExclusive === true ? value <= bounds.min : value < bounds.min) ||
    (bounds.maxExclusive !== undefined && value >= bounds.maxExclusive)
  ) {
    throw badOptions(`optimizer ${field} must be a finite number ${range}; got ${String(value)}`);
  }
  return value;
}

function booleanField(config: Record<string, unknown>, field: string): boolean {
  const value = config[field] ?? false;
  if (typeof value !== 'boolean') throw badOptions(`optimizer ${field} must be a boolean; got ${String(value)}`);
  return value;
}

/**
 * Checks an optimizer config (which may come from JSON) and returns a normalised copy
 * with every default filled in.
 * @throws NnError `BAD_OPTIONS` naming the offending field.
 */
export function validateOptimizerConfig(config: unknown): OptimizerConfig {
  if (!isPlainObject(config)) {
    throw badOptions(`optimizer config must be an object like { type: 'adam', lr: 0.001 }; got ${String(config)}`);
  }
  const type = config['type'];
  if (type !== 'sgd' && type !== 'momentum' && type !== 'adam') {
    throw badOptions(`optimizer type must be 'sgd', 'momentum' or 'adam'; got ${JSON.stringify(type)}`);
  }
  for (const key of Object.keys(config)) {
    if (!CONFIG_FIELDS[type].includes(key)) {
      throw badOptions(`optimizer ${key} is not an option of '${type}'; expected one of ${CONFIG_FIELDS[type].join(', ')}`);
    }
  }
  const lr = numberField(config, 'lr', undefined, { min: 0, minExclusive: true });
  const weightDecay = numberField(config, 'weightDecay', 0, { min: 0 });
  const schedule = config['schedule'] === undefined ? undefined : validateScheduleConfig(config['schedule'], lr);
  const withSchedule = schedule === undefined ? {} : { schedule };
  switch (type) {
    case 'sgd':
      return { type, lr, weightDecay, ...withSchedule };
    case 'momentum':
      return {
        type,
        lr,
        momentum: numberField(config, 'momentum', DEFAULT_MOMENTUM, { min: 0, maxExclusive: 1 }),
        nesterov: booleanField(config, 'nesterov'),
        weightDecay,
        ...withSchedule,
      };
    case 'adam':
      return {
        type,
        lr,
        beta1: numberField(config, 'beta1', DEFAULT_BETA1, { min: 0, maxExclusive: 1 }),
        beta2: numberField(config, 'beta2', DEFAULT_BETA2, { min: 0, maxExclusive: 1 }),
        epsilon: numberField(config, 'epsilon', DEFAULT_EPSILON, { min: 0, minExclusive: true }),
        weightDecay,
        decoupledWeightDecay: booleanField(config, 'decoupledWeightDecay'),
        ...withSchedule,
      };
  }
}

/**
 * Creates an optimizer for a flat parameter vector of `parameterCount` values. All state
 * buffers start at zero.
 *
 * @param config the optimizer config (validated; defaults filled in).
 * @param parameterCount length of the parameter and gradient vectors (integer ≥ 0).
 * @throws NnError `BAD_OPTIONS` for an invalid config or count.
 * @example
 * const opt = createOptimizer({ type: 'adam', lr: 1e-3, schedule: { type: 'cosine', totalSteps: 1000, warmupSteps: 50 } }, params.length);
 * opt.step(params, averagedGradient); // params updated in place
 * const checkpoint = opt.state();
 */
export function createOptimizer(config: OptimizerConfig, parameterCount: number): Optimizer {
  const normalised = validateOptimizerConfig(config);
  if (typeof parameterCount !== 'number' || !Number.isSafeInteger(parameterCount) || parameterCount < 0) {
    throw badOptions(`parameterCount must be an integer ≥ 0; got ${String(parameterCount)}`);
  }
  if (normalised.schedule !== undefined) Object.freeze(normalised.schedule);
  return new FlatOptimizer(Object.freeze(normalised), parameterCount);
}

class FlatOptimizer implements Optimizer {
  private steps = 0;
  private readonly buffers: Record<string, Float32Array> = {};
  /** Adam in WebAssembly SIMD (the same bits, ~14× faster on LeNet-5), holding the moment buffers; null where it cannot run. */
  private readonly simd: AdamSimd | null;

  constructor(
    readonly config: Readonly<OptimizerConfig>,
    readonly parameterCount: number,
  ) {
    this.simd = config.type === 'adam' && useSimd ? createAdamSimd(parameterCount) : null;
    if (this.simd !== null) {
      this.buffers['expAvg'] = this.simd.expAvg;
      this.buffers['expAvgSq'] = this.simd.expAvgSq;
    } else {
      for (const name of BUFFER_NAMES[config.type]) this.buffers[name] = new Float32Array(parameterCount);
    }
  }

  get stepCount(): number {
    return this.steps;
  }

  learningRate(): number {
    return learningRateAt(this.config.lr, this.config.schedule, this.steps);
  }

  step(params: Float32Array, grad: Float32Array, lr?: number): number {
    this.checkVector(params, 'params');
    this.checkVector(grad, 'grad');
    if (lr !== undefined && (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0)) {
      throw badOptions(`lr passed to step must be a finite number ≥ 0; got ${String(lr)}`);
    }
    const stepLr = lr ?? this.learningRate();
    const config = this.config;
    switch (config.type) {
      case 'sgd':
        sgdUpdate(params, grad, stepLr, config.weightDecay ?? 0);
        break;
      case 'momentum':
        momentumUpdate(
          params,
          grad,
          this.buffer('momentumBuffer'),
          stepLr,
          config.momentum ?? DEFAULT_MOMENTUM,
          config.nesterov ?? false,
          config.weightDecay ?? 0,
        );
        break;
      case 'adam': {
        const scalars = adamScalars(stepLr, this.steps + 1, config);
        if (this.simd !== null) {
          this.simd.params.set(params);
          this.simd.grad.set(grad);
          this.simd.update(scalars);
          params.set(this.simd.params);
        } else {
          adamUpdate(params, grad, this.buffer('expAvg'), this.buffer('expAvgSq'), scalars);
        }
        break;
      }
    }
    this.steps++;
    return stepLr;
  }

  state(into?: OptimizerState): OptimizerState {
    const names = BUFFER_NAMES[this.config.type];
    if (into !== undefined && into.type === this.config.type && names.every((name) => into.buffers[name]?.length === this.parameterCount)) {
      for (const name of names) into.buffers[name]!.set(this.buffer(name));
      into.stepCount = this.steps;
      return into;
    }
    const buffers: Record<string, Float32Array> = {};
    for (const name of names) buffers[name] = this.buffer(name).slice();
    return { type: this.config.type, stepCount: this.steps, buffers };
  }

  firstNonFinite(): string | null {
    for (const name of BUFFER_NAMES[this.config.type]) {
      const values = this.buffer(name);
      // v · 0 is 0 for finite v and NaN otherwise; a NaN poisons the sum. No branch per value.
      let poison = 0;
      for (let i = 0; i < values.length; i++) poison += values[i]! * 0;
      if (poison === 0) continue;
      for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return `${name}[${i}] = ${values[i]}`;
    }
    return null;
  }

  loadState(state: OptimizerState): void {
    const type = this.config.type;
    if (!isPlainObject(state)) throw badInput(`optimizer state must be an object { type, stepCount, buffers }; got ${String(state)}`);
    if (state.type !== type) {
      throw badInput(`optimizer state is for type ${JSON.stringify(state.type)}; this optimizer is '${type}'`);
    }
    const { stepCount, buffers } = state;
    if (typeof stepCount !== 'number' || !Number.isSafeInteger(stepCount) || stepCount < 0) {
      throw badInput(`optimizer state stepCount must be an integer ≥ 0; got ${String(stepCount)}`);
    }
    if (!isPlainObject(buffers)) throw badInput(`optimizer state buffers must be an object; got ${String(buffers)}`);
    const expected = BUFFER_NAMES[type];
    for (const name of Object.keys(buffers)) {
      if (!expected.includes(name)) {
        throw badInput(`optimizer state has an unknown buffer '${name}'; '${type}' has ${expected.length === 0 ? 'no buffers' : expected.join(', ')}`);
      }
    }
    for (const name of expected) {
      const buffer: unknown = buffers[name];
      if (!(buffer instanceof Float32Array)) throw badInput(`optimizer state buffer '${name}' must be a Float32Array; got ${describe(buffer)}`);
      if (buffer.length !== this.parameterCount) {
        throw badInput(`optimizer state buffer '${name}' has ${buffer.length} values; this optimizer has ${this.parameterCount} parameters`);
      }
    }
    // Validated everything first, so a bad state leaves the optimizer untouched.
    for (const name of expected) this.buffer(name).set(buffers[name]!);
    this.steps = stepCount;
  }

  private buffer(name: string): Float32Array {
    const buffer = this.buffers[name];
    if (buffer === undefined) throw new Error(`internal: no buffer ${name}`);
    return buffer;
  }

  private checkVector(vector: unknown, name: string): void {
    if (!(vector instanceof Float32Array)) throw badInput(`${name} must be a Float32Array; got ${describe(vector)}`);
    if (vector.length !== this.parameterCount) {
      throw badInput(`${name} has ${vector.length} values; the optimizer has ${this.parameterCount} parameters`);
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

/** `base^exponent` for an integer exponent by repeated squaring: IEEE operations only, so the same on every engine. */
function powInt(base: number, exponent: number): number {
  let result = 1;
  let factor = base;
  let remaining = exponent;
  while (remaining > 0) {
    if (remaining % 2 === 1) result *= factor;
    factor *= factor;
    remaining = Math.floor(remaining / 2);
  }
  return result;
}

function sgdUpdate(params: Float32Array, grad: Float32Array, lr: number, weightDecay: number): void {
  const lr32 = Math.fround(lr);
  const wd = Math.fround(weightDecay);
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    let g = grad[i]!;
    if (wd !== 0) g = Math.fround(g + Math.fround(wd * p));
    params[i] = p - Math.fround(lr32 * g); // the Float32Array store rounds like Math.fround
  }
}

function momentumUpdate(
  params: Float32Array,
  grad: Float32Array,
  velocity: Float32Array,
  lr: number,
  momentum: number,
  nesterov: boolean,
  weightDecay: number,
): void {
  const lr32 = Math.fround(lr);
  const mu = Math.fround(momentum);
  const wd = Math.fround(weightDecay);
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    let g = grad[i]!;
    if (wd !== 0) g = Math.fround(g + Math.fround(wd * p));
    const v = Math.fround(Math.fround(mu * velocity[i]!) + g);
    velocity[i] = v;
    const direction = nesterov ? Math.fround(g + Math.fround(mu * v)) : v;
    params[i] = p - Math.fround(lr32 * direction);
  }
}

/** Adam's scalars for one step, computed in float64 (as PyTorch does in Python) and rounded to float32 once. */
function adamScalars(lr: number, stepNumber: number, config: Readonly<AdamOptimizerConfig>): AdamScalars {
  const beta1 = config.beta1 ?? DEFAULT_BETA1;
  const beta2 = config.beta2 ?? DEFAULT_BETA2;
  const weightDecay = config.weightDecay ?? 0;
  const decoupled = config.decoupledWeightDecay ?? false;
  const mode = weightDecay === 0 ? 'none' : decoupled ? 'decoupled' : 'l2';
  return {
    b1: Math.fround(beta1),
    oneMinusB1: Math.fround(1 - beta1),
    b2: Math.fround(beta2),
    oneMinusB2: Math.fround(1 - beta2),
    biasCorrection2Sqrt: Math.fround(Math.sqrt(1 - powInt(beta2, stepNumber))),
    eps: Math.fround(config.epsilon ?? DEFAULT_EPSILON),
    stepSize: Math.fround(lr / (1 - powInt(beta1, stepNumber))),
    k: mode === 'decoupled' ? Math.fround(1 - lr * weightDecay) : Math.fround(weightDecay),
    mode,
  };
}

/** The JavaScript form of the update (where WebAssembly SIMD is missing); `adam-simd.ts` computes the same bits. */
function adamUpdate(params: Float32Array, grad: Float32Array, expAvg: Float32Array, expAvgSq: Float32Array, s: AdamScalars): void {
  const { b1, oneMinusB1, b2, oneMinusB2, biasCorrection2Sqrt, eps, stepSize } = s;
  const decay = s.mode === 'decoupled';
  const l2 = s.mode === 'l2';
  const k = s.k; // decoupled: the decay factor 1 − lr·wd; l2: wd
  for (let i = 0; i < params.length; i++) {
    let p = params[i]!;
    let g = grad[i]!;
    if (decay) p = Math.fround(p * k);
    else if (l2) g = Math.fround(g + Math.fround(k * p));
    const m = Math.fround(Math.fround(b1 * expAvg[i]!) + Math.fround(oneMinusB1 * g));
    const v = Math.fround(Math.fround(b2 * expAvgSq[i]!) + Math.fround(oneMinusB2 * Math.fround(g * g)));
    expAvg[i] = m;
    expAvgSq[i] = v;
    // Math.sqrt of a float32 value, rounded to float32, is the correctly rounded float32 sqrt.
    const denom = Math.fround(Math.fround(Math.fround(Math.sqrt(v)) / biasCorrection2Sqrt) + eps);
    params[i] = p - Math.fround(stepSize * Math.fround(m / denom));
  }
}
