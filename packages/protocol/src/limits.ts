import type { WireLimits } from './messages.js';

/** What `decodeMessage` / `validateMessage` enforce. Omitted fields take `DEFAULT_DECODE_LIMITS`. */
export interface DecodeLimits extends WireLimits {
  /**
   * The model's parameter count P. When given, every `params` vector and every gradient
   * must have exactly P values (`LENGTH_MISMATCH` otherwise). Leave it out before the
   * model is known (e.g. a worker decoding `welcome`).
   */
  parameterCount?: number;
  /** The model's name, only used to word `LENGTH_MISMATCH` messages. */
  modelName?: string;
}

/**
 * Defaults: 64 MiB frames, 1,024 micro-shards per task. A result carries one gradient per
 * block, so size `maxFrameBytes` for (blocks per task) × 4 × P bytes plus a few KiB:
 * `frameBytesFor(parameterCount, blocks)` does the sum.
 */
export const DEFAULT_DECODE_LIMITS: Readonly<WireLimits> = Object.freeze({
  maxFrameBytes: 64 * 1024 * 1024,
  maxShardsPerTask: 1024,
});

/** Limits with every required field filled in. */
export type ResolvedDecodeLimits = Readonly<DecodeLimits>;

/**
 * Spread `limits` over `DEFAULT_DECODE_LIMITS` and check them. Throws `TypeError` on a
 * limit that is not a positive safe integer. Cheap (no allocation beyond the result), so
 * callers may pass a fresh or mutated limits object with every frame.
 */
export function resolveDecodeLimits(limits?: Partial<DecodeLimits>): ResolvedDecodeLimits {
  if (limits === undefined) return DEFAULT_DECODE_LIMITS;
  const maxFrameBytes = limits.maxFrameBytes ?? DEFAULT_DECODE_LIMITS.maxFrameBytes;
  const maxShardsPerTask = limits.maxShardsPerTask ?? DEFAULT_DECODE_LIMITS.maxShardsPerTask;
  checkPositiveInteger(maxFrameBytes, 'maxFrameBytes');
  checkPositiveInteger(maxShardsPerTask, 'maxShardsPerTask');
  const resolved: DecodeLimits = { maxFrameBytes, maxShardsPerTask };
  if (limits.parameterCount !== undefined) {
    checkPositiveInteger(limits.parameterCount, 'parameterCount');
    resolved.parameterCount = limits.parameterCount;
  }
  if (limits.modelName !== undefined) {
    if (typeof limits.modelName !== 'string') {
      throw new TypeError(`limits.modelName must be a string, got ${typeof limits.modelName}`);
    }
    resolved.modelName = limits.modelName;
  }
  return resolved;
}

/**
 * A `maxFrameBytes` that admits a `result` with `blocksPerResult` f32 gradients of
 * `parameterCount` values (or a `params` message), with 64 KiB to spare for the rest.
 */
export function frameBytesFor(parameterCount: number, blocksPerResult = 1): number {
  checkPositiveInteger(parameterCount, 'parameterCount');
  checkPositiveInteger(blocksPerResult, 'blocksPerResult');
  return blocksPerResult * (4 * parameterCount + 64) + 64 * 1024;
}

function checkPositiveInteger(value: unknown, name: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`limits.${name} must be a positive integer, got ${String(value)}`);
  }
}
