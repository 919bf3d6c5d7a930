import { defineConfig } from 'vite';

// Served by `swarmgrad train|serve` under /dashboard/. `npm run dev` proxies the API and the
// WebSocket to a running server (SWARMGRAD_URL, default http://127.0.0.1:7070).
const server = process.env.SWARMGRAD_URL ?? 'http://127.0.0.1:7070';

export default defineConfig({
  base: '/dashboard/',
  build: { outDir: 'dist', emptyOutDir: true },
  server: { proxy: { '/api': server, '/ws': { target: server.replace(/^http/, 'ws'), ws: true } } },
});
