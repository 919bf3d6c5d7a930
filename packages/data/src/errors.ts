/**
 * Stable error codes thrown by `@swarmgrad/data`. Tests and callers match on `code`,
 * never on message text. Each code is documented in the package README.
 */
export const DataErrorCode = {
  /** The IDX magic is wrong: the first two bytes are not zero (or the bytes are still gzip-compressed). */
  BAD_MAGIC: 'BAD_MAGIC',
  /** The IDX type byte is not one of 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, or a tensor has a dtype the caller cannot use. */
  BAD_DTYPE: 'BAD_DTYPE',
  /** The dimension count or sizes are invalid (zero dimensions, a size that is not an unsigned 32-bit integer, images that are not N×H×W[×C], ...). */
  BAD_DIMENSIONS: 'BAD_DIMENSIONS',
  /** The data ends before the header says it should (including truncated gzip streams). */
  TRUNCATED: 'TRUNCATED',
  /** The data goes on after the last value the header announces. */
  TRAILING_BYTES: 'TRAILING_BYTES',
  /** Two lengths that must agree do not: images vs labels, a data array vs its shape. */
  LENGTH_MISMATCH: 'LENGTH_MISMATCH',
  /** A label is not an integer in `[0, numClasses)`. */
  BAD_LABEL: 'BAD_LABEL',
  /** A gzip stream could not be inflated (corrupt), or no inflater exists in this environment. */
  BAD_GZIP: 'BAD_GZIP',
  /** A file or directory does not exist, or a directory holds no file of the expected name. */
  NOT_FOUND: 'NOT_FOUND',
  /** A directory holds several candidate files for the same role; pass `prefix` to choose. */
  AMBIGUOUS_FILES: 'AMBIGUOUS_FILES',
  /** A sample index is not an integer in `[0, length)`. */
  BAD_INDEX: 'BAD_INDEX',
  /** Options are missing, out of range or inconsistent (seed, batch size, micro-shard size, ...). */
  BAD_OPTIONS: 'BAD_OPTIONS',
  /** An image file cannot be decoded (corrupt, truncated, not PNG/JPEG); skipped and counted unless `strict`. */
  CORRUPT_IMAGE: 'CORRUPT_IMAGE',
  /** An image folder has no class folders (no `DIR/train/<class>/`). */
  NO_CLASSES: 'NO_CLASSES',
  /** A class folder holds no image file (or only corrupt ones). */
  EMPTY_CLASS: 'EMPTY_CLASS',
  /** Images of different sizes and no `imageSize` to resize them to. */
  MIXED_SIZES: 'MIXED_SIZES',
  /** The train and test splits disagree (class folders, image shape). */
  SPLIT_MISMATCH: 'SPLIT_MISMATCH',
} as const;

/** One of the {@link DataErrorCode} values. */
export type DataErrorCode = (typeof DataErrorCode)[keyof typeof DataErrorCode];

/** The one error class of `@swarmgrad/data`; `code` is stable, `message` is for people. */
export class DataError extends Error {
  override readonly name = 'DataError';
  /**
   * @param code - stable machine-readable code from {@link DataErrorCode}
   * @param message - what was wrong and what was expected, naming the file where there is one
   * @param options - standard `ErrorOptions` (`cause`)
   */
  constructor(
    readonly code: DataErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** True when `error` is a {@link DataError}, optionally with the given `code`. */
export function isDataError(error: unknown, code?: DataErrorCode): error is DataError {
  return error instanceof DataError && (code === undefined || error.code === code);
}
