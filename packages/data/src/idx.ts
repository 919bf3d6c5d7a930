/**
 * The IDX file format (LeCun's MNIST format), environment-free: no Node imports, so browsers
 * and Web Workers can use it. Node's file loader lives in `idx-file.ts`.
 *
 * Layout: bytes 0–1 are zero; byte 2 is the type; byte 3 the number of dimensions `d`; then
 * `d` big-endian unsigned 32-bit sizes; then the values, row-major, big-endian.
 */
import { DataError, DataErrorCode } from './errors.js';

/** Element type of an IDX tensor, named after the typed array that holds it. */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The typed arrays an IDX tensor can be decoded into, one per {@link IdxDtype}. */
export type IdxArray = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX file: element type, dimensions (outermost first) and row-major values. */
export interface IdxTensor {
  /** Element type. */
  readonly dtype: IdxDtype;
  /** Dimension sizes, outermost first, e.g. `[60000, 28, 28]`. */
  readonly shape: number[];
  /** The values in row-major order, in host byte order; `data.length` is the product of `shape`. */
  readonly data: IdxArray;
}

interface DtypeInfo {
  readonly dtype: IdxDtype;
  readonly code: number;
  readonly bytes: number;
}

/** The IDX type byte for each dtype, as in the format's definition. */
export const IDX_TYPE_CODES: Readonly<Record<IdxDtype, number>> = Object.freeze({
  uint8: 0x08,
  int8: 0x09,
  int16: 0x0b,
  int32: 0x0c,
  float32: 0x0d,
  float64: 0x0e,
});

const DTYPES: readonly DtypeInfo[] = [
  { dtype: 'uint8', code: 0x08, bytes: 1 },
  { dtype: 'int8', code: 0x09, bytes: 1 },
  { dtype: 'int16', code: 0x0b, bytes: 2 },
  { dtype: 'int32', code: 0x0c, bytes: 4 },
  { dtype: 'float32', code: 0x0d, bytes: 4 },
  { dtype: 'float64', code: 0x0e, bytes: 8 },
];

const MAX_DIMENSION = 0xffffffff;

function dtypeOfCode(code: number): DtypeInfo | undefined {
  return DTYPES.find((info) => info.code === code);
}

function dtypeInfo(dtype: IdxDtype): DtypeInfo {
  const info = DTYPES.find((candidate) => candidate.dtype === dtype);
  if (info === undefined) throw new DataError(DataErrorCode.BAD_DTYPE, `unknown IDX dtype ${String(dtype)}`);
  return info;
}

/** The {@link IdxDtype} that matches a typed array, or `undefined` if IDX cannot hold it. */
export function idxDtypeOf(data: ArrayBufferView): IdxDtype | undefined {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  return undefined;
}

/** True when `bytes` starts with the gzip magic `1f 8b`. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

/**
 * Decode an IDX file that is already in memory (not gzip-compressed: inflate it first, or use
 * {@link decodeIdx} / Node's `readIdxFile`).
 *
 * Checks, in order: the magic (first two bytes zero), the type byte, the dimension count
 * (at least one), that the header is complete, and that exactly as many bytes of data follow
 * as the sizes announce. The result owns fresh memory (never a view of `bytes`).
 *
 * @param bytes - the whole file
 * @param name - a name for error messages, usually the file name
 * @throws {@link DataError} `BAD_MAGIC`, `BAD_DTYPE`, `BAD_DIMENSIONS`, `TRUNCATED`, `TRAILING_BYTES`
 * @example
 * ```ts
 * const { shape, data } = parseIdx(bytes, 't10k-labels-idx1-ubyte'); // shape [10000], Uint8Array
 * ```
 */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxTensor {
  if (isGzip(bytes)) {
    throw new DataError(
      DataErrorCode.BAD_MAGIC,
      `${name}: starts with the gzip magic 1f 8b; inflate it first (readIdxFile and decodeIdx do) — parseIdx expects raw IDX bytes starting 00 00`,
    );
  }
  if (bytes.length < 4) {
    throw new DataError(
      DataErrorCode.TRUNCATED,
      `${name}: ${bytes.length} bytes is shorter than the 4-byte IDX magic (00 00 <type> <dimensions>)`,
    );
  }
  const b0 = bytes[0] ?? 0;
  const b1 = bytes[1] ?? 0;
  const typeByte = bytes[2] ?? 0;
  const dimensionCount = bytes[3] ?? 0;
  if (b0 !== 0 || b1 !== 0) {
    throw new DataError(
      DataErrorCode.BAD_MAGIC,
      `${name}: magic starts ${hex(b0)} ${hex(b1)}, expected 0x00 0x00 — not an IDX file`,
    );
  }
  const info = dtypeOfCode(typeByte);
  if (info === undefined) {
    throw new DataError(
      DataErrorCode.BAD_DTYPE,
      `${name}: type byte is ${hex(typeByte)}, expected one of ${DTYPES.map((d) => `${hex(d.code)} (${d.dtype})`).join(', ')}`,
    );
  }
  if (dimensionCount === 0) {
    throw new DataError(DataErrorCode.BAD_DIMENSIONS, `${name}: header says 0 dimensions, expected at least 1`);
  }
  const headerBytes = 4 + 4 * dimensionCount;
  if (bytes.length < headerBytes) {
    throw new DataError(
      DataErrorCode.TRUNCATED,
      `${name}: header announces ${dimensionCount} dimensions (${headerBytes} header bytes), file has only ${bytes.length} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let d = 0; d < dimensionCount; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    shape.push(size);
    count *= size; // may exceed 2^53 for absurd headers; then it is far larger than any file and fails below
  }
  const expectedBytes = count * info.bytes;
  const actualBytes = bytes.length - headerBytes;
  if (actualBytes !== expectedBytes) {
    const typeText = info.bytes === 1 ? '' : ` ${info.dtype} values (${info.bytes} bytes each)`;
    const said = `header says ${shape.join('×')}${typeText} = ${expectedBytes} bytes of data`;
    if (actualBytes < expectedBytes) {
      throw new DataError(
        DataErrorCode.TRUNCATED,
        `${name}: ${said}, file has ${actualBytes} bytes after the ${headerBytes}-byte header (truncated)`,
      );
    }
    throw new DataError(
      DataErrorCode.TRAILING_BYTES,
      `${name}: ${said}, file has ${actualBytes} bytes after the ${headerBytes}-byte header (${actualBytes - expectedBytes} trailing bytes)`,
    );
  }
  return { dtype: info.dtype, shape, data: decodeValues(info.dtype, view, headerBytes, count, bytes) };
}

function decodeValues(dtype: IdxDtype, view: DataView, offset: number, count: number, bytes: Uint8Array): IdxArray {
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(bytes.subarray(offset, offset + count));
    case 'int8':
    {
      // Copy, never view: `bytes` may be a Node Buffer carved from a shared pool.
      const out = new Int8Array(count);
      out.set(new Int8Array(bytes.buffer, bytes.byteOffset + offset, count));
      return out;
    }
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

/**
 * Encode a tensor as an IDX file (uncompressed). The dtype comes from the typed array; if
 * `tensor.dtype` is given it must agree. `parseIdx(encodeIdx(t))` reproduces `t` exactly.
 *
 * @param tensor - `shape` (1–255 dimensions, each an integer in `[0, 2^32)`) and row-major `data`
 * @throws {@link DataError} `BAD_DTYPE` (array type IDX cannot hold, or disagreeing `dtype`),
 *   `BAD_DIMENSIONS`, `LENGTH_MISMATCH` (`data.length` is not the product of `shape`)
 * @example
 * ```ts
 * const file = encodeIdx({ shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
 * ```
 */
export function encodeIdx(tensor: { readonly shape: readonly number[]; readonly data: IdxArray; readonly dtype?: IdxDtype }): Uint8Array {
  const { shape, data } = tensor;
  const dtype = idxDtypeOf(data);
  if (dtype === undefined) {
    throw new DataError(DataErrorCode.BAD_DTYPE, `encodeIdx: data is a ${Object.prototype.toString.call(data)}, expected Uint8Array, Int8Array, Int16Array, Int32Array, Float32Array or Float64Array`);
  }
  if (tensor.dtype !== undefined && tensor.dtype !== dtype) {
    throw new DataError(DataErrorCode.BAD_DTYPE, `encodeIdx: dtype says ${tensor.dtype} but data is a ${dtype} array`);
  }
  if (shape.length < 1 || shape.length > 255) {
    throw new DataError(DataErrorCode.BAD_DIMENSIONS, `encodeIdx: shape has ${shape.length} dimensions, expected 1 to 255`);
  }
  let count = 1;
  for (const size of shape) {
    if (!Number.isInteger(size) || size < 0 || size > MAX_DIMENSION) {
      throw new DataError(DataErrorCode.BAD_DIMENSIONS, `encodeIdx: shape [${shape.join(', ')}] has size ${size}, expected integers in [0, 2^32)`);
    }
    count *= size;
  }
  if (count !== data.length) {
    throw new DataError(DataErrorCode.LENGTH_MISMATCH, `encodeIdx: shape ${shape.join('×')} = ${count} values, data has ${data.length}`);
  }
  const info = dtypeInfo(dtype);
  const headerBytes = 4 + 4 * shape.length;
  const out = new Uint8Array(headerBytes + count * info.bytes);
  const view = new DataView(out.buffer);
  out[2] = info.code;
  out[3] = shape.length;
  shape.forEach((size, d) => view.setUint32(4 + 4 * d, size, false));
  const o = headerBytes;
  switch (dtype) {
    case 'uint8':
      out.set(data as Uint8Array, o);
      break;
    case 'int8':
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.length), o);
      break;
    case 'int16':
      for (let i = 0; i < count; i++) view.setInt16(o + 2 * i, data[i] ?? 0, false);
      break;
    case 'int32':
      for (let i = 0; i < count; i++) view.setInt32(o + 4 * i, data[i] ?? 0, false);
      break;
    case 'float32':
      for (let i = 0; i < count; i++) view.setFloat32(o + 4 * i, data[i] ?? 0, false);
      break;
    case 'float64':
      for (let i = 0; i < count; i++) view.setFloat64(o + 8 * i, data[i] ?? 0, false);
      break;
  }
  return out;
}

/**
 * Inflate a gzip stream with the Web Streams `DecompressionStream` (browsers, Deno, Node ≥ 18).
 *
 * @throws {@link DataError} `BAD_GZIP` when the stream is corrupt or the environment has no
 *   `DecompressionStream`; `TRUNCATED` when the stream ends early
 */
export async function gunzipWeb(bytes: Uint8Array, name = 'gzip data'): Promise<Uint8Array> {
  if (typeof DecompressionStream !== 'function') {
    throw new DataError(DataErrorCode.BAD_GZIP, `${name}: is gzip-compressed and this environment has no DecompressionStream to inflate it`);
  }
  try {
    const stream = new Blob([new Uint8Array(bytes)]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (cause) {
    const text = cause instanceof Error ? cause.message : String(cause);
    const code = (cause as { code?: unknown } | null)?.code;
    const truncated = code === 'Z_BUF_ERROR' || /unexpected end|end of file|premature|truncat|incomplete/i.test(text);
    throw new DataError(
      truncated ? DataErrorCode.TRUNCATED : DataErrorCode.BAD_GZIP,
      `${name}: could not inflate gzip data (${text})${truncated ? ' — the .gz file is truncated' : ''}`,
      { cause },
    );
  }
}

/**
 * Decode IDX bytes that may be gzip-compressed (detected by the magic `1f 8b`), in any
 * environment with `DecompressionStream`. Node code can use `readIdxFile` instead.
 *
 * @param bytes - the whole file, raw or gzipped
 * @param name - a name for error messages, usually the file name
 * @throws {@link DataError} everything {@link parseIdx} throws, plus `BAD_GZIP`
 * @example
 * ```ts
 * const tensor = await decodeIdx(new Uint8Array(await (await fetch(url)).arrayBuffer()), url);
 * ```
 */
export async function decodeIdx(bytes: Uint8Array, name = 'IDX data'): Promise<IdxTensor> {
  return parseIdx(isGzip(bytes) ? await gunzipWeb(bytes, name) : bytes, name);
}
