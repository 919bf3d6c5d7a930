/**
 * Talking to peers: sending through the transport (a throwing transport becomes an `error`
 * event, never an exception), refusing messages (an `error` message, a `rejected` event, a
 * strike, and closing at the strike limit), closing connections, and reporting workers that
 * join or leave. Membership decides who is who; this file says it on the wire.
 */
import type { ErrorMessage, Message } from '@swarmgrad/protocol';
import { CloseCode, CoordinatorErrorCode } from './errors.js';
import type { WorkerEvent } from './events.js';
import type { Conn, Membership, WorkerRecord } from './membership.js';
import type { CoordinatorTransport } from './options.js';
import type { Reporter } from './reporting.js';
import { errorText } from './work.js';

/** How a message is refused. */
export interface Refusal {
  /** Count a strike against the connection (closed at `maxStrikes`). */
  strike: boolean;
  /** The step and task the refused message referred to, echoed in the `error`. */
  ref?: { step?: number; taskId?: string };
  /** Count it among rejected worker messages (metrics). */
  countAsResult?: boolean;
}

/** Sends, refuses and closes on behalf of the coordinator. */
export class Peers {
  /**
   * @param workerGone called when a worker's current connection is forgotten, before its
   *   `left` event: the coordinator re-issues the tasks that were sent on `connId`.
   */
  constructor(
    private readonly transport: CoordinatorTransport,
    private readonly membership: Membership,
    private readonly reporter: () => Reporter,
    private readonly workerGone: (worker: WorkerRecord, connId: string) => void,
  ) {}

  /** Sends `msg` on `conn` if it is open. */
  send(conn: Conn, msg: Message): void {
    if (!conn.open) return;
    try {
      this.transport.send(conn.id, msg);
    } catch (error) {
      this.internalError(error, undefined);
    }
  }

  /** Sends an `error`; with a strike, counts it and closes the connection at `maxStrikes`. */
  reject(conn: Conn, code: string, text: string, refusal: Refusal): void {
    const worker = this.membership.workerOf(conn);
    if (refusal.countAsResult === true) this.reporter().countRejected(code, refusal.strike);
    const fatal = refusal.strike && this.membership.strike(conn);
    const suffix = fatal ? ` (strike ${conn.strikes} of ${this.membership.maxStrikes}; closing)` : '';
    const errorMessage: ErrorMessage = { type: 'error', code, message: `${text}${suffix}`, fatal };
    if (refusal.ref) errorMessage.ref = { ...refusal.ref };
    this.send(conn, errorMessage);
    this.reporter().emit({ kind: 'rejected', workerId: worker?.id ?? null, code, message: text, step: refusal.ref?.step ?? null, strike: refusal.strike, fatal });
    if (fatal) this.closeConn(conn, CloseCode.POLICY_VIOLATION, 'too many strikes', 'too many strikes');
  }

  /** Sends a fatal `error` and closes the connection. */
  fatal(conn: Conn, code: string, text: string, closeCode: number, reason: string): void {
    this.send(conn, { type: 'error', code, message: text, fatal: true });
    const worker = this.membership.workerOf(conn);
    if (conn.role !== 'dashboard') {
      this.reporter().emit({ kind: 'rejected', workerId: worker?.id ?? null, code, message: text, step: null, strike: false, fatal: true });
    }
    this.closeConn(conn, closeCode, reason, reason);
  }

  /** Forgets `conn` (see `forget`) and asks the transport to close it. */
  closeConn(conn: Conn, code: number, reason: string, why: string): void {
    if (!conn.open) return;
    this.forget(conn, why);
    try {
      this.transport.close(conn.id, code, reason);
    } catch (error) {
      this.internalError(error, undefined);
    }
  }

  /** Forgets a connection; when it was a worker's, `workerGone` runs and a `left` event says `why`. */
  forget(conn: Conn, why: string): void {
    const worker = this.membership.detach(conn);
    if (!worker) return;
    this.workerGone(worker, conn.id);
    this.reporter().emit(workerEvent(worker, 'left', why));
  }

  /** Says `bye` to every worker and closes every connection but dashboards'. */
  closeWorkers(reason: string): void {
    for (const conn of [...this.membership.conns.values()]) {
      if (conn.role === 'dashboard') continue;
      if (conn.role === 'worker') this.send(conn, { type: 'bye', reason });
      this.closeConn(conn, CloseCode.NORMAL, reason, reason);
    }
  }

  /** Something failed inside the engine: tells the connection (if any) and emits an `error` event. */
  internalError(error: unknown, connId: string | undefined): void {
    const text = `internal error: ${errorText(error)}`;
    if (connId !== undefined) {
      const conn = this.membership.conns.get(connId);
      if (conn) this.send(conn, { type: 'error', code: CoordinatorErrorCode.INTERNAL, message: text });
    }
    this.reporter().emit({ kind: 'error', message: text });
  }
}

/** The `worker` event of a worker that joined or left. */
export function workerEvent(worker: WorkerRecord, action: 'joined' | 'left', reason: string | null): WorkerEvent {
  return {
    kind: 'worker',
    action,
    workerId: worker.id,
    name: worker.name,
    backend: worker.capabilities.backend,
    environment: worker.capabilities.environment,
    adapter: worker.capabilities.adapter ?? null,
    trusted: worker.trusted,
    reason,
  };
}
