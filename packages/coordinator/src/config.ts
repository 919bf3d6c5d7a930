/**
 * The run config (what is trained, how, for how long) and the engine's options, with
 * their validation. Everything that determines the parameter trajectory lives in
 * `RunConfig`; everything else (tokens, timeouts, limits) is an engine option.
 */
import type { JsonValue, RunConfig as WireRunConfig, WireLimits } from '@swarmgrad/protocol';
import { DEFAULT_DECODE_LIMITS, GRADIENT_CODECS, frameBytesFor } from '@swarmgrad/protocol';
import { planModel, validateOptimizerConfig, type ModelPlan, type ModelSpec, type OptimizerConfig } from '@swarmgrad/nn-core';
import type { Dataset } from '@swarmgrad/data';
import { CoordinatorError, CoordinatorErrorCode } from './errors.js';

/**
 * What a run trains and how: `@swarmgrad/protocol`'s `RunConfig` (it travels in snapshots
 * and checkpoints) with the model spec and optimizer config typed by `@swarmgrad/nn`.
 */
export type RunConfig = WireRunConfig<ModelSpec, OptimizerConfig>;

/** Fields of a `RunConfig` that determine the parameter trajectory; a resumed checkpoint must agree on all of them. */
export const TRAJECTORY_FIELDS = ['runId', 'modelSpec', 'dataset', 'batchSize', 'microShardSize', 'optimizer', 'seed', 'codec'] as const;

const RUN_CONFIG_FIELDS = [
  'runId',
  'modelSpec',
  'dataset',
  'batchSize',
  'microShardSize',
  'optimizer',
  'seed',
  'totalSteps',
  'evalEvery',
  'evalSamples',
  'evalShardSize',
  'checkpointEvery',
  'codec',
] as const;

function badConfig(message: string, cause?: unknown): CoordinatorError {
  return new CoordinatorError(CoordinatorErrorCode.BAD_CONFIG, message, cause === undefined ? undefined : { cause });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function integer(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw badConfig(`${field} must be an integer ${range}; got ${describe(value)}`);
  }
  return value;
}

function positiveNumber(value: unknown, field: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= min) {
    throw badConfig(`${field} must be a finite number > ${min}; got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/** Whether `value` is JSON (finite numbers only), at most 64 levels deep. */
export function isJson(value: unknown, depth = 0): value is JsonValue {
  if (depth > 64) return false;
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((item) => isJson(item, depth + 1));
  if (isPlainObject(value)) return Object.values(value).every((item) => item === undefined || isJson(item, depth + 1));
  return false;
}

/** A `RunConfig` with defaults filled in, plus what follows from it. */
export interface ResolvedRun {
  /** The config with `evalEvery`, `checkpointEvery`, `evalShardSize` and `codec` filled in; frozen. */
  config: Readonly<RunConfig> & Required<Pick<RunConfig, 'evalEvery' | 'checkpointEvery' | 'codec' | 'evalShardSize'>>;
  /** The validated model plan. */
  plan: ModelPlan;
  /** Micro-shards per step, M = B / m. */
  shardCount: number;
  /** Test samples evaluated (0 without test data). */
  evalSamples: number;
  /** Floats per sample (product of the model's input shape). */
  inputSize: number;
}

/**
 * Validates a run config against the datasets it will use and fills in defaults.
 * @throws CoordinatorError `BAD_CONFIG` naming the field and what was expected.
 */
export function resolveRunConfig(run: RunConfig, trainData: Dataset, testData: Dataset | undefined): ResolvedRun {
  if (!isPlainObject(run)) throw badConfig(`run must be an object (a RunConfig); got ${describe(run)}`);
  for (const key of Object.keys(run)) {
    if (!(RUN_CONFIG_FIELDS as readonly string[]).includes(key)) {
      throw badConfig(`run.${key} is not a RunConfig field; expected one of ${RUN_CONFIG_FIELDS.join(', ')}`);
    }
  }
  if (typeof run.runId !== 'string' || run.runId.length === 0 || run.runId.length > 256) {
    throw badConfig(`run.runId must be a string of 1 to 256 characters; got ${describe(run.runId)}`);
  }
  if (!isJson(run.modelSpec) || !isPlainObject(run.modelSpec)) throw badConfig('run.modelSpec must be a JSON object (an @swarmgrad/nn ModelSpec)');
  let plan: ModelPlan;
  try {
    plan = planModel(run.modelSpec);
  } catch (error) {
    throw badConfig(`run.modelSpec is not a valid model: ${error instanceof Error ? error.message : String(error)}`, error);
  }
  if (!isPlainObject(run.dataset) || typeof run.dataset.name !== 'string' || run.dataset.name.length === 0 || !isJson(run.dataset)) {
    throw badConfig(`run.dataset must be a JSON object with a non-empty name, e.g. { name: 'mnist' }; got ${describe(run.dataset)}`);
  }
  const batchSize = integer(run.batchSize, 'run.batchSize', 1);
  const microShardSize = integer(run.microShardSize, 'run.microShardSize', 1);
  if (batchSize % microShardSize !== 0) {
    throw badConfig(`run.batchSize ${batchSize} is not a multiple of run.microShardSize ${microShardSize}; expected batchSize = k · microShardSize`);
  }
  try {
    validateOptimizerConfig(run.optimizer);
  } catch (error) {
    throw badConfig(`run.optimizer: ${error instanceof Error ? error.message : String(error)}`, error);
  }
  integer(run.seed, 'run.seed', 0, 0xffffffff);
  integer(run.totalSteps, 'run.totalSteps', 0);
  const evalEvery = integer(run.evalEvery ?? 0, 'run.evalEvery', 0);
  const checkpointEvery = integer(run.checkpointEvery ?? 0, 'run.checkpointEvery', 0);
  const evalShardSize = integer(run.evalShardSize ?? microShardSize, 'run.evalShardSize', 1);
  const codec = run.codec ?? 'f32';
  if (!(GRADIENT_CODECS as readonly string[]).includes(codec)) {
    throw badConfig(`run.codec must be one of ${GRADIENT_CODECS.join(', ')}; got ${describe(codec)}`);
  }

  checkDataset(trainData, 'trainData', plan);
  if (batchSize > trainData.length) {
    throw badConfig(`run.batchSize ${batchSize} is larger than the training set (${trainData.name}, ${trainData.length} samples)`);
  }
  let evalSamples = 0;
  if (testData !== undefined) {
    checkDataset(testData, 'testData', plan);
    evalSamples = integer(run.evalSamples ?? testData.length, 'run.evalSamples', 1, testData.length);
  } else if (run.evalSamples !== undefined) {
    integer(run.evalSamples, 'run.evalSamples', 1);
  }
  const config = Object.freeze({ ...run, evalEvery, checkpointEvery, evalShardSize, codec });
  return {
    config,
    plan,
    shardCount: batchSize / microShardSize,
    evalSamples,
    inputSize: plan.inputShape.reduce((a, b) => a * b, 1),
  };
}

function checkDataset(data: Dataset, name: string, plan: ModelPlan): void {
  if (typeof data !== 'object' || data === null) throw badConfig(`${name} must be a Dataset`);
  if (typeof data.batch !== 'function' || !Number.isSafeInteger(data.length) || data.length < 1) {
    throw badConfig(`${name} must be a non-empty Dataset (length ≥ 1 and a batch(indices) method)`);
  }
  const inputSize = plan.inputShape.reduce((a, b) => a * b, 1);
  const sampleSize = data.sampleShape.reduce((a, b) => a * b, 1);
  if (inputSize !== sampleSize) {
    throw badConfig(
      `${name} ${data.name} has samples of shape [${data.sampleShape.join(', ')}] (${sampleSize} values); model ${plan.name} expects input [${plan.inputShape.join(', ')}] (${inputSize} values)`,
    );
  }
  if (plan.loss === 'softmaxCrossEntropy') {
    const outputs = plan.outputShape.reduce((a, b) => a * b, 1);
    if (outputs < data.numClasses) {
      throw badConfig(`${name} ${data.name} has ${data.numClasses} classes; model ${plan.name} has only ${outputs} outputs`);
    }
  }
}

/** Limits the coordinator enforces on what it receives (announced to workers in `welcome`). */
export interface CoordinatorLimits extends WireLimits {}

/** Engine options with defaults filled in (see `CoordinatorOptions` for their meaning). */
export interface ResolvedEngineOptions {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  minDeadlineMs: number;
  deadlineFactor: number;
  maxStrikes: number;
  allowVolunteers: boolean;
  /** Send workers that can apply it the `xor-deflate` delta of their last params instead of the full vector. */
  paramsDelta: boolean;
  limits: CoordinatorLimits;
}

/** Default engine options. */
export const ENGINE_DEFAULTS = Object.freeze({
  heartbeatIntervalMs: 5_000,
  /** Default heartbeat timeout: 3 × the interval. */
  heartbeatTimeoutFactor: 3,
  minDeadlineMs: 5_000,
  deadlineFactor: 3,
  maxStrikes: 3,
  allowVolunteers: true,
  /** Off: encoding costs the coordinator CPU once per step (~18 ms for LeNet-5), worth it only on slow or many links. */
  paramsDelta: false,
  maxShardsPerTask: DEFAULT_DECODE_LIMITS.maxShardsPerTask,
  /** Floor of `maxFrameBytes`; raised to fit one gradient of a large model. */
  maxFrameBytes: DEFAULT_DECODE_LIMITS.maxFrameBytes,
});

/** The engine options that `resolveEngineOptions` reads. */
export interface EngineOptionsInput {
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  minDeadlineMs?: number;
  deadlineFactor?: number;
  maxStrikes?: number;
  allowVolunteers?: boolean;
  /**
   * Send a worker that lists `xor-deflate` in `capabilities.paramsEncodings` the lossless delta
   * from the params it holds to the next step's, instead of the full vector (default false:
   * the encoding costs the coordinator CPU once per step; it pays off for volunteers on slow
   * links or many remote workers).
   */
  paramsDelta?: boolean;
  limits?: Partial<CoordinatorLimits>;
}

/**
 * Spreads options over `ENGINE_DEFAULTS` and checks them.
 * @throws CoordinatorError `BAD_CONFIG`
 */
export function resolveEngineOptions(options: EngineOptionsInput, parameterCount: number): ResolvedEngineOptions {
  const heartbeatIntervalMs = integer(options.heartbeatIntervalMs ?? ENGINE_DEFAULTS.heartbeatIntervalMs, 'heartbeatIntervalMs', 1);
  const heartbeatTimeoutMs = integer(
    options.heartbeatTimeoutMs ?? ENGINE_DEFAULTS.heartbeatTimeoutFactor * heartbeatIntervalMs,
    'heartbeatTimeoutMs',
    1,
  );
  if (heartbeatTimeoutMs <= heartbeatIntervalMs) {
    throw badConfig(`heartbeatTimeoutMs (${heartbeatTimeoutMs}) must be larger than heartbeatIntervalMs (${heartbeatIntervalMs})`);
  }
  const minDeadlineMs = integer(options.minDeadlineMs ?? ENGINE_DEFAULTS.minDeadlineMs, 'minDeadlineMs', 1);
  const deadlineFactor = positiveNumber(options.deadlineFactor ?? ENGINE_DEFAULTS.deadlineFactor, 'deadlineFactor');
  if (deadlineFactor < 1) throw badConfig(`deadlineFactor must be ≥ 1 (a multiple of the expected duration); got ${deadlineFactor}`);
  const maxStrikes = integer(options.maxStrikes ?? ENGINE_DEFAULTS.maxStrikes, 'maxStrikes', 1);
  const allowVolunteers = options.allowVolunteers ?? ENGINE_DEFAULTS.allowVolunteers;
  if (typeof allowVolunteers !== 'boolean') throw badConfig(`allowVolunteers must be a boolean; got ${describe(allowVolunteers)}`);
  const paramsDelta = options.paramsDelta ?? ENGINE_DEFAULTS.paramsDelta;
  if (typeof paramsDelta !== 'boolean') throw badConfig(`paramsDelta must be a boolean; got ${describe(paramsDelta)}`);
  const limits = options.limits ?? {};
  if (!isPlainObject(limits)) throw badConfig('limits must be an object { maxFrameBytes?, maxShardsPerTask? }');
  const oneGradient = frameBytesFor(Math.max(parameterCount, 1), 1);
  const maxFrameBytes = integer(limits.maxFrameBytes ?? Math.max(ENGINE_DEFAULTS.maxFrameBytes, oneGradient), 'limits.maxFrameBytes', 1);
  if (maxFrameBytes < oneGradient) {
    throw badConfig(`limits.maxFrameBytes ${maxFrameBytes} cannot hold one f32 gradient of ${parameterCount} parameters; expected at least ${oneGradient}`);
  }
  const maxShardsPerTask = integer(limits.maxShardsPerTask ?? ENGINE_DEFAULTS.maxShardsPerTask, 'limits.maxShardsPerTask', 1);
  return {
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    minDeadlineMs,
    deadlineFactor,
    maxStrikes,
    allowVolunteers,
    paramsDelta,
    limits: { maxFrameBytes, maxShardsPerTask },
  };
}

/** Canonical JSON (keys sorted), to compare configs field by field. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
