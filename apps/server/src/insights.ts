/**
 * "What the network learned" for dashboards (after Zeiler & Fergus, 2014): JSON routes under
 * `/api/runs/:id/insights/...` that run the model in the server process on the latest
 * parameters of the live run (`:id` = `current` or its run id) or on the newest checkpoint
 * of a past run in the output root.
 *
 * tfjs (`@swarmgrad/nn`, wasm backend, cpu as fallback) is loaded lazily on the first
 * request: a server nobody asks for insights never loads it. Computations run one at a time
 * and in small chunks, yielding to the event loop between chunks, so the coordinator keeps
 * ticking. Images and maps travel as plain numbers (HWC, row-major); the dashboard draws them.
 *
 * Parameters are **pinned**: the first request (or one with `refresh=1`) copies the run's
 * current parameters, and later requests use that copy until the next `refresh=1`. So the
 * filters, maps, patches and errors a dashboard shows all come from one step, and switching
 * filters or images reuses what was computed for it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Coordinator, RunConfig } from '@swarmgrad/coordinator';
import { latestCheckpoint } from '@swarmgrad/coordinator/node';
import type { Dataset } from '@swarmgrad/data';
import { planModel, summarize, type LayerPlan, type ModelPlan, type ModelSpec } from '@swarmgrad/nn/core';
import type { Model } from '@swarmgrad/nn';
import { join } from 'node:path';
import { listRuns } from './runs.js';
import { loadData } from './run-setup.js';

/** Limits of {@link InsightsOptions}: every request is bounded by them. */
export interface InsightsLimits {
  /** Test images (the first N) behind `confusion` and `misclassified`. Default 2,000. */
  confusionSamples: number;
  /** Test images (the first N) searched by `top-patches`. Default 1,000. */
  patchSamples: number;
  /** Most images `misclassified` returns. Default 64. */
  misclassified: number;
  /** Most patches `top-patches` returns. Default 36. */
  patches: number;
  /** Most channels per layer `activations` returns. Default 64. */
  channels: number;
  /** Most activation values held at once while scanning a chunk of images. Default 4,000,000. */
  chunkValues: number;
}

/** Options of {@link createInsightsRoutes}. */
export interface InsightsOptions {
  /** The live run's engine (its `params()`, `step`, `config`). */
  engine: Coordinator;
  /** The live run's test set (`batch(indices)` → `{ x, y }`). Without one, insights answer 409. */
  testData: Dataset | undefined;
  /** Folder whose sub-folders are runs' output folders (for past runs); usually the parent of `--out`. */
  runsRoot?: string;
  /** Backend to compute on. Default `wasm` (falls back to `cpu` when wasm cannot start). */
  backend?: 'wasm' | 'cpu';
  limits?: Partial<InsightsLimits>;
}

/** Default {@link InsightsLimits}. */
export const INSIGHTS_LIMITS: Readonly<InsightsLimits> = {
  confusionSamples: 2000,
  patchSamples: 1000,
  misclassified: 64,
  patches: 36,
  channels: 64,
  chunkValues: 4_000_000,
};

/** An HTTP answer the routes give for bad requests (400), unknown runs (404) and missing data (409). */
class InsightsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One run's pinned parameters and what was computed from them. */
interface Pinned {
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
interface Predictions {
  samples: number;
  labels: Int32Array;
  predicted: Int32Array;
  confidence: Float32Array;
  lossSum: number;
}

/** Per image and channel: the largest activation of a layer and where it is. */
interface LayerMaxima {
  samples: number;
  channels: number;
  max: Float32Array;
  position: Int32Array;
}

const ROUTE = /^\/api\/runs\/([^/]+)\/insights(?:\/([a-z-]+))?\/?$/;
const VISUAL_TYPES = new Set(['conv2d', 'conv1d', 'maxPool', 'avgPool']);

/**
 * Returns an `extraRoutes` handler for `startRunServer` that answers
 * `GET /api/runs/:id/insights[/filters|activations|top-patches|confusion|misclassified]`
 * and returns false for every other path. See `apps/dashboard/README.md` for the shapes.
 */
export function createInsightsRoutes(options: InsightsOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const limits: InsightsLimits = { ...INSIGHTS_LIMITS, ...options.limits };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) throw new TypeError(`insights limit ${key} must be a positive integer; got ${value}`);
  }
  const pins = new Map<string, Pinned>();
  const models = new Map<string, Model>();
  const datasets = new Map<string, Promise<Dataset>>();
  let nn: Promise<typeof import('@swarmgrad/nn')> | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  /** Runs `job` after every job before it: one computation at a time. */
  const serial = <T>(job: () => Promise<T>): Promise<T> => {
    const result = queue.then(job, job);
    queue = result.catch(() => undefined);
    return result;
  };

  /** Loads `@swarmgrad/nn` (tfjs) once and starts the backend. */
  const loadNn = (): Promise<typeof import('@swarmgrad/nn')> => {
    nn ??= (async () => {
      const module = await import('@swarmgrad/nn');
      const wanted = options.backend ?? 'wasm';
      try {
        await module.useBackend(wanted);
      } catch (error) {
        if (wanted === 'cpu') throw error;
        await module.useBackend('cpu');
      }
      return module;
    })();
    nn.catch(() => {
      nn = undefined;
    });
    return nn;
  };

  const modelFor = async (spec: ModelSpec): Promise<Model> => {
    const key = JSON.stringify(spec);
    const known = models.get(key);
    if (known) return known;
    const module = await loadNn();
    const model = module.createModel(spec);
    models.set(key, model);
    return model;
  };

  const testSetFor = (config: RunConfig): Promise<Dataset> => {
    const key = JSON.stringify(config.dataset);
    if (key === JSON.stringify(options.engine.config.dataset) && options.testData) return Promise.resolve(options.testData);
    let pending = datasets.get(key);
    if (!pending) {
      pending = loadData(datasetFlag(config.dataset)).then((data) => data.test);
      pending.catch(() => datasets.delete(key));
      datasets.set(key, pending);
    }
    return pending;
  };

  /** The run's pinned parameters; `refresh` (live run only) takes the current ones. */
  const pinned = async (id: string, refresh: boolean): Promise<Pinned> => {
    const engine = options.engine;
    const live = id === 'current' || id === engine.runId;
    const runId = live ? engine.runId : id;
    const known = pins.get(runId);
    if (known && !(live && refresh && known.step !== engine.step)) return known;
    let pin: Pinned;
    if (live) {
      if (!options.testData) throw new InsightsError(409, 'NO_TEST_DATA', `run ${runId} has no test set to look at`);
      const config = engine.config as RunConfig;
      pin = { runId, step: engine.step, live: true, config, plan: planModel(config.modelSpec), params: engine.params(), test: options.testData };
    } else {
      const run = options.runsRoot ? (await listRuns(options.runsRoot)).find((r) => r.runId === runId) : undefined;
      const checkpoint = run ? await latestCheckpoint(join(options.runsRoot!, run.out), runId) : undefined;
      if (!checkpoint) throw new InsightsError(404, 'NOT_FOUND', `no run ${JSON.stringify(runId)} with a checkpoint here`);
      const test = await testSetFor(checkpoint.run).catch((error: Error) => {
        throw new InsightsError(409, 'NO_TEST_DATA', `cannot load the test set of run ${runId}: ${error.message}`);
      });
      pin = { runId, step: checkpoint.step, live: false, config: checkpoint.run, plan: planModel(checkpoint.run.modelSpec), params: checkpoint.params, test };
    }
    checkFits(pin);
    pins.delete(runId);
    pins.set(runId, pin);
    // Parameters can be large (AlexNet: 250 MB): keep the live run's and two past runs'.
    for (const key of pins.keys()) {
      if (pins.size <= 3) break;
      if (key !== engine.runId) pins.delete(key);
    }
    return pin;
  };

  // ------------------------------------------------------------------------------------------
  // the views

  const index = (pin: Pinned) => ({
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
    limits,
  });

  const filters = (pin: Pinned, query: URLSearchParams) => {
    const convs = pin.plan.layers.filter((l) => l.type === 'conv2d' || l.type === 'conv1d');
    if (!convs.length) throw new InsightsError(409, 'NO_CONV_LAYER', `model ${pin.plan.name} has no convolution layer`);
    const layerIndex = intParam(query, 'layer', convs[0]!.index, 0, pin.plan.layers.length - 1);
    const layer = convs.find((l) => l.index === layerIndex);
    if (!layer) throw new InsightsError(400, 'BAD_REQUEST', `layer ${layerIndex} (${pin.plan.layers[layerIndex]?.type}) is not a convolution layer; convolution layers: ${convs.map((l) => l.index).join(', ')}`);
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
  };

  const activations = async (pin: Pinned, query: URLSearchParams) => {
    const image = intParam(query, 'image', 0, 0, pin.test.length - 1);
    const model = await modelFor(pin.config.modelSpec);
    const { x, y } = pin.test.batch([image]);
    const outputs = await model.activations(pin.params, x);
    const probabilities = pin.plan.loss === 'softmaxCrossEntropy' ? await model.predict(pin.params, x) : null;
    const layers = pin.plan.layers
      .filter((layer) => VISUAL_TYPES.has(layer.type))
      .map((layer) => {
        const data = outputs[layer.index]!.data;
        const shape = layer.outputShape.length === 3 ? layer.outputShape : [1, ...layer.outputShape];
        const [h, w, c] = shape as [number, number, number];
        const channels = Math.min(c, limits.channels);
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
  };

  const topPatches = async (pin: Pinned, query: URLSearchParams) => {
    const visual = pin.plan.layers.filter((l) => VISUAL_TYPES.has(l.type));
    if (!visual.length) throw new InsightsError(409, 'NO_CONV_LAYER', `model ${pin.plan.name} has no convolution or pooling layer`);
    const layerIndex = intParam(query, 'layer', visual[0]!.index, 0, pin.plan.layers.length - 1);
    const layer = visual.find((l) => l.index === layerIndex);
    if (!layer) throw new InsightsError(400, 'BAD_REQUEST', `layer ${layerIndex} has no feature maps; choose one of ${visual.map((l) => l.index).join(', ')}`);
    const channels = layer.outputShape[layer.outputShape.length - 1]!;
    const filter = intParam(query, 'filter', 0, 0, channels - 1);
    const count = intParam(query, 'count', 16, 1, limits.patches);
    const maxima = await layerMaxima(pin, layer);
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
    const patches = chosen.map((image, n) => {
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
  };

  const confusion = async (pin: Pinned) => {
    const p = await predictions(pin);
    const classes = Math.max(pin.test.numClasses, pin.plan.outputShape[0] ?? 0);
    const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
    let correct = 0;
    for (let i = 0; i < p.samples; i++) {
      matrix[p.labels[i]!]![p.predicted[i]!]!++;
      if (p.labels[i] === p.predicted[i]) correct++;
    }
    return { ...header(pin), samples: p.samples, classes, classNames: classNames(pin.test, classes), matrix, accuracy: correct / p.samples, loss: round(p.lossSum / p.samples) };
  };

  const misclassified = async (pin: Pinned, query: URLSearchParams) => {
    const p = await predictions(pin);
    const limit = intParam(query, 'limit', 36, 1, limits.misclassified);
    const label = query.has('label') ? intParam(query, 'label', 0, 0, pin.test.numClasses - 1) : undefined;
    const wrong: number[] = [];
    for (let i = 0; i < p.samples; i++) if (p.labels[i] !== p.predicted[i] && (label === undefined || p.labels[i] === label)) wrong.push(i);
    // The most confident mistakes first: they say most about what the network gets wrong.
    const shown = [...wrong].sort((a, b) => p.confidence[b]! - p.confidence[a]! || a - b).slice(0, limit);
    const { x } = shown.length ? pin.test.batch(shown) : { x: new Float32Array(0) };
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
  };

  // ------------------------------------------------------------------------------------------
  // cached passes over the test set

  const predictions = async (pin: Pinned): Promise<Predictions> => {
    if (pin.predictions) return pin.predictions;
    if (pin.plan.loss !== 'softmaxCrossEntropy') throw new InsightsError(409, 'NOT_A_CLASSIFIER', `model ${pin.plan.name} is not a classifier`);
    const model = await modelFor(pin.config.modelSpec);
    const samples = Math.min(limits.confusionSamples, pin.test.length);
    const classes = pin.plan.outputShape[0]!;
    const result: Predictions = { samples, labels: new Int32Array(samples), predicted: new Int32Array(samples), confidence: new Float32Array(samples), lossSum: 0 };
    const chunk = Math.max(1, Math.min(250, Math.floor(limits.chunkValues / Math.max(1, classes + sampleValues(pin.test)))));
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
  };

  const layerMaxima = async (pin: Pinned, layer: LayerPlan): Promise<LayerMaxima> => {
    pin.maxima ??= new Map();
    const known = pin.maxima.get(layer.index);
    if (known) return known;
    const model = await modelFor(pin.config.modelSpec);
    const samples = Math.min(limits.patchSamples, pin.test.length);
    const visual = pin.plan.layers.filter((l) => VISUAL_TYPES.has(l.type));
    const perSample = pin.plan.layers.reduce((sum, l) => sum + l.outputShape.reduce((a, b) => a * b, 1), 0);
    const chunk = Math.max(1, Math.min(200, Math.floor(limits.chunkValues / Math.max(1, perSample))));
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
  };

  // ------------------------------------------------------------------------------------------
  // routing

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = ROUTE.exec(url.pathname);
    if (!match) return false;
    const id = decodeURIComponent(match[1]!);
    const view = match[2] ?? '';
    const query = url.searchParams;
    try {
      const body = await serial(async () => {
        const pin = await pinned(id, query.get('refresh') === '1');
        switch (view) {
          case '':
            return index(pin);
          case 'filters':
            return filters(pin, query);
          case 'activations':
            return activations(pin, query);
          case 'top-patches':
            return topPatches(pin, query);
          case 'confusion':
            return confusion(pin);
          case 'misclassified':
            return misclassified(pin, query);
          default:
            throw new InsightsError(404, 'NOT_FOUND', `no insight ${JSON.stringify(view)}; try filters, activations, top-patches, confusion or misclassified`);
        }
      });
      json(res, 200, body);
    } catch (error) {
      if (error instanceof InsightsError) json(res, error.status, { error: error.code, message: error.message });
      else json(res, 500, { error: 'INTERNAL', message: (error as Error)?.message ?? String(error) });
    }
    return true;
  };
}

/** `header(pin)` fields every answer starts with. */
function header(pin: Pinned) {
  return { runId: pin.runId, step: pin.step, live: pin.live, model: pin.plan.name };
}

function testInfo(test: Dataset) {
  return { name: test.name, length: test.length, shape: imageShape(test), numClasses: test.numClasses, classNames: classNames(test, test.numClasses) };
}

function layerInfo(plan: ModelPlan, layer: LayerPlan) {
  return { index: layer.index, type: layer.type, description: describe(plan, layer), outputShape: layer.outputShape, receptiveField: receptiveField(plan, layer.index).size };
}

/** `conv2d 6@5×5 same relu`: the model summary's words for a layer (as the dashboard's model table). */
function describe(plan: ModelPlan, layer: LayerPlan): string {
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
function checkFits(pin: Pinned): void {
  const expected = pin.plan.inputShape.join('×');
  const got = pin.test.sampleShape.join('×');
  if (expected !== got) throw new InsightsError(409, 'NO_TEST_DATA', `model ${pin.plan.name} takes ${expected} inputs; the test set ${pin.test.name} has ${got}`);
}

function imageShape(test: Dataset): [number, number, number] {
  const s = test.sampleShape;
  if (s.length === 3) return [s[0]!, s[1]!, s[2]!];
  if (s.length === 2) return [1, s[0]!, s[1]!];
  return [1, s[0] ?? 1, 1];
}

function sampleValues(test: Dataset): number {
  return test.sampleShape.reduce((a, b) => a * b, 1);
}

function classNames(test: Dataset, classes: number): string[] {
  return Array.from({ length: classes }, (_, k) => test.classNames?.[k] ?? String(k));
}

function datasetFlag(descriptor: RunConfig['dataset']): string {
  if (descriptor.name === 'idx') return `idx:${String(descriptor.dir)}`;
  if (descriptor.name === 'synthetic') return `synthetic:${String(descriptor.seed)}`;
  return descriptor.name;
}

function intParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InsightsError(400, 'BAD_REQUEST', `${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(raw)}`);
  }
  return value;
}

function range(start: number, end: number): Uint32Array {
  return Uint32Array.from({ length: end - start }, (_, i) => start + i);
}

function argMax(values: ArrayLike<number>, start: number, length: number): number {
  let best = 0;
  for (let k = 1; k < length; k++) if (values[start + k]! > values[start + best]!) best = k;
  return best;
}

/** Five significant digits: plenty for drawing, a third of the JSON of full floats. */
function round(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return value === 0 ? 0 : Number(value.toPrecision(5));
}

function rounded(values: Float32Array): number[] {
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = round(values[i]!);
  return out;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
