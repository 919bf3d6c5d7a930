/**
 * The body of a `wasm-step` helper thread (Node `worker_threads`): compiles the model it is
 * sent and computes chunk gradients on request. Messages in: `{ id, spec, params, x, y, n }`;
 * out: `{ id, lossSum, grads }` or `{ id, error }`.
 */
import { planModel } from '@swarmgrad/nn-core';
import type { ModelSpec } from '@swarmgrad/nn-core';
import { compileStep, type CompiledStep } from './step.js';

/** A chunk to compute. */
export interface ChunkRequest {
  id: number;
  spec: ModelSpec;
  params: Float32Array;
  x: Float32Array;
  y: Int32Array | Float32Array;
  n: number;
}

const steps = new Map<string, CompiledStep | null>();

/** Computes one chunk's gradient sum (the helper thread's work; also run on the calling thread). */
export function computeChunk(request: ChunkRequest): { lossSum: number; grads: Float32Array } {
  const key = JSON.stringify(request.spec);
  let step = steps.get(key);
  if (step === undefined) {
    step = compileStep(planModel(request.spec));
    if (steps.size > 8) steps.clear();
    steps.set(key, step);
  }
  if (step === null) throw new Error('model cannot be compiled');
  const { lossSum, grads } = step.gradients(request.params, request.x, request.y, request.n);
  return { lossSum, grads };
}

interface Port {
  on(event: 'message', listener: (message: ChunkRequest) => void): void;
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
}

/** Serves chunk requests on `port` (the thread's `parentPort`). */
export function serveChunks(port: Port): void {
  port.on('message', (request) => {
    try {
      const { lossSum, grads } = computeChunk(request);
      port.postMessage({ id: request.id, lossSum, grads }, [grads.buffer as ArrayBuffer]);
    } catch (error) {
      port.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) });
    }
  });
}
