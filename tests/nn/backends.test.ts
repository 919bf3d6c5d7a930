import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createModel, lenet5, useBackend, type BackendName } from '@swarmgrad/nn';
import { describe, expect, it } from 'vitest';
import { randomMnistBatch, relativeError, sha256 } from './helpers.js';

const model = createModel(lenet5());
const params = model.initParams(3);
for (let i = 0; i < params.length; i++) if (params[i] === 0) params[i] = (i % 7) * 1e-2 - 0.03; // non-zero biases
const { x, y } = randomMnistBatch(32, 5);

async function gradientsOn(backend: BackendName) {
  await useBackend(backend);
  return model.gradients(params, x, y);
}

describe('LeNet-5 gradients agree across backends (per tensor, ‖a−b‖/‖b‖ ≤ 1e-5)', () => {
  it('cpu, wasm and webgpu (software adapter)', async () => {
    const cpu = await gradientsOn('cpu');
    for (const backend of ['wasm', 'webgpu'] as const) {
      const other = await gradientsOn(backend);
      expect(Math.abs(other.lossSum - cpu.lossSum) / cpu.lossSum, `${backend} loss`).toBeLessThan(1e-5);
      for (const layer of model.plan.layers) {
        for (const p of layer.params) {
          const err = relativeError(other.grads, cpu.grads, p.offset, p.offset + p.size);
          expect(err, `${backend} layer ${layer.index} ${layer.type} ${p.name}`).toBeLessThan(1e-5);
        }
      }
    }
  });
});

describe('bitwise reproducibility on one backend', () => {
  it.each(['cpu', 'wasm', 'webgpu'] as const)('%s: same inputs, same bytes, in one process', async (backend) => {
    const a = await gradientsOn(backend);
    const b = await gradientsOn(backend);
    expect(sha256(b.grads)).toBe(sha256(a.grads));
    expect(b.lossSum).toBe(a.lossSum);
  });

  it.each(['cpu', 'wasm', 'webgpu'] as const)('%s: same bytes across fresh processes', (backend) => {
    const script = fileURLToPath(new URL('./gradient-hash.mjs', import.meta.url));
    const run = () => JSON.parse(execFileSync(process.execPath, [script, backend], { encoding: 'utf8', timeout: 120_000 }).trim().split('\n').pop()!);
    const first = run();
    const second = run();
    expect(second).toEqual(first);
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});
