/**
 * The options of `new Coordinator(...)` besides the run config and the engine options
 * (`config.ts`): the transport, clock, tokens, resume, checkpoint sink and result gate.
 */
import type { Message } from '@swarmgrad/protocol';
import type { Dataset } from '@swarmgrad/data';
import type { Checkpoint } from './checkpoint.js';
import type { EngineOptionsInput, RunConfig } from './config.js';
import { CoordinatorError, CoordinatorErrorCode } from './errors.js';
import type { ResultGate } from './result-gate.js';
import type { VerificationOptions } from './verification-options.js';

/** Where the engine's messages go. The adapter (e.g. a `ws` server) encodes and sends them. */
export interface CoordinatorTransport {
  /**
   * Sends `message` to connection `connId`. The engine never mutates a message (or its
   * typed arrays) after passing it here, so the adapter may encode it later.
   */
  send(connId: string, message: Message): void;
  /**
   * Closes connection `connId` (WebSocket close `code` and `reason`; see `CloseCode`).
   * The engine has already forgotten the connection; calling `coordinator.close(connId)`
   * afterwards is harmless.
   */
  close(connId: string, code: number, reason: string): void;
  /**
   * Optional backpressure: false while connection `connId` has more unsent bytes than it
   * should. The engine gives such a worker no new task until it is writable again (blocks
   * wait, or go to other workers). Absent: every connection is always writable.
   */
  writable?(connId: string): boolean;
}

/** Options of `new Coordinator(...)`. Only `run`, `trainData` and `transport` are required. */
export interface CoordinatorOptions extends EngineOptionsInput {
  /** What to train. */
  run: RunConfig;
  /** Training samples; step t's batch is `batchForStep({ seed, datasetLength: trainData.length, batchSize, step: t })`. */
  trainData: Dataset;
  /** Evaluation samples (the first `run.evalSamples`, in order). Without it no evaluation runs. */
  testData?: Dataset;
  /** Where messages go. */
  transport: CoordinatorTransport;
  /** Milliseconds since the Unix epoch (default `Date.now`); inject a fake clock in tests. */
  clock?: () => number;
  /**
   * Lab token. When set, a worker whose `hello.token` equals it joins trusted, a worker
   * with another token is refused (`AUTH_FAILED`, closed), and a worker without a token
   * joins as an untrusted volunteer if `allowVolunteers`, else is refused. When unset,
   * every worker is trusted (a closed deployment).
   */
  token?: string;
  /** Admin token: `admin` messages are honoured only when they carry it. Unset: every admin message is refused. */
  adminToken?: string;
  /** Continue a run from this checkpoint (see `decodeCheckpoint` / `readCheckpoint`). */
  resume?: Checkpoint;
  /**
   * Called every `run.checkpointEvery` steps, at the end of the run (after the final
   * evaluation) and on `stop()`; the engine waits for the returned promise before it goes
   * on, so an acknowledged step is never lost. A rejection pauses the run (event
   * `checkpoint` with `ok: false`); `resume()` goes on without that checkpoint.
   */
  onCheckpoint?: (checkpoint: Checkpoint) => void | Promise<void>;
  /**
   * Decides, for every result that passed validation, whether it is aggregated (see
   * `ResultGate`; the place to verify untrusted volunteers). Default: `PASS_THROUGH_GATE`.
   */
  resultGate?: ResultGate;
  /**
   * How untrusted volunteers are verified (mode `verify` by default: probation, spot checks,
   * bans, rollback; see the README's "Verification of untrusted volunteers").
   */
  verification?: VerificationOptions;
}


/** A `BAD_CONFIG` error. */
export function badConfig(text: string, cause?: unknown): CoordinatorError {
  return new CoordinatorError(CoordinatorErrorCode.BAD_CONFIG, text, cause === undefined ? undefined : { cause });
}

/** Checks the options that are not part of the run config or the engine options. @throws CoordinatorError `BAD_CONFIG` */
export function checkOptions(options: CoordinatorOptions): void {
  if (typeof options !== 'object' || options === null) throw badConfig('options must be an object');
  const { transport } = options;
  if (typeof transport !== 'object' || transport === null || typeof transport.send !== 'function' || typeof transport.close !== 'function') {
    throw badConfig('transport must be an object with send(connId, message) and close(connId, code, reason)');
  }
  for (const key of ['token', 'adminToken'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) throw badConfig(`${key} must be a non-empty string when given`);
  }
  if (options.clock !== undefined && typeof options.clock !== 'function') throw badConfig('clock must be a function returning milliseconds');
  if (options.onCheckpoint !== undefined && typeof options.onCheckpoint !== 'function') throw badConfig('onCheckpoint must be a function');
  const gate = options.resultGate;
  if (gate !== undefined && (typeof gate !== 'object' || gate === null || typeof gate.admit !== 'function')) throw badConfig('resultGate must be an object with admit(result)');
}

