/**
 * What the insights views share: the pinned parameters of a run, the cached passes over its
 * test set, the limits, and small pure helpers (receptive fields, rounding, query numbers).
 */
import type { RunConfig } from '@swarmgrad/coordinator';
import type { Dataset } from '@swarmgrad/data';
import { summarize, type LayerPlan, type ModelPlan, type ModelSpec } from '@swarmgrad/nn/core';
import type { Model } from '@swarmgrad/nn';
import type { InsightHeader, InsightLayer, InsightsLimits, TestSetInfo } from '@swarmgrad/protocol';
import { HttpError } from './router.js';

export type { InsightsLimits } from '@swarmgrad/protocol';

/** One run's pinned parameters and what was computed from them. */
export interface Pinned {
  runId: string;
  step: number;
  live: boolean;
  config: RunConfig;
  plan: ModelPlan;
  params: Float32Array;
  test: Dataset;
  predictions?: Predictions;
  maxima?: Map<number, LayerMaxima>;
}

/** Arg-max predictions over the first `samples` test images. */
export interface Predictions {
  samples: number;
  labels: Int32Array;
  predicted: Int32Array;
  confidence: Float32Array;
  lossSum: number;
}

/** Per image and channel: the largest activation of a layer and where it is. */
export interface LayerMaxima {
  samples: number;
  channels: number;
  max: Float32Array;
  position: Int32Array;
}

/** What every view needs besides the pin: the limits and the (lazily loaded) model of a spec. */
export interface ViewContext {
  limits: InsightsLimits;
  modelFor(spec: ModelSpec): Promise<Model>;
}

/** Layer types whose outputs are feature maps worth drawing. */
export const VISUAL_TYPES = new Set(['conv2d', 'conv1d', 'maxPool', 'avgPool']);

/** `header(pin)` fields every answer starts with. */
export function header(pin: Pinned): InsightHeader {
  return { runId: pin.runId, step: pin.step, live: pin.live, model: pin.plan.name };
}

/** The test set's facts every answer that shows images carries. */
export function testInfo(test: Dataset): TestSetInfo {
  return { name: test.name, length: test.length, shape: imageShape(test), numClasses: test.numClasses, classNames: classNames(test, test.numClasses) };
}

/** The layer an answer is about. */
export function layerInfo(plan: ModelPlan, layer: LayerPlan): InsightLayer {
  return { index: layer.index, type: layer.type, description: describe(plan, layer), outputShape: layer.outputShape, receptiveField: receptiveField(plan, layer.index).size };
}

/** `conv2d 6@5×5 same relu`: the model summary's words for a layer (as the dashboard's model table). */
export function describe(plan: ModelPlan, layer: LayerPlan): string {
  return summarize(plan).find((row) => row.index === layer.index)?.description ?? layer.type;
}

/**
 * Where a unit of layer `index`'s output looks in the input: output position `(oy, ox)`
 * sees the input rows `offset[0] + oy·jump[0]` … `+ size[0] − 1` (columns likewise). Rows
 * and columns outside the image are padding.
 */
export function receptiveField(plan: ModelPlan, index: number): { size: [number, number]; jump: [number, number]; offset: [number, number] } {
  const size: [number, number] = [1, 1];
  const jump: [number, number] = [1, 1];
  const offset: [number, number] = [0, 0];
  for (const layer of plan.layers) {
    if (layer.index > index) break;
    if (!layer.window || !layer.strides) continue;
    const inShape = layer.inputShape.length === 3 ? layer.inputShape : [1, ...layer.inputShape];
    const outShape = layer.outputShape.length === 3 ? layer.outputShape : [1, ...layer.outputShape];
    for (const axis of [0, 1] as const) {
      const k = layer.window[axis];
      const s = layer.strides[axis];
      const padBefore = layer.padding === 'same' ? Math.floor(Math.max((outShape[axis]! - 1) * s + k - inShape[axis]!, 0) / 2) : 0;
      offset[axis] -= padBefore * jump[axis];
      size[axis] += (k - 1) * jump[axis];
      jump[axis] *= s;
    }
  }
  return { size, jump, offset };
}

/** Throws 409 when the test set's samples do not fit the model (another dataset). */
export function checkFits(pin: Pinned): void {
  const expected = pin.plan.inputShape.join('×');
  const got = pin.test.sampleShape.join('×');
  if (expected !== got) throw new HttpError(409, 'NO_TEST_DATA', `model ${pin.plan.name} takes ${expected} inputs; the test set ${pin.test.name} has ${got}`);
}

export function imageShape(test: Dataset): [number, number, number] {
  const s = test.sampleShape;
  if (s.length === 3) return [s[0]!, s[1]!, s[2]!];
  if (s.length === 2) return [1, s[0]!, s[1]!];
  return [1, s[0] ?? 1, 1];
}

export function sampleValues(test: Dataset): number {
  return test.sampleShape.reduce((a, b) => a * b, 1);
}

export function classNames(test: Dataset, classes: number): string[] {
  return Array.from({ length: classes }, (_, k) => test.classNames?.[k] ?? String(k));
}


export function intParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new HttpError(400, 'BAD_REQUEST', `${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function range(start: number, end: number): Uint32Array {
  return Uint32Array.from({ length: end - start }, (_, i) => start + i);
}

export function argMax(values: ArrayLike<number>, start: number, length: number): number {
  let best = 0;
  for (let k = 1; k < length; k++) if (values[start + k]! > values[start + best]!) best = k;
  return best;
}

/** Five significant digits: plenty for drawing, a third of the JSON of full floats. */
export function round(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return value === 0 ? 0 : Number(value.toPrecision(5));
}

export function rounded(values: Float32Array): number[] {
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = round(values[i]!);
  return out;
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
