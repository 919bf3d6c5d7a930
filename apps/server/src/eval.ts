import { CoordinatorError, CoordinatorErrorCode, paramsSha256, type Checkpoint } from '@swarmgrad/coordinator';
import { readCheckpoint } from '@swarmgrad/coordinator/node';
import { createModel, useBackend, type BackendName } from '@swarmgrad/nn';
import { parseArgs, usage, UsageError, type FlagSpec } from './args.js';
import { loadData } from './run-setup.js';

const evalSpecs = {
  checkpoint: { type: 'string', help: 'checkpoint file (e.g. runs/<id>/final.ckpt)' },
  data: { type: 'string', help: 'mnist, idx:DIR or synthetic[:SEED] (default: the run\'s dataset when it is mnist or synthetic; an idx:DIR run needs --data)' },
  backend: { type: 'string', choices: ['wasm', 'cpu', 'webgpu'], help: 'compute backend', default: 'wasm' },
  json: { type: 'boolean', help: 'print JSON' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies Record<string, FlagSpec>;

/** `swarmgrad eval --checkpoint F`: test accuracy, loss and the confusion matrix. */
export async function evalCommand(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, evalSpecs);
  if (flags.help) {
    console.log(usage('eval', 'Evaluate a checkpoint on a test set: accuracy, loss, confusion matrix.', evalSpecs));
    return 0;
  }
  const path = (flags.checkpoint as string | undefined) ?? positional[0];
  if (!path) throw new UsageError('--checkpoint FILE is required');
  const checkpoint = await loadCheckpoint(path);
  const data = await loadData((flags.data as string | undefined) ?? datasetName(checkpoint));
  await useBackend(flags.backend as BackendName);
  const model = createModel(checkpoint.run.modelSpec);
  if (model.paramCount !== checkpoint.params.length) throw new UsageError(`${path}: has ${checkpoint.params.length} parameters; its model has ${model.paramCount}`);
  if (model.inputShape.join('x') !== data.test.sampleShape.join('x')) throw new UsageError(`the model takes [${model.inputShape.join(', ')}] but the data's samples are [${data.test.sampleShape.join(', ')}]`);
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
  const result = { checkpoint: path, runId: checkpoint.run.runId, step: checkpoint.step, samples: n, accuracy: correct / n, loss: lossSum / n, confusion, paramsSha256: paramsSha256(checkpoint.params) };
  if (flags.json) {
    console.log(JSON.stringify(result));
    return 0;
  }
  console.log(`${checkpoint.run.runId} at step ${checkpoint.step}: accuracy ${(result.accuracy * 100).toFixed(2)}% (${correct.toLocaleString('en-US')}/${n.toLocaleString('en-US')}), loss ${result.loss.toFixed(4)}`);
  console.log('\nconfusion matrix (rows: true class, columns: predicted)');
  const width = Math.max(5, ...confusion.flat().map((v) => String(v).length + 1));
  console.log(`true\\pred${Array.from({ length: classes }, (_, k) => String(k).padStart(width)).join('')}`);
  confusion.forEach((row, k) => console.log(`${String(k).padStart(9)}${row.map((v) => String(v).padStart(width)).join('')}`));
  return 0;
}

const inspectSpecs = {
  json: { type: 'boolean', help: 'print JSON' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies Record<string, FlagSpec>;

/** `swarmgrad inspect F`: run spec, step, optimizer and the parameters' SHA-256. */
export async function inspectCommand(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, inspectSpecs);
  if (flags.help) {
    console.log(usage('inspect', 'Show what a checkpoint holds.', inspectSpecs, 'FILE'));
    return 0;
  }
  const path = positional[0];
  if (!path) throw new UsageError('usage: swarmgrad inspect FILE [--json]');
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

async function loadCheckpoint(path: string): Promise<Checkpoint> {
  try {
    return await readCheckpoint(path);
  } catch (error) {
    const e = error as { code?: string; message: string };
    if (e.code === 'ENOENT') throw new UsageError(`no checkpoint at ${path}`);
    if (e.code?.startsWith('CHECKPOINT')) throw new UsageError(`${e.code}: ${e.message}`);
    throw error;
  }
}

function largestMagnitude(params: Float32Array): number {
  let largest = 0;
  for (const value of params) largest = Math.max(largest, Math.abs(value));
  return largest;
}

/** The run's dataset, when it is a bundled one; a path named inside a checkpoint is never followed without `--data`. */
function datasetName(checkpoint: Checkpoint): string {
  const d = checkpoint.run.dataset;
  if (d.name === 'idx') throw new UsageError(`the checkpoint's run trained on idx:${JSON.stringify(d.dir)}; eval does not follow a path named inside a checkpoint: pass --data idx:DIR to choose the test set`);
  if (d.name === 'synthetic') return `synthetic:${String(d.seed)}`;
  return d.name;
}
