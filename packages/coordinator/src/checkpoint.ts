/**
 * Checkpoints: everything needed to continue a run bit for bit — the run config, the
 * number of steps applied, the parameters, the optimizer state, a learning-rate override
 * and the metrics history. The data cursor is the step itself (step t's batch is derived
 * from `seed` and the epoch) and the only RNG state is the seed, so neither is stored.
 *
 * Byte format (all integers little-endian):
 *
 * | offset | size | content |
 * | --- | --- | --- |
 * | 0 | 8 | magic `SWGCKPT` followed by a 0 byte |
 * | 8 | 4 | format version (uint32) = 1 |
 * | 12 | 4 | reserved, 0 |
 * | 16 | 8 | payload length in bytes (uint64) |
 * | 24 | 32 | SHA-256 of the payload |
 * | 56 | n | payload: one MessagePack map (msgpackr; typed arrays as raw bytes) |
 */
import { Packr } from 'msgpackr';
import { MSGPACK_OPTIONS } from '@swarmgrad/protocol';
import { planModel, type ModelSpec, type OptimizerState } from '@swarmgrad/nn-core';
import type { RunConfig } from './config.js';
import { isJson } from './config.js';
import { CoordinatorError, CoordinatorErrorCode } from './errors.js';
import type { EvalResult, StepMetrics } from './events.js';
import { sha256 } from './sha256.js';

/** The checkpoint format this package writes and reads. */
export const CHECKPOINT_FORMAT_VERSION = 1 as const;

/** The 8 bytes every checkpoint starts with: ASCII `SWGCKPT` and a zero byte. */
export const CHECKPOINT_MAGIC: Uint8Array = Uint8Array.of(0x53, 0x57, 0x47, 0x43, 0x4b, 0x50, 0x54, 0x00);

const HEADER_BYTES = 56;

/**
 * The largest model a checkpoint may hold: 2^27 (134,217,728) parameters, 512 MiB of f32.
 * A checkpoint naming a larger model is refused with `CHECKPOINT_TOO_LARGE` before its
 * parameters, optimizer state or model are allocated.
 */
export const MAX_CHECKPOINT_PARAMETERS = 2 ** 27;

/** State buffers each optimizer type has (one value per parameter). */
const OPTIMIZER_BUFFERS: Readonly<Record<string, readonly string[]>> = { sgd: [], momentum: ['momentumBuffer'], adam: ['expAvg', 'expAvgSq'] };

/** A run's state after `step` steps. */
export interface Checkpoint {
  /** Format version, `CHECKPOINT_FORMAT_VERSION`. */
  formatVersion: typeof CHECKPOINT_FORMAT_VERSION;
  /** The run config (defaults filled in). */
  run: RunConfig;
  /** Steps applied; the next step to compute is `step`. It is also the data cursor. */
  step: number;
  /** The parameters after `step` steps (`@swarmgrad/nn` flat layout). */
  params: Float32Array;
  /** The optimizer's state after `step` steps (its `stepCount` equals `step`). */
  optimizer: OptimizerState;
  /** Learning rate set with `setLearningRate` (used for every later step), or null to follow the optimizer's schedule. */
  lr: number | null;
  /** The metrics history up to `step`. */
  history: { steps: StepMetrics[]; evals: EvalResult[] };
  /** Coordinator clock (ms since the Unix epoch) when the checkpoint was taken. */
  createdAt: number;
}

// The wire's msgpackr settings: plain maps, typed arrays as raw bytes.
const packr = new Packr({ ...MSGPACK_OPTIONS });

function corrupt(message: string, cause?: unknown): CoordinatorError {
  return new CoordinatorError(CoordinatorErrorCode.CHECKPOINT_CORRUPT, message, cause === undefined ? undefined : { cause });
}

/**
 * Encodes a checkpoint (see the module doc for the byte format). Typed arrays are written
 * as raw bytes, so a LeNet-5 checkpoint with Adam state is about 3 × 4 × 61,706 bytes plus
 * the history.
 */
export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  const packed: Uint8Array = packr.pack({
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    run: checkpoint.run,
    step: checkpoint.step,
    params: checkpoint.params,
    optimizer: checkpoint.optimizer,
    lr: checkpoint.lr,
    history: checkpoint.history,
    createdAt: checkpoint.createdAt,
  });
  const payload = new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength);
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  out.set(CHECKPOINT_MAGIC, 0);
  view.setUint32(8, CHECKPOINT_FORMAT_VERSION, true);
  view.setUint32(12, 0, true);
  view.setUint32(16, payload.length >>> 0, true);
  view.setUint32(20, Math.floor(payload.length / 0x100000000), true);
  out.set(sha256(payload), 24);
  out.set(payload, HEADER_BYTES);
  return out;
}

/**
 * Decodes and checks a checkpoint.
 * @throws CoordinatorError `CHECKPOINT_FORMAT` (not a swarmgrad checkpoint, or another format
 *   version) or `CHECKPOINT_CORRUPT` (truncated, trailing bytes, SHA-256 mismatch, or content
 *   that is not a valid checkpoint).
 */
export function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeCheckpoint expects a Uint8Array');
  if (bytes.length < CHECKPOINT_MAGIC.length || CHECKPOINT_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new CoordinatorError(
      CoordinatorErrorCode.CHECKPOINT_FORMAT,
      `not a swarmgrad checkpoint: expected the magic bytes "SWGCKPT\\0" at the start of ${bytes.length} bytes`,
    );
  }
  if (bytes.length < HEADER_BYTES) {
    throw corrupt(`checkpoint is truncated: ${bytes.length} bytes, shorter than its ${HEADER_BYTES}-byte header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== CHECKPOINT_FORMAT_VERSION) {
    throw new CoordinatorError(
      CoordinatorErrorCode.CHECKPOINT_FORMAT,
      `checkpoint format version ${version} is not supported; this package reads version ${CHECKPOINT_FORMAT_VERSION}`,
    );
  }
  const length = view.getUint32(16, true) + view.getUint32(20, true) * 0x100000000;
  const actual = bytes.length - HEADER_BYTES;
  if (actual < length) throw corrupt(`checkpoint is truncated: header announces ${length} payload bytes, file has ${actual}`);
  if (actual > length) throw corrupt(`checkpoint has ${actual - length} trailing bytes after its ${length}-byte payload`);
  const payload = bytes.subarray(HEADER_BYTES);
  const digest = sha256(payload);
  for (let i = 0; i < 32; i++) {
    if (digest[i] !== bytes[24 + i]) throw corrupt('checkpoint is corrupt: the SHA-256 of its payload does not match the header');
  }
  let value: unknown;
  try {
    value = packr.unpack(payload);
  } catch (cause) {
    throw corrupt(`checkpoint payload is not valid MessagePack: ${cause instanceof Error ? cause.message : String(cause)}`, cause);
  }
  return checkCheckpoint(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/** Checks the shape of a decoded checkpoint (not its agreement with a run: the coordinator does that on resume). */
function checkCheckpoint(value: unknown): Checkpoint {
  if (!isRecord(value)) throw corrupt('checkpoint payload is not a map');
  const { run, step, params, optimizer, lr, history, createdAt } = value;
  if (value['formatVersion'] !== CHECKPOINT_FORMAT_VERSION) throw corrupt(`checkpoint payload has formatVersion ${String(value['formatVersion'])}; expected 1`);
  if (!isRecord(run) || !isJson(run)) throw corrupt('checkpoint run is not a JSON RunConfig');
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) throw corrupt(`checkpoint step is ${String(step)}; expected an integer ≥ 0`);
  const parameterCount = modelParameterCount(run['modelSpec']);
  if (!(params instanceof Float32Array)) throw corrupt('checkpoint params is not a Float32Array');
  if (params.length !== parameterCount) throw corrupt(`checkpoint params has ${params.length} values; its model has ${parameterCount} parameters`);
  checkFinite(params, 'params');
  checkOptimizerState(optimizer, run['optimizer'], step, parameterCount);
  if (lr !== null && (typeof lr !== 'number' || !Number.isFinite(lr) || lr <= 0)) throw corrupt(`checkpoint lr is ${String(lr)}; expected null or a number > 0`);
  if (!isRecord(history) || !Array.isArray(history['steps']) || !Array.isArray(history['evals']) || !isJson(history)) {
    throw corrupt('checkpoint history is not { steps: [...], evals: [...] }');
  }
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) throw corrupt('checkpoint createdAt is not a number');
  return {
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    run: run as unknown as RunConfig,
    step,
    params,
    optimizer: optimizer as unknown as OptimizerState,
    lr: lr as number | null,
    history: history as unknown as Checkpoint['history'],
    createdAt,
  };
}

/** The parameter count of a checkpoint's model, refusing specs that are invalid or too large before anything is allocated. */
function modelParameterCount(spec: unknown): number {
  let parameterCount: number;
  try {
    parameterCount = planModel(spec as ModelSpec).paramCount;
  } catch (cause) {
    throw corrupt(`checkpoint model spec is not valid: ${cause instanceof Error ? cause.message : String(cause)}`, cause);
  }
  if (!Number.isSafeInteger(parameterCount) || parameterCount > MAX_CHECKPOINT_PARAMETERS) {
    throw new CoordinatorError(
      CoordinatorErrorCode.CHECKPOINT_TOO_LARGE,
      `checkpoint model has ${parameterCount.toLocaleString('en-US')} parameters; at most ${MAX_CHECKPOINT_PARAMETERS.toLocaleString('en-US')} are accepted`,
    );
  }
  return parameterCount;
}

function checkFinite(values: Float32Array, name: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw corrupt(`checkpoint ${name}[${i}] is ${values[i]}; it must be finite`);
  }
}

/** The optimizer state must be the run's optimizer type, at `step` steps, with exactly its buffers, each finite and of `parameterCount` values (Adam's second moment ≥ 0). */
function checkOptimizerState(optimizer: unknown, config: unknown, step: number, parameterCount: number): void {
  if (!isRecord(optimizer) || typeof optimizer['type'] !== 'string' || typeof optimizer['stepCount'] !== 'number' || !isRecord(optimizer['buffers'])) {
    throw corrupt('checkpoint optimizer is not an optimizer state { type, stepCount, buffers }');
  }
  const type = optimizer['type'];
  const expected = OPTIMIZER_BUFFERS[type];
  if (!expected || !isRecord(config) || config['type'] !== type) throw corrupt(`checkpoint optimizer state is of type ${JSON.stringify(type)}; the run's optimizer is ${JSON.stringify(isRecord(config) ? config['type'] : config)}`);
  if (optimizer['stepCount'] !== step) throw corrupt(`checkpoint optimizer has taken ${String(optimizer['stepCount'])} steps; the checkpoint is at step ${step}`);
  const buffers = optimizer['buffers'];
  const names = Object.keys(buffers).sort();
  if (names.join(',') !== [...expected].sort().join(',')) throw corrupt(`checkpoint optimizer buffers are [${names.join(', ')}]; ${type} has [${expected.join(', ')}]`);
  for (const name of names) {
    const buffer = buffers[name];
    if (!(buffer instanceof Float32Array)) throw corrupt(`checkpoint optimizer buffer ${name} is not a Float32Array`);
    if (buffer.length !== parameterCount) throw corrupt(`checkpoint optimizer buffer ${name} has ${buffer.length} values; the model has ${parameterCount} parameters`);
    checkFinite(buffer, `optimizer ${name}`);
    if (name === 'expAvgSq') {
      for (let i = 0; i < buffer.length; i++) {
        if (buffer[i]! < 0) throw corrupt(`checkpoint optimizer expAvgSq[${i}] is ${buffer[i]}; Adam's second moment is never negative`);
      }
    }
  }
}
