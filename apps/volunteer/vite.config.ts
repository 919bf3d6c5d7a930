import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

/** Where the tfjs-backend-wasm binaries are served from, relative to the app's base (see `src/worker.ts`). */
const WASM_DIR = 'tfjs-wasm';

/**
 * tfjs-backend-wasm fetches its `.wasm` binaries at run time from the prefix given to
 * `setWasmPaths`; nothing imports them, so a bundler does not emit them by itself. This
 * plugin copies all three (plain, SIMD, threaded SIMD: tfjs picks one by what the browser
 * supports) under their own names to `dist/tfjs-wasm/`, and serves them there in `vite dev`.
 */
function tfjsWasmBinaries(): Plugin {
  const require = createRequire(import.meta.url);
  // The package's `main` is its Node build in dist/; the binaries sit beside it.
  const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
  const files = readdirSync(dir).filter((name) => name.endsWith('.wasm'));
  if (files.length === 0) throw new Error(`tfjs-wasm-binaries: no .wasm files in ${dir}`);
  return {
    name: 'swarmgrad:tfjs-wasm-binaries',
    generateBundle() {
      for (const name of files) {
        this.emitFile({ type: 'asset', fileName: `${WASM_DIR}/${name}`, source: readFileSync(join(dir, name)) });
      }
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const name = req.url?.split('?')[0]?.split(`/${WASM_DIR}/`)[1];
        if (name === undefined || !files.includes(name)) return next();
        res.setHeader('content-type', 'application/wasm');
        res.end(readFileSync(join(dir, name)));
      });
    },
  };
}

/** Cross-origin isolation (SharedArrayBuffer for threaded wasm), as `swarmgrad train|serve` sends. */
const isolation = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

/**
 * `vite dev` forwards the WebSocket and the JSON API to a running `swarmgrad train|serve`:
 * SWARMGRAD_COORDINATOR, as `swarmgrad worker` reads it (http://HOST:PORT or ws://HOST:PORT/ws).
 */
const coordinator = (process.env['SWARMGRAD_COORDINATOR'] ?? 'http://127.0.0.1:7070').replace(/^ws(s?):/, 'http$1:').replace(/\/ws\/?$/, '');

// Served by `swarmgrad train|serve` at / (and /volunteer/): relative asset URLs work under both.
export default defineConfig({
  base: './',
  plugins: [tfjsWasmBinaries()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The tfjs backends are lazy chunks of the Web Worker; none belongs in the page's bundle.
    chunkSizeWarningLimit: 1200,
  },
  worker: { format: 'es' },
  server: {
    headers: isolation,
    proxy: {
      '/ws': { target: coordinator, ws: true },
      '/api': { target: coordinator },
    },
  },
  preview: { headers: isolation },
});
