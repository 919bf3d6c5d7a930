/**
 * The insights views: each turns a run's pinned parameters (and a query) into the JSON a
 * dashboard draws. Passes over the test set run in chunks that yield to the event loop and are
 * cached on the pin, so switching filters or layers later costs nothing.
 */
import type { LayerPlan } from '@swarmgrad/nn/core';
import type {
  ActivationLayer,
  ActivationsInsight,
  ConfusionInsight,
  FiltersInsight,
  InsightIndex,
  MisclassifiedInsight,
  Patch,
  PatchesInsight,
} from '@swarmgrad/protocol';
import { HttpError } from './router.js';
import { displaySamples } from './image-data.js';
import {
  argMax,
  classNames,
  describe,
  header,
  imageShape,
  intParam,
  layerInfo,
  range,
  receptiveField,
  round,
  rounded,
  sampleValues,
  testInfo,
  VISUAL_TYPES,
  yieldToEventLoop,
  type LayerMaxima,
  type Pinned,
  type Predictions,
  type ViewContext,
} from './insights-common.js';

/** The model's layers (which are visual, their receptive fields), the test set and the limits. */
export function indexView(ctx: ViewContext, pin: Pinned): InsightIndex {
  return {
  ...header(pin),
  model: {
    name: pin.plan.name,
    inputShape: pin.plan.inputShape,
    outputShape: pin.plan.outputShape,
    layers: pin.plan.layers.map((layer) => ({
      index: layer.index,
      type: layer.type,
      description: describe(pin.plan, layer),
      outputShape: layer.outputShape,
      visual: VISUAL_TYPES.has(layer.type),
      receptiveField: VISUAL_TYPES.has(layer.type) ? receptiveField(pin.plan, layer.index).size : null,
    })),
  },
  test: testInfo(pin.test),
  limits: ctx.limits,
  };
}

/** A convolution layer's filters (`layer`, default the first) as numbers, with the bias and value range. */
export function filtersView(_ctx: ViewContext, pin: Pinned, query: URLSearchParams): FiltersInsight {
  const convs = pin.plan.layers.filter((l) => l.type === 'conv2d' || l.type === 'conv1d');
  if (!convs.length) throw new HttpError(409, 'NO_CONV_LAYER', `model ${pin.plan.name} has no convolution layer`);
  const layerIndex = intParam(query, 'layer', convs[0]!.index, 0, pin.plan.layers.length - 1);
  const layer = convs.find((l) => l.index === layerIndex);
  if (!layer) throw new HttpError(400, 'BAD_REQUEST', `layer ${layerIndex} (${pin.plan.layers[layerIndex]?.type}) is not a convolution layer; convolution layers: ${convs.map((l) => l.index).join(', ')}`);
  const kernelInfo = layer.params.find((p) => p.name === 'kernel')!;
  const biasInfo = layer.params.find((p) => p.name === 'bias');
  // conv2d [kh, kw, cin, cout]; conv1d [k, cin, cout] is drawn as [1, k, cin, cout].
  const shape = kernelInfo.shape.length === 4 ? kernelInfo.shape : [1, ...kernelInfo.shape];
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const kernel = pin.params.subarray(kernelInfo.offset, kernelInfo.offset + kernelInfo.size);
  const shown = Math.min(cout, 256);
  const out: number[][] = [];
  let min = Infinity;
  let max = -Infinity;
  for (let f = 0; f < shown; f++) {
    const values = new Float32Array(kh * kw * cin);
    for (let i = 0; i < kh * kw * cin; i++) {
      const v = kernel[i * cout + f]!;
      values[i] = v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    out.push(rounded(values));
  }
  const bias = biasInfo ? Array.from(pin.params.subarray(biasInfo.offset, biasInfo.offset + shown), (v) => round(v)) : null;
  return { ...header(pin), layer: layerInfo(pin.plan, layer), shape: [kh, kw, cin, cout], count: cout, filters: out, bias, min: round(min), max: round(max) };
}

/** One test image (`image`), its class probabilities and every visual layer's feature maps. */
export async function activationsView(ctx: ViewContext, pin: Pinned, query: URLSearchParams): Promise<ActivationsInsight> {
  const image = intParam(query, 'image', 0, 0, pin.test.length - 1);
  const model = await ctx.modelFor(pin.config.modelSpec);
  const { x, y } = pin.test.batch([image]);
  const outputs = await model.activations(pin.params, x);
  const probabilities = pin.plan.loss === 'softmaxCrossEntropy' ? await model.predict(pin.params, x) : null;
  const layers = pin.plan.layers
    .filter((layer) => VISUAL_TYPES.has(layer.type))
    .map((layer): ActivationLayer => {
      const data = outputs[layer.index]!.data;
      const shape = layer.outputShape.length === 3 ? layer.outputShape : [1, ...layer.outputShape];
      const [h, w, c] = shape as [number, number, number];
      const channels = Math.min(c, ctx.limits.channels);
      const maps = new Float32Array(h * w * channels);
      const channelMax = new Array<number>(channels).fill(-Infinity);
      const channelMin = new Array<number>(channels).fill(Infinity);
      for (let p = 0; p < h * w; p++) {
        for (let k = 0; k < channels; k++) {
          const v = data[p * c + k]!;
          maps[p * channels + k] = v;
          if (v > channelMax[k]!) channelMax[k] = v;
          if (v < channelMin[k]!) channelMin[k] = v;
        }
      }
      return { ...layerInfo(pin.plan, layer), shape: [h, w, channels], channels: c, data: rounded(maps), min: channelMin.map(round), max: channelMax.map(round) };
    });
  const predicted = probabilities ? argMax(probabilities, 0, probabilities.length) : null;
  return {
    ...header(pin),
    image: {
      index: image,
      label: y[0]!,
      predicted,
      probabilities: probabilities ? rounded(probabilities) : null,
      shape: imageShape(pin.test),
      data: rounded(x),
    },
    test: testInfo(pin.test),
    layers,
  };
}

/** The test images that excite `filter` of `layer` most, cut to the unit's receptive field. */
export async function topPatchesView(ctx: ViewContext, pin: Pinned, query: URLSearchParams): Promise<PatchesInsight> {
  const visual = pin.plan.layers.filter((l) => VISUAL_TYPES.has(l.type));
  if (!visual.length) throw new HttpError(409, 'NO_CONV_LAYER', `model ${pin.plan.name} has no convolution or pooling layer`);
  const layerIndex = intParam(query, 'layer', visual[0]!.index, 0, pin.plan.layers.length - 1);
  const layer = visual.find((l) => l.index === layerIndex);
  if (!layer) throw new HttpError(400, 'BAD_REQUEST', `layer ${layerIndex} has no feature maps; choose one of ${visual.map((l) => l.index).join(', ')}`);
  const channels = layer.outputShape[layer.outputShape.length - 1]!;
  const filter = intParam(query, 'filter', 0, 0, channels - 1);
  const count = intParam(query, 'count', 16, 1, ctx.limits.patches);
  const maxima = await layerMaxima(ctx, pin, layer);
  const order = Array.from({ length: maxima.samples }, (_, i) => i).sort(
    (a, b) => maxima.max[b * channels + filter]! - maxima.max[a * channels + filter]! || a - b,
  );
  const chosen = order.slice(0, count);
  const field = receptiveField(pin.plan, layer.index);
  const [height, width, depth] = imageShape(pin.test);
  const outShape = layer.outputShape.length === 3 ? layer.outputShape : [1, ...layer.outputShape];
  const outWidth = outShape[1]!;
  const { x, y } = pin.test.batch(chosen);
  const sampleSize = height * width * depth;
  const patches = chosen.map((image, n): Patch => {
    const position = maxima.position[image * channels + filter]!;
    const oy = Math.floor(position / outWidth);
    const ox = position % outWidth;
    const top = field.offset[0] + oy * field.jump[0];
    const left = field.offset[1] + ox * field.jump[1];
    const [ph, pw] = field.size;
    const patch = new Float32Array(ph * pw * depth);
    for (let r = 0; r < ph; r++) {
      const iy = top + r;
      if (iy < 0 || iy >= height) continue;
      for (let col = 0; col < pw; col++) {
        const ix = left + col;
        if (ix < 0 || ix >= width) continue;
        for (let k = 0; k < depth; k++) patch[(r * pw + col) * depth + k] = x[n * sampleSize + (iy * width + ix) * depth + k]!;
      }
    }
    return { image, label: y[n]!, activation: round(maxima.max[image * channels + filter]!), y: oy, x: ox, top, left, data: rounded(patch) };
  });
  return {
    ...header(pin),
    layer: layerInfo(pin.plan, layer),
    filter,
    channels,
    samples: maxima.samples,
    receptiveField: { height: field.size[0], width: field.size[1], depth },
    patches,
  };
}

/** The confusion matrix over the first `confusionSamples` test images. */
export async function confusionView(ctx: ViewContext, pin: Pinned): Promise<ConfusionInsight> {
  const p = await predictions(ctx, pin);
  const classes = Math.max(pin.test.numClasses, pin.plan.outputShape[0] ?? 0);
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let correct = 0;
  for (let i = 0; i < p.samples; i++) {
    matrix[p.labels[i]!]![p.predicted[i]!]!++;
    if (p.labels[i] === p.predicted[i]) correct++;
  }
  return { ...header(pin), samples: p.samples, classes, classNames: classNames(pin.test, classes), matrix, accuracy: correct / p.samples, loss: round(p.lossSum / p.samples) };
}

/** The most confident mistakes (`limit`, optionally of one true `label`). */
export async function misclassifiedView(ctx: ViewContext, pin: Pinned, query: URLSearchParams): Promise<MisclassifiedInsight> {
  const p = await predictions(ctx, pin);
  const limit = intParam(query, 'limit', 36, 1, ctx.limits.misclassified);
  const label = query.has('label') ? intParam(query, 'label', 0, 0, pin.test.numClasses - 1) : undefined;
  const wrong: number[] = [];
  for (let i = 0; i < p.samples; i++) if (p.labels[i] !== p.predicted[i] && (label === undefined || p.labels[i] === label)) wrong.push(i);
  // The most confident mistakes first: they say most about what the network gets wrong.
  const shown = [...wrong].sort((a, b) => p.confidence[b]! - p.confidence[a]! || a - b).slice(0, limit);
  const x = shown.length ? displaySamples(pin.test, shown) : new Float32Array(0); // [0, 1] pixels, not the normalised inputs
  const size = imageShape(pin.test).reduce((a, b) => a * b, 1);
  return {
    ...header(pin),
    samples: p.samples,
    total: wrong.length,
    shape: imageShape(pin.test),
    classNames: classNames(pin.test, pin.plan.outputShape[0] ?? pin.test.numClasses),
    images: shown.map((index, n) => ({
      index,
      label: p.labels[index]!,
      predicted: p.predicted[index]!,
      confidence: round(p.confidence[index]!),
      data: rounded(x.subarray(n * size, (n + 1) * size)),
    })),
  };
}

/** Arg-max predictions over the first test images, computed once per pin. */
async function predictions(ctx: ViewContext, pin: Pinned): Promise<Predictions> {
  if (pin.predictions) return pin.predictions;
  if (pin.plan.loss !== 'softmaxCrossEntropy') throw new HttpError(409, 'NOT_A_CLASSIFIER', `model ${pin.plan.name} is not a classifier`);
  const model = await ctx.modelFor(pin.config.modelSpec);
  const samples = Math.min(ctx.limits.confusionSamples, pin.test.length);
  const classes = pin.plan.outputShape[0]!;
  const result: Predictions = { samples, labels: new Int32Array(samples), predicted: new Int32Array(samples), confidence: new Float32Array(samples), lossSum: 0 };
  const chunk = Math.max(1, Math.min(250, Math.floor(ctx.limits.chunkValues / Math.max(1, classes + sampleValues(pin.test)))));
  for (let start = 0; start < samples; start += chunk) {
    const indices = range(start, Math.min(samples, start + chunk));
    const { x, y } = pin.test.batch(indices);
    const probabilities = await model.predict(pin.params, x);
    for (let n = 0; n < indices.length; n++) {
      const best = argMax(probabilities, n * classes, classes);
      const i = start + n;
      result.labels[i] = y[n]!;
      result.predicted[i] = best;
      result.confidence[i] = probabilities[n * classes + best]!;
      result.lossSum -= Math.log(Math.max(probabilities[n * classes + y[n]!]!, 1e-12));
    }
    await yieldToEventLoop();
  }
  pin.predictions = result;
  return result;
}

/** Per image and channel the largest activation of every visual layer, computed once per pin. */
async function layerMaxima(ctx: ViewContext, pin: Pinned, layer: LayerPlan): Promise<LayerMaxima> {
  pin.maxima ??= new Map();
  const known = pin.maxima.get(layer.index);
  if (known) return known;
  const model = await ctx.modelFor(pin.config.modelSpec);
  const samples = Math.min(ctx.limits.patchSamples, pin.test.length);
  const visual = pin.plan.layers.filter((l) => VISUAL_TYPES.has(l.type));
  const perSample = pin.plan.layers.reduce((sum, l) => sum + l.outputShape.reduce((a, b) => a * b, 1), 0);
  const chunk = Math.max(1, Math.min(200, Math.floor(ctx.limits.chunkValues / Math.max(1, perSample))));
  // One pass fills every visual layer: choosing another layer or filter later costs nothing.
  const all = new Map<number, LayerMaxima>();
  for (const l of visual) {
    const channels = l.outputShape[l.outputShape.length - 1]!;
    all.set(l.index, { samples, channels, max: new Float32Array(samples * channels).fill(-Infinity), position: new Int32Array(samples * channels) });
  }
  for (let start = 0; start < samples; start += chunk) {
    const indices = range(start, Math.min(samples, start + chunk));
    const { x } = pin.test.batch(indices);
    const outputs = await model.activations(pin.params, x);
    for (const l of visual) {
      const target = all.get(l.index)!;
      const data = outputs[l.index]!.data;
      const channels = target.channels;
      const positions = l.outputShape.slice(0, -1).reduce((a, b) => a * b, 1);
      for (let n = 0; n < indices.length; n++) {
        const base = n * positions * channels;
        const row = (start + n) * channels;
        for (let p = 0; p < positions; p++) {
          for (let k = 0; k < channels; k++) {
            const v = data[base + p * channels + k]!;
            if (v > target.max[row + k]!) {
              target.max[row + k] = v;
              target.position[row + k] = p;
            }
          }
        }
      }
    }
    await yieldToEventLoop();
  }
  for (const [key, value] of all) pin.maxima.set(key, value);
  return all.get(layer.index)!;
}
