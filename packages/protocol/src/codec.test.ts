import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from './codec.js';
import { ProtocolErrorCode } from './errors.js';
import { encodeGradient } from './gradient-codecs.js';
import type { Message, ParamsMessage, TrainResultMessage } from './messages.js';
import { prng, randomFloats, sameContents, sampleMessages } from './test-support/fixtures.js';
import { validateMessage } from './validate.js';

const LENET5_PARAMETERS = 61706;

function lenetResult(gradient: Float32Array): TrainResultMessage {
  return {
    type: 'result',
    taskId: 't-1',
    runId: 'run-1',
    step: 12,
    kind: 'train',
    backend: 'webgpu',
    timing: { computeMs: 12.5 },
    blocks: [{ start: 8, count: 4, lossSum: 31.5, sampleCount: 256, gradient: encodeGradient('f32', gradient) }],
  };
}

describe('encodeMessage / decodeMessage', () => {
  const samples = sampleMessages(100);

  it.each(Object.entries(samples))('round-trips %s', (_name, message) => {
    const frame = encodeMessage(message);
    const decoded = decodeMessage(frame, { parameterCount: 100 });
    expect(decoded).toStrictEqual(message);
  });

  it('covers every message type', () => {
    const types = new Set(Object.values(samples).map((message) => message.type));
    expect([...types].sort()).toEqual(
      ['admin', 'bye', 'error', 'event', 'heartbeat', 'hello', 'params', 'result', 'subscribe', 'task', 'welcome'],
    );
  });

  it('sends a 61,706-float gradient as raw bytes: 4 bytes per value plus a small header', () => {
    const gradient = randomFloats(prng(3), LENET5_PARAMETERS);
    const frame = encodeMessage(lenetResult(gradient));
    expect(frame.byteLength).toBeGreaterThan(4 * LENET5_PARAMETERS);
    expect(frame.byteLength).toBeLessThan(4 * LENET5_PARAMETERS + 256);
    // The payload's bytes appear verbatim and contiguously in the frame (no per-number encoding).
    const raw = new Uint8Array(gradient.buffer);
    const at = indexOfBytes(frame, raw.subarray(0, 64));
    expect(at).toBeGreaterThan(0);
    expect(sameContents(frame.subarray(at, at + raw.byteLength), raw)).toBe(true);
  });

  it('decodes typed arrays as aligned arrays of their own type that do not alias the frame', () => {
    const gradient = randomFloats(prng(4), LENET5_PARAMETERS);
    const encoded = encodeMessage(lenetResult(gradient));
    // Put the frame at an odd offset of a larger buffer, as a network stack might.
    const backing = new Uint8Array(encoded.byteLength + 3);
    backing.set(encoded, 1);
    const frame = backing.subarray(1, 1 + encoded.byteLength);
    const decoded = decodeMessage(frame, { parameterCount: LENET5_PARAMETERS }) as TrainResultMessage;
    const payload = decoded.blocks[0]!.gradient.payload;
    expect(payload).toBeInstanceOf(Float32Array);
    expect(payload.byteOffset % 4).toBe(0);
    expect(sameContents(payload, gradient)).toBe(true);
    expect(payload.buffer).not.toBe(backing.buffer);
    backing.fill(0);
    expect(sameContents(payload, gradient)).toBe(true);
  });

  it('accepts an ArrayBuffer frame (browser WebSocket binaryType "arraybuffer")', () => {
    const message = sampleMessages(10).params!;
    const frame = encodeMessage(message);
    const buffer = frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer;
    expect(decodeMessage(buffer)).toStrictEqual(message);
  });

  it('is stateless: equal messages give equal bytes, and frames decode in any order', () => {
    const messages = Object.values(sampleMessages(32));
    const frames = messages.map((message) => encodeMessage(message));
    const again = messages.map((message) => encodeMessage(message));
    expect(again).toEqual(frames);
    const order = frames.map((_, i) => i).reverse();
    for (const i of order) expect(decodeMessage(frames[i]!)).toStrictEqual(messages[i]);
  });

  it('leaves out optional fields set to undefined', () => {
    const withUndefined = { type: 'bye', reason: 'x', extra: undefined } as unknown as Message;
    expect(encodeMessage(withUndefined)).toEqual(encodeMessage({ type: 'bye', reason: 'x' }));
  });

  it('accepts typed arrays sent as plain MessagePack bin by other encoders, little-endian', () => {
    const params = randomFloats(prng(5), 33);
    const plain = new Packr({ useRecords: false }); // no typed-array extension: Float32Array → bin
    const frame = plain.pack({ type: 'params', runId: 'r', step: 1, params });
    const decoded = decodeMessage(frame, { parameterCount: 33 }) as ParamsMessage;
    expect(decoded.params).toBeInstanceOf(Float32Array);
    expect(decoded.params).toEqual(params);
  });

  it('copies a misaligned byte view into an aligned typed array', () => {
    const params = randomFloats(prng(6), 9);
    const backing = new Uint8Array(4 * 9 + 1);
    backing.set(new Uint8Array(params.buffer), 1);
    const misaligned = backing.subarray(1);
    const message = validateMessage({ type: 'params', runId: 'r', step: 0, params: misaligned }) as ParamsMessage;
    expect(message.params.byteOffset % 4).toBe(0);
    expect(message.params).toEqual(params);
  });

  it('encodeMessage refuses a frame over maxFrameBytes', () => {
    const message = lenetResult(new Float32Array(LENET5_PARAMETERS));
    expect(() => encodeMessage(message, { maxFrameBytes: 4 * LENET5_PARAMETERS })).toThrow(
      expect.objectContaining({ code: ProtocolErrorCode.FRAME_TOO_LARGE }),
    );
    expect(encodeMessage(message, { maxFrameBytes: 4 * LENET5_PARAMETERS + 1024 }).byteLength).toBeGreaterThan(0);
  });
});

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
