/**
 * The dashboard channel: what a connection that said hello as a dashboard may do. It
 * subscribes to the event stream (and gets a snapshot first), and with the admin token it
 * pauses, resumes, stops the run or sets the learning rate.
 */
import type { AdminMessage, JsonObject, Message, SubscribeMessage } from '@swarmgrad/protocol';
import { CoordinatorError, CoordinatorErrorCode } from './errors.js';
import type { RunSnapshot } from './events.js';
import type { Conn, Membership } from './membership.js';
import type { Peers } from './peers.js';

/** The run controls an admin message may use (the coordinator's public methods). */
export interface RunControl {
  pause(): void;
  resume(): void;
  stop(): void;
  setLearningRate(lr: number): void;
  /** Lifts a ban; false when there is none with that key. */
  liftBan(key: string): boolean;
}

/** What the channel needs from the coordinator. */
export interface DashboardContext {
  runId: string;
  membership: Membership;
  peers: Peers;
  /** Sequence number of the last event. */
  seq(): number;
  /** The snapshot a new subscriber gets (with what identifies workers only for `admin`). */
  snapshot(admin: boolean): RunSnapshot;
  control: RunControl;
}

/** Handles subscribe and admin messages of dashboard connections. */
export class DashboardChannel {
  constructor(private readonly ctx: DashboardContext) {}

  /** Handles a message on a dashboard connection (after its hello; heartbeats, byes and hellos are the coordinator's). */
  handle(conn: Conn, msg: Message): void {
    switch (msg.type) {
      case 'subscribe':
        return this.subscribe(conn, msg);
      case 'admin':
        return this.admin(conn, msg);
      case 'error':
        return;
      case 'result':
        return this.ctx.peers.reject(conn, CoordinatorErrorCode.NOT_A_WORKER, 'results are for worker connections; this is a dashboard', { strike: true, countAsResult: true });
      default:
        return this.ctx.peers.reject(conn, CoordinatorErrorCode.UNEXPECTED_MESSAGE, `dashboards do not send ${msg.type} messages`, { strike: true });
    }
  }


  private subscribe(conn: Conn, msg: SubscribeMessage): void {
    if (msg.runId !== undefined && msg.runId !== this.ctx.runId) {
      this.ctx.peers.reject(conn, CoordinatorErrorCode.UNKNOWN_RUN, `no run ${msg.runId} here; this coordinator runs ${this.ctx.runId}`, { strike: false });
      return;
    }
    if (msg.adminToken !== undefined && !this.ctx.membership.adminAllowed(msg.adminToken)) {
      this.ctx.peers.reject(conn, CoordinatorErrorCode.ADMIN_REFUSED, 'wrong admin token; subscribed read-only', { strike: true });
      if (!conn.open) return;
    }
    conn.subscribed = true;
    conn.admin = msg.adminToken !== undefined && this.ctx.membership.adminAllowed(msg.adminToken);
    const snapshot = this.ctx.snapshot(conn.admin) as unknown as JsonObject;
    this.ctx.peers.send(conn, { type: 'event', runId: this.ctx.runId, seq: this.ctx.seq(), event: { kind: 'snapshot', snapshot } });
  }

  private admin(conn: Conn, msg: AdminMessage): void {
    if (msg.runId !== undefined && msg.runId !== this.ctx.runId) {
      this.ctx.peers.reject(conn, CoordinatorErrorCode.UNKNOWN_RUN, `no run ${msg.runId} here; this coordinator runs ${this.ctx.runId}`, { strike: false });
      return;
    }
    if (!this.ctx.membership.adminAllowed(msg.adminToken)) {
      const why = this.ctx.membership.adminConfigured ? 'wrong admin token' : 'admin actions are disabled (no admin token configured)';
      this.ctx.peers.reject(conn, CoordinatorErrorCode.ADMIN_REFUSED, `${msg.action} refused: ${why}`, { strike: true });
      return;
    }
    try {
      switch (msg.action) {
        case 'pause':
          return this.ctx.control.pause();
        case 'resume':
          return this.ctx.control.resume();
        case 'stop':
          return this.ctx.control.stop();
        case 'setLearningRate':
          return this.ctx.control.setLearningRate(msg.value);
        case 'liftBan':
          if (!this.ctx.control.liftBan(msg.value)) this.ctx.peers.reject(conn, CoordinatorErrorCode.BAD_STATE, `no ban ${JSON.stringify(msg.value)} to lift`, { strike: false });
          return;
      }
    } catch (error) {
      if (!(error instanceof CoordinatorError)) throw error;
      this.ctx.peers.reject(conn, error.code, error.message, { strike: false });
    }
  }
}
