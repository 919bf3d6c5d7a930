/**
 * The server's one route table: `{ methods, path, handler }` rows matched segment by segment.
 * `:name` takes one path segment, a trailing `*` takes the rest. Path segments are
 * percent-decoded here, once: a path that does not decode is a 400 (`BAD_REQUEST`), a path
 * no row matches a 404 (`NOT_FOUND`), a path that matches only rows of other methods a 405
 * (`METHOD_NOT_ALLOWED`, with an `Allow` header; a catch-all `*` row of the method does not
 * override that), and a handler that throws a 500
 * (`INTERNAL`). `HEAD` is answered wherever `GET` is (Node sends no body).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a handler gets: the request, its response, the decoded path parameters and the query. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** `:name` parameters, percent-decoded; `*` is the decoded rest of the path (`''` at the prefix itself). */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The decoded path. */
  path: string;
}

/** One row of the route table. */
export interface Route {
  methods: readonly ('GET' | 'POST' | 'PUT' | 'DELETE')[];
  /** `/api/runs/:id/insights/:view`, `/dashboard/*`; matched against the decoded segments. */
  path: string;
  handler: (context: RouteContext) => Promise<void> | void;
}

/** An error a handler throws for a 4xx answer: `{ error: code, message }` with `status`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Writes `body` as JSON, never cached. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

/** Splits a raw path into decoded segments; undefined when its percent-encoding is broken. */
export function decodePath(rawPath: string): string[] | undefined {
  const segments = rawPath.split('/').slice(1);
  try {
    return segments.map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}

/** The parameters of `pattern` on `segments`, or undefined when it does not match. */
export function matchPath(pattern: string, segments: readonly string[]): Record<string, string> | undefined {
  const parts = pattern.split('/').slice(1);
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '*' && i === parts.length - 1) {
      params['*'] = segments.slice(i).join('/');
      return params;
    }
    const segment = segments[i];
    if (segment === undefined) return undefined;
    if (part.startsWith(':')) {
      if (segment === '') return undefined;
      params[part.slice(1)] = segment;
    } else if (part !== segment) {
      return undefined;
    }
  }
  return segments.length === parts.length ? params : undefined;
}

/** A request handler for `routes`; the first matching row of the request's method wins. */
export function createRouter(routes: readonly Route[]): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    try {
      await dispatch(routes, req, res);
    } catch (error) {
      if (res.headersSent) {
        res.end();
      } else if (error instanceof HttpError) {
        sendJson(res, error.status, { error: error.code, message: error.message });
      } else {
        sendJson(res, 500, { error: 'INTERNAL', message: (error as Error)?.message ?? String(error) });
      }
    }
  };
}

async function dispatch(routes: readonly Route[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rawUrl = req.url ?? '/';
  const url = new URL(rawUrl.startsWith('/') ? rawUrl : `/${rawUrl}`, 'http://localhost');
  const segments = decodePath(url.pathname);
  if (!segments) throw new HttpError(400, 'BAD_REQUEST', `the path ${JSON.stringify(url.pathname)} has broken percent-encoding`);
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const allowed = new Set<string>();
  for (const route of routes) {
    const params = matchPath(route.path, segments);
    if (!params) continue;
    if (!route.methods.includes(method as Route['methods'][number])) {
      for (const m of route.methods) allowed.add(m);
      continue;
    }
    // A catch-all row never hides a 405 of a row made for this very path.
    if (allowed.size && route.path.endsWith('*')) break;
    await route.handler({ req, res, params, query: url.searchParams, path: `/${segments.join('/')}` });
    return;
  }
  if (allowed.size) {
    if (allowed.has('GET')) allowed.add('HEAD');
    const allow = [...allowed].join(', ');
    return sendJson(res, 405, { error: 'METHOD_NOT_ALLOWED', message: `${req.method} ${url.pathname} is not supported; use ${allow}` }, { allow });
  }
  sendJson(res, 404, { error: 'NOT_FOUND', message: `nothing at ${url.pathname}; try /api/runs, /metrics, /dashboard/ or the WebSocket at /ws` });
}
