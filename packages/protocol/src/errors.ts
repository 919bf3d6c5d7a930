/**
 * Stable codes of `ProtocolError`. Tests and callers switch on these, never on message text.
 */
export const ProtocolErrorCode = {
  /** The frame is not exactly one MessagePack value, or the value is not a map with a string `type`. */
  MALFORMED: 'MALFORMED',
  /** The `type` is not one of the protocol's message types. */
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  /** A field is missing or has the wrong type or range; the message names its path and what was expected. */
  BAD_FIELD: 'BAD_FIELD',
  /** The frame is larger than `maxFrameBytes` (checked before decoding). */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** A task or result covers more micro-shards (or lists more blocks) than `maxShardsPerTask`. */
  TOO_MANY_SHARDS: 'TOO_MANY_SHARDS',
  /** A vector has the wrong length: params or gradient vs. the model's parameter count, a payload vs. its declared length, indices vs. shards. */
  LENGTH_MISMATCH: 'LENGTH_MISMATCH',
  /** Parameters, a gradient or a scale holds NaN or ±Infinity. */
  NON_FINITE: 'NON_FINITE',
  /** A shard block is not aligned (count not a power of two, start not a multiple of count) or blocks overlap or are out of order. */
  BAD_BLOCK: 'BAD_BLOCK',
  /** The peer speaks another `PROTOCOL_VERSION`. */
  VERSION_MISMATCH: 'VERSION_MISMATCH',
} as const;

/** One of the `ProtocolErrorCode` values. */
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

/** Extra detail for a `ProtocolError`. */
export interface ProtocolErrorOptions {
  /** Path of the offending field, e.g. `result.blocks[2].lossSum`. */
  path?: string;
  /** The underlying error (e.g. msgpackr's parse error). */
  cause?: unknown;
}

/**
 * The one error `decodeMessage`, `validateMessage` and the gradient codecs throw for bad
 * wire data. `code` is stable; `message` says what was wrong and what was expected.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  /** Stable code; see `ProtocolErrorCode`. */
  readonly code: ProtocolErrorCode;
  /** Path of the offending field, when one field is to blame. */
  readonly path: string | undefined;

  /**
   * @param code stable error code
   * @param message what was wrong and what was expected
   * @param options offending field path and cause
   */
  constructor(code: ProtocolErrorCode, message: string, options: ProtocolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options.path;
  }
}

/** Whether `error` is a `ProtocolError` (by class, or by name and code when two copies of this package are loaded). */
export function isProtocolError(error: unknown): error is ProtocolError {
  if (error instanceof ProtocolError) return true;
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { name?: unknown; code?: unknown };
  return (
    candidate.name === 'ProtocolError' &&
    typeof candidate.code === 'string' &&
    Object.prototype.hasOwnProperty.call(ProtocolErrorCode, candidate.code)
  );
}
