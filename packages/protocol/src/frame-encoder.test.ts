import { describe, expect, it } from 'vitest';
import { decodeMessage } from './codec.js';
import { FrameEncoder } from './frame-encoder.js';

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
