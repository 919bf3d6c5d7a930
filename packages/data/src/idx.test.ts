import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DataError, DataErrorCode, type DataErrorCode as Code } from './errors.js';
import { IDX_TYPE_CODES, decodeIdx, encodeIdx, isGzip, parseIdx, type IdxArray, type IdxDtype } from './idx.js';
import { Prng } from '@swarmgrad/nn-core';

function codeOf(run: () => unknown): Code | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof DataError) return error.code;
    throw error;
  }
  return undefined;
}

async function asyncCodeOf(run: () => Promise<unknown>): Promise<Code | undefined> {
  try {
    await run();
  } catch (error) {
    if (error instanceof DataError) return error.code;
    throw error;
  }
  return undefined;
}

/** Random values that exercise each type's full range, including its extremes. */
function randomArray(dtype: IdxDtype, length: number, rng: Prng): IdxArray {
  const u = (): number => rng.nextUint32();
  switch (dtype) {
    case 'uint8':
      return Uint8Array.from({ length }, (_, i) => (i === 0 ? 255 : u() & 0xff));
    case 'int8':
      return Int8Array.from({ length }, (_, i) => (i === 0 ? -128 : (u() & 0xff) - 128));
    case 'int16':
      return Int16Array.from({ length }, (_, i) => (i === 0 ? -32768 : (u() & 0xffff) - 32768));
    case 'int32':
      return Int32Array.from({ length }, (_, i) => (i === 0 ? -2147483648 : u() | 0));
    case 'float32':
      return Float32Array.from({ length }, (_, i) => (i === 0 ? -0 : i === 1 ? Infinity : (rng.nextFloat() - 0.5) * 1e6));
    case 'float64':
      return Float64Array.from({ length }, (_, i) => (i === 0 ? Number.MIN_VALUE : (rng.nextFloat() - 0.5) * 1e300));
  }
}

const DTYPES: IdxDtype[] = ['uint8', 'int8', 'int16', 'int32', 'float32', 'float64'];
const SHAPES: number[][] = [[7], [3, 5], [2, 3, 4], [2, 1, 3, 2], [0, 4]];

describe('encodeIdx / parseIdx round trip', () => {
  const rng = Prng.fromSeed(7);
  for (const dtype of DTYPES) {
    for (const shape of SHAPES) {
      it(`${dtype} ${shape.join('×')}`, () => {
        const length = shape.reduce((a, b) => a * b, 1);
        const data = randomArray(dtype, length, rng);
        const bytes = encodeIdx({ shape, data });
        expect(bytes[2]).toBe(IDX_TYPE_CODES[dtype]);
        expect(bytes[3]).toBe(shape.length);
        const back = parseIdx(bytes);
        expect(back.dtype).toBe(dtype);
        expect(back.shape).toEqual(shape);
        expect(back.data.constructor).toBe(data.constructor);
        // Compare bit patterns, so -0 and every last bit count.
        expect(new Uint8Array(back.data.buffer, back.data.byteOffset, back.data.byteLength)).toEqual(
          new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        );
      });
    }
  }

  it('round-trips NaN in float32 and float64', () => {
    for (const data of [Float32Array.of(NaN, 1), Float64Array.of(NaN, -1)]) {
      const back = parseIdx(encodeIdx({ shape: [2], data }));
      expect(Number.isNaN(back.data[0])).toBe(true);
      expect(back.data[1]).toBe(data[1]);
    }
  });
});

describe('parseIdx byte layout (independent reference: hand-written big-endian bytes)', () => {
  it('reads the header and big-endian values of every dtype', () => {
    const header = (type: number, ...sizes: number[]): number[] => [
      0, 0, type, sizes.length,
      ...sizes.flatMap((s) => [(s >>> 24) & 0xff, (s >>> 16) & 0xff, (s >>> 8) & 0xff, s & 0xff]),
    ];
    expect(Array.from(parseIdx(Uint8Array.from([...header(0x08, 2), 0x01, 0xff])).data)).toEqual([1, 255]);
    expect(Array.from(parseIdx(Uint8Array.from([...header(0x09, 2), 0x7f, 0x80])).data)).toEqual([127, -128]);
    expect(Array.from(parseIdx(Uint8Array.from([...header(0x0b, 2), 0x01, 0x02, 0xff, 0xfe])).data)).toEqual([258, -2]);
    expect(Array.from(parseIdx(Uint8Array.from([...header(0x0c, 1), 0x80, 0, 0, 1])).data)).toEqual([-2147483647]);
    expect(Array.from(parseIdx(Uint8Array.from([...header(0x0d, 1), 0x3f, 0x80, 0, 0])).data)).toEqual([1]);
    expect(Array.from(parseIdx(Uint8Array.from([...header(0x0e, 1), 0xc0, 0, 0, 0, 0, 0, 0, 0])).data)).toEqual([-2]);
    const big = parseIdx(Uint8Array.from([...header(0x08, 0x01020304, 0), ...[]]));
    expect(big.shape).toEqual([0x01020304, 0]);
  });

  it('writes big-endian values', () => {
    expect(Array.from(encodeIdx({ shape: [1], data: Int16Array.of(258) }))).toEqual([0, 0, 0x0b, 1, 0, 0, 0, 1, 1, 2]);
    expect(Array.from(encodeIdx({ shape: [1], data: Float32Array.of(1) }).subarray(8))).toEqual([0x3f, 0x80, 0, 0]);
  });

  it('returns fresh memory, not a view of the input', () => {
    const bytes = encodeIdx({ shape: [3], data: Uint8Array.of(1, 2, 3) });
    const { data } = parseIdx(bytes);
    bytes[8] = 99;
    expect(data[0]).toBe(1);
    expect(data.byteOffset).toBe(0);
    expect(data.buffer.byteLength).toBe(3);
  });

  it('decodes int8 from a view that starts at an odd offset of a larger buffer', () => {
    const file = encodeIdx({ shape: [3], data: Int8Array.of(-1, 0, 5) });
    const padded = new Uint8Array(file.length + 3);
    padded.set(file, 1);
    expect(Array.from(parseIdx(padded.subarray(1, 1 + file.length)).data)).toEqual([-1, 0, 5]);
  });
});

describe('parseIdx validation', () => {
  const good = encodeIdx({ shape: [4, 2, 2], data: new Uint8Array(16).fill(9) });

  it('rejects a non-zero magic with BAD_MAGIC', () => {
    const bad = good.slice();
    bad[1] = 1;
    expect(codeOf(() => parseIdx(bad))).toBe(DataErrorCode.BAD_MAGIC);
  });

  it('rejects still-gzipped bytes with BAD_MAGIC', () => {
    expect(codeOf(() => parseIdx(gzipSync(good)))).toBe(DataErrorCode.BAD_MAGIC);
  });

  it('rejects an unknown type byte with BAD_DTYPE', () => {
    for (const type of [0x00, 0x0a, 0x0f, 0xff]) {
      const bad = good.slice();
      bad[2] = type;
      expect(codeOf(() => parseIdx(bad))).toBe(DataErrorCode.BAD_DTYPE);
    }
  });

  it('rejects zero dimensions with BAD_DIMENSIONS', () => {
    expect(codeOf(() => parseIdx(Uint8Array.of(0, 0, 8, 0)))).toBe(DataErrorCode.BAD_DIMENSIONS);
  });

  it('rejects short files with TRUNCATED', () => {
    expect(codeOf(() => parseIdx(new Uint8Array(0)))).toBe(DataErrorCode.TRUNCATED);
    expect(codeOf(() => parseIdx(Uint8Array.of(0, 0, 8)))).toBe(DataErrorCode.TRUNCATED);
    expect(codeOf(() => parseIdx(good.subarray(0, 10)))).toBe(DataErrorCode.TRUNCATED); // inside the header
    expect(codeOf(() => parseIdx(good.subarray(0, good.length - 1)))).toBe(DataErrorCode.TRUNCATED);
    const int32 = encodeIdx({ shape: [2], data: Int32Array.of(1, 2) });
    expect(codeOf(() => parseIdx(int32.subarray(0, int32.length - 2)))).toBe(DataErrorCode.TRUNCATED);
  });

  it('rejects wrong dimensions (header promises more than the file has) with TRUNCATED', () => {
    const bad = good.slice();
    bad[7] = 5; // 5×2×2 instead of 4×2×2
    expect(codeOf(() => parseIdx(bad))).toBe(DataErrorCode.TRUNCATED);
    const huge = good.slice();
    huge.set([0xff, 0xff, 0xff, 0xff], 4); // 2^32-1 × 2 × 2: far past any real file
    expect(codeOf(() => parseIdx(huge))).toBe(DataErrorCode.TRUNCATED);
  });

  it('rejects trailing bytes with TRAILING_BYTES', () => {
    const bad = new Uint8Array(good.length + 1);
    bad.set(good);
    expect(codeOf(() => parseIdx(bad))).toBe(DataErrorCode.TRAILING_BYTES);
    const fewer = good.slice();
    fewer[7] = 3; // 3×2×2 announced, 4×2×2 present
    expect(codeOf(() => parseIdx(fewer))).toBe(DataErrorCode.TRAILING_BYTES);
  });

  it('names the file and both sizes in the message', () => {
    const name = 'train-images-idx3-ubyte.gz';
    const header = encodeIdx({ shape: [3, 28, 28], data: new Uint8Array(3 * 28 * 28) }).subarray(0, 16);
    const bytes = new Uint8Array(16 + 1000);
    bytes.set(header);
    try {
      parseIdx(bytes, name);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DataError);
      const message = (error as DataError).message;
      expect(message).toContain(name);
      expect(message).toContain('3×28×28');
      expect(message).toContain(String(3 * 28 * 28));
      expect(message).toContain('1000');
    }
  });
});

describe('encodeIdx validation', () => {
  it('rejects a shape that does not match the data with LENGTH_MISMATCH', () => {
    expect(codeOf(() => encodeIdx({ shape: [2, 2], data: new Uint8Array(5) }))).toBe(DataErrorCode.LENGTH_MISMATCH);
  });
  it('rejects bad shapes with BAD_DIMENSIONS', () => {
    expect(codeOf(() => encodeIdx({ shape: [], data: new Uint8Array(1) }))).toBe(DataErrorCode.BAD_DIMENSIONS);
    expect(codeOf(() => encodeIdx({ shape: [1.5], data: new Uint8Array(1) }))).toBe(DataErrorCode.BAD_DIMENSIONS);
    expect(codeOf(() => encodeIdx({ shape: [-1], data: new Uint8Array(1) }))).toBe(DataErrorCode.BAD_DIMENSIONS);
    expect(codeOf(() => encodeIdx({ shape: new Array<number>(256).fill(1), data: new Uint8Array(1) }))).toBe(
      DataErrorCode.BAD_DIMENSIONS,
    );
  });
  it('rejects arrays IDX cannot hold and a disagreeing dtype with BAD_DTYPE', () => {
    expect(codeOf(() => encodeIdx({ shape: [1], data: new Uint16Array(1) as unknown as Uint8Array }))).toBe(DataErrorCode.BAD_DTYPE);
    expect(codeOf(() => encodeIdx({ shape: [1], data: new Uint8Array(1), dtype: 'int8' }))).toBe(DataErrorCode.BAD_DTYPE);
  });
});

describe('decodeIdx (environment-free gzip via DecompressionStream)', () => {
  const tensor = { shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 7) };
  const raw = encodeIdx(tensor);
  const gz = new Uint8Array(gzipSync(raw));

  it('decodes raw and gzipped bytes to the same tensor', async () => {
    expect(isGzip(raw)).toBe(false);
    expect(isGzip(gz)).toBe(true);
    const a = await decodeIdx(raw);
    const b = await decodeIdx(gz);
    expect(a).toEqual(b);
    expect(Array.from(b.data)).toEqual(Array.from(tensor.data));
  });

  it('reports a truncated gzip stream as TRUNCATED and a corrupt one as BAD_GZIP', async () => {
    expect(await asyncCodeOf(() => decodeIdx(gz.subarray(0, gz.length - 12), 'x.gz'))).toBe(DataErrorCode.TRUNCATED);
    const corrupt = gz.slice();
    corrupt[10] = 0xff; // deflate block type 11 is reserved
    expect(await asyncCodeOf(() => decodeIdx(corrupt, 'x.gz'))).toBe(DataErrorCode.BAD_GZIP);
  });

  it('still validates the inflated IDX', async () => {
    const trailing = new Uint8Array(raw.length + 4);
    trailing.set(raw);
    expect(await asyncCodeOf(() => decodeIdx(new Uint8Array(gzipSync(trailing))))).toBe(DataErrorCode.TRAILING_BYTES);
  });
});
