import { defineConfig } from 'vite';

// Served by `swarmgrad train|serve` under /dashboard/. `npm run dev` proxies the API and the
// WebSocket to a running server: SWARMGRAD_COORDINATOR (the name every app and `swarmgrad
// worker` read; http://HOST:PORT or the ws://HOST:PORT/ws a worker takes), default
// http://127.0.0.1:7070. SWARMGRAD_URL is its deprecated alias.
const server = (process.env.SWARMGRAD_COORDINATOR ?? process.env.SWARMGRAD_URL ?? 'http://127.0.0.1:7070').replace(/^ws(s?):/, 'http$1:').replace(/\/ws\/?$/, '');

export default defineConfig({
  base: '/dashboard/',
  build: { outDir: 'dist', emptyOutDir: true },
  server: { proxy: { '/api': server, '/ws': { target: server.replace(/^http/, 'ws'), ws: true } } },
});
