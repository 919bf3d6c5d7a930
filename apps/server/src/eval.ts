import { CoordinatorError, CoordinatorErrorCode, paramsSha256, type Checkpoint } from '@swarmgrad/coordinator';
import { readCheckpoint } from '@swarmgrad/coordinator/node';
import { createModel, useBackend } from '@swarmgrad/nn';
import { parseCommand, usage, UsageError } from './args.js';
import { EVAL, INSPECT } from './commands.js';
import { datasetFlag, loadData } from './run-setup.js';
import { dataOptionsFromDescriptor, type DataOptions } from './image-data.js';
import { classReport, formatClassReport } from './class-report.js';

/** `swarmgrad eval --checkpoint F`: test accuracy, loss and the confusion matrix. */
export async function evalCommand(argv: string[]): Promise<number> {
  const { flags, help } = parseCommand(EVAL, argv);
  if (help) {
    console.log(usage(EVAL));
    return 0;
  }
  const path = flags.checkpoint;
  const checkpoint = await loadCheckpoint(path);
  const data = await loadData(flags.data ?? runDataset(checkpoint), evalDataOptions(checkpoint, flags.strict));
  await useBackend(flags.backend);
  const model = createModel(checkpoint.run.modelSpec);
  if (model.paramCount !== checkpoint.params.length) throw new UsageError('BAD_INPUT', `${path}: has ${checkpoint.params.length} parameters; its model has ${model.paramCount}`);
  if (model.inputShape.join('x') !== data.test.sampleShape.join('x')) throw new UsageError('BAD_INPUT', `the model takes [${model.inputShape.join(', ')}] but the data's samples are [${data.test.sampleShape.join(', ')}]`);
  const classes = model.outputShape[0]!;
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let lossSum = 0;
  let correct = 0;
  const n = data.test.length;
  const chunk = 500;
  for (let start = 0; start < n; start += chunk) {
    const indices = Uint32Array.from({ length: Math.min(chunk, n - start) }, (_, i) => start + i);
    const { x, y } = data.test.batch(indices);
    const result = await model.evaluate(checkpoint.params, x, y);
    lossSum += result.lossSum;
    correct += result.correct;
    const probs = await model.predict(checkpoint.params, x);
    for (let i = 0; i < indices.length; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (probs[i * classes + k]! > probs[i * classes + best]!) best = k;
      confusion[y[i]!]![best]!++;
    }
  }
  if (!Number.isFinite(lossSum)) {
    throw new CoordinatorError(CoordinatorErrorCode.NON_FINITE_STATE, `${path}: the model's loss on the test set is ${lossSum / n} (largest parameter magnitude ${largestMagnitude(checkpoint.params)}); these parameters do not give finite outputs`);
  }
  const classNames = Array.from({ length: classes }, (_, k) => data.test.classNames?.[k] ?? String(k));
  const perClass = classReport(confusion, classNames);
  const result = { checkpoint: path, runId: checkpoint.run.runId, step: checkpoint.step, samples: n, accuracy: correct / n, loss: lossSum / n, classNames, confusion, perClass, paramsSha256: paramsSha256(checkpoint.params) };
  if (flags.json) {
    console.log(JSON.stringify(result));
    return 0;
  }
  console.log(`${checkpoint.run.runId} at step ${checkpoint.step}: accuracy ${(result.accuracy * 100).toFixed(2)}% (${correct.toLocaleString('en-US')}/${n.toLocaleString('en-US')}), loss ${result.loss.toFixed(4)}`);
  console.log(formatClassReport(confusion, classNames, perClass));
  return 0;
}

/** `swarmgrad inspect F`: run spec, step, optimizer and the parameters' SHA-256. */
export async function inspectCommand(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseCommand(INSPECT, argv);
  if (help) {
    console.log(usage(INSPECT));
    return 0;
  }
  const path = positional!;
  const checkpoint = await loadCheckpoint(path);
  const { run } = checkpoint;
  const evals = checkpoint.history.evals;
  const steps = checkpoint.history.steps;
  const info = {
    file: path,
    runId: run.runId,
    step: checkpoint.step,
    totalSteps: run.totalSteps,
    model: run.modelSpec,
    dataset: run.dataset,
    batchSize: run.batchSize,
    microShardSize: run.microShardSize,
    seed: run.seed,
    codec: run.codec ?? 'f32',
    optimizer: { config: run.optimizer, stepCount: checkpoint.optimizer.stepCount, buffers: Object.keys(checkpoint.optimizer.buffers) },
    learningRateOverride: checkpoint.lr,
    parameterCount: checkpoint.params.length,
    paramsSha256: paramsSha256(checkpoint.params),
    lastLoss: steps[steps.length - 1]?.loss ?? null,
    lastEval: evals[evals.length - 1] ?? null,
    createdAt: new Date(checkpoint.createdAt).toISOString(),
  };
  if (flags.json) {
    console.log(JSON.stringify(info));
    return 0;
  }
  console.log(
    [
      `${path}`,
      `run          ${info.runId}, step ${info.step}/${info.totalSteps}, taken ${info.createdAt}`,
      `model        ${run.modelSpec.name ?? 'model'} (${info.parameterCount.toLocaleString('en-US')} parameters), dataset ${run.dataset.name}`,
      `batch        ${info.batchSize} (${info.batchSize / info.microShardSize} micro-shards of ${info.microShardSize}), seed ${info.seed}, codec ${info.codec}`,
      `optimizer    ${JSON.stringify(run.optimizer)}, ${info.optimizer.stepCount} steps taken${info.learningRateOverride !== null ? `, lr set to ${info.learningRateOverride}` : ''}`,
      `last loss    ${info.lastLoss ?? '—'}`,
      `last eval    ${info.lastEval ? `${(info.lastEval.accuracy * 100).toFixed(2)}% at step ${info.lastEval.step}` : '—'}`,
      `paramsSha256 ${info.paramsSha256}`,
    ].join('\n'),
  );
  return 0;
}

export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  try {
    return await readCheckpoint(path);
  } catch (error) {
    const e = error as { code?: string; message: string };
    if (e.code === 'ENOENT') throw new UsageError('BAD_INPUT', `no checkpoint at ${path}`);
    if (e.code?.startsWith('CHECKPOINT')) throw new UsageError('BAD_INPUT', `${e.code}: ${e.message}`);
    throw error;
  }
}

/** Eval sees data as the run's training did: its normalisation, class names and the model's input size; no augmentation. */
function evalDataOptions(checkpoint: Checkpoint, strict: boolean): DataOptions {
  const options: DataOptions = { ...dataOptionsFromDescriptor(checkpoint.run.dataset, false), testOnly: true, ...(strict && { strict }) };
  const shape = checkpoint.run.modelSpec.inputShape;
  if (shape.length === 3 && (shape[2] === 1 || shape[2] === 3)) {
    options.imageSize = [shape[0]!, shape[1]!];
    options.channels = shape[2];
  }
  return options;
}

function largestMagnitude(params: Float32Array): number {
  let largest = 0;
  for (const value of params) largest = Math.max(largest, Math.abs(value));
  return largest;
}

/** The run's dataset when it is a bundled one; a path named inside a checkpoint is never followed without `--data`. */
function runDataset(checkpoint: Checkpoint): string {
  const d = checkpoint.run.dataset;
  if (typeof d.dir === 'string' || d.name === 'idx') {
    throw new UsageError('MISSING_ARGUMENT', `the checkpoint's run trained on ${d.name}:${JSON.stringify(d.dir)}; eval does not follow a path named inside a checkpoint: pass --data ${d.name}:DIR to choose the test set`);
  }
  return datasetFlag(d);
}
