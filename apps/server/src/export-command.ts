/**
 * `swarmgrad export --checkpoint FILE --format onnx|tfjs --out PATH`: a trained model out of
 * swarmgrad, as ONNX or as a TensorFlow.js LayersModel, with the run's class names and
 * normalisation.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ExportError, toOnnx, toTfjsLayersModel, type ExportInput } from '@swarmgrad/export';
import type { Checkpoint } from '@swarmgrad/coordinator';
import { parseCommand, usage, UsageError } from './args.js';
import { EXPORT } from './commands.js';
import { loadCheckpoint } from './eval.js';
import { classNamesOf, normalizationOf } from './image-data.js';

/** Options of {@link runExport}, already parsed. */
export interface ExportOptions {
  checkpoint: string;
  format: 'onnx' | 'tfjs';
  /** The `.onnx` file, or the folder for `model.json` + weights. */
  out: string;
}

/** What {@link runExport} wrote. */
export interface ExportResult {
  format: 'onnx' | 'tfjs';
  files: string[];
  bytes: number;
  classNames: readonly string[];
}

/** The export input of a checkpoint: spec, parameters, class names and normalisation of its run. */
export function exportInputOf(checkpoint: Checkpoint): ExportInput {
  const classNames = classNamesOf(checkpoint.run.dataset);
  const normalization = normalizationOf(checkpoint.run.dataset);
  return { spec: checkpoint.run.modelSpec, params: checkpoint.params, ...(classNames && { classNames }), ...(normalization && { normalization }), name: checkpoint.run.runId };
}

/** Writes the export; `ExportError`s become usage errors naming the checkpoint. */
export async function runExport(options: ExportOptions): Promise<ExportResult> {
  const checkpoint = await loadCheckpoint(options.checkpoint);
  const input = exportInputOf(checkpoint);
  try {
    if (options.format === 'onnx') {
      const bytes = toOnnx(input);
      const out = resolve(options.out);
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, bytes);
      return { format: 'onnx', files: [out], bytes: bytes.length, classNames: input.classNames ?? [] };
    }
    const model = toTfjsLayersModel(input);
    const dir = resolve(options.out);
    await mkdir(dir, { recursive: true });
    const json = `${JSON.stringify(model.modelJson)}\n`;
    await writeFile(join(dir, 'model.json'), json);
    await writeFile(join(dir, model.weightsFile), model.weights);
    return { format: 'tfjs', files: [join(dir, 'model.json'), join(dir, model.weightsFile)], bytes: json.length + model.weights.length, classNames: input.classNames ?? [] };
  } catch (error) {
    if (error instanceof ExportError) throw new UsageError('BAD_INPUT', `${options.checkpoint}: ${error.code}: ${error.message}`);
    throw error;
  }
}

/** `swarmgrad export`: parses `argv` and calls {@link runExport}. */
export async function exportCommand(argv: string[]): Promise<number> {
  const { flags, help } = parseCommand(EXPORT, argv);
  if (help) {
    console.log(usage(EXPORT));
    return 0;
  }
  const format = flags.format as 'onnx' | 'tfjs';
  const out = flags.out ?? (format === 'onnx' ? 'model.onnx' : 'model-tfjs');
  const result = await runExport({ checkpoint: flags.checkpoint, format, out });
  if (flags.json) console.log(JSON.stringify(result));
  else console.log(`wrote ${result.files.join(', ')} (${result.bytes.toLocaleString('en-US')} bytes, ${result.classNames.length} classes)`);
  return 0;
}
