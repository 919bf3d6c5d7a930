/**
 * The JSON the server's HTTP API answers with (`swarmgrad train|serve`, `apps/server`): run
 * listings, past runs, the accounting, and the insights routes. The server types what each
 * route builds with these, and dashboards read the answers as them, so the two cannot drift
 * apart without a build error.
 *
 * Like `events.ts`, nothing here depends on the model library: where an answer embeds a
 * {@link RunConfig} it is a type parameter, which a consumer that knows the model library
 * instantiates (`PastRun<RunConfig<ModelSpec, OptimizerConfig>>`).
 *
 * Errors (any status other than 200) answer `{ error: code, message }` instead.
 */
import type { EvalResult, RunConfig, RunStatus, StepAccounting, StepMetrics } from './events.js';

// ---------------------------------------------------------------------------------------------
// runs

/** `GET /healthz`: the server is up, and the live run's status. */
export interface Health {
  ok: true;
  status: RunStatus;
}

/** A row of `GET /api/runs`: the live run (`live: true`) or a past run (a {@link PastRun} without its checkpoint). */
export interface RunListing {
  runId: string;
  /** A {@link RunStatus}, or `interrupted` for a past run that left checkpoints but no `run.json`. */
  status: string;
  /** Steps applied. */
  step: number;
  live: boolean;
  /** Past runs only: the run's output folder on the server. */
  out?: string;
  /** Past runs only: the final test accuracy its `run.json` records (null when none). */
  testAccuracy?: number | null;
}

/** `GET /api/runs`: the live run first, then the past runs in the output root, by folder name. */
export interface RunList {
  runs: RunListing[];
}

/** The metrics history a checkpoint keeps. */
export interface RunHistory {
  steps: StepMetrics[];
  evals: EvalResult[];
}

/**
 * `GET /api/runs/:id` for a past run: its listing row, and, when it left a checkpoint, the
 * newest checkpoint's config, step, history and parameter hash. (For the live run the same
 * route answers its `RunSnapshot`.)
 */
export interface PastRun<TConfig = RunConfig> extends RunListing {
  live: false;
  out: string;
  testAccuracy: number | null;
  config?: TConfig;
  history?: RunHistory;
  /** SHA-256 (hex) of the checkpoint's parameters, as the determinism tests compare them. */
  paramsSha256?: string;
}

/** `GET /api/runs/:id/accounting?since=N` (live run only): who computed each block of the completed steps ≥ N. */
export interface RunAccounting {
  runId: string;
  /** Steps applied. */
  step: number;
  steps: StepAccounting[];
}

// ---------------------------------------------------------------------------------------------
// insights: GET /api/runs/:id/insights[/view]

/** Limits of the insights routes: every request is bounded by them (sent in {@link InsightIndex}). */
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

/** Fields every insights answer starts with: which run, at which (pinned) step, which model. */
export interface InsightHeader {
  runId: string;
  step: number;
  live: boolean;
  /** The model's name. */
  model: string;
}

/** A layer an insight is about. */
export interface InsightLayer {
  index: number;
  type: string;
  /** The model summary's words for it, e.g. `conv2d 6@5×5 same relu`. */
  description: string;
  outputShape: number[];
  /** `[height, width]` of the input region one output unit sees. */
  receptiveField: [number, number];
}

/** The test set the insights look at. */
export interface TestSetInfo {
  name: string;
  length: number;
  /** `[height, width, channels]` of one image. */
  shape: [number, number, number];
  numClasses: number;
  classNames: string[];
}

/** `GET /api/runs/:id/insights`: the model's layers (which have feature maps), the test set and the limits. */
export interface InsightIndex extends Omit<InsightHeader, 'model'> {
  model: {
    name: string;
    inputShape: number[];
    outputShape: number[];
    /** `visual`: the layer has feature maps (conv and pool layers); only those have a receptive field here. */
    layers: (Omit<InsightLayer, 'receptiveField'> & { visual: boolean; receptiveField: [number, number] | null })[];
  };
  test: TestSetInfo;
  limits: InsightsLimits;
}

/** `GET /api/runs/:id/insights/filters?layer=L`: a convolution layer's filters. */
export interface FiltersInsight extends InsightHeader {
  layer: InsightLayer;
  /** `[kh, kw, cin, cout]`. */
  shape: [number, number, number, number];
  count: number;
  /** One array per filter, `kh × kw × cin` values (HWC). */
  filters: number[][];
  bias: number[] | null;
  min: number;
  max: number;
}

/** One conv or pool layer's feature maps for one image (in {@link ActivationsInsight}). */
export interface ActivationLayer extends InsightLayer {
  /** `[h, w, channels shown]`. */
  shape: [number, number, number];
  /** Channels the layer has (maps beyond the limit are not sent). */
  channels: number;
  /** HWC values, `h × w × channels shown`. */
  data: number[];
  /** Per channel shown. */
  min: number[];
  max: number[];
}

/** `GET /api/runs/:id/insights/activations?image=N`: one test image, its class probabilities and every visual layer's maps. */
export interface ActivationsInsight extends InsightHeader {
  image: { index: number; label: number; predicted: number | null; probabilities: number[] | null; shape: [number, number, number]; data: number[] };
  test: TestSetInfo;
  layers: ActivationLayer[];
}

/** One test image's strongest response of a filter, cut to the unit's receptive field (in {@link PatchesInsight}). */
export interface Patch {
  /** Test set index. */
  image: number;
  label: number;
  activation: number;
  /** The unit's position in the layer's output. */
  y: number;
  x: number;
  /** The patch's top-left corner in the image (negative: padding). */
  top: number;
  left: number;
  /** HWC values of the patch. */
  data: number[];
}

/** `GET /api/runs/:id/insights/top-patches?layer=L&filter=F&count=K`: the test images that excite a filter most. */
export interface PatchesInsight extends InsightHeader {
  layer: InsightLayer;
  filter: number;
  channels: number;
  /** Test images searched. */
  samples: number;
  receptiveField: { height: number; width: number; depth: number };
  /** Strongest first. */
  patches: Patch[];
}

/** `GET /api/runs/:id/insights/confusion`: the confusion matrix over the first test images. */
export interface ConfusionInsight extends InsightHeader {
  samples: number;
  classes: number;
  classNames: string[];
  /** `matrix[true][predicted]`: counts. */
  matrix: number[][];
  accuracy: number;
  loss: number;
}

/** `GET /api/runs/:id/insights/misclassified?limit=N&label=C`: the most confident mistakes. */
export interface MisclassifiedInsight extends InsightHeader {
  samples: number;
  /** Mistakes among `samples` (of `label` when given). */
  total: number;
  shape: [number, number, number];
  classNames: string[];
  images: { index: number; label: number; predicted: number; confidence: number; data: number[] }[];
}
