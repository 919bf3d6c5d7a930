import { defineConfig } from 'vite';

// Served by `swarmgrad train|serve` under /dashboard/.
export default defineConfig({ base: '/dashboard/', build: { outDir: 'dist', emptyOutDir: true } });
