import { join } from 'node:path';
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
import type { Coordinator, RunConfig } from '@swarmgrad/coordinator';
import { latestCheckpoint } from '@swarmgrad/coordinator/node';
import type { Dataset } from '@swarmgrad/data';
import { planModel, type ModelSpec } from '@swarmgrad/nn/core';
import type { Model } from '@swarmgrad/nn';
import type {
  ActivationsInsight,
  ConfusionInsight,
  FiltersInsight,
  InsightIndex,
  MisclassifiedInsight,
  PatchesInsight,
} from '@swarmgrad/protocol';
import { checkFits, type InsightsLimits, type Pinned, type ViewContext } from './insights-common.js';
import { activationsView, confusionView, filtersView, indexView, misclassifiedView, topPatchesView } from './insights-views.js';
import { HttpError, sendJson, type Route } from './router.js';
import { listRuns } from './runs.js';
import { datasetFlag, loadData } from './run-setup.js';

export type { InsightsLimits } from './insights-common.js';
export { receptiveField } from './insights-common.js';

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

/** What an insights route answers (`@swarmgrad/protocol`'s types, one per view). */
type InsightAnswer = InsightIndex | FiltersInsight | ActivationsInsight | PatchesInsight | ConfusionInsight | MisclassifiedInsight;

/** The views by name (`''` is the index at `/insights`). */
const VIEWS: Record<string, (ctx: ViewContext, pin: Pinned, query: URLSearchParams) => InsightAnswer | Promise<InsightAnswer>> = {
  '': indexView,
  filters: filtersView,
  activations: activationsView,
  'top-patches': topPatchesView,
  confusion: (ctx, pin) => confusionView(ctx, pin),
  misclassified: misclassifiedView,
};

/**
 * Route-table rows for `GET /api/runs/:id/insights[/filters|activations|top-patches|confusion|misclassified]`.
 * See `apps/dashboard/README.md` for the shapes of the answers.
 */
export function createInsightsRoutes(options: InsightsOptions): Route[] {
  const insights = new Insights(options);
  const handler: Route['handler'] = async ({ res, params, query }) => {
    const view = params.view ?? '';
    const render = Object.hasOwn(VIEWS, view) ? VIEWS[view] : undefined;
    if (!render) throw new HttpError(404, 'NOT_FOUND', `no insight ${JSON.stringify(view)}; try filters, activations, top-patches, confusion or misclassified`);
    const body = await insights.serial(async () => render(insights.context, await insights.pinned(params.id!, query.get('refresh') === '1'), query));
    sendJson(res, 200, body);
  };
  return [
    { methods: ['GET'], path: '/api/runs/:id/insights', handler },
    { methods: ['GET'], path: '/api/runs/:id/insights/:view', handler },
  ];
}

/** The state behind the insights routes: pinned parameters, models, past runs' test sets, one job at a time. */
class Insights {
  readonly limits: InsightsLimits;
  readonly context: ViewContext;
  private readonly pins = new Map<string, Pinned>();
  private readonly models = new Map<string, Model>();
  private readonly datasets = new Map<string, Promise<Dataset>>();
  private nn: Promise<typeof import('@swarmgrad/nn')> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: InsightsOptions) {
    this.limits = { ...INSIGHTS_LIMITS, ...options.limits };
    for (const [key, value] of Object.entries(this.limits)) {
      if (!Number.isInteger(value) || value < 1) throw new TypeError(`insights limit ${key} must be a positive integer; got ${value}`);
    }
    this.context = { limits: this.limits, modelFor: (spec) => this.modelFor(spec) };
  }

  /** Runs `job` after every job before it: one computation at a time. */
  serial<T>(job: () => Promise<T>): Promise<T> {
    const result = this.queue.then(job, job);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** The run's pinned parameters; `refresh` (live run only) takes the current ones. */
  async pinned(id: string, refresh: boolean): Promise<Pinned> {
    const engine = this.options.engine;
    const live = id === 'current' || id === engine.runId;
    const runId = live ? engine.runId : id;
    const known = this.pins.get(runId);
    if (known && !(live && refresh && known.step !== engine.step)) return known;
    const pin = live ? this.pinLive() : await this.pinPast(runId);
    checkFits(pin);
    this.pins.delete(runId);
    this.pins.set(runId, pin);
    // Parameters can be large (AlexNet: 250 MB): keep the live run's and two past runs'.
    for (const key of this.pins.keys()) {
      if (this.pins.size <= 3) break;
      if (key !== engine.runId) this.pins.delete(key);
    }
    return pin;
  }

  private pinLive(): Pinned {
    const { engine, testData } = this.options;
    if (!testData) throw new HttpError(409, 'NO_TEST_DATA', `run ${engine.runId} has no test set to look at`);
    const config = engine.config as RunConfig;
    return { runId: engine.runId, step: engine.step, live: true, config, plan: planModel(config.modelSpec), params: engine.params(), test: testData };
  }

  private async pinPast(runId: string): Promise<Pinned> {
    const root = this.options.runsRoot;
    const run = root ? (await listRuns(root)).find((r) => r.runId === runId) : undefined;
    const checkpoint = run && root ? await latestCheckpoint(join(root, run.out), runId) : undefined;
    if (!checkpoint) throw new HttpError(404, 'NOT_FOUND', `no run ${JSON.stringify(runId)} with a checkpoint here`);
    const test = await this.testSetFor(checkpoint.run).catch((error: Error) => {
      throw new HttpError(409, 'NO_TEST_DATA', `cannot load the test set of run ${runId}: ${error.message}`);
    });
    return { runId, step: checkpoint.step, live: false, config: checkpoint.run, plan: planModel(checkpoint.run.modelSpec), params: checkpoint.params, test };
  }

  private testSetFor(config: RunConfig): Promise<Dataset> {
    const key = JSON.stringify(config.dataset);
    if (key === JSON.stringify(this.options.engine.config.dataset) && this.options.testData) return Promise.resolve(this.options.testData);
    let pending = this.datasets.get(key);
    if (!pending) {
      pending = loadData(datasetFlag(config.dataset)).then((data) => data.test);
      pending.catch(() => this.datasets.delete(key));
      this.datasets.set(key, pending);
    }
    return pending;
  }

  private async modelFor(spec: ModelSpec): Promise<Model> {
    const key = JSON.stringify(spec);
    const known = this.models.get(key);
    if (known) return known;
    const module = await this.loadNn();
    const model = module.createModel(spec);
    this.models.set(key, model);
    return model;
  }

  /** Loads `@swarmgrad/nn` (tfjs) once and starts the backend (wasm, cpu when wasm cannot start). */
  private loadNn(): Promise<typeof import('@swarmgrad/nn')> {
    this.nn ??= (async () => {
      const module = await import('@swarmgrad/nn');
      const wanted = this.options.backend ?? 'wasm';
      try {
        await module.useBackend(wanted);
      } catch (error) {
        if (wanted === 'cpu') throw error;
        await module.useBackend('cpu');
      }
      return module;
    })();
    this.nn.catch(() => {
      this.nn = undefined;
    });
    return this.nn;
  }
}
