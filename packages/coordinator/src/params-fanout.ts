/**
 * The `params` message each connection gets before its first task of a step: the full
 * vector, or (engine option `paramsDelta`, for a worker that lists `xor-deflate`) the
 * lossless delta from the vector last sent on that connection. Phases' params vectors are
 * never mutated, so the one last sent is exactly what the worker holds; the worker ends with
 * the same bits either way. One encoding per (base, next) pair, shared by every connection at
 * that base. Counts what it sent, for Prometheus.
 */
import { encodeParamsDelta, type ParamsMessage } from '@swarmgrad/protocol';
import type { Conn, WorkerRecord } from './membership.js';

/** `params` messages sent: full vectors, deltas, and their bytes against what full vectors would have been. */
export interface ParamsSent {
  full: number;
  delta: number;
  bytes: number;
  fullBytes: number;
}

/** See the module comment. */
export class ParamsFanout {
  readonly sent: ParamsSent = { full: 0, delta: 0, bytes: 0, fullBytes: 0 };
  private deltas: { next: Float32Array | null; byBase: Map<Float32Array, Uint8Array> } = { next: null, byBase: new Map() };

  constructor(
    private readonly runId: string,
    private readonly useDeltas: boolean,
  ) {}

  /** The message that brings `conn` to `params` (step `step`); records it as sent on `conn`. */
  messageFor(conn: Conn, worker: WorkerRecord, step: number, params: Float32Array): ParamsMessage {
    const message = this.choose(conn, worker, step, params);
    this.sent[message.delta ? 'delta' : 'full']++;
    this.sent.bytes += message.delta ? message.delta.bytes.byteLength : params.byteLength;
    this.sent.fullBytes += params.byteLength;
    conn.paramsStep = step;
    conn.paramsSent = params;
    return message;
  }

  private choose(conn: Conn, worker: WorkerRecord, step: number, params: Float32Array): ParamsMessage {
    const full: ParamsMessage = { type: 'params', runId: this.runId, step, params };
    const base = conn.paramsSent;
    const canApply = this.useDeltas && worker.paramsDelta && worker.capabilities.paramsEncodings?.includes('xor-deflate') === true;
    if (!canApply || base === null || base === params || conn.paramsStep < 0 || conn.paramsStep >= step) return full;
    if (this.deltas.next !== params) this.deltas = { next: params, byBase: new Map() };
    let bytes = this.deltas.byBase.get(base);
    if (bytes === undefined) {
      bytes = encodeParamsDelta(base, params);
      this.deltas.byBase.set(base, bytes);
    }
    if (bytes.byteLength >= params.byteLength) return full;
    return { type: 'params', runId: this.runId, step, params: new Float32Array(0), delta: { encoding: 'xor-deflate', baseStep: conn.paramsStep, bytes } };
  }
}
