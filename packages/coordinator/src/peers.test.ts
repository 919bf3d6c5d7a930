import { describe, expect, it } from 'vitest';
import type { Message } from '@swarmgrad/protocol';
import { CloseCode } from './errors.js';
import type { CoordinatorEvent } from './events.js';
import { Peers } from './peers.js';
import { Reporter } from './reporting.js';
import { Parts } from './testing/parts.js';

function peersFor(parts: Parts, transport: { send(id: string, m: Message): void; close(id: string, code: number, reason: string): void }) {
  const events: CoordinatorEvent[] = [];
  const gone: string[] = [];
  const reporter = new Reporter({
    run: parts.run, trainData: parts.data.train, testData: undefined, membership: parts.membership, clock: parts.clock.read, send: parts.send,
    view: () => ({ status: 'running', step: 0, epoch: 0, lr: 0.1, startedAt: 0 }),
  });
  reporter.on((e) => events.push(e));
  const peers = new Peers(transport, parts.membership, () => reporter, (worker, connId) => gone.push(`${worker.id}@${connId}`));
  return { peers, events, gone, reporter };
}

describe('Peers alone', () => {
  it('refuses with strikes and closes at the limit; the worker leaves once and its tasks are handed back', () => {
    const parts = new Parts({}, { maxStrikes: 2 });
    const sent: [string, Message][] = [];
    const closed: [string, number, string][] = [];
    const { peers, events, gone, reporter } = peersFor(parts, { send: (id, m) => sent.push([id, m]), close: (id, code, reason) => closed.push([id, code, reason]) });
    const { conn } = parts.join();
    peers.reject(conn, 'BAD_RESULT', 'nope', { strike: true, ref: { step: 3, taskId: 't' }, countAsResult: true });
    peers.reject(conn, 'BAD_RESULT', 'nope again', { strike: true, countAsResult: true });
    peers.reject(conn, 'BAD_RESULT', 'after close', { strike: true });
    expect(sent.map(([, m]) => m)).toEqual([
      { type: 'error', code: 'BAD_RESULT', message: 'nope', fatal: false, ref: { step: 3, taskId: 't' } },
      { type: 'error', code: 'BAD_RESULT', message: 'nope again (strike 2 of 2; closing)', fatal: true },
    ]);
    expect(closed).toEqual([[conn.id, CloseCode.POLICY_VIOLATION, 'too many strikes']]);
    expect(gone).toEqual([`w1@${conn.id}`]);
    expect(events.filter((e) => e.kind === 'worker')).toEqual([expect.objectContaining({ action: 'left', reason: 'too many strikes' })]);
    expect(reporter.totals.resultsRejected).toBe(2);
  });

  it('turns a throwing transport into an error event instead of an exception', () => {
    const parts = new Parts();
    const { peers, events } = peersFor(parts, {
      send: () => {
        throw new Error('socket gone');
      },
      close: () => {
        throw new Error('already closed');
      },
    });
    const { conn } = parts.join();
    expect(() => peers.send(conn, { type: 'bye', reason: 'x' })).not.toThrow();
    expect(() => peers.closeConn(conn, CloseCode.NORMAL, 'bye', 'bye')).not.toThrow();
    expect(events.filter((e) => e.kind === 'error').map((e) => (e as { message: string }).message)).toEqual(['internal error: socket gone', 'internal error: already closed']);
    expect(conn.open).toBe(false);
  });
});
