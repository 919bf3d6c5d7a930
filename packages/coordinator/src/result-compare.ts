/**
 * Comparing an untrusted worker's block result with a trusted recomputation of the same
 * block: bit for bit on the same backend (the determinism contract makes that exact), or
 * within the measured cross-backend tolerance when the backends differ.
 */

/**
 * Largest relative difference `‖a − b‖₂ / ‖b‖₂` accepted between an untrusted gradient and
 * its trusted recomputation on another backend. The nn backend tests measure cpu, wasm and
 * webgpu LeNet-5 gradients to agree within 1e-5 per tensor (WebGPU against cpu: 5e-7).
 */
export const CROSS_BACKEND_TOLERANCE = 1e-5;

/**
 * Above {@link CROSS_BACKEND_TOLERANCE} and up to this bound, a cross-backend difference is
 * *inconclusive*, not proof of cheating. Backends that round differently (say FMA or not)
 * now and then put a pre-activation that is almost zero on the other side of a ReLU, or let
 * another position win a max-pool window. The gradient then takes another path for that unit.
 * On real MNIST micro-shards of 8 (`npm run bench` section `backends`, 2,560 shards each):
 * - wasm-fma against cpu: median 4.8e-7; 3 shards above 1e-5, the largest 4.9e-4;
 * - wasm-step against cpu: 1 shard above 1e-5 (2.5e-5).
 * The verification stage neither credits nor bans a single inconclusive block (the trusted
 * recomputation is what the step uses); a volunteer with many of them is treated as caught.
 */
export const CROSS_BACKEND_INCONCLUSIVE_BOUND = 1e-2;

/** One block's result, as the comparison sees it. */
export interface ComparableResult {
  /** The block's gradient sum (train), or an empty array (eval). */
  grads: Float32Array;
  lossSum: number;
  sampleCount: number;
  /** Eval only: correctly classified samples (0 for train). */
  correct: number;
}

/** How two results were compared, and what was found. */
export interface Comparison {
  /** True when the untrusted result is accepted as equal to the trusted one. */
  match: boolean;
  /** `bitwise` (same backend) or `tolerance` (different backends). */
  mode: 'bitwise' | 'tolerance';
  /** ‖a − b‖₂ / ‖b‖₂ over the gradient (0 when bitwise equal; Infinity when lengths differ). */
  relativeError: number;
  /** Why it did not match (null when it did): which field differed and by how much. */
  reason: string | null;
  /**
   * Different backends only: the counts and loss agree and the gradient's relative error lies
   * in (tolerance, {@link CROSS_BACKEND_INCONCLUSIVE_BOUND}]. Such a difference can be honest
   * (see the bound), so it is not a match and not, on its own, proof of cheating.
   */
  inconclusive?: true;
}

/** Options of {@link compareResults}. */
export interface CompareOptions {
  /** Same backend on both sides: demand equality bit for bit. */
  sameBackend: boolean;
  /** Relative tolerance across backends (default {@link CROSS_BACKEND_TOLERANCE}). */
  tolerance?: number;
}

/** True when the two arrays hold the same float32 bit patterns (so -0 ≠ +0, NaN payloads count). */
export function bitwiseEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}

/** ‖a − b‖₂ / ‖b‖₂ in float64 (‖a‖₂ when b is all zeros; Infinity when the lengths differ). */
export function relativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    diff += d * d;
    norm += b[i]! * b[i]!;
  }
  if (norm === 0) return Math.sqrt(diff);
  return Math.sqrt(diff / norm);
}

function scalarClose(a: number, b: number, tolerance: number): boolean {
  return Math.abs(a - b) <= tolerance * Math.max(Math.abs(b), 1e-30);
}

/**
 * Compares an untrusted result `claimed` with the trusted recomputation `reference` of the
 * same block. Same backend: gradient bits, `lossSum`, `sampleCount` and `correct` must be
 * identical. Different backends: gradient relative error and relative `lossSum` difference
 * ≤ tolerance; `sampleCount` and `correct` identical (they are counts).
 */
export function compareResults(claimed: ComparableResult, reference: ComparableResult, options: CompareOptions): Comparison {
  const tolerance = options.tolerance ?? CROSS_BACKEND_TOLERANCE;
  const mode = options.sameBackend ? 'bitwise' : 'tolerance';
  const fail = (reason: string, relative: number): Comparison => ({ match: false, mode, relativeError: relative, reason });
  if (claimed.sampleCount !== reference.sampleCount) return fail(`sampleCount ${claimed.sampleCount} ≠ ${reference.sampleCount}`, Infinity);
  if (claimed.correct !== reference.correct) return fail(`correct ${claimed.correct} ≠ ${reference.correct}`, Infinity);
  if (claimed.grads.length !== reference.grads.length) return fail(`gradient length ${claimed.grads.length} ≠ ${reference.grads.length}`, Infinity);
  if (options.sameBackend) {
    if (!Object.is(Math.fround(claimed.lossSum), Math.fround(reference.lossSum))) return fail(`lossSum ${claimed.lossSum} ≠ ${reference.lossSum} (same backend: must be bitwise equal)`, Infinity);
    if (bitwiseEqual(claimed.grads, reference.grads)) return { match: true, mode, relativeError: 0, reason: null };
    return fail(`gradient differs bitwise from the trusted recomputation (relative error ${relativeError(claimed.grads, reference.grads).toExponential(2)})`, relativeError(claimed.grads, reference.grads));
  }
  if (!scalarClose(claimed.lossSum, reference.lossSum, tolerance)) return fail(`lossSum ${claimed.lossSum} differs from ${reference.lossSum} by more than ${tolerance} relative`, Infinity);
  const relative = relativeError(claimed.grads, reference.grads);
  if (relative > tolerance && relative <= CROSS_BACKEND_INCONCLUSIVE_BOUND) {
    return { ...fail(`gradient relative error ${relative.toExponential(2)} > tolerance ${tolerance} (≤ ${CROSS_BACKEND_INCONCLUSIVE_BOUND}: inconclusive across backends)`, relative), inconclusive: true };
  }
  if (!(relative <= tolerance)) return fail(`gradient relative error ${relative.toExponential(2)} > tolerance ${tolerance}`, relative);
  return { match: true, mode, relativeError: relative, reason: null };
}

/**
 * A plausibility check any result of a non-empty train block must pass, trusted or not: an
 * all-zero gradient with a positive loss is what a broken GPU driver returns (a real
 * softmax cross-entropy gradient over ≥ 1 sample is never exactly zero everywhere).
 * Returns the reason, or null when plausible.
 */
export function implausibleTrainResult(result: ComparableResult): string | null {
  if (result.sampleCount <= 0 || result.grads.length === 0) return null;
  if (!(result.lossSum > 0)) return result.lossSum === 0 ? null : `lossSum ${result.lossSum} is negative`;
  for (let i = 0; i < result.grads.length; i++) if (result.grads[i] !== 0) return null;
  return 'gradient is all zeros although the loss is positive (a broken backend, or a forged result)';
}
