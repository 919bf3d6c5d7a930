/**
 * Entry of a `wasm-step` helper thread in Node (`worker_threads`); see {@link serveChunks}.
 * The `node:` module is imported by a computed name so browser bundles never follow it.
 */
import { importNodeOnly } from '../node-only.js';
import { serveChunks } from './thread-entry.js';

const { parentPort } = await importNodeOnly<{ parentPort: Parameters<typeof serveChunks>[0] | null }>('node:worker_threads');
if (parentPort !== null) serveChunks(parentPort);
