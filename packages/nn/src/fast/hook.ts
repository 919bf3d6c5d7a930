/**
 * The `wasm-step` backend's switch: while it is active, `Model.gradients` runs the model's
 * compiled step ({@link compileStep}) instead of tfjs; everything else (evaluate, predict,
 * activations, and gradients of models the step cannot compile) runs on tfjs's `wasm`
 * backend, which `useBackend('wasm-step')` starts underneath.
 */
import type { ModelPlan } from '@swarmgrad/nn-core';
import { arenaAvailable } from './arena.js';
import { CHUNK_SAMPLES, stepHelpers } from './pool.js';
import { boardViews, chunkCount, computeChunks, computeMissingChunks, planChunks, type Board } from './thread-entry.js';
import { compileStep, type CompiledStep, type StepResult } from './step.js';

/** Which compiled step `Model.gradients` runs: none, `wasm-step`'s, or `wasm-fma`'s (fused GEMMs). */
export type StepMode = 'off' | 'step' | 'fma';

let mode: StepMode = 'off';
const compiled: [WeakMap<ModelPlan, CompiledStep | null>, WeakMap<ModelPlan, CompiledStep | null>] = [new WeakMap(), new WeakMap()];

/** Sets the compiled step's mode (`useBackend('wasm-step')` → 'step', `'wasm-fma'` → 'fma', any other backend → 'off'). */
export function setStepMode(next: StepMode): void {
  mode = next;
}

/** Whether `wasm-step` or `wasm-fma` is the active backend. */
export function stepBackendActive(): boolean {
  return mode !== 'off';
}

/**
 * The compiled step of `plan` in the current mode and whether it is the fused one, when
 * `wasm-step` or `wasm-fma` is active and the model compiles; null otherwise. A chunked run
 * uses the mode taken here, with its call: one queued behind a backend switch keeps it.
 */
function activeStep(plan: ModelPlan): { step: CompiledStep; fma: boolean } | null {
  if (mode === 'off') return null;
  const fma = mode === 'fma';
  const cache = compiled[fma ? 1 : 0];
  let step = cache.get(plan);
  if (step === undefined) {
    step = compileStep(plan, { fma });
    cache.set(plan, step);
  }
  return step === null ? null : { step, fma };
}

/**
 * The gradients of `plan` by its compiled step when `wasm-step` is active and the model
 * compiles; `null` otherwise (the caller then uses tfjs). Inputs must be validated already.
 *
 * The batch is cut into chunks of {@link CHUNK_SAMPLES} samples (the last may be shorter);
 * each chunk's loss and gradient sums come from one compiled step, on whichever thread takes
 * it from the shared board (see `thread-entry.ts`), and the chunk sums are added in float64
 * in chunk order and rounded once — so the bits are the same for any number of threads.
 */
export async function stepGradients(plan: ModelPlan, params: Float32Array, x: Float32Array, y: Int32Array | Float32Array, n: number): Promise<StepResult | null> {
  const active = activeStep(plan);
  if (active === null) return null;
  if (n <= CHUNK_SAMPLES) return active.step.gradients(params, x, y, n);
  return (await inTurn(() => chunkedStep(plan, active.step, active.fma, params, x, y, [n])))[0]!;
}

/**
 * The gradients of consecutive shards of a batch (`sizes` samples each, in order), each
 * bitwise what {@link stepGradients} gives for that shard alone, when `wasm-step` is active
 * and the model compiles; `null` otherwise. Every shard's chunks go on one board in one
 * run, so all threads share the whole batch: one hand-over to the helpers instead of one per
 * shard, and no thread idles at the end of a shard.
 */
export async function stepShardGradients(plan: ModelPlan, params: Float32Array, x: Float32Array, y: Int32Array | Float32Array, sizes: readonly number[]): Promise<StepResult[] | null> {
  const active = activeStep(plan);
  if (active === null) return null;
  return inTurn(() => chunkedStep(plan, active.step, active.fma, params, x, y, sizes));
}

let queue: Promise<unknown> = Promise.resolve();

/** One chunked run at a time: concurrent calls would share the board and the helpers. */
function inTurn<T>(run: () => Promise<T>): Promise<T> {
  const turn = queue.then(run);
  queue = turn.then(
    () => undefined,
    () => undefined,
  );
  return turn;
}

async function chunkedStep(plan: ModelPlan, step: CompiledStep, fma: boolean, params: Float32Array, x: Float32Array, y: Int32Array | Float32Array, sizes: readonly number[]): Promise<StepResult[]> {
  let n = 0;
  for (const size of sizes) n += size;
  const helpers = await stepHelpers();
  const board = boardFor(plan, fma, n, chunkCount(sizes), x.length / n, y.length / n, y instanceof Int32Array);
  board.params.set(params);
  board.x.set(x);
  board.y.set(y);
  const shards = planChunks(board, sizes);
  board.done.fill(0);
  board.counter[0] = 0;
  const id = boardIds.get(board)!;
  // Helpers start taking chunks as their message arrives; this thread takes them meanwhile.
  // (A single chunk is not worth waking them for.)
  const others = board.counter[1]! > 1 ? helpers.map((h) => h.run(id, plan.spec, fma, board)) : [];
  let failure: { error: unknown } | null = null;
  try {
    computeChunks(step, board);
  } catch (error) {
    failure = { error };
  }
  // Every helper must have stopped before the board is read (or reused by the next call).
  const settled = await Promise.allSettled(others);
  if (failure !== null) throw failure.error;
  // A helper that died or failed (its thread is replaced before the next step) may have
  // taken chunks it never finished: this thread computes them, so the step is not lost.
  if (settled.some((r) => r.status === 'rejected')) computeMissingChunks(step, board);
  return shards.map(({ first, count }, s) => {
    if (count === 1) return { lossSum: board.loss[first]!, count: sizes[s]!, grads: board.grads[first]!.slice() };
    let lossSum = 0;
    for (let c = first; c < first + count; c++) lossSum += board.loss[c]!;
    return { lossSum, count: sizes[s]!, grads: sumChunks(board.grads, first, count) };
  });
}

/**
 * The float64 sum of chunk gradients `first … first+count-1`, added in chunk order from 0 and
 * rounded once to float32. Element by element, so each sum stays in a register: one pass
 * over the chunks instead of a read and a write of a float64 array per chunk and a
 * conversion pass (the same operations in the same order, so the same bits).
 */
export function sumChunks(grads: readonly Float32Array[], first: number, count: number): Float32Array {
  const out = new Float32Array(grads[first]!.length);
  if (count === 2) {
    const a = grads[first]!;
    const b = grads[first + 1]!;
    // `0 +` as in the general loop: it turns a -0 into +0 before b is added.
    for (let i = 0; i < out.length; i++) out[i] = 0 + a[i]! + b[i]!;
    return out;
  }
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let c = first; c < first + count; c++) sum += grads[c]![i]!;
    out[i] = sum;
  }
  return out;
}

/**
 * Each model's shared board (inputs, per-chunk results), one per compiled backend (the helpers
 * compile `wasm-step`'s or `wasm-fma`'s step for it), kept between calls: fresh arrays of this
 * size every step cost more than their arithmetic, and helper threads see a board once
 * instead of receiving copies of the parameters with every chunk.
 */
const boards: [WeakMap<ModelPlan, Board>, WeakMap<ModelPlan, Board>] = [new WeakMap(), new WeakMap()];
const boardIds = new WeakMap<Board, number>();
let nextBoard = 0;

function boardFor(plan: ModelPlan, fma: boolean, n: number, chunks: number, sampleSize: number, targetSize: number, intTargets: boolean): Board {
  const old = boards[fma ? 1 : 0].get(plan);
  const fits = old !== undefined && old.layout.sampleSize === sampleSize && old.layout.targetSize === targetSize && old.layout.intTargets === intTargets;
  if (fits && old.layout.capacity >= n && old.layout.maxChunks >= chunks) return old;
  const keep = fits ? old.layout : undefined;
  const board = boardViews({ paramCount: plan.paramCount, sampleSize, targetSize, intTargets, capacity: Math.max(n, keep?.capacity ?? 0), maxChunks: Math.max(chunks, keep?.maxChunks ?? 0) });
  boards[fma ? 1 : 0].set(plan, board);
  boardIds.set(board, nextBoard++);
  return board;
}


/**
 * Checks the compiled step on a model with exactly known results (dense 2 → 2, mean
 * squared error, small integers): throws with what went wrong, or returns nothing.
 */
export function stepSelfCheck(fma = false): void {
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
  const result = compileStep(plan, { fma })!.gradients(Float32Array.of(1, 2, 3, 4, 1, -1), Float32Array.of(1, 1), Float32Array.of(0, 0), 1);
  const expected = [5, 5, 5, 5, 5, 5];
  if (result.lossSum !== 25 || expected.some((v, i) => result.grads[i] !== v)) {
    throw new Error(`self-check failed: loss ${result.lossSum}, gradient [${Array.from(result.grads).join(', ')}]; expected 25, [${expected.join(', ')}]`);
  }
}
