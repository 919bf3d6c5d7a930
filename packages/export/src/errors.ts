/**
 * Stable error codes thrown by `@swarmgrad/export`. Tests and callers match on `code`,
 * never on message text. Each code is documented in the package README.
 */
export const ExportErrorCode = {
  /** The model uses a layer or loss the format cannot express here (e.g. `conv1d`, `meanSquaredError` for ONNX's `probabilities`). */
  UNSUPPORTED_MODEL: 'UNSUPPORTED_MODEL',
  /** The parameters do not fit the model (wrong length, not a `Float32Array`, a non-finite value). */
  BAD_PARAMS: 'BAD_PARAMS',
  /** Options are inconsistent: class names vs outputs, normalisation vs channels, a bad tag or step. */
  BAD_OPTIONS: 'BAD_OPTIONS',
} as const;

/** One of the {@link ExportErrorCode} values. */
export type ExportErrorCode = (typeof ExportErrorCode)[keyof typeof ExportErrorCode];

/** The one error class of `@swarmgrad/export`; `code` is stable, `message` is for people. */
export class ExportError extends Error {
  override readonly name = 'ExportError';
  /**
   * @param code - stable machine-readable code from {@link ExportErrorCode}
   * @param message - what was wrong and what was expected
   */
  constructor(
    readonly code: ExportErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
