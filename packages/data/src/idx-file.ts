/**
 * Node-only: read IDX files from disk, gzipped or not. Exported from `@swarmgrad/data/node`.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { gunzip, gunzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { DataError, DataErrorCode } from './errors.js';
import { isGzip, parseIdx, type IdxTensor } from './idx.js';

const gunzipAsync = promisify(gunzip);

function notFound(path: string, cause: unknown): DataError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new DataError(DataErrorCode.NOT_FOUND, `${path}: no such file`, { cause });
  }
  return new DataError(DataErrorCode.NOT_FOUND, `${path}: cannot read (${code ?? String(cause)})`, { cause });
}

function inflateError(path: string, cause: unknown): DataError {
  const zlibCode = (cause as NodeJS.ErrnoException | undefined)?.code;
  const text = cause instanceof Error ? cause.message : String(cause);
  // zlib reports a stream that stops early as Z_BUF_ERROR "unexpected end of file".
  if (zlibCode === 'Z_BUF_ERROR') {
    return new DataError(DataErrorCode.TRUNCATED, `${path}: gzip stream ends early (${text}) — the .gz file is truncated`, { cause });
  }
  return new DataError(DataErrorCode.BAD_GZIP, `${path}: starts with the gzip magic but cannot be inflated (${text})`, { cause });
}

/**
 * Read and decode an IDX file. Gzip is detected by the magic `1f 8b` (not by the file name)
 * and inflated with `node:zlib`.
 *
 * @param path - file path; error messages name it as given
 * @throws {@link DataError} `NOT_FOUND`, `BAD_GZIP`, `TRUNCATED`, and everything `parseIdx` throws
 * @example
 * ```ts
 * const labels = await readIdxFile('data/t10k-labels-idx1-ubyte.gz'); // { dtype: 'uint8', shape: [10000], data }
 * ```
 */
export async function readIdxFile(path: string): Promise<IdxTensor> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw notFound(path, cause);
  }
  if (isGzip(bytes)) {
    try {
      bytes = await gunzipAsync(bytes);
    } catch (cause) {
      throw inflateError(path, cause);
    }
  }
  return parseIdx(bytes, path);
}

/** Synchronous {@link readIdxFile}, for scripts and start-up code. Same checks and errors. */
export function readIdxFileSync(path: string): IdxTensor {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw notFound(path, cause);
  }
  if (isGzip(bytes)) {
    try {
      bytes = gunzipSync(bytes);
    } catch (cause) {
      throw inflateError(path, cause);
    }
  }
  return parseIdx(bytes, path);
}
