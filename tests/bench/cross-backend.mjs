// How far honest backends' gradients differ, on real MNIST micro-shards (LeNet-5): for each
// shard of M samples, ‖a − b‖₂ / ‖b‖₂ between each backend and the cpu backend, at the params
// of an Adam run (lr 0.002, trained on the cpu gradients) over STEPS steps of SHARDS shards.
// What the verification stage's cross-backend bounds rest on; the error is its own
// `relativeError` (@swarmgrad/coordinator). Prints one JSON line per backend.
// Usage: node cross-backend.mjs [M=8] [SHARDS=64] [STEPS=40] [backends=wasm,wasm-step,wasm-fma]
import { relativeError } from '@swarmgrad/coordinator';
import { createModel, createOptimizer, useBackend, zooModel } from '@swarmgrad/nn';
import { loadMnist } from '@swarmgrad/data/node';

const M = Number(process.argv[2] ?? 8);
const shards = Number(process.argv[3] ?? 64);
const steps = Number(process.argv[4] ?? 40);
const backends = (process.argv[5] ?? 'wasm,wasm-step,wasm-fma').split(',');
const ds = await loadMnist({ split: 'train' });
const model = createModel(zooModel('lenet5'));
const params = model.initParams(1);
const optimizer = createOptimizer({ type: 'adam', lr: 2e-3 }, model.paramCount);
const errors = Object.fromEntries(backends.map((b) => [b, []]));
let next = 0;
for (let step = 0; step < steps; step++) {
  const blocks = [];
  for (let k = 0; k < shards; k++) blocks.push(ds.batch(Array.from({ length: M }, () => (next++ * 7919) % ds.length)));
  await useBackend('cpu');
  const reference = [];
  for (const { x, y } of blocks) reference.push((await model.gradients(params, x, y)).grads);
  for (const backend of backends) {
    await useBackend(backend);
    for (let k = 0; k < shards; k++) errors[backend].push(relativeError((await model.gradients(params, blocks[k].x, blocks[k].y)).grads, reference[k]));
  }
  const mean = new Float32Array(model.paramCount);
  for (const g of reference) for (let i = 0; i < mean.length; i++) mean[i] += g[i] / (M * shards);
  optimizer.step(params, mean);
}
for (const backend of backends) {
  const e = errors[backend].sort((a, b) => a - b);
  const at = (f) => e[Math.min(e.length - 1, Math.floor(f * e.length))];
  console.log(JSON.stringify({ backend, shards: e.length, median: at(0.5), p99: at(0.99), max: e.at(-1), over1e5: e.filter((v) => v > 1e-5).length, over1e2: e.filter((v) => v > 1e-2).length }));
}
