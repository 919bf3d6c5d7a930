import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpError, type Route, type RouteContext } from './router.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
};

/** The web apps the server hosts: URL prefix (without its trailing slash) → built `dist` folder of an app. */
export const WEB_APPS: ReadonlyArray<{ prefix: string; dir: string }> = [
  { prefix: '/dashboard', dir: fileURLToPath(new URL('../../dashboard/dist/', import.meta.url)) },
  { prefix: '/volunteer', dir: fileURLToPath(new URL('../../volunteer/dist/', import.meta.url)) },
  { prefix: '', dir: fileURLToPath(new URL('../../volunteer/dist/', import.meta.url)) },
];

/**
 * Route-table rows for the built web apps (`apps/dashboard/dist` at /dashboard/,
 * `apps/volunteer/dist` at / and /volunteer/): a file of the app's folder, or its
 * `index.html` at the prefix itself (`/dashboard` and `/dashboard/`). Every response is
 * cross-origin isolated (COOP/COEP), which browsers require for SharedArrayBuffer (threaded
 * WASM). Anything else is 404; both apps route by `#hash`, so no path falls back to index.html.
 */
export function webAppRoutes(apps: ReadonlyArray<{ prefix: string; dir: string }> = WEB_APPS): Route[] {
  return apps.flatMap((app) => {
    const handler = (context: RouteContext) => serveFile(app, context.params['*'] ?? '', context);
    return [
      ...(app.prefix ? [{ methods: ['GET'] as const, path: app.prefix, handler }] : []),
      { methods: ['GET'] as const, path: `${app.prefix}/*`, handler },
    ];
  });
}

async function serveFile(app: { prefix: string; dir: string }, rest: string, { req, res, path }: RouteContext): Promise<void> {
  const root = app.dir.endsWith(sep) ? app.dir : app.dir + sep;
  const file = normalize(join(root, rest || 'index.html'));
  if (!file.startsWith(root)) throw new HttpError(404, 'NOT_FOUND', `nothing at ${path}`);
  const found = await stat(file).catch(() => undefined);
  if (!found?.isFile()) {
    if (rest === '' || rest === 'index.html') {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`The web app for ${app.prefix || '/'} is not built; run npm run build.`);
      return;
    }
    throw new HttpError(404, 'NOT_FOUND', `nothing at ${path}`);
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': found.size,
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'cross-origin-resource-policy': 'same-origin',
    'cache-control': file.endsWith('index.html') ? 'no-cache' : 'public, max-age=3600',
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
}
