/** Test fixtures shared by the worker's tests (not built into dist). */
import { syntheticDataset } from '@swarmgrad/data';
import { createModel, shardRange, type ModelSpec } from '@swarmgrad/nn';
import { PROTOCOL_VERSION, type JsonObject, type ShardBlock, type TaskMessage, type WelcomeMessage } from '@swarmgrad/protocol';

/** A small CNN (conv → pool → dense) on 8×8×1 inputs, 4 classes: 188 parameters. */
export const tinySpec: ModelSpec = {
  name: 'tiny',
  inputShape: [8, 8, 1],
  loss: 'softmaxCrossEntropy',
  layers: [
    { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
    { type: 'maxPool', poolSize: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 4 },
  ],
};

export const tinyModel = createModel(tinySpec);
export const PARAMS = tinyModel.paramCount;
export const dataset = syntheticDataset({ seed: 7, length: 512, height: 8, width: 8, numClasses: 4 });

/** Seeded parameters (not the initial ones: random in [-0.5, 0.5) so every gradient entry is busy). */
export function randomParams(seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(PARAMS);
  for (let i = 0; i < out.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = (state >>> 0) / 2 ** 32 - 0.5;
  }
  return out;
}

export function welcome(overrides: Partial<WelcomeMessage> = {}): WelcomeMessage {
  return {
    type: 'welcome',
    protocolVersion: PROTOCOL_VERSION,
    workerId: 'w-1',
    runId: 'run-1',
    trusted: true,
    heartbeatIntervalMs: 1000,
    codec: 'f32',
    modelSpec: tinySpec as unknown as JsonObject,
    parameterCount: PARAMS,
    microShardSize: 4,
    dataset: { name: 'synthetic' },
    limits: { maxFrameBytes: 1 << 24, maxShardsPerTask: 256 },
    ...overrides,
  };
}

/** A task over `sampleCount` samples starting at dataset index `first`, samples inline. */
export function task(options: {
  taskId?: string;
  step?: number;
  kind?: 'train' | 'eval';
  blocks: ShardBlock[];
  microShardSize: number;
  sampleCount: number;
  first?: number;
  inline?: boolean;
}): TaskMessage {
  const first = options.first ?? 0;
  const indices = Uint32Array.from({ length: options.sampleCount }, (_, i) => (first + i * 7) % dataset.length);
  const message: TaskMessage = {
    type: 'task',
    taskId: options.taskId ?? 't-1',
    runId: 'run-1',
    step: options.step ?? 0,
    kind: options.kind ?? 'train',
    blocks: options.blocks,
    microShardSize: options.microShardSize,
    indices,
    deadlineMs: 60_000,
  };
  if (options.inline !== false) {
    const batch = dataset.batch(indices);
    message.x = batch.x;
    message.labels = batch.y;
  }
  return message;
}

/** The samples of task-local shard `s`. */
export function shardOf(t: TaskMessage, s: number): { x: Float32Array; y: Int32Array } {
  const { start: from, end: to } = shardRange(s, t.microShardSize, t.indices.length);
  const size = 8 * 8;
  return { x: t.x!.slice(from * size, to * size), y: t.labels!.slice(from, to) };
}

/** `a + b` element-wise in float32. */
export function add(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

/** True when the two arrays hold the same bits. */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
