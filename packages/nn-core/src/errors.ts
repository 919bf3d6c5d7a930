/**
 * Stable error codes thrown by `@swarmgrad/nn`. Tests and callers match on `code`,
 * never on message text. Each code is documented in the package README.
 */
export const NnErrorCode = {
  /** The model spec is not valid JSON-shaped data or names an unknown layer type. */
  INVALID_SPEC: 'INVALID_SPEC',
  /** Layer shapes do not fit together (kernel larger than input, dense without flatten, ...). */
  SHAPE_MISMATCH: 'SHAPE_MISMATCH',
  /** A parameter vector, input batch or label array has the wrong length or type. */
  BAD_INPUT: 'BAD_INPUT',
  /** The requested backend cannot start in this environment. */
  BACKEND_UNAVAILABLE: 'BACKEND_UNAVAILABLE',
  /** Optimizer or schedule options are invalid. */
  BAD_OPTIONS: 'BAD_OPTIONS',
} as const;

/** One of the {@link NnErrorCode} values. */
export type NnErrorCode = (typeof NnErrorCode)[keyof typeof NnErrorCode];

/** The one error class of `@swarmgrad/nn`; `code` is stable, `message` is for people. */
export class NnError extends Error {
  override readonly name = 'NnError';
  constructor(
    readonly code: NnErrorCode,
    message: string,
  ) {
    super(message);
  }
}
