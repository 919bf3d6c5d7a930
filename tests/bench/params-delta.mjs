// Bytes of a `params` message per step per worker: the full vector (today's broadcast) against
// the lossless `xor-deflate` delta of consecutive steps, for LeNet-5 and AlexNet-small. The
// parameters follow Adam (lr 1e-3) from their seeded initialisation with synthetic gradients
// (unit normal noise per step plus a fixed direction), which moves every parameter every step
// as Adam does in training; the delta is checked to give the exact bits before it is counted.
import { fileURLToPath } from 'node:url';
import { createOptimizer, initParams, planModel, zooModel, Xoshiro128 } from '@swarmgrad/nn/core';
import { applyParamsDelta, encodeMessage, encodeParamsDelta } from '@swarmgrad/protocol';

/** Medians over `steps` steps after 3 warm-up steps. */
export function measureParamsDelta({ model, steps = 8, lr = 1e-3 }) {
  const plan = planModel(zooModel(model));
  const params = initParams(plan, 1);
  const optimizer = createOptimizer({ type: 'adam', lr }, params.length);
  const rng = new Xoshiro128(7);
  const direction = Float32Array.from({ length: params.length }, () => rng.nextFloat() - 0.5);
  const grad = new Float32Array(params.length);
  const rows = [];
  for (let step = 0; step < steps + 3; step++) {
    const before = params.slice();
    for (let i = 0; i < grad.length; i++) grad[i] = direction[i] * 0.1 + (rng.nextFloat() - 0.5);
    optimizer.step(params, grad);
    const full = encodeMessage({ type: 'params', runId: 'bench', step: step + 1, params }).byteLength;
    const t0 = performance.now();
    const bytes = encodeParamsDelta(before, params);
    const encodeMs = performance.now() - t0;
    const frame = encodeMessage({ type: 'params', runId: 'bench', step: step + 1, params: new Float32Array(0), delta: { encoding: 'xor-deflate', baseStep: step, bytes } }).byteLength;
    const t1 = performance.now();
    const applied = applyParamsDelta(before, bytes);
    const applyMs = performance.now() - t1;
    if (Buffer.compare(Buffer.from(applied.buffer), Buffer.from(params.buffer)) !== 0) throw new Error('params delta did not give the exact bits');
    if (step >= 3) rows.push({ full, frame, encodeMs, applyMs });
  }
  const median = (key) => rows.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
  return { model, parameters: params.length, fullBytes: median('full'), deltaBytes: median('frame'), encodeMs: median('encodeMs'), applyMs: median('applyMs') };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const model of process.argv.slice(2).length ? process.argv.slice(2) : ['lenet5', 'alexnetSmall']) console.log(JSON.stringify(measureParamsDelta({ model })));
}
