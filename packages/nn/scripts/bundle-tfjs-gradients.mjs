// Bundles @tensorflow/tfjs-core/dist/register_all_gradients into one ESM file that plain
// Node ESM and browsers can import (see src/register-gradients.ts). Written to src/generated
// (for tests on sources) and dist/generated (for the published build); both are ignored by git.
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const core = dirname(require.resolve('@tensorflow/tfjs-core/package.json'));
for (const dir of ['src', 'dist']) {
  await build({
    entryPoints: [join(core, 'dist/register_all_gradients.js')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    outfile: join(here, '..', dir, 'generated', 'tfjs-gradients.js'),
    logLevel: 'warning',
    legalComments: 'none',
  });
}
