import { defineConfig } from 'vite';

// Served by `swarmgrad train|serve` at / (and /volunteer/): relative asset URLs work under both.
export default defineConfig({ base: './', build: { outDir: 'dist', emptyOutDir: true }, worker: { format: 'es' } });
