/**
 * Test support for the collaborators alone: a resolved tiny run, a `Membership` with
 * workers admitted directly (no coordinator, no codec), and a recording `send`.
 */
import { PROTOCOL_VERSION, type Message, type WorkerHelloMessage } from '@swarmgrad/protocol';
import { BatchSchedule } from '@swarmgrad/data';
import { resolveEngineOptions, resolveRunConfig, type ResolvedEngineOptions, type ResolvedRun, type RunConfig } from '../config.js';
import { Membership, type Conn, type MembershipOptions, type WorkerRecord } from '../membership.js';
import { tinyData, tinyRun } from './harness.js';

/** A worker hello with the given fields. */
export function workerHello(fields: Partial<WorkerHelloMessage> & { samplesPerSecond?: number } = {}): WorkerHelloMessage {
  const { samplesPerSecond, ...rest } = fields;
  const capabilities: WorkerHelloMessage['capabilities'] = { backend: 'cpu', environment: 'node', codecs: ['f32'] };
  if (samplesPerSecond !== undefined) capabilities.samplesPerSecond = samplesPerSecond;
  return { type: 'hello', protocolVersion: PROTOCOL_VERSION, role: 'worker', capabilities, ...rest };
}

/** A fake clock the parts share. */
export class Clock {
  now = 1_000_000;
  readonly read = (): number => this.now;
}

/** A tiny run, resolved, with its data, engine options, schedule, clock, membership and a log of sent messages. */
export class Parts {
  readonly clock = new Clock();
  readonly data = tinyData();
  readonly run: ResolvedRun;
  readonly options: ResolvedEngineOptions;
  readonly schedule: BatchSchedule;
  readonly membership: Membership;
  readonly sent: { connId: string; message: Message }[] = [];
  private connCounter = 0;

  constructor(overrides: Partial<RunConfig> = {}, membership: Partial<MembershipOptions> = {}) {
    this.run = resolveRunConfig(tinyRun(overrides), this.data.train, this.data.test);
    this.options = resolveEngineOptions({}, this.run.plan.paramCount);
    const { seed, batchSize, microShardSize } = this.run.config;
    this.schedule = new BatchSchedule({ seed, datasetLength: this.data.train.length, batchSize, microShardSize });
    this.membership = new Membership({
      clock: this.clock.read,
      token: undefined,
      adminToken: undefined,
      allowVolunteers: true,
      heartbeatTimeoutMs: 1000,
      maxStrikes: 3,
      ...membership,
    });
  }

  /** Records a message sent on `conn`. */
  readonly send = (conn: Conn, message: Message): void => {
    this.sent.push({ connId: conn.id, message });
  };

  /** Opens a connection and admits a worker on it. */
  join(samplesPerSecond?: number): { conn: Conn; worker: WorkerRecord } {
    const connId = `c${++this.connCounter}`;
    this.membership.open(connId, '127.0.0.1');
    const conn = this.membership.conns.get(connId)!;
    const worker = this.membership.admit(conn, workerHello(samplesPerSecond === undefined ? {} : { samplesPerSecond }), true, 'f32');
    return { conn, worker };
  }

  /** Messages of `type` sent on `connId`. */
  to<T extends Message['type']>(connId: string, type: T): Extract<Message, { type: T }>[] {
    return this.sent.filter((s) => s.connId === connId && s.message.type === type).map((s) => s.message as Extract<Message, { type: T }>);
  }
}
