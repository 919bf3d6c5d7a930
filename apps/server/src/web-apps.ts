import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** The web apps the server hosts: URL prefix → built `dist` folder of an app. */
export const WEB_APPS: ReadonlyArray<{ prefix: string; dir: string }> = [
  { prefix: '/dashboard/', dir: fileURLToPath(new URL('../../dashboard/dist/', import.meta.url)) },
  { prefix: '/volunteer/', dir: fileURLToPath(new URL('../../volunteer/dist/', import.meta.url)) },
  { prefix: '/', dir: fileURLToPath(new URL('../../volunteer/dist/', import.meta.url)) },
];

/**
 * Serves the built web apps (`apps/dashboard/dist` at /dashboard/, `apps/volunteer/dist` at
 * / and /volunteer/). Every response is cross-origin isolated (COOP/COEP), which browsers
 * require for SharedArrayBuffer (threaded WASM). Returns false when nothing matched.
 */
export async function serveWebApps(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  let path = decodeURIComponent(url.pathname);
  if (path === '/dashboard') path = '/dashboard/';
  if (path === '/volunteer') path = '/volunteer/';
  for (const app of WEB_APPS) {
    if (!path.startsWith(app.prefix)) continue;
    const rest = path.slice(app.prefix.length) || 'index.html';
    const file = normalize(join(app.dir, rest));
    if (!file.startsWith(app.dir.endsWith(sep) ? app.dir : app.dir + sep)) return false;
    const found = await stat(file).catch(() => undefined);
    const target = found?.isFile() ? file : extname(rest) === '' ? join(app.dir, 'index.html') : undefined;
    if (!target) continue;
    const info = target === file ? found : await stat(target).catch(() => undefined);
    if (!info?.isFile()) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`The web app for ${app.prefix} is not built; run npm run build.`);
      return true;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(target)] ?? 'application/octet-stream',
      'content-length': info.size,
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin',
      'cache-control': target.endsWith('index.html') ? 'no-cache' : 'public, max-age=3600',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(target).pipe(res);
    return true;
  }
  return false;
}
