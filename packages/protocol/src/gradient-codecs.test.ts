import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from './codec.js';
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import {
  DEFAULT_INT8_CHUNK_SIZE,
  Int8Encoder,
  decodeGradient,
  encodeGradient,
  encodedGradientBytes,
} from './gradient-codecs.js';
import type { EncodedGradient, Int8Gradient, TrainResultMessage } from './messages.js';
import { prng, randomFloats } from './test-support/fixtures.js';

const LENET5_PARAMETERS = 61706;

/** A gradient-like vector: magnitudes vary by orders of magnitude between and within chunks. */
function gradientLike(random: () => number, length: number): Float32Array {
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const magnitude = 10 ** (-6 + 5 * random());
    values[i] = (random() < 0.5 ? -1 : 1) * magnitude;
  }
  return values;
}

function roundTrip(encoded: EncodedGradient, length: number): Float32Array {
  const message: TrainResultMessage = {
    type: 'result',
    taskId: 't',
    runId: 'r',
    step: 0,
    kind: 'train',
    backend: 'cpu',
    timing: { computeMs: 1 },
    blocks: [{ start: 0, count: 1, lossSum: 0, sampleCount: 1, gradient: encoded }],
  };
  const decoded = decodeMessage(encodeMessage(message), { parameterCount: length }) as TrainResultMessage;
  return decodeGradient(decoded.blocks[0]!.gradient, length);
}

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    return error instanceof ProtocolError ? error.code : (error as Error).name;
  }
  return undefined;
}

describe('f32', () => {
  it('is exact through a frame, and zero-copy in encode and decode', () => {
    const values = gradientLike(prng(1), LENET5_PARAMETERS);
    const encoded = encodeGradient('f32', values);
    expect(encoded.payload).toBe(values);
    expect(decodeGradient(encoded, values.length)).toBe(values);
    const back = roundTrip(encoded, values.length);
    expect(new Uint32Array(back.buffer)).toEqual(new Uint32Array(values.buffer));
  });

  it('copies into `out` when given', () => {
    const values = randomFloats(prng(2), 10);
    const out = new Float32Array(10);
    expect(decodeGradient(encodeGradient('f32', values), 10, out)).toBe(out);
    expect(out).toEqual(values);
  });
});

describe('f16', () => {
  it('keeps the relative error within 2^-11 for normal-range values, through a frame', () => {
    const random = prng(3);
    const values = new Float32Array(LENET5_PARAMETERS);
    for (let i = 0; i < values.length; i++) values[i] = (random() < 0.5 ? -1 : 1) * 2 ** (random() * 29.9 - 14);
    const back = roundTrip(encodeGradient('f16', values), values.length);
    let worst = 0;
    for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(back[i]! - values[i]!) / Math.abs(values[i]!));
    expect(worst).toBeLessThanOrEqual(2 ** -11);
    expect(worst).toBeGreaterThan(2 ** -12);
  });

  it('saturates finite overflow to ±65504', () => {
    const back = decodeGradient(encodeGradient('f16', new Float32Array([1e6, -70000, 65520])), 3);
    expect(Array.from(back)).toEqual([65504, -65504, 65504]);
  });
});

describe('int8', () => {
  it('stays within half a step (scale/2) of every value, per chunk', () => {
    const random = prng(4);
    for (const chunkSize of [DEFAULT_INT8_CHUNK_SIZE, 1, 7, 1000]) {
      const values = gradientLike(random, LENET5_PARAMETERS); // 61,706: the last chunk is short
      const encoded = new Int8Encoder(values.length, { chunkSize }).encode(values);
      // A fresh encoder has no residual: same as the stateless path.
      if (chunkSize === DEFAULT_INT8_CHUNK_SIZE) {
        const stateless = encodeGradient('int8', values) as Int8Gradient;
        expect(stateless.payload).toEqual(encoded.payload);
        expect(stateless.scales).toEqual(encoded.scales);
      }
      expect(encoded.scales.length).toBe(Math.ceil(values.length / chunkSize));
      const back = roundTrip(encoded, values.length);
      for (let chunk = 0; chunk < encoded.scales.length; chunk++) {
        const start = chunk * chunkSize;
        const end = Math.min(values.length, start + chunkSize);
        let maxAbs = 0;
        for (let i = start; i < end; i++) maxAbs = Math.max(maxAbs, Math.abs(values[i]!));
        const scale = encoded.scales[chunk]!;
        expect(scale).toBe(Math.fround(maxAbs / 127));
        // scale/2 from rounding to an integer step, plus float32 rounding of q*scale.
        const bound = scale / 2 + maxAbs * 2 ** -23;
        for (let i = start; i < end; i++) {
          const error = Math.abs(back[i]! - values[i]!);
          if (error > bound) expect(error, `value ${i} of chunk ${chunk}`).toBeLessThanOrEqual(bound);
        }
      }
    }
  });

  it('encodes zero chunks as scale 0', () => {
    const values = new Float32Array(600);
    values[300] = 2;
    const encoded = encodeGradient('int8', values) as Int8Gradient;
    expect(Array.from(encoded.scales)).toEqual([0, Math.fround(2 / 127), 0]);
    expect(Array.from(decodeGradient(encoded, 600))).toEqual(Array.from(values));
  });

  it('error feedback: the sum of decoded vectors tracks the sum of true vectors', () => {
    const length = 4096;
    const steps = 300;
    const random = prng(5);
    const withFeedback = new Int8Encoder(length);
    const trueSum = new Float64Array(length);
    const feedbackSum = new Float64Array(length);
    const plainSum = new Float64Array(length);
    let largestScale = 0;
    for (let step = 0; step < steps; step++) {
      // Mostly small values with a consistent sign, plus one large value per chunk: without
      // feedback the small ones round to zero every time and their sum is lost.
      const values = new Float32Array(length);
      for (let i = 0; i < length; i++) values[i] = (i % 2 === 0 ? 1 : -1) * 1e-3 * (0.5 + random());
      for (let chunk = 0; chunk < length / 256; chunk++) values[chunk * 256 + Math.floor(random() * 256)] = 1 + random();
      const encoded = withFeedback.encode(values);
      const decodedFeedback = roundTrip(encoded, length);
      const decodedPlain = decodeGradient(encodeGradient('int8', values), length);
      for (let i = 0; i < length; i++) {
        trueSum[i]! += values[i]!;
        feedbackSum[i]! += decodedFeedback[i]!;
        plainSum[i]! += decodedPlain[i]!;
      }
      for (const scale of encoded.scales) largestScale = Math.max(largestScale, scale);
    }
    let feedbackError = 0;
    let plainError = 0;
    let invariantError = 0;
    for (let i = 0; i < length; i++) {
      feedbackError = Math.max(feedbackError, Math.abs(feedbackSum[i]! - trueSum[i]!));
      plainError = Math.max(plainError, Math.abs(plainSum[i]! - trueSum[i]!));
      // sum(decoded) + residual == sum(true), up to float32 rounding of the residual.
      invariantError = Math.max(invariantError, Math.abs(feedbackSum[i]! + withFeedback.residual[i]! - trueSum[i]!));
    }
    // Bounded by the residual (half a step of the largest scale) after 300 steps ...
    expect(feedbackError).toBeLessThanOrEqual(largestScale / 2 + 1e-4);
    expect(invariantError).toBeLessThan(1e-4);
    // ... while without feedback the error grows with the number of steps.
    expect(plainError).toBeGreaterThan(0.1);
    expect(plainError).toBeGreaterThan(20 * feedbackError);
  });

  it('refuses non-finite input and leaves the residual alone', () => {
    const encoder = new Int8Encoder(4, { chunkSize: 2 });
    encoder.encode(new Float32Array([0.3, 0.001, 1, 2]));
    const residual = encoder.residual.slice();
    expect(() => encoder.encode(new Float32Array([0.1, 0.2, Number.NaN, 1]))).toThrow(RangeError);
    expect(encoder.residual).toEqual(residual);
    expect(() => encoder.encode(new Float32Array(5))).toThrow(RangeError);
    encoder.reset();
    expect(Array.from(encoder.residual)).toEqual([0, 0, 0, 0]);
    expect(() => new Int8Encoder(4, { chunkSize: 0 })).toThrow(TypeError);
    expect(() => encodeGradient('f32', new Float32Array(4), encoder)).toThrow(TypeError);
  });
});

describe('decodeGradient checks sizes', () => {
  const values = randomFloats(prng(6), 300);
  it.each([
    ['wrong expected length', () => decodeGradient(encodeGradient('f32', values), 301), ProtocolErrorCode.LENGTH_MISMATCH],
    [
      'f32 payload shorter than length',
      () => decodeGradient({ codec: 'f32', length: 300, payload: values.subarray(1) }, 300),
      ProtocolErrorCode.LENGTH_MISMATCH,
    ],
    [
      'f16 payload of the wrong type',
      () => decodeGradient({ codec: 'f16', length: 300, payload: new Uint8Array(600) } as never, 300),
      ProtocolErrorCode.BAD_FIELD,
    ],
    [
      'int8 with too few scales',
      () => {
        const encoded = encodeGradient('int8', values) as Int8Gradient;
        return decodeGradient({ ...encoded, scales: encoded.scales.subarray(1) }, 300);
      },
      ProtocolErrorCode.LENGTH_MISMATCH,
    ],
    [
      'int8 with a bad chunk size',
      () => decodeGradient({ ...(encodeGradient('int8', values) as Int8Gradient), chunkSize: 0 }, 300),
      ProtocolErrorCode.BAD_FIELD,
    ],
    ['unknown codec', () => decodeGradient({ codec: 'bf16', length: 300, payload: values } as never, 300), ProtocolErrorCode.BAD_FIELD],
  ])('%s', (_label, action, code) => {
    expect(codeOf(action)).toBe(code);
  });
});

describe('wire sizes', () => {
  it('matches encodedGradientBytes for a LeNet-5 gradient', () => {
    const values = gradientLike(prng(7), LENET5_PARAMETERS);
    const empty = encodeMessage({ type: 'params', runId: 'r', step: 0, params: new Float32Array(0) }).byteLength;
    const sizes: Record<string, number> = {};
    for (const codec of ['f32', 'f16', 'int8'] as const) {
      const encoded = encodeGradient(codec, values);
      const payloadOnly =
        encoded.codec === 'int8'
          ? encodeMessage({ type: 'params', runId: 'r', step: 0, params: encoded.payload as never }).byteLength +
            encodeMessage({ type: 'params', runId: 'r', step: 0, params: encoded.scales }).byteLength -
            2 * empty
          : encodeMessage({ type: 'params', runId: 'r', step: 0, params: encoded.payload as never }).byteLength - empty;
      sizes[codec] = payloadOnly;
    }
    // `empty` includes a 4-byte header for the zero-length array; add it back per array.
    expect(sizes.f32! + 4).toBe(encodedGradientBytes('f32', LENET5_PARAMETERS));
    expect(sizes.f16! + 4).toBe(encodedGradientBytes('f16', LENET5_PARAMETERS));
    expect(sizes.int8! + 8).toBe(encodedGradientBytes('int8', LENET5_PARAMETERS));
    expect(encodedGradientBytes('f32', LENET5_PARAMETERS)).toBe(246_831);
    expect(encodedGradientBytes('f16', LENET5_PARAMETERS)).toBe(123_419);
    expect(encodedGradientBytes('int8', LENET5_PARAMETERS)).toBe(61_711 + 973);
  });
});
