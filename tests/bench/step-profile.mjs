// Where the milliseconds of one training step go: tfjs `wasm` (per kernel, from tf.profile)
// against the compiled `wasm-step` (per layer phase), both with the Adam update, in one
// process, alternating steps. Prints Markdown tables of medians over the timed steps.
// Times are this process's CPU time (process.cpuUsage, µs resolution): on a machine shared
// with other jobs it excludes the time spent waiting for a core. Per-phase rows are the
// minimum over the steps, totals the median. tfjs's per-kernel times come from tf.profile
// (wall clock).
// Usage: node step-profile.mjs [model=lenet5] [batch=64] [steps=30]
import * as tf from '@tensorflow/tfjs-core';
import { createModel, createOptimizer, useBackend, Xoshiro128, zooModel } from '@swarmgrad/nn';
import { compileStep } from '../../packages/nn/dist/fast/step.js';

const [modelName = 'lenet5', batchArg = '64', stepsArg = '30'] = process.argv.slice(2);
const n = Number(batchArg);
const steps = Number(stepsArg);
const model = createModel(zooModel(modelName));
const params = model.initParams(1);
const rng = new Xoshiro128(2);
const size = model.inputShape.reduce((a, b) => a * b, 1);
const x = Float32Array.from({ length: n * size }, () => rng.nextFloat());
const y = Int32Array.from({ length: n }, () => rng.nextUint32() % model.outputShape[0]);
const optimizer = createOptimizer({ type: 'adam', lr: 1e-3 }, model.paramCount);
const profile = new Map();
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const step = compileStep(model.plan, { profile, clock: cpuMs });

const samples = { tfjs: new Map(), step: new Map() };
const record = (which, key, ms) => samples[which].set(key, [...(samples[which].get(key) ?? []), ms]);

async function tfjsStep(timed) {
  const t0 = cpuMs();
  let grads;
  const info = await tf.profile(async () => {
    grads = (await model.gradients(params, x, y)).grads;
  });
  const t1 = cpuMs();
  optimizer.step(params.slice(), grads);
  const t2 = cpuMs();
  if (!timed) return;
  const perKernel = new Map();
  for (const k of info.kernels) perKernel.set(k.name, (perKernel.get(k.name) ?? 0) + (Number(k.kernelTimeMs) || 0));
  let inKernels = 0;
  for (const [name, ms] of perKernel) {
    record('tfjs', name, ms);
    inKernels += ms;
  }
  record('tfjs', 'kernels (sum, wall clock)', inKernels);
  record('tfjs', 'outside kernels (tfjs dispatch, tape, allocation, copies)', t1 - t0 - inKernels);
  record('tfjs', 'Adam update', t2 - t1);
  record('tfjs', 'total', t2 - t0);
}

function compiledStep(timed) {
  profile.clear();
  const t0 = cpuMs();
  const { grads } = step.gradients(params, x, y, n);
  const t1 = cpuMs();
  optimizer.step(params.slice(), grads);
  const t2 = cpuMs();
  if (!timed) return;
  let phases = 0;
  for (const [key, ms] of profile) {
    record('step', key, ms);
    phases += ms;
  }
  record('step', 'rest (gradient array, calls)', t1 - t0 - phases);
  record('step', 'Adam update', t2 - t1);
  record('step', 'total', t2 - t0);
}

await useBackend('wasm');
for (let i = 0; i < 3; i++) {
  await tfjsStep(false);
  compiledStep(false);
}
for (let i = 0; i < steps; i++) {
  await tfjsStep(true);
  compiledStep(true);
}

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const min = (v) => Math.min(...v);
for (const [which, title] of [['tfjs', `tfjs wasm backend (per kernel, tf.profile), ${modelName}, batch ${n}`], ['step', `wasm-step (per layer phase), ${modelName}, batch ${n}`]]) {
  console.log(`\n### ${title}: ms over ${steps} steps\n`);
  console.log('| phase | ms |\n| --- | --- |');
  // Per-phase rows: the minimum over the steps (the least disturbed by other jobs); totals: the median.
  const rows = [...samples[which]].map(([k, v]) => [k, k === 'total' || k.startsWith('outside') || k.startsWith('kernels (sum') ? median(v) : min(v)]);
  const total = rows.find(([k]) => k === 'total');
  for (const [k, ms] of rows.filter(([k]) => k !== 'total').sort((a, b) => b[1] - a[1])) if (ms >= 0.05) console.log(`| ${k} | ${ms.toFixed(2)} |`);
  console.log(`| **total, CPU time** (${Math.round((n * 1000) / total[1]).toLocaleString('en-US')} samples/s) | **${total[1].toFixed(2)}** |`);
}
process.exit(0);
