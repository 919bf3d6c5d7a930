/**
 * `swarmgrad predict --checkpoint FILE [--json] IMAGE...`: the class and the probabilities for
 * each image file, in the order given. Files are decoded, resized and normalised exactly as
 * the run's training data was.
 */
import { readFile } from 'node:fs/promises';
import { normalizationTable } from '@swarmgrad/data';
import { decodeImage, imageToSample } from '@swarmgrad/data/node';
import { createModel, useBackend, type BackendName } from '@swarmgrad/nn';
import { parseCommand, usage, UsageError } from './args.js';
import { PREDICT } from './commands.js';
import { loadCheckpoint } from './eval.js';
import { classNamesOf, normalizationOf } from './image-data.js';

/** Options of {@link runPredict}, already parsed. */
export interface PredictOptions {
  checkpoint: string;
  images: string[];
  backend?: BackendName;
}

/** One image's prediction. */
export interface Prediction {
  file: string;
  class: string;
  probabilities: Record<string, number>;
}

/** Predicts the class of each image; a corrupt image is a `DataError` `CORRUPT_IMAGE` naming it. */
export async function runPredict(options: PredictOptions): Promise<Prediction[]> {
  const checkpoint = await loadCheckpoint(options.checkpoint);
  const spec = checkpoint.run.modelSpec;
  if (spec.inputShape.length !== 3 || (spec.inputShape[2] !== 1 && spec.inputShape[2] !== 3)) {
    throw new UsageError('BAD_INPUT', `${options.checkpoint}: model input [${spec.inputShape.join(', ')}] is not an image with 1 or 3 channels`);
  }
  const [height, width, channels] = spec.inputShape as [number, number, 1 | 3];
  const table = normalizationTable(normalizationOf(checkpoint.run.dataset), channels);
  const size = height * width * channels;
  const x = new Float32Array(options.images.length * size);
  for (const [n, file] of options.images.entries()) {
    const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new UsageError('BAD_INPUT', `cannot read ${file} (${error.code ?? error.message})`);
    });
    const sample = imageToSample(decodeImage(file, bytes), height, width, channels);
    for (let i = 0; i < size; i++) x[n * size + i] = table[(i % channels) * 256 + (sample[i] as number)] as number;
  }
  await useBackend(options.backend ?? 'wasm');
  const model = createModel(spec);
  const probabilities = await model.predict(checkpoint.params, x);
  const classes = model.outputShape[0] as number;
  const names = classNamesOf(checkpoint.run.dataset) ?? Array.from({ length: classes }, (_, k) => String(k));
  return options.images.map((file, n) => {
    const row = Array.from(probabilities.subarray(n * classes, (n + 1) * classes));
    const best = row.indexOf(Math.max(...row));
    return { file, class: names[best] ?? String(best), probabilities: Object.fromEntries(row.map((p, k) => [names[k] ?? String(k), p])) };
  });
}

/** `swarmgrad predict`: parses `argv` and calls {@link runPredict}. */
export async function predictCommand(argv: string[]): Promise<number> {
  const { flags, positionals, help } = parseCommand(PREDICT, argv);
  if (help) {
    console.log(usage(PREDICT));
    return 0;
  }
  const predictions = await runPredict({ checkpoint: flags.checkpoint, images: positionals, backend: flags.backend as BackendName });
  if (flags.json) {
    console.log(JSON.stringify(predictions));
    return 0;
  }
  for (const p of predictions) {
    const top = Object.entries(p.probabilities).sort((a, b) => b[1] - a[1]).slice(0, 3);
    console.log(`${p.file}: ${p.class} (${top.map(([name, prob]) => `${name} ${(prob * 100).toFixed(1)}%`).join(', ')})`);
  }
  return 0;
}
