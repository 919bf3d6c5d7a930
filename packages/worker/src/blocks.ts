/**
 * What a worker computes for one task, as pure functions: the samples checked against the
 * model, every block's value by the determinism contract, and the result messages.
 *
 * For every block, each micro-shard's gradient is one `model.gradients` call on exactly
 * that shard's samples (`shardRange` cuts them), and the shard gradients are combined with
 * `sumBlock`, the fixed pairwise tree; both come from `@swarmgrad/nn-core` through
 * `@swarmgrad/nn`. Shards are never batched together (`shardGradients` computes several in
 * one call, each exactly as alone), so a block's sum is bitwise identical on every worker of
 * one backend.
 */
import { shardRange, sumBlock, type Model, type TreeValue } from '@swarmgrad/nn';
import {
  encodeGradient,
  encodedGradientBytes,
  firstNonFiniteFloat,
  type Backend,
  type EvalBlockResult,
  type Int8Encoder,
  type ResultMessage,
  type TaskMessage,
  type TrainBlockResult,
  type WelcomeMessage,
} from '@swarmgrad/protocol';
import type { TaskSamples } from './core.js';
import { WorkerError, WorkerErrorCode } from './errors.js';

/** Most gradient values (shards × parameters) a task computes in one `shardGradients` call (16 MB). */
const PRECOMPUTE_FLOATS = 4 * 1024 * 1024;

/** One block's value: a subtree sum of gradients (train) or summed loss and hits (eval). */
export interface BlockValue {
  start: number;
  count: number;
  lossSum: number;
  sampleCount: number;
  correct: number;
  grads: Float32Array | undefined;
}

/** A result message before its timing is known. */
export type Untimed<T> = T extends unknown ? Omit<T, 'timing'> : never;

/** Where a task's labels or targets are and how big one sample is. */
export interface SampleLayout {
  sampleSize: number;
  y: Int32Array | Float32Array;
  yPerSample: number;
}

/** Checks that a task's samples fit the model; throws `BAD_TASK` (or `MISSING_SAMPLES`) saying what is wrong. */
export function checkSamples(task: TaskMessage, samples: TaskSamples, model: Model): SampleLayout {
  const n = task.indices.length;
  const sampleSize = model.inputShape.reduce((a, b) => a * b, 1);
  if (!(samples.x instanceof Float32Array) || samples.x.length !== n * sampleSize) {
    throw new WorkerError(
      WorkerErrorCode.BAD_TASK,
      `task ${task.taskId} has ${samples.x?.length ?? 0} input values for ${n} samples; model ${model.name} takes [${model.inputShape.join(', ')}] = ${sampleSize} per sample`,
    );
  }
  if (model.plan.loss === 'softmaxCrossEntropy') {
    if (!(samples.labels instanceof Int32Array) || samples.labels.length !== n) {
      throw new WorkerError(
        samples.labels === undefined ? WorkerErrorCode.MISSING_SAMPLES : WorkerErrorCode.BAD_TASK,
        `task ${task.taskId}: model ${model.name} is a classifier and needs one Int32 label per sample (${n}), got ${samples.labels?.length ?? 'none'}`,
      );
    }
    return { sampleSize, y: samples.labels, yPerSample: 1 };
  }
  const outputs = model.outputShape[0] ?? 1;
  if (!(samples.targets instanceof Float32Array) || samples.targets.length !== n * outputs) {
    throw new WorkerError(
      samples.targets === undefined ? WorkerErrorCode.MISSING_SAMPLES : WorkerErrorCode.BAD_TASK,
      `task ${task.taskId}: model ${model.name} is a regression with ${outputs} outputs and needs ${n * outputs} float targets, got ${samples.targets?.length ?? 'none'}`,
    );
  }
  return { sampleSize, y: samples.targets, yPerSample: outputs };
}

/** Gradients and losses must be finite on the wire; a diverged model is reported instead of sent. */
function checkFinite(task: TaskMessage, block: BlockValue): void {
  const where = `task ${task.taskId} (step ${task.step}) block {start: ${block.start}, count: ${block.count}}`;
  if (!Number.isFinite(block.lossSum)) {
    throw new WorkerError(WorkerErrorCode.COMPUTE_FAILED, `${where}: loss sum is ${block.lossSum}; the model has diverged at these parameters`);
  }
  if (block.grads !== undefined) {
    const bad = firstNonFiniteFloat(block.grads);
    if (bad >= 0) {
      throw new WorkerError(WorkerErrorCode.COMPUTE_FAILED, `${where}: gradient value ${bad} is ${block.grads[bad]}; gradients must be finite`);
    }
  }
}

/**
 * Computes every block of the task. Task-local shard `s` holds samples
 * `[s*m, min(s*m + m, n))` (`shardRange` of the determinism contract); blocks take the task's shards in order. A block may hold fewer
 * shards than its `count` when it reaches past the step's last shard M (only the last
 * block can): then it is the tree node over `start .. start + present - 1` with
 * `shardCount = start + present`, exactly as the coordinator's tree treats it.
 */
export async function computeBlocks(
  task: TaskMessage,
  model: Model,
  params: Float32Array,
  samples: TaskSamples,
  layout: SampleLayout,
  maybeYield: () => Promise<void>,
): Promise<BlockValue[]> {
  const m = task.microShardSize;
  const n = task.indices.length;
  const shardsInTask = Math.ceil(n / m);
  const shardSamples = (shard: number): { x: Float32Array; y: Int32Array | Float32Array } => {
    const { start: from, end: to } = shardRange(shard, m, n);
    // Copies, not views: every backend sees a plain array holding exactly this shard.
    return {
      x: samples.x.slice(from * layout.sampleSize, to * layout.sampleSize),
      y: layout.y.slice(from * layout.yPerSample, to * layout.yPerSample),
    };
  };

  // Every shard of the task in one call when the results are small (on wasm-step all threads
  // then share the whole task); large models keep one shard's gradient in memory at a time.
  let precomputed: TreeValue[] | undefined;
  if (task.kind === 'train' && shardsInTask > 1 && shardsInTask * model.paramCount <= PRECOMPUTE_FLOATS) {
    await maybeYield();
    const sizes = Array.from({ length: shardsInTask }, (_, s) => {
      const { start, end } = shardRange(s, m, n);
      return end - start;
    });
    precomputed = (await model.shardGradients(params, samples.x, layout.y, sizes)).map((r) => ({ grads: r.grads, lossSum: r.lossSum, count: r.count }));
  }

  const values: BlockValue[] = [];
  let firstShard = 0;
  for (const block of task.blocks) {
    const present = Math.min(block.count, shardsInTask - firstShard);
    if (present <= 0) {
      throw new WorkerError(
        WorkerErrorCode.BAD_TASK,
        `task ${task.taskId}: block {start: ${block.start}, count: ${block.count}} has no samples (${n} indices of ${m} per shard cover ${shardsInTask} shards)`,
      );
    }
    const base = firstShard - block.start; // task-local shard of micro-shard `leaf` is leaf + base
    if (task.kind === 'train') {
      const value = await sumBlock(block, block.start + present, async (leaf): Promise<TreeValue> => {
        await maybeYield();
        if (precomputed !== undefined) return precomputed[leaf + base]!;
        const { x, y } = shardSamples(leaf + base);
        const result = await model.gradients(params, x, y);
        return { grads: result.grads, lossSum: result.lossSum, count: result.count };
      });
      values.push({ start: block.start, count: block.count, lossSum: value.lossSum, sampleCount: value.count, correct: 0, grads: value.grads });
    } else {
      let lossSum = 0;
      let correct = 0;
      let sampleCount = 0;
      for (let shard = firstShard; shard < firstShard + present; shard++) {
        await maybeYield();
        const { x, y } = shardSamples(shard);
        const result = await model.evaluate(params, x, y);
        lossSum += result.lossSum;
        correct += result.correct;
        sampleCount += result.count;
      }
      values.push({ start: block.start, count: block.count, lossSum, sampleCount, correct, grads: undefined });
    }
    firstShard += present;
    checkFinite(task, values[values.length - 1]!);
  }
  return values;
}

/** Builds the result message(s); blocks are split over several results when one frame would exceed the coordinator's limit. */
export function resultMessages(
  task: TaskMessage,
  welcome: WelcomeMessage,
  blocks: BlockValue[],
  backend: Backend,
  int8: Int8Encoder | undefined,
): Array<Untimed<ResultMessage>> {
  const base = { type: 'result' as const, taskId: task.taskId, runId: task.runId, step: task.step, backend };
  if (task.kind === 'eval') {
    const evalBlocks: EvalBlockResult[] = blocks.map((b) => ({ start: b.start, count: b.count, lossSum: b.lossSum, sampleCount: b.sampleCount, correct: b.correct }));
    return [{ ...base, kind: 'eval', blocks: evalBlocks }];
  }
  const codec = welcome.codec;
  const encoded: TrainBlockResult[] = blocks.map((b) => ({
    start: b.start,
    count: b.count,
    lossSum: b.lossSum,
    sampleCount: b.sampleCount,
    // Error feedback: the one int8 encoder sees every block gradient, in order.
    gradient: encodeGradient(codec, b.grads!, codec === 'int8' ? int8 : undefined),
  }));
  const perBlock = encodedGradientBytes(codec, welcome.parameterCount) + 256;
  const budget = welcome.limits.maxFrameBytes - 1024;
  const groups: TrainBlockResult[][] = [];
  let group: TrainBlockResult[] = [];
  for (const block of encoded) {
    if (group.length > 0 && (group.length + 1) * perBlock > budget) {
      groups.push(group);
      group = [];
    }
    group.push(block);
  }
  groups.push(group);
  return groups.map((g) => ({ ...base, kind: 'train' as const, blocks: g }));
}
