/**
 * `swarmgrad export --checkpoint FILE --format onnx|tfjs --out PATH`: a trained model out of
 * swarmgrad, as ONNX or as a TensorFlow.js LayersModel, with the run's class names and
 * normalisation.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ExportError, toOnnx, toTfjsLayersModel, type ExportInput } from '@swarmgrad/export';
import type { Checkpoint } from '@swarmgrad/coordinator';
import { parseArgs, usage, UsageError, type FlagSpec } from './args.js';
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
    if (error instanceof ExportError) throw new UsageError(`${options.checkpoint}: ${error.code}: ${error.message}`);
    throw error;
  }
}

const exportSpecs = {
  checkpoint: { type: 'string', help: 'checkpoint file (e.g. runs/<id>/final.ckpt)' },
  format: { type: 'string', choices: ['onnx', 'tfjs'], help: 'onnx: one .onnx file; tfjs: a folder with model.json + weights for tf.loadLayersModel', default: 'onnx' },
  out: { type: 'string', help: 'output: model.onnx (onnx) or a folder (tfjs)' },
  json: { type: 'boolean', help: 'print JSON' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies Record<string, FlagSpec>;

/** `swarmgrad export`: parses `argv` and calls {@link runExport}. */
export async function exportCommand(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, exportSpecs);
  if (flags.help) {
    console.log(usage('export', 'Export a checkpoint as ONNX (input "input" NHWC float32 in [0, 1], output "probabilities") or a TensorFlow.js LayersModel.', exportSpecs));
    return 0;
  }
  const checkpoint = (flags.checkpoint as string | undefined) ?? positional[0];
  if (!checkpoint) throw new UsageError('--checkpoint FILE is required');
  const format = ((flags.format as string | undefined) ?? 'onnx') as 'onnx' | 'tfjs';
  const out = (flags.out as string | undefined) ?? (format === 'onnx' ? 'model.onnx' : 'model-tfjs');
  const result = await runExport({ checkpoint, format, out });
  if (flags.json) console.log(JSON.stringify(result));
  else console.log(`wrote ${result.files.join(', ')} (${result.bytes.toLocaleString('en-US')} bytes, ${result.classNames.length} classes)`);
  return 0;
}
