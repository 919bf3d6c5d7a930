/**
 * Entry of a `wasm-step` helper thread in Node (`worker_threads`); see {@link serveChunks}.
 * The `node:` module is imported by a computed name so browser bundles never follow it.
 */
import { serveChunks } from './thread-entry.js';

const moduleName = 'node:worker_threads';
const { parentPort } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ moduleName)) as { parentPort: Parameters<typeof serveChunks>[0] | null };
if (parentPort !== null) serveChunks(parentPort);
