import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, estimateFrameBytes, packFrame } from './codec.js';
import { FrameEncoder } from './frame-encoder.js';
import { sameContents, sampleMessages } from './test-support/fixtures.js';

describe('FrameEncoder', () => {
  it('encodes a step\'s params once and re-encodes when the step changes', () => {
    const encoder = new FrameEncoder();
    const params = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    const a = encoder.encode({ type: 'params', runId: 'r', step: 3, params });
    const b = encoder.encode({ type: 'params', runId: 'r', step: 3, params });
    expect(b).toBe(a);
    encoder.encode({ type: 'heartbeat', sentAt: 1 }); // other frames must not clobber the cached one
    const decoded = decodeMessage(a);
    expect(decoded).toMatchObject({ type: 'params', step: 3 });
    expect((decoded as { params: Float32Array }).params).toEqual(params);
    params[0] = 42;
    const c = encoder.encode({ type: 'params', runId: 'r', step: 4, params });
    expect(c).not.toBe(a);
    expect((decodeMessage(c) as { params: Float32Array }).params[0]).toBe(42);
  });
});

describe('frames of large messages', () => {
  it('the size estimate is never below the encoded size', () => {
    for (const parameterCount of [1, 7, 1000, 61_706, 250_000]) {
      for (const [name, message] of Object.entries(sampleMessages(parameterCount))) {
        const frame = encodeMessage(message);
        expect(estimateFrameBytes(message), name).toBeGreaterThanOrEqual(frame.byteLength);
      }
    }
    const unicode = { type: 'bye', reason: '✓'.repeat(5000) + '😀'.repeat(3000) } as const;
    expect(estimateFrameBytes(unicode)).toBeGreaterThanOrEqual(encodeMessage(unicode).byteLength);
  });

  it('a large frame has a buffer of its own, and later frames never touch the earlier ones', () => {
    const messages = sampleMessages(61_706);
    const sent: [Uint8Array, Uint8Array][] = [];
    for (let i = 0; i < 40; i++) {
      for (const name of ['params', 'heartbeat', 'result', 'bye', 'task']) {
        const frame = encodeMessage(messages[name]!);
        sent.push([frame, frame.slice()]);
      }
      const packed = packFrame(messages.params!);
      expect(packed.owned).toBe(true);
      expect(packed.frame.byteOffset).toBe(0);
      expect(packed.frame.buffer.byteLength - packed.frame.byteLength).toBeLessThan(4096);
    }
    // Nothing encoded later wrote over a frame handed out earlier (a socket may still be sending it).
    for (const [frame, copy] of sent) expect(sameContents(frame, copy)).toBe(true);
    // Small frames after a large one are not packed into buffers of the large frame's size.
    const small = encodeMessage(messages.heartbeat!);
    expect(small.buffer.byteLength).toBeLessThanOrEqual(16 * 1024);
  });

  it('the FrameEncoder keeps a large frame without copying it, and a small one as a private copy', () => {
    const encoder = new FrameEncoder();
    const big = encoder.encode({ type: 'params', runId: 'r', step: 1, params: new Float32Array(50_000).fill(1.5) });
    expect(big.byteOffset).toBe(0);
    const tiny = encoder.encode({ type: 'params', runId: 'r', step: 1, params: new Float32Array(3).fill(2) });
    expect(tiny.buffer.byteLength).toBe(tiny.byteLength);
    for (let i = 0; i < 200; i++) encodeMessage({ type: 'heartbeat', sentAt: i });
    expect((decodeMessage(tiny) as { params: Float32Array }).params).toEqual(new Float32Array(3).fill(2));
    expect((decodeMessage(big) as { params: Float32Array }).params).toEqual(new Float32Array(50_000).fill(1.5));
  });

  it('a frame over maxFrameBytes is refused with FRAME_TOO_LARGE', () => {
    const encoder = new FrameEncoder({ maxFrameBytes: 100_000 });
    expect(() => encoder.encode({ type: 'params', runId: 'r', step: 1, params: new Float32Array(50_000) })).toThrow(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }));
    expect(() => encodeMessage({ type: 'params', runId: 'r', step: 1, params: new Float32Array(50_000) }, { maxFrameBytes: 100_000 })).toThrow(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }));
  });
});
