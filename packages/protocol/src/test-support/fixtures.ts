/** Test fixtures: one valid message of every type and variant, and a seeded PRNG. Not built into dist. */
import { Int8Encoder, encodeGradient } from '../gradient-codecs.js';
import { PROTOCOL_VERSION, type Message } from '../messages.js';

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `length` random floats in [-scale, scale). */
export function randomFloats(random: () => number, length: number, scale = 1): Float32Array {
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) values[i] = (random() * 2 - 1) * scale;
  return values;
}

/**
 * One valid message of every type and variant, for a model of `parameterCount` parameters
 * and micro-shards of `microShardSize` samples. Keyed by a descriptive name.
 */
export function sampleMessages(parameterCount: number, microShardSize = 4, seed = 1): Record<string, Message> {
  const random = prng(seed);
  const gradient = (): Float32Array => randomFloats(random, parameterCount, 0.01);
  const indices = (shards: number, length = shards * microShardSize): Uint32Array => {
    const out = new Uint32Array(length);
    for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 60000);
    return out;
  };
  return {
    helloWorker: {
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      role: 'worker',
      workerId: 'w-7',
      token: 'lab-secret',
      name: 'node-a',
      capabilities: {
        backend: 'webgpu',
        adapter: 'llvmpipe (compatibility)',
        environment: 'browser',
        cores: 2,
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130',
        codecs: ['f32', 'f16', 'int8'],
        samplesPerSecond: 812.5,
      },
    },
    helloVolunteerMinimal: {
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      role: 'worker',
      capabilities: { backend: 'cpu', environment: 'node', codecs: ['f32'] },
    },
    helloDashboard: { type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'dashboard', name: 'ops screen' },
    welcome: {
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      workerId: 'w-7',
      runId: 'run-2026-11-26',
      trusted: true,
      heartbeatIntervalMs: 5000,
      heartbeatTimeoutMs: 15000,
      codec: 'f32',
      modelSpec: {
        name: 'lenet5',
        input: [28, 28, 1],
        layers: [
          { type: 'conv2d', filters: 6, kernel: 5, stride: 1, padding: 'same' },
          { type: 'relu' },
          { type: 'maxPool', size: 2 },
          { type: 'flatten' },
          { type: 'dense', units: 10, bias: true, dropout: null },
        ],
      },
      parameterCount,
      microShardSize,
      dataset: { name: 'mnist', split: 'train', size: 60000, normalize: { mean: 0.1307, std: 0.3081 } },
      limits: { maxFrameBytes: 8 * 1024 * 1024, maxShardsPerTask: 256 },
    },
    params: { type: 'params', runId: 'run-1', step: 12, params: gradient() },
    taskTrain: {
      type: 'task',
      taskId: 't-12-3',
      runId: 'run-1',
      step: 12,
      kind: 'train',
      blocks: [
        { start: 8, count: 4 },
        { start: 16, count: 1 },
      ],
      microShardSize,
      indices: indices(5),
      deadlineMs: 30000,
    },
    taskEval: {
      type: 'task',
      taskId: 't-eval-1',
      runId: 'run-1',
      step: 100,
      kind: 'eval',
      split: 'test',
      blocks: [{ start: 0, count: 2 }],
      microShardSize,
      indices: indices(2, 2 * microShardSize - 1),
      deadlineMs: 12.5,
    },
    resultTrain: {
      type: 'result',
      taskId: 't-12-3',
      runId: 'run-1',
      step: 12,
      kind: 'train',
      backend: 'wasm',
      timing: { computeMs: 41.25, dataMs: 1.5, encodeMs: 0.25, totalMs: 44 },
      blocks: [
        { start: 8, count: 4, lossSum: 38.125, sampleCount: 4 * microShardSize, correct: 12, gradient: encodeGradient('f32', gradient()) },
        { start: 16, count: 1, lossSum: 2.5, sampleCount: microShardSize, gradient: encodeGradient('f16', gradient()) },
        {
          start: 17,
          count: 1,
          lossSum: -0.5,
          sampleCount: microShardSize,
          gradient: new Int8Encoder(parameterCount, { chunkSize: 16 }).encode(gradient()),
        },
      ],
    },
    resultEval: {
      type: 'result',
      taskId: 't-eval-1',
      runId: 'run-1',
      step: 100,
      kind: 'eval',
      backend: 'cpu',
      timing: { computeMs: 3 },
      blocks: [{ start: 0, count: 2, lossSum: 1.75, sampleCount: 7, correct: 6 }],
    },
    heartbeat: { type: 'heartbeat', sentAt: 1_795_000_000_000.5, echo: 1_795_000_000_000, status: 'busy', samplesPerSecond: 640 },
    heartbeatMinimal: { type: 'heartbeat', sentAt: 0 },
    error: { type: 'error', code: 'STALE_STEP', message: 'result for step 11 arrived during step 12', fatal: false, ref: { taskId: 't-11-2', step: 11 } },
    bye: { type: 'bye', reason: 'run finished' },
    subscribe: { type: 'subscribe', runId: 'run-1', adminToken: 'admin-secret' },
    subscribeMinimal: { type: 'subscribe' },
    event: {
      type: 'event',
      runId: 'run-1',
      seq: 41,
      event: { kind: 'step', step: 12, loss: 0.3125, accuracy: 0.91, backends: ['webgpu', 'wasm'], workers: { active: 3 } },
    },
    adminPause: { type: 'admin', action: 'pause', adminToken: 'admin-secret' },
    adminLearningRate: { type: 'admin', action: 'setLearningRate', value: 0.05, adminToken: 'admin-secret', runId: 'run-1' },
  };
}

/**
 * Paths (as `key.key[].key`) of fields a message may leave out, per sample name; every other
 * field the sample holds is required. JSON payloads (`modelSpec`, dataset extras, event
 * fields) are not listed: they are opaque.
 */
export const OPTIONAL_FIELDS: Record<string, string[]> = {
  helloWorker: [
    'workerId',
    'token',
    'name',
    'capabilities.adapter',
    'capabilities.cores',
    'capabilities.userAgent',
    'capabilities.samplesPerSecond',
  ],
  helloVolunteerMinimal: [],
  helloDashboard: ['name'],
  welcome: ['heartbeatTimeoutMs'],
  params: [],
  taskTrain: [],
  taskEval: ['split'],
  resultTrain: ['timing.dataMs', 'timing.encodeMs', 'timing.totalMs', 'blocks[].correct'],
  resultEval: [],
  heartbeat: ['echo', 'status', 'samplesPerSecond'],
  heartbeatMinimal: [],
  error: ['fatal', 'ref', 'ref.taskId', 'ref.step'],
  bye: [],
  subscribe: ['runId', 'adminToken'],
  subscribeMinimal: [],
  event: ['seq'],
  adminPause: [],
  adminLearningRate: ['runId'],
};

/** Fields whose contents are opaque JSON: the walker does not descend into them. */
export const OPAQUE_FIELDS = new Set(['modelSpec', 'dataset', 'event']);

/** Whether two typed arrays have the same type, length and bytes (fast, for large arrays). */
export function sameContents(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.constructor !== b.constructor || a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
