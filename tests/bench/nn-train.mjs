// One benchmark cell: training steps of a zoo model (default LeNet-5; forward + backward +
// Adam update, float32) on one backend at one batch size, in a fresh process. Prints one
// JSON line: { backend, batch, model, adapter, samplesPerSecond (median step), steps }.
// Usage: node nn-train.mjs [backend] [batch] [seconds] [model]
import { createModel, createOptimizer, useBackend, Xoshiro128, zooModel } from '@swarmgrad/nn';

const [backend = 'wasm', batchArg = '64', budgetArg = '6', modelName = 'lenet5'] = process.argv.slice(2);
const batch = Number(batchArg);
const budgetMs = Number(budgetArg) * 1000;
const info = await useBackend(backend);
const model = createModel(zooModel(modelName));
const sampleSize = model.inputShape.reduce((a, b) => a * b, 1);
const classes = model.outputShape[0];
const params = model.initParams(1);
const optimizer = createOptimizer({ type: 'adam', lr: 1e-3 }, model.paramCount);
const rng = new Xoshiro128(2);
const x = Float32Array.from({ length: batch * sampleSize }, () => rng.nextFloat());
const y = Int32Array.from({ length: batch }, () => rng.nextUint32() % classes);

async function step() {
  const { grads } = await model.gradients(params, x, y);
  for (let i = 0; i < grads.length; i++) grads[i] /= batch;
  optimizer.step(params, grads);
}

for (let i = 0; i < (sampleSize * batch > 1e6 ? 1 : 2); i++) await step(); // warm-up: kernel compilation, buffer pools
const times = [];
const start = performance.now();
while ((performance.now() - start < budgetMs && times.length < 200) || times.length < 3) {
  const t0 = performance.now();
  await step();
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(JSON.stringify({ backend, batch, model: modelName, adapter: info.adapter ?? null, samplesPerSecond: (batch * 1000) / median, steps: times.length }));
process.exit(0);
