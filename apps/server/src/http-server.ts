import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Coordinator } from '@swarmgrad/coordinator';
import type { SocketHub } from './socket-hub.js';

/** A running HTTP + WebSocket front for one coordinator engine. */
export interface RunServer {
  readonly port: number;
  readonly url: string;
  /** Closes every connection and the listening socket. */
  close(): Promise<void>;
}

/** Options of {@link startRunServer}. */
export interface RunServerOptions {
  /** 0 picks a free port. */
  port: number;
  host: string;
  /** `GET /api/runs` lists these besides the live run (past runs in the output folder). */
  listRuns: () => Promise<unknown[]>;
  /** `GET /api/runs/:id` for runs other than the live one. */
  readRun: (id: string) => Promise<unknown | undefined>;
  /** Extra routes (static web apps); return true when handled. */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean> | boolean;
}

/**
 * Wraps the transport-free engine: every WebSocket connection gets a connection id, binary
 * frames go to `engine.receive`, the engine's `send` / `close` come back out; a 100 ms timer
 * drives `engine.tick`. HTTP serves the JSON API and Prometheus `/metrics`.
 */
export async function startRunServer(engine: Coordinator, hub: SocketHub, options: RunServerOptions): Promise<RunServer> {
  const http: Server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: 'INTERNAL', message: String(error) });
      else res.end();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'METHOD_NOT_ALLOWED', message: `${req.method} is not supported` });
    if (url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(engine.metricsText());
      return;
    }
    if (url.pathname === '/healthz') return json(res, 200, { ok: true, status: engine.status });
    if (url.pathname === '/api/runs') {
      const past = (await options.listRuns()).filter((r) => (r as { runId?: string }).runId !== engine.runId);
      return json(res, 200, { runs: [{ runId: engine.runId, status: engine.status, step: engine.step, live: true }, ...past] });
    }
    // Which worker and backend computed each block of every completed step of the live run
    // (`?since=N`: steps >= N only), e.g. for a volunteer page's share of the work.
    const accounting = /^\/api\/runs\/([^/]+)\/accounting$/.exec(url.pathname);
    if (accounting) {
      const id = decodeURIComponent(accounting[1]!);
      if (id !== engine.runId && id !== 'current') return json(res, 404, { error: 'NOT_FOUND', message: `run ${JSON.stringify(id)} is not the live run; accounting is kept for the live run only` });
      const since = Number(url.searchParams.get('since') ?? '0');
      if (!Number.isInteger(since) || since < 0) return json(res, 400, { error: 'BAD_REQUEST', message: `since must be a step number (an integer >= 0); got ${JSON.stringify(url.searchParams.get('since'))}` });
      return json(res, 200, { runId: engine.runId, step: engine.step, steps: engine.accounting().filter((entry) => entry.step >= since) });
    }
    const match = /^\/api\/runs\/([^/]+)$/.exec(url.pathname);
    if (match) {
      const id = decodeURIComponent(match[1]!);
      if (id === engine.runId || id === 'current') return json(res, 200, engine.snapshot({ admin: hub.adminRequest(req) }));
      const run = await options.readRun(id);
      return run ? json(res, 200, run) : json(res, 404, { error: 'NOT_FOUND', message: `no run ${JSON.stringify(id)} here` });
    }
    if (options.extraRoutes && (await options.extraRoutes(req, res))) return;
    json(res, 404, { error: 'NOT_FOUND', message: `nothing at ${url.pathname}; try /api/runs, /metrics or the WebSocket at /ws` });
  }

  // WebSocket upgrades: the hub's per-connection limits, then the engine.
  hub.attach(http, engine);

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => resolve());
  });
  const ticker = setInterval(() => engine.tick(), 100);
  const { port } = http.address() as AddressInfo;
  const server: RunServer = {
    port,
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    async close() {
      clearInterval(ticker);
      hub.terminateAll();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  return server;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
