// Where the milliseconds of one training step go: tfjs `wasm` (per kernel, from tf.profile)
// against the compiled `wasm-step` (per layer phase), both with the Adam update, in one
// process, alternating steps. Prints a Markdown table of medians and minima over the timed
// steps (on a machine shared with other jobs the minimum is the steadier of the two).
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
const step = compileStep(model.plan, { profile });

const samples = { tfjs: new Map(), step: new Map() };
const record = (which, key, ms) => samples[which].set(key, [...(samples[which].get(key) ?? []), ms]);

async function tfjsStep(timed) {
  const t0 = performance.now();
  let grads;
  const info = await tf.profile(async () => {
    grads = (await model.gradients(params, x, y)).grads;
  });
  const t1 = performance.now();
  optimizer.step(params.slice(), grads);
  const t2 = performance.now();
  if (!timed) return;
  const perKernel = new Map();
  for (const k of info.kernels) perKernel.set(k.name, (perKernel.get(k.name) ?? 0) + (Number(k.kernelTimeMs) || 0));
  let inKernels = 0;
  for (const [name, ms] of perKernel) {
    record('tfjs', name, ms);
    inKernels += ms;
  }
  record('tfjs', 'outside kernels (tfjs dispatch, tape, allocation, copies)', t1 - t0 - inKernels);
  record('tfjs', 'Adam update', t2 - t1);
  record('tfjs', 'total', t2 - t0);
}

function compiledStep(timed) {
  profile.clear();
  const t0 = performance.now();
  const { grads } = step.gradients(params, x, y, n);
  const t1 = performance.now();
  optimizer.step(params.slice(), grads);
  const t2 = performance.now();
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
  console.log('| phase | median | min |\n| --- | --- | --- |');
  const rows = [...samples[which]].map(([k, v]) => [k, median(v), min(v)]);
  const total = rows.find(([k]) => k === 'total');
  for (const [k, med, lo] of rows.filter(([k]) => k !== 'total').sort((a, b) => b[1] - a[1])) if (med >= 0.05) console.log(`| ${k} | ${med.toFixed(2)} | ${lo.toFixed(2)} |`);
  const rate = (ms) => Math.round((n * 1000) / ms).toLocaleString('en-US');
  console.log(`| **total** (samples/s: ${rate(total[1])} median, ${rate(total[2])} best) | **${total[1].toFixed(2)}** | **${total[2].toFixed(2)}** |`);
}
process.exit(0);
