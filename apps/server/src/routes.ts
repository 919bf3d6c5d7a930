import type { IncomingMessage } from 'node:http';
/**
 * The route table of `swarmgrad train|serve`: the JSON API, Prometheus metrics, the insights
 * and the web apps, in one list that {@link createRouter} matches. The WebSocket at `/ws` is
 * an upgrade that `ws` takes before routing; a plain GET there is told so (426).
 */
import type { Coordinator, RunSnapshot } from '@swarmgrad/coordinator';
import type { Dataset } from '@swarmgrad/data';
import type { Health, RunAccounting, RunList } from '@swarmgrad/protocol';
import { createInsightsRoutes, type InsightsOptions } from './insights.js';
import { createRouter, HttpError, sendJson, type Route } from './router.js';
import { listRuns, readRun } from './runs.js';
import { webAppRoutes, WEB_APPS } from './web-apps.js';

/** Options of {@link runRoutes}. */
export interface RunRoutesOptions {
  engine: Coordinator;
  /** The live run's test set, for the insights. */
  testData: Dataset | undefined;
  /** Folder whose sub-folders are runs' output folders (past runs); usually the parent of `--out`. */
  runsRoot: string;
  /** The web apps to serve; default {@link WEB_APPS}. */
  webApps?: ReadonlyArray<{ prefix: string; dir: string }>;
  /** Options of the insights routes besides engine, test set and runs root. */
  insights?: Pick<InsightsOptions, 'backend' | 'limits'>;
  /** Whether a request carries the admin token (`Authorization: Bearer …`): only then does the live snapshot show addresses, names and user agents. Default: never. */
  isAdmin?: (req: IncomingMessage) => boolean;
}

/** Every route of the server, in matching order. */
export function runRoutes(options: RunRoutesOptions): Route[] {
  const { engine, runsRoot } = options;
  const isLive = (id: string): boolean => id === 'current' || id === engine.runId;
  return [
    {
      methods: ['GET'],
      path: '/metrics',
      handler: ({ res }) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
        res.end(engine.metricsText());
      },
    },
    { methods: ['GET'], path: '/healthz', handler: ({ res }) => sendJson(res, 200, { ok: true, status: engine.status } satisfies Health) },
    {
      methods: ['GET'],
      path: '/api/runs',
      handler: async ({ res }) => {
        const past = (await listRuns(runsRoot)).filter((r) => r.runId !== engine.runId);
        sendJson(res, 200, { runs: [{ runId: engine.runId, status: engine.status, step: engine.step, live: true }, ...past] } satisfies RunList);
      },
    },
    {
      methods: ['GET'],
      path: '/api/runs/:id',
      handler: async ({ req, res, params }) => {
        const id = params.id!;
        if (isLive(id)) return sendJson(res, 200, engine.snapshot({ admin: options.isAdmin?.(req) ?? false }) satisfies RunSnapshot);
        const run = await readRun(runsRoot, id);
        if (!run) throw new HttpError(404, 'NOT_FOUND', `no run ${JSON.stringify(id)} here`);
        sendJson(res, 200, run);
      },
    },
    {
      // Which worker and backend computed each block of every completed step of the live run
      // (`?since=N`: steps >= N only), e.g. for a volunteer page's share of the work.
      methods: ['GET'],
      path: '/api/runs/:id/accounting',
      handler: ({ res, params, query }) => {
        if (!isLive(params.id!)) throw new HttpError(404, 'NOT_FOUND', `run ${JSON.stringify(params.id)} is not the live run; accounting is kept for the live run only`);
        const raw = query.get('since');
        const since = Number(raw ?? '0');
        if (!Number.isInteger(since) || since < 0) throw new HttpError(400, 'BAD_REQUEST', `since must be a step number (an integer >= 0); got ${JSON.stringify(raw)}`);
        sendJson(res, 200, { runId: engine.runId, step: engine.step, steps: engine.accounting().filter((entry) => entry.step >= since) } satisfies RunAccounting);
      },
    },
    {
      // One worker's verification standing and verified credit (`?worker=ID`), e.g. for a volunteer page.
      methods: ['GET'],
      path: '/api/runs/:id/verification',
      handler: ({ res, params, query }) => {
        if (!isLive(params.id!)) throw new HttpError(404, 'NOT_FOUND', `run ${JSON.stringify(params.id)} is not the live run`);
        const worker = query.get('worker');
        if (!worker) throw new HttpError(400, 'BAD_REQUEST', 'worker=ID is required');
        sendJson(res, 200, engine.verificationOf(worker));
      },
    },
    ...createInsightsRoutes({ engine, testData: options.testData, runsRoot, ...options.insights }),
    {
      methods: ['GET'],
      path: '/ws',
      handler: () => {
        throw new HttpError(426, 'UPGRADE_REQUIRED', '/ws is the WebSocket of the wire protocol; connect with a WebSocket client');
      },
    },
    {
      // Nothing else lives under /api: an unknown API path is a JSON 404 for every method,
      // never a web app's page.
      methods: ['GET', 'POST', 'PUT', 'DELETE'],
      path: '/api/*',
      handler: ({ path }) => {
        throw new HttpError(404, 'NOT_FOUND', `no API at ${path}; try /api/runs`);
      },
    },
    ...webAppRoutes(options.webApps ?? WEB_APPS),
  ];
}

/** The request handler of {@link runRoutes}, for `startRunServer`'s `handle`. */
export function createRunHandler(options: RunRoutesOptions): ReturnType<typeof createRouter> {
  return createRouter(runRoutes(options));
}
