/**
 * What every exporter takes: a model spec, its flat parameters, and optionally the class names
 * and the per-channel normalisation the model was trained with. Validated once here.
 */
import { NnError, planModel, type LayerPlan, type ModelPlan, type ModelSpec } from '@swarmgrad/nn/core';
import { ExportError, ExportErrorCode } from './errors.js';

/** Per-channel normalisation the model expects: `x = (pixel / 255 - mean[c]) / std[c]`. */
export interface ExportNormalization {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** A trained model to export. */
export interface ExportInput {
  /** The `@swarmgrad/nn` model spec. */
  readonly spec: ModelSpec;
  /** The flat parameters, in `@swarmgrad/nn`'s layout (layers in order; kernel then bias; tfjs shapes). */
  readonly params: Float32Array;
  /** Class names, one per output. Default `class0`, `class1`, … */
  readonly classNames?: readonly string[];
  /** The normalisation applied to `[0, 1]` pixels before the first layer; it becomes part of the exported graph. */
  readonly normalization?: ExportNormalization;
  /** Free-form name. Default: the spec's name. */
  readonly name?: string;
}

/** An {@link ExportInput} after validation. */
export interface CheckedModel {
  readonly plan: ModelPlan;
  readonly params: Float32Array;
  readonly classNames: readonly string[];
  readonly normalization?: ExportNormalization;
  readonly name: string;
  /** The layers to run: a final `softmax` layer is dropped (exporters add their own). */
  readonly layers: readonly LayerPlan[];
}

/**
 * Validates an export: the spec plans, the parameters fit it and are finite, the loss is
 * `softmaxCrossEntropy` (outputs are class probabilities), the class names and the
 * normalisation fit the model, and every layer is 2-D image or dense.
 *
 * @throws {@link ExportError} `UNSUPPORTED_MODEL`, `BAD_PARAMS`, `BAD_OPTIONS`
 */
export function checkExportInput(input: ExportInput): CheckedModel {
  let plan: ModelPlan;
  try {
    plan = planModel(input.spec);
  } catch (error) {
    if (error instanceof NnError) throw new ExportError(ExportErrorCode.UNSUPPORTED_MODEL, `the model spec is invalid: ${error.message}`, { cause: error });
    throw error;
  }
  if (plan.loss !== 'softmaxCrossEntropy') {
    throw new ExportError(ExportErrorCode.UNSUPPORTED_MODEL, `model ${plan.name} has loss ${plan.loss}; export writes classifiers (softmaxCrossEntropy) whose output is probabilities`);
  }
  if (plan.outputShape.length !== 1) {
    throw new ExportError(ExportErrorCode.UNSUPPORTED_MODEL, `model ${plan.name} outputs [${plan.outputShape.join(', ')}] per sample; a classifier ends in a rank-1 output (flatten, dense)`);
  }
  const unsupported = plan.layers.find((l) => l.type === 'conv1d' || ((l.type === 'maxPool' || l.type === 'avgPool') && l.inputShape.length !== 3));
  if (unsupported) throw new ExportError(ExportErrorCode.UNSUPPORTED_MODEL, `layer ${unsupported.index} (${unsupported.type}) is 1-D; export supports 2-D image models and dense layers`);
  const params = input.params;
  if (!(params instanceof Float32Array) || params.length !== plan.paramCount) {
    throw new ExportError(ExportErrorCode.BAD_PARAMS, `params has ${String((params as { length?: number })?.length)} values; model ${plan.name} has ${plan.paramCount} parameters`);
  }
  const bad = params.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new ExportError(ExportErrorCode.BAD_PARAMS, `parameter ${bad} is ${params[bad]}; expected finite values`);
  const outputs = plan.outputShape[0] as number;
  const classNames = input.classNames ?? Array.from({ length: outputs }, (_, k) => `class${k}`);
  if (classNames.length !== outputs || !classNames.every((n) => typeof n === 'string')) {
    throw new ExportError(ExportErrorCode.BAD_OPTIONS, `${classNames.length} class names given; model ${plan.name} has ${outputs} outputs`);
  }
  const normalization = input.normalization;
  if (normalization !== undefined) checkNormalization(normalization, plan);
  const last = plan.layers[plan.layers.length - 1];
  const layers = last?.type === 'softmax' ? plan.layers.slice(0, -1) : plan.layers;
  return { plan, params, classNames: [...classNames], ...(normalization && { normalization }), name: input.name ?? plan.name, layers };
}

function checkNormalization(normalization: ExportNormalization, plan: ModelPlan): void {
  const channels = plan.inputShape[plan.inputShape.length - 1] as number;
  const { mean, std } = normalization;
  if (plan.inputShape.length !== 3 || mean.length !== channels || std.length !== channels) {
    throw new ExportError(ExportErrorCode.BAD_OPTIONS, `normalisation has ${mean.length} means and ${std.length} stds; model input [${plan.inputShape.join(', ')}] needs an image input and one per channel`);
  }
  if (!mean.every(Number.isFinite) || !std.every((s) => Number.isFinite(s) && s > 0)) {
    throw new ExportError(ExportErrorCode.BAD_OPTIONS, `normalisation mean [${mean.join(', ')}] std [${std.join(', ')}]: means must be finite and stds positive`);
  }
}

/** The kernel and bias of a layer, as views of the flat parameters. */
export function layerTensors(model: CheckedModel, layer: LayerPlan): { kernel: Float32Array; bias: Float32Array; kernelShape: number[] } {
  const [kernel, bias] = layer.params;
  if (!kernel || !bias) throw new ExportError(ExportErrorCode.UNSUPPORTED_MODEL, `layer ${layer.index} (${layer.type}) has no kernel and bias`);
  return {
    kernel: model.params.subarray(kernel.offset, kernel.offset + kernel.size),
    bias: model.params.subarray(bias.offset, bias.offset + bias.size),
    kernelShape: kernel.shape,
  };
}
