/**
 * The body of a `wasm-step` helper thread (Node `worker_threads`) and the chunk loop every
 * thread of a step runs. A step's inputs and results live in one shared board
 * ({@link BoardLayout}); each thread takes the next chunk index from the board's atomic
 * counter until none is left, so a thread that is slowed down (the calling thread also
 * decodes messages and sums) simply computes fewer chunks. Which thread computes a chunk
 * never changes its bits: every chunk is computed the same way from the same inputs.
 *
 * Messages in: `{ type: 'board', board, spec, fma, layout }` (a new board, computed with
 * `wasm-fma`'s fused step when `fma`; its `SharedArrayBuffer` is shared, not copied),
 * `{ type: 'run', board, seq }`; out: `{ seq }` when the counter is exhausted, or
 * `{ seq, error }`.
 */
import { planModel } from '@swarmgrad/nn-core';
import type { ModelSpec } from '@swarmgrad/nn-core';
import { compileStep, type CompiledStep } from './step.js';

/** Samples per chunk: the unit of work of a thread, fixed so that the bits do not depend on threads. */
export const CHUNK_SAMPLES = 16;

/** Where a board keeps what (element offsets into its `SharedArrayBuffer`; plain JSON, posted to helpers). */
export interface BoardLayout {
  paramCount: number;
  /** Values per sample of `x` and of `y`. */
  sampleSize: number;
  targetSize: number;
  /** Whether `y` holds class indices (`Int32Array`) or targets (`Float32Array`). */
  intTargets: boolean;
  /** Samples the board holds at most. */
  capacity: number;
  /** Chunks the board holds at most (a batch of shards has up to one short chunk per shard). */
  maxChunks: number;
}

/** Typed views of a board. */
export interface Board {
  sab: SharedArrayBuffer;
  layout: BoardLayout;
  /** [0]: the next chunk to take; [1]: the number of chunks of this run. */
  counter: Int32Array;
  /** Chunk `c` holds samples `bounds[c] … bounds[c+1] − 1`. */
  bounds: Int32Array;
  /** Per chunk: 1 once its results are written (a dead helper's chunk stays 0 and is recomputed). */
  done: Int32Array;
  params: Float32Array;
  x: Float32Array;
  y: Int32Array | Float32Array;
  /** Each chunk's loss sum. */
  loss: Float64Array;
  /** Each chunk's gradient sum. */
  grads: Float32Array[];
}

/** Allocates a board (the calling thread) or views one posted to this thread (`sab` given). */
export function boardViews(layout: BoardLayout, sab?: SharedArrayBuffer): Board {
  const { paramCount, sampleSize, targetSize, capacity } = layout;
  const chunks = layout.maxChunks;
  // Bytes: counter (8), float64 losses, int32 done flags and chunk bounds (each padded to
  // 8), then float32 params, x, y and chunk gradients.
  const lossAt = 8;
  const doneAt = lossAt + 8 * chunks;
  const boundsAt = doneAt + 8 * Math.ceil(chunks / 2);
  const paramsAt = boundsAt + 8 * Math.ceil((chunks + 1) / 2);
  const xAt = paramsAt + 4 * paramCount;
  const yAt = xAt + 4 * capacity * sampleSize;
  const gradsAt = yAt + 4 * capacity * targetSize;
  const bytes = gradsAt + 4 * chunks * paramCount;
  const buffer = sab ?? new SharedArrayBuffer(bytes);
  return {
    sab: buffer,
    layout,
    counter: new Int32Array(buffer, 0, 2),
    done: new Int32Array(buffer, doneAt, chunks),
    bounds: new Int32Array(buffer, boundsAt, chunks + 1),
    params: new Float32Array(buffer, paramsAt, paramCount),
    x: new Float32Array(buffer, xAt, capacity * sampleSize),
    y: layout.intTargets ? new Int32Array(buffer, yAt, capacity * targetSize) : new Float32Array(buffer, yAt, capacity * targetSize),
    loss: new Float64Array(buffer, lossAt, chunks),
    grads: Array.from({ length: chunks }, (_, c) => new Float32Array(buffer, gradsAt + 4 * c * paramCount, paramCount)),
  };
}

/**
 * Lays out the chunks of consecutive shards of `sizes` samples in `board.bounds` (each shard
 * cut into chunks of {@link CHUNK_SAMPLES} from its own start, the last one shorter) and
 * returns, per shard, its first chunk and its chunk count.
 */
export function planChunks(board: Board, sizes: readonly number[]): Array<{ first: number; count: number }> {
  const shards: Array<{ first: number; count: number }> = [];
  let c = 0;
  let s0 = 0;
  board.bounds[0] = 0;
  for (const size of sizes) {
    const first = c;
    for (let at = 0; at < size; at += CHUNK_SAMPLES) board.bounds[++c] = s0 + Math.min(size, at + CHUNK_SAMPLES);
    shards.push({ first, count: c - first });
    s0 += size;
  }
  board.counter[1] = c;
  return shards;
}

/** Chunks of consecutive shards of `sizes` samples (see {@link planChunks}). */
export function chunkCount(sizes: readonly number[]): number {
  let chunks = 0;
  for (const size of sizes) chunks += Math.ceil(size / CHUNK_SAMPLES);
  return chunks;
}

/** Computes chunk `c` into `board` and marks it done. */
function computeChunk(step: CompiledStep, board: Board, c: number): void {
  const { sampleSize, targetSize } = board.layout;
  const s0 = board.bounds[c]!;
  const s1 = board.bounds[c + 1]!;
  const x = board.x.subarray(s0 * sampleSize, s1 * sampleSize);
  const y = board.y.subarray(s0 * targetSize, s1 * targetSize);
  board.loss[c] = step.gradients(board.params, x, y, s1 - s0, board.grads[c]).lossSum;
  Atomics.store(board.done, c, 1);
}

/**
 * Takes chunks of the board's run (`planChunks`) from its counter and computes each one's
 * loss and gradient sums into the board, until every chunk is taken.
 */
export function computeChunks(step: CompiledStep, board: Board): void {
  const chunks = board.counter[1]!;
  for (let c = Atomics.add(board.counter, 0, 1); c < chunks; c = Atomics.add(board.counter, 0, 1)) computeChunk(step, board, c);
}

/**
 * Computes on this thread every chunk not marked done — those a helper took and then died
 * or failed on — and returns how many there were. Call it only once every helper stopped.
 */
export function computeMissingChunks(step: CompiledStep, board: Board): number {
  const chunks = board.counter[1]!;
  let missing = 0;
  for (let c = 0; c < chunks; c++) {
    if (Atomics.load(board.done, c) === 1) continue;
    computeChunk(step, board, c);
    missing++;
  }
  return missing;
}

/** A message to a helper thread. */
export type HelperMessage = { type: 'board'; board: number; spec: ModelSpec; fma: boolean; layout: BoardLayout; sab: SharedArrayBuffer } | { type: 'run'; board: number; seq: number };

interface Port {
  on(event: 'message', listener: (message: HelperMessage) => void): void;
  postMessage(message: unknown): void;
}

/** Serves a helper thread's messages on `port` (its `parentPort`). */
export function serveChunks(port: Port): void {
  const boards = new Map<number, { board: Board; step: CompiledStep | null }>();
  const steps = new Map<string, CompiledStep | null>();
  port.on('message', (message) => {
    if (message.type === 'board') {
      const key = `${message.fma ? 'fma' : 'step'} ${JSON.stringify(message.spec)}`;
      let step = steps.get(key);
      if (step === undefined) {
        // With fma, the main thread has already turned relaxed SIMD on (a flag of the whole process).
        step = compileStep(planModel(message.spec), { fma: message.fma });
        if (steps.size > 8) steps.clear();
        steps.set(key, step);
      }
      // A board replaces older ones when its step's batch grew; keep a few (several models).
      if (boards.size > 8) boards.delete(boards.keys().next().value!);
      boards.set(message.board, { board: boardViews(message.layout, message.sab), step });
      return;
    }
    try {
      const entry = boards.get(message.board);
      if (entry === undefined) throw new Error(`unknown board ${message.board}`);
      if (entry.step === null) throw new Error('model cannot be compiled');
      computeChunks(entry.step, entry.board);
      port.postMessage({ seq: message.seq });
    } catch (error) {
      port.postMessage({ seq: message.seq, error: error instanceof Error ? error.message : String(error) });
    }
  });
}
