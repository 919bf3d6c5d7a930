/**
 * The `wasm-step` backend's switch: while it is active, `Model.gradients` runs the model's
 * compiled step ({@link compileStep}) instead of tfjs; everything else (evaluate, predict,
 * activations, and gradients of models the step cannot compile) runs on tfjs's `wasm`
 * backend, which `useBackend('wasm-step')` starts underneath.
 */
import type { ModelPlan } from '../shapes.js';
import { arenaAvailable } from './arena.js';
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
 */
export function stepGradients(plan: ModelPlan, params: Float32Array, x: Float32Array, y: Int32Array | Float32Array, n: number): StepResult | null {
  if (!active) return null;
  let step = compiled.get(plan);
  if (step === undefined) {
    step = compileStep(plan);
    compiled.set(plan, step);
  }
  return step === null ? null : step.gradients(params, x, y, n);
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
