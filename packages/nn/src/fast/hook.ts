/**
 * The `wasm-step` backend's switch: while it is active, `Model.gradients` runs the model's
 * compiled step ({@link compileStep}) instead of tfjs; everything else (evaluate, predict,
 * activations, and gradients of models the step cannot compile) runs on tfjs's `wasm`
 * backend, which `useBackend('wasm-step')` starts underneath.
 */
import type { ModelPlan } from '@swarmgrad/nn-core';
import { arenaAvailable } from './arena.js';
import { CHUNK_SAMPLES, stepHelpers } from './pool.js';
import { compileStep, type CompiledStep, type StepResult } from './step.js';

let active = false;
const compiled = new WeakMap<ModelPlan, CompiledStep | null>();

/** Turns the compiled step on (`useBackend('wasm-step')`) or off (any other backend). */
export function setStepBackendActive(on: boolean): void {
  active = on;
}

/** Whether `wasm-step` is the active backend. */
export function stepBackendActive(): boolean {
  return active;
}

/**
 * The gradients of `plan` by its compiled step when `wasm-step` is active and the model
 * compiles; `null` otherwise (the caller then uses tfjs). Inputs must be validated already.
 *
 * The batch is cut into chunks of {@link CHUNK_SAMPLES} samples (the last may be shorter);
 * each chunk's loss and gradient sums come from one compiled step (on this thread or a
 * helper thread, see `pool.ts`), and the chunk sums are added in float64 in chunk order and
 * rounded once — so the bits are the same for any number of threads.
 */
export async function stepGradients(plan: ModelPlan, params: Float32Array, x: Float32Array, y: Int32Array | Float32Array, n: number): Promise<StepResult | null> {
  if (!active) return null;
  let step = compiled.get(plan);
  if (step === undefined) {
    step = compileStep(plan);
    compiled.set(plan, step);
  }
  if (step === null) return null;
  if (n <= CHUNK_SAMPLES) return step.gradients(params, x, y, n);
  const sampleSize = x.length / n;
  const targetSize = y.length / n;
  const chunks = Math.ceil(n / CHUNK_SAMPLES);
  const helpers = await stepHelpers();
  const lanes = helpers.length + 1;
  const results: Array<Promise<{ lossSum: number; grads: Float32Array }> | { lossSum: number; grads: Float32Array }> = [];
  const slice = (c: number) => {
    const s0 = c * CHUNK_SAMPLES;
    const s1 = Math.min(n, s0 + CHUNK_SAMPLES);
    return { x: x.subarray(s0 * sampleSize, s1 * sampleSize), y: y.subarray(s0 * targetSize, s1 * targetSize), n: s1 - s0 };
  };
  // Chunk c goes to lane c mod lanes; lane 0 is this thread: hand the others out first.
  for (let c = 0; c < chunks; c++) {
    const lane = c % lanes;
    if (lane > 0) results[c] = helpers[lane - 1]!.run({ spec: plan.spec, params, ...slice(c) });
  }
  for (let c = 0; c < chunks; c += lanes) {
    const { x: cx, y: cy, n: cn } = slice(c);
    results[c] = step.gradients(params, cx, cy, cn);
  }
  const sums = new Float64Array(plan.paramCount);
  let lossSum = 0;
  for (const pending of results) {
    const r = await pending;
    lossSum += r.lossSum;
    const g = r.grads;
    for (let i = 0; i < g.length; i++) sums[i] = sums[i]! + g[i]!;
  }
  return { lossSum, count: n, grads: Float32Array.from(sums) };
}

/**
 * Checks the compiled step on a model with exactly known results (dense 2 → 2, mean
 * squared error, small integers): throws with what went wrong, or returns nothing.
 */
export function stepSelfCheck(): void {
  if (!arenaAvailable()) throw new Error('WebAssembly SIMD128 is not available');
  const plan: ModelPlan = {
    spec: { inputShape: [2], layers: [{ type: 'dense', units: 2 }], loss: 'meanSquaredError' },
    name: 'self-check',
    inputShape: [2],
    outputShape: [2],
    loss: 'meanSquaredError',
    paramCount: 6,
    layers: [
      {
        index: 0,
        type: 'dense',
        spec: { type: 'dense', units: 2 },
        inputShape: [2],
        outputShape: [2],
        activation: 'linear',
        paramCount: 6,
        params: [
          { name: 'kernel', shape: [2, 2], offset: 0, size: 4 },
          { name: 'bias', shape: [2], offset: 4, size: 2 },
        ],
      },
    ],
  };
  // out = [1, 1]·[[1, 2], [3, 4]] + [1, -1] = [5, 5]; loss = (25 + 25) / 2; d(out) = out.
  const result = compileStep(plan)!.gradients(Float32Array.of(1, 2, 3, 4, 1, -1), Float32Array.of(1, 1), Float32Array.of(0, 0), 1);
  const expected = [5, 5, 5, 5, 5, 5];
  if (result.lossSum !== 25 || expected.some((v, i) => result.grads[i] !== v)) {
    throw new Error(`self-check failed: loss ${result.lossSum}, gradient [${Array.from(result.grads).join(', ')}]; expected 25, [${expected.join(', ')}]`);
  }
}
