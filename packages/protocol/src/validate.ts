/**
 * The one place wire data is trusted: `validateMessage` narrows an `unknown` value (what
 * msgpackr decoded) to a `Message`, or throws a `ProtocolError`.
 *
 * It builds a fresh message with only the known fields (unknown fields are dropped, so
 * newer peers may add optional fields), treats an optional field that is absent, `nil` or
 * `undefined` as absent, and scans each float vector once for NaN/Infinity.
 */
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { resolveDecodeLimits, type DecodeLimits, type ResolvedDecodeLimits } from './limits.js';
import { checkJsonObject, isOneOf, own, Fields } from './fields.js';
import { describe, isPlainObject } from './json.js';
import { firstNonFiniteFloat, modelLabel, validateBlocks, validateGradient } from './validate-payloads.js';
import {
  ADMIN_ACTIONS,
  BACKENDS,
  DATASET_SPLITS,
  ENVIRONMENTS,
  GRADIENT_CODECS,
  MESSAGE_TYPES,
  PARAMS_ENCODINGS,
  PROTOCOL_VERSION,
  ROLES,
  TASK_KINDS,
  WORKER_STATUSES,
  type AdminMessage,
  type ByeMessage,
  type DatasetDescriptor,
  type EncodedGradient,
  type ErrorMessage,
  type ErrorRef,
  type EvalBlockResult,
  type EventMessage,
  type HeartbeatMessage,
  type HelloMessage,
  type Message,
  type ParamsEncodingName,
  type ParamsMessage,
  type ResultMessage,
  type ResultTiming,
  type RunEvent,
  type ShardBlock,
  type SubscribeMessage,
  type TaskMessage,
  type TrainBlockResult,
  type WelcomeMessage,
  type WorkerCapabilities,
} from './messages.js';

export { firstNonFiniteFloat } from './validate-payloads.js';

/** Longest short label (`name`, `adapter`, `userAgent`, tokens). */
const MAX_LABEL_LENGTH = 4096;
/**
 * Narrow a decoded value to a `Message`, enforcing `limits` (see `DecodeLimits`); throws
 * `ProtocolError` otherwise. `decodeMessage` is this plus the frame-size check and
 * MessagePack parsing; call this directly for messages that arrive as structured-clone
 * objects (e.g. `postMessage`) rather than bytes.
 */
export function validateMessage(value: unknown, limits?: Partial<DecodeLimits>): Message {
  return validateResolved(value, resolveDecodeLimits(limits));
}

/** `validateMessage` with limits already resolved. */
export function validateResolved(value: unknown, limits: ResolvedDecodeLimits): Message {
  if (!isPlainObject(value)) {
    throw new ProtocolError(
      ProtocolErrorCode.MALFORMED,
      `a message must be a map with a string "type", got ${describe(value)}`,
    );
  }
  const type = own(value, 'type');
  if (typeof type !== 'string') {
    throw new ProtocolError(
      ProtocolErrorCode.MALFORMED,
      `a message must be a map with a string "type", got type ${describe(type)}`,
      { path: 'type' },
    );
  }
  const fields = new Fields(value, type);
  switch (type) {
    case 'hello':
      return validateHello(fields);
    case 'welcome':
      return validateWelcome(fields, limits);
    case 'params':
      return validateParams(fields, limits);
    case 'task':
      return validateTask(fields, limits);
    case 'result':
      return validateResult(fields, limits);
    case 'heartbeat':
      return validateHeartbeat(fields);
    case 'error':
      return validateError(fields);
    case 'bye':
      return { type: 'bye', reason: fields.text('reason', MAX_LABEL_LENGTH) } satisfies ByeMessage;
    case 'subscribe':
      return validateSubscribe(fields);
    case 'event':
      return validateEvent(fields);
    case 'admin':
      return validateAdmin(fields);
    default:
      throw new ProtocolError(
        ProtocolErrorCode.UNKNOWN_TYPE,
        `unknown message type ${JSON.stringify(type.slice(0, 64))}; expected one of ${MESSAGE_TYPES.join(', ')}`,
        { path: 'type' },
      );
  }
}

// ---------------------------------------------------------------------------------------------
// messages

function checkVersion(fields: Fields): number {
  const version = fields.integer('protocolVersion', 0);
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      ProtocolErrorCode.VERSION_MISMATCH,
      `peer speaks protocol version ${version}; this side speaks version ${PROTOCOL_VERSION}`,
      { path: `${fields.path}.protocolVersion` },
    );
  }
  return version;
}

function validateHello(fields: Fields): HelloMessage {
  const protocolVersion = checkVersion(fields);
  const role = fields.oneOf('role', ROLES);
  const token = fields.optionalText('token', MAX_LABEL_LENGTH);
  const name = fields.optionalText('name', MAX_LABEL_LENGTH);
  if (role === 'dashboard') {
    const hello: HelloMessage = { type: 'hello', protocolVersion, role };
    if (token !== undefined) hello.token = token;
    if (name !== undefined) hello.name = name;
    return hello;
  }
  const workerId = fields.optionalId('workerId');
  const resumeToken = fields.optionalId('resumeToken');
  const capabilities = validateCapabilities(fields.record('capabilities'));
  const hello: HelloMessage = { type: 'hello', protocolVersion, role, capabilities };
  if (workerId !== undefined) hello.workerId = workerId;
  if (resumeToken !== undefined) hello.resumeToken = resumeToken;
  if (token !== undefined) hello.token = token;
  if (name !== undefined) hello.name = name;
  return hello;
}

function validateCapabilities(fields: Fields): WorkerCapabilities {
  const capabilities: WorkerCapabilities = {
    backend: fields.oneOf('backend', BACKENDS),
    environment: fields.oneOf('environment', ENVIRONMENTS),
    codecs: [],
  };
  const codecs = fields.array('codecs');
  if (codecs.length === 0 || codecs.length > 16) {
    throw fields.bad('codecs', 'non-empty array of at most 16 codec names', `array of ${codecs.length}`);
  }
  for (let i = 0; i < codecs.length; i++) {
    const codec = codecs[i];
    if (!isOneOf(codec, GRADIENT_CODECS)) {
      throw fields.bad(`codecs[${i}]`, `one of ${GRADIENT_CODECS.join(', ')}`, describe(codec));
    }
    capabilities.codecs.push(codec);
  }
  const adapter = fields.optionalText('adapter', MAX_LABEL_LENGTH);
  if (adapter !== undefined) capabilities.adapter = adapter;
  const cores = fields.optionalInteger('cores', 1);
  if (cores !== undefined) capabilities.cores = cores;
  const userAgent = fields.optionalText('userAgent', MAX_LABEL_LENGTH);
  if (userAgent !== undefined) capabilities.userAgent = userAgent;
  const samplesPerSecond = fields.optionalFinite('samplesPerSecond', 0);
  if (samplesPerSecond !== undefined) capabilities.samplesPerSecond = samplesPerSecond;
  if (fields.get('paramsEncodings') !== undefined) {
    const encodings = fields.array('paramsEncodings');
    if (encodings.length > 16) throw fields.bad('paramsEncodings', 'array of at most 16 encoding names', `array of ${encodings.length}`);
    // Unknown names are skipped (a newer worker may know more encodings than this peer).
    capabilities.paramsEncodings = encodings.filter((e): e is ParamsEncodingName => isOneOf(e, PARAMS_ENCODINGS));
  }
  return capabilities;
}

function validateWelcome(fields: Fields, limits: ResolvedDecodeLimits): WelcomeMessage {
  const protocolVersion = checkVersion(fields);
  const parameterCount = fields.integer('parameterCount', 1);
  if (limits.parameterCount !== undefined && parameterCount !== limits.parameterCount) {
    throw new ProtocolError(
      ProtocolErrorCode.LENGTH_MISMATCH,
      `welcome announces ${parameterCount} parameters; ${modelLabel(limits)} has ${limits.parameterCount}`,
      { path: 'welcome.parameterCount' },
    );
  }
  const wireLimits = fields.record('limits');
  const datasetFields = fields.record('dataset');
  datasetFields.id('name');
  const welcome: WelcomeMessage = {
    type: 'welcome',
    protocolVersion,
    workerId: fields.id('workerId'),
    runId: fields.id('runId'),
    trusted: fields.boolean('trusted'),
    heartbeatIntervalMs: fields.integer('heartbeatIntervalMs', 1),
    codec: fields.oneOf('codec', GRADIENT_CODECS),
    modelSpec: fields.jsonObject('modelSpec'),
    parameterCount,
    microShardSize: fields.integer('microShardSize', 1),
    dataset: checkJsonObject(datasetFields.raw, datasetFields.path) as DatasetDescriptor,
    limits: {
      maxFrameBytes: wireLimits.integer('maxFrameBytes', 1),
      maxShardsPerTask: wireLimits.integer('maxShardsPerTask', 1),
    },
  };
  const heartbeatTimeoutMs = fields.optionalInteger('heartbeatTimeoutMs', 1);
  if (heartbeatTimeoutMs !== undefined) welcome.heartbeatTimeoutMs = heartbeatTimeoutMs;
  const resumeToken = fields.optionalId('resumeToken');
  if (resumeToken !== undefined) welcome.resumeToken = resumeToken;
  return welcome;
}

function validateParams(fields: Fields, limits: ResolvedDecodeLimits): ParamsMessage {
  const runId = fields.id('runId');
  const step = fields.integer('step', 0);
  if (fields.get('delta') !== undefined) {
    const full = fields.get('params');
    if (full !== undefined && !((full instanceof Float32Array || full instanceof Uint8Array) && full.length === 0)) throw fields.bad('params', 'absent or empty when delta is present', fields.describe('params'));
    const d = fields.record('delta');
    const baseStep = d.integer('baseStep', 0);
    if (baseStep >= step) throw d.bad('baseStep', `an earlier step than ${step}`, String(baseStep));
    const bytes = d.get('bytes');
    if (!(bytes instanceof Uint8Array)) throw d.bad('bytes', 'bin', d.describe('bytes'));
    const delta = { encoding: d.oneOf('encoding', PARAMS_ENCODINGS), baseStep, bytes: Uint8Array.prototype.slice.call(bytes) as Uint8Array };
    return { type: 'params', runId, step, params: new Float32Array(0), delta };
  }
  const params = fields.typedArray('params', Float32Array, 'Float32Array');
  if (limits.parameterCount !== undefined && params.length !== limits.parameterCount) {
    throw new ProtocolError(
      ProtocolErrorCode.LENGTH_MISMATCH,
      `params for step ${step} has ${params.length} values; ${modelLabel(limits)} has ${limits.parameterCount} parameters`,
      { path: 'params.params' },
    );
  }
  const bad = firstNonFiniteFloat(params);
  if (bad >= 0) {
    throw new ProtocolError(
      ProtocolErrorCode.NON_FINITE,
      `params for step ${step} has ${params[bad]} at index ${bad}; parameters must be finite`,
      { path: 'params.params' },
    );
  }
  return { type: 'params', runId, step, params };
}

function validateTask(fields: Fields, limits: ResolvedDecodeLimits): TaskMessage {
  const taskId = fields.id('taskId');
  const runId = fields.id('runId');
  const step = fields.integer('step', 0);
  const kind = fields.oneOf('kind', TASK_KINDS);
  const split = fields.optionalOneOf('split', DATASET_SPLITS);
  const microShardSize = fields.integer('microShardSize', 1);
  const blockList = fields.array('blocks');
  const { blocks, shards } = validateBlocks(
    blockList,
    `${fields.path}.blocks`,
    limits,
    (_block, start, count) => ({ start, count }),
  );
  const indices = fields.typedArray('indices', Uint32Array, 'Uint32Array');
  const full = shards * microShardSize;
  const lengthOk = kind === 'train' ? indices.length === full : indices.length <= full && indices.length > full - microShardSize;
  if (!lengthOk) {
    const expected = kind === 'train' ? `${full}` : `${full - microShardSize + 1}..${full}`;
    throw new ProtocolError(
      ProtocolErrorCode.LENGTH_MISMATCH,
      `task ${taskId} has ${indices.length} indices; ${shards} micro-shards of ${microShardSize} samples need ${expected}`,
      { path: 'task.indices' },
    );
  }
  const deadlineMs = fields.finite('deadlineMs', Number.MIN_VALUE);
  const task: TaskMessage = { type: 'task', taskId, runId, step, kind, blocks, microShardSize, indices, deadlineMs };
  if (split !== undefined) task.split = split;
  const perSample = (key: 'x' | 'labels' | 'targets', exact: boolean): void => {
    if (fields.get(key) === undefined || fields.get(key) === null) return;
    const values = key === 'labels' ? fields.typedArray(key, Int32Array, 'Int32Array') : fields.typedArray(key, Float32Array, 'Float32Array');
    const ok = exact ? values.length === indices.length : values.length > 0 && values.length % Math.max(indices.length, 1) === 0;
    if (!ok) {
      throw new ProtocolError(
        ProtocolErrorCode.LENGTH_MISMATCH,
        `task ${taskId} has ${values.length} ${key} values for ${indices.length} samples; expected ${exact ? 'one per sample' : 'the same positive number per sample'}`,
        { path: `task.${key}` },
      );
    }
    if (key !== 'labels') {
      const bad = firstNonFiniteFloat(values as Float32Array);
      if (bad >= 0) {
        throw new ProtocolError(ProtocolErrorCode.NON_FINITE, `task ${taskId} ${key}[${bad}] is ${values[bad]}; samples must be finite`, { path: `task.${key}` });
      }
    }
    (task as unknown as Record<string, unknown>)[key] = values;
  };
  perSample('x', false);
  perSample('labels', true);
  perSample('targets', false);
  validateTaskPixels(fields, task);
  return task;
}

/** `pixels` + `pixelNormalization`: a whole number of bytes per sample and channel, never with `x`. */
function validateTaskPixels(fields: Fields, task: TaskMessage): void {
  const present = (key: string): boolean => fields.get(key) !== undefined && fields.get(key) !== null;
  if (!present('pixels')) {
    if (present('pixelNormalization')) throw fields.bad('pixelNormalization', 'absent without pixels', fields.describe('pixelNormalization'));
    return;
  }
  if (task.x !== undefined) throw fields.bad('pixels', 'absent when x is sent (one of x or pixels)', 'both');
  const pixels = fields.typedArray('pixels', Uint8Array, 'Uint8Array');
  let channels = 1;
  if (present('pixelNormalization')) {
    const norm = fields.record('pixelNormalization');
    const list = (key: 'mean' | 'std', min: number): number[] => {
      const values = norm.array(key);
      if (values.length < 1 || values.length > MAX_PIXEL_CHANNELS || !values.every((v) => typeof v === 'number' && Number.isFinite(v) && v > min)) {
        throw norm.bad(key, `1..${MAX_PIXEL_CHANNELS} finite numbers${min > -Infinity ? ' > 0' : ''}`, norm.describe(key));
      }
      return values as number[];
    };
    const mean = list('mean', -Infinity);
    const std = list('std', 0);
    if (mean.length !== std.length) throw norm.bad('std', `${mean.length} values (one per mean)`, `${std.length}`, ProtocolErrorCode.LENGTH_MISMATCH);
    channels = mean.length;
    task.pixelNormalization = { mean: [...mean], std: [...std] };
  }
  const n = Math.max(task.indices.length, 1);
  if (pixels.length === 0 || pixels.length % n !== 0 || (pixels.length / n) % channels !== 0) {
    throw new ProtocolError(
      ProtocolErrorCode.LENGTH_MISMATCH,
      `task ${task.taskId} has ${pixels.length} pixel bytes for ${task.indices.length} samples of ${channels} channels; expected the same positive multiple of ${channels} per sample`,
      { path: 'task.pixels' },
    );
  }
  task.pixels = pixels;
}

/** Most channels a `pixelNormalization` may describe. */
const MAX_PIXEL_CHANNELS = 64;

function validateResult(fields: Fields, limits: ResolvedDecodeLimits): ResultMessage {
  const taskId = fields.id('taskId');
  const runId = fields.id('runId');
  const step = fields.integer('step', 0);
  const kind = fields.oneOf('kind', TASK_KINDS);
  const backend = fields.oneOf('backend', BACKENDS);
  const timingFields = fields.record('timing');
  const timing: ResultTiming = { computeMs: timingFields.finite('computeMs', 0) };
  for (const key of ['dataMs', 'encodeMs', 'totalMs'] as const) {
    const value = timingFields.optionalFinite(key, 0);
    if (value !== undefined) timing[key] = value;
  }
  const blockList = fields.array('blocks');
  const path = `${fields.path}.blocks`;
  if (kind === 'eval') {
    const { blocks } = validateBlocks(blockList, path, limits, (block, start, count): EvalBlockResult => {
      const { lossSum, sampleCount, correct } = blockCounts(block);
      if (correct === undefined) throw block.bad('correct', 'integer >= 0 (required in an eval result)', 'nothing');
      if (block.get('gradient') !== undefined) {
        throw block.bad('gradient', 'no gradient in an eval result', describe(block.get('gradient')));
      }
      return { start, count, lossSum, sampleCount, correct };
    });
    return { type: 'result', taskId, runId, step, kind, blocks, timing, backend };
  }
  const { blocks } = validateBlocks(blockList, path, limits, (block, start, count): TrainBlockResult => {
    const { lossSum, sampleCount, correct } = blockCounts(block);
    const gradient = validateGradient(block.record('gradient'), limits, `result for step ${step} block ${start}+${count}`);
    const result: TrainBlockResult = { start, count, lossSum, sampleCount, gradient };
    if (correct !== undefined) result.correct = correct;
    return result;
  });
  return { type: 'result', taskId, runId, step, kind, blocks, timing, backend };
}

function blockCounts(block: Fields): { lossSum: number; sampleCount: number; correct: number | undefined } {
  const lossSum = block.finite('lossSum');
  const sampleCount = block.integer('sampleCount', 0);
  const correct = block.optionalInteger('correct', 0);
  if (correct !== undefined && correct > sampleCount) {
    throw block.bad('correct', `integer 0..sampleCount (${sampleCount})`, `number ${correct}`);
  }
  return { lossSum, sampleCount, correct };
}

function validateHeartbeat(fields: Fields): HeartbeatMessage {
  const heartbeat: HeartbeatMessage = { type: 'heartbeat', sentAt: fields.finite('sentAt') };
  const echo = fields.optionalFinite('echo');
  if (echo !== undefined) heartbeat.echo = echo;
  const status = fields.optionalOneOf('status', WORKER_STATUSES);
  if (status !== undefined) heartbeat.status = status;
  const samplesPerSecond = fields.optionalFinite('samplesPerSecond', 0);
  if (samplesPerSecond !== undefined) heartbeat.samplesPerSecond = samplesPerSecond;
  return heartbeat;
}

function validateError(fields: Fields): ErrorMessage {
  const error: ErrorMessage = {
    type: 'error',
    code: fields.id('code'),
    message: fields.text('message', 65536),
  };
  const fatal = fields.optionalBoolean('fatal');
  if (fatal !== undefined) error.fatal = fatal;
  if (fields.get('ref') !== undefined) {
    const refFields = fields.record('ref');
    const ref: ErrorRef = {};
    const taskId = refFields.optionalId('taskId');
    if (taskId !== undefined) ref.taskId = taskId;
    const step = refFields.optionalInteger('step', 0);
    if (step !== undefined) ref.step = step;
    error.ref = ref;
  }
  return error;
}

function validateSubscribe(fields: Fields): SubscribeMessage {
  const subscribe: SubscribeMessage = { type: 'subscribe' };
  const runId = fields.optionalId('runId');
  if (runId !== undefined) subscribe.runId = runId;
  const adminToken = fields.optionalText('adminToken', MAX_LABEL_LENGTH);
  if (adminToken !== undefined) subscribe.adminToken = adminToken;
  return subscribe;
}

function validateEvent(fields: Fields): EventMessage {
  const runId = fields.id('runId');
  const eventFields = fields.record('event');
  eventFields.id('kind');
  const event: EventMessage = {
    type: 'event',
    runId,
    event: checkJsonObject(eventFields.raw, eventFields.path) as RunEvent,
  };
  const seq = fields.optionalInteger('seq', 0);
  if (seq !== undefined) event.seq = seq;
  return event;
}

function validateAdmin(fields: Fields): AdminMessage {
  const adminToken = fields.text('adminToken', MAX_LABEL_LENGTH, 1);
  const action = fields.oneOf('action', ADMIN_ACTIONS);
  const runId = fields.optionalId('runId');
  let admin: AdminMessage;
  if (action === 'setLearningRate') {
    const value = fields.finite('value', Number.MIN_VALUE);
    admin = { type: 'admin', action, value, adminToken };
  } else if (action === 'liftBan') {
    admin = { type: 'admin', action, value: fields.text('value', MAX_LABEL_LENGTH, 1), adminToken };
  } else {
    admin = { type: 'admin', action, adminToken };
  }
  if (runId !== undefined) admin.runId = runId;
  return admin;
}
