import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '@swarmgrad/protocol';
import { SessionState } from './session-state.js';
import type { WorkerLogEntry, WorkerSessionOptions, WorkerSessionStatus } from './session.js';

function stateWith(options: Partial<WorkerSessionOptions> = {}) {
  const logs: WorkerLogEntry[] = [];
  const statuses: WorkerSessionStatus[] = [];
  const state = new SessionState(
    {
      connect: () => Promise.reject(new Error('unused')),
      capabilities: { environment: 'node', cores: 4 },
      backend: { name: 'wasm', reasons: { webgpu: 'no adapter' }, samplesPerSecond: 250 },
      onStatus: (s) => statuses.push(s),
      ...options,
    },
    ['f32', 'f16'],
    (entry) => logs.push(entry),
  );
  return { state, logs, statuses };
}

describe('SessionState alone', () => {
  it('builds hello from the chosen backend, the options and the last welcome', () => {
    const { state } = stateWith({ token: 'lab', name: 'box-1' });
    expect(state.hello()).toEqual({
      type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'worker', token: 'lab', name: 'box-1',
      capabilities: { backend: 'wasm', environment: 'node', cores: 4, codecs: ['f32', 'f16'], paramsEncodings: ['xor-deflate'], samplesPerSecond: 250 },
    });
    state.workerId = 'w7';
    expect(state.hello().workerId).toBe('w7');
  });

  it('reports status changes once per change, with retryAt only while waiting', () => {
    const { state, statuses } = stateWith();
    state.setConnection('connecting');
    state.setConnection('connecting');
    state.retryAt = 123;
    state.setConnection('waiting');
    expect(statuses.map((s) => [s.connection, s.retryAt])).toEqual([
      ['connecting', undefined],
      ['waiting', 123],
    ]);
    expect(statuses[1]).toMatchObject({ backend: 'wasm', backendReasons: { webgpu: 'no adapter' }, connections: 0, failedAttempts: 0 });
  });

  it('only logs a throwing onStatus listener', () => {
    const { state, logs } = stateWith({
      onStatus: () => {
        throw new Error('listener broke');
      },
    });
    expect(() => state.setConnection('connected')).not.toThrow();
    expect(state.status().connection).toBe('connected');
    expect(logs).toEqual([{ level: 'warn', message: 'onStatus listener threw: listener broke' }]);
  });
});
