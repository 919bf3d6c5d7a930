/**
 * Registers tfjs-core's gradient functions. tfjs-core's main entry does not, and its
 * `dist/register_all_gradients` cannot be imported from plain Node ESM (extensionless
 * imports), so the build bundles that module with esbuild into `generated/` (see
 * `scripts/bundle-tfjs-gradients.mjs`). The registries are process globals, so the bundle's
 * registrations are seen by whichever copy of tfjs-core the backends use.
 */
// @ts-ignore -- generated JavaScript without types
import './generated/tfjs-gradients.js';
