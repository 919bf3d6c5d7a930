/**
 * Stable codes of `CoordinatorError`, also sent as the `code` of `error` messages to
 * workers and dashboards. Callers and tests switch on these, never on message text.
 * (Wire decoding failures are sent with the `ProtocolError`'s own code instead:
 * `MALFORMED`, `UNKNOWN_TYPE`, `BAD_FIELD`, `FRAME_TOO_LARGE`, `TOO_MANY_SHARDS`,
 * `LENGTH_MISMATCH`, `NON_FINITE`, `BAD_BLOCK`, `VERSION_MISMATCH`.)
 */
export const CoordinatorErrorCode = {
  /** A worker's `hello` carried a wrong lab token, or none while volunteers are not allowed. Fatal. */
  AUTH_FAILED: 'AUTH_FAILED',
  /** The first message of a connection was not a `hello`. Fatal. */
  HELLO_REQUIRED: 'HELLO_REQUIRED',
  /** A second `hello` on a connection that already has a role. Strike. */
  DUPLICATE_HELLO: 'DUPLICATE_HELLO',
  /** A worker offers no gradient codec the run accepts (the run's codec or `f32`). Fatal. */
  CODEC_UNSUPPORTED: 'CODEC_UNSUPPORTED',
  /** The run has finished or was stopped; no more workers are admitted. Fatal. */
  RUN_FINISHED: 'RUN_FINISHED',
  /** A `result` came from a connection that is not a worker (a dashboard). Strike. */
  NOT_A_WORKER: 'NOT_A_WORKER',
  /** A `subscribe` or `admin` came from a worker connection. Strike. */
  NOT_A_DASHBOARD: 'NOT_A_DASHBOARD',
  /** A message only the coordinator sends (`welcome`, `params`, `task`, `event`) was sent to it. Strike. */
  UNEXPECTED_MESSAGE: 'UNEXPECTED_MESSAGE',
  /**
   * A result that does not match its task: other run, kind or step than the task, a future
   * step, blocks that are not blocks of the task, `sampleCount` ≠ count × m (train) or ≠ the
   * shard's samples (eval), a gradient in another codec than the worker's. Strike; the
   * task's missing blocks are re-issued.
   */
  BAD_RESULT: 'BAD_RESULT',
  /** A result for a step (or evaluation) that is already complete. Dropped, no strike. */
  STALE_RESULT: 'STALE_RESULT',
  /** A result for a block another result already delivered (first result wins). Dropped, no strike. */
  DUPLICATE_RESULT: 'DUPLICATE_RESULT',
  /**
   * The `ResultGate` refused a validated result (e.g. it failed verification). Strike when
   * the gate says so; the task's missing blocks are re-issued.
   */
  RESULT_REFUSED: 'RESULT_REFUSED',
  /** A result names a task this worker was never given. Strike. */
  UNKNOWN_TASK: 'UNKNOWN_TASK',
  /** An `admin` message (or `subscribe.adminToken`) without the right admin token, or while no admin token is configured. Strike, not fatal by itself. */
  ADMIN_REFUSED: 'ADMIN_REFUSED',
  /** A `subscribe` or `admin` names another run than this coordinator's. Not fatal. */
  UNKNOWN_RUN: 'UNKNOWN_RUN',
  /** An admin action that does not apply now (e.g. resume while running, anything after the run ended). Not fatal. */
  BAD_STATE: 'BAD_STATE',
  /** A worker sent nothing (not even a heartbeat) for `heartbeatTimeoutMs`, or a connection sent no `hello` in that time. Fatal. */
  HEARTBEAT_TIMEOUT: 'HEARTBEAT_TIMEOUT',
  /** A worker missed its task deadline `MAX_MISSED_DEADLINES` times in a row; it is closed (it may reconnect). */
  TOO_SLOW: 'TOO_SLOW',
  /** A connection reached `maxStrikes` rejected messages. Sent with `fatal: true` on the last one. */
  TOO_MANY_STRIKES: 'TOO_MANY_STRIKES',
  /** Thrown: invalid run config or coordinator options (the message names the field). */
  BAD_CONFIG: 'BAD_CONFIG',
  /** Thrown: the checkpoint given as `resume` belongs to another run (a field that determines the trajectory differs). */
  RESUME_MISMATCH: 'RESUME_MISMATCH',
  /** Thrown: bytes that are not a swarmgrad checkpoint, or of an unsupported format version. */
  CHECKPOINT_FORMAT: 'CHECKPOINT_FORMAT',
  /** Thrown: a checkpoint that is truncated, fails its SHA-256 check, or whose content is inconsistent. */
  CHECKPOINT_CORRUPT: 'CHECKPOINT_CORRUPT',
  /** An untrusted worker's result did not match the trusted recomputation of the same blocks. Fatal; the worker is banned. */
  VERIFICATION_FAILED: 'VERIFICATION_FAILED',
  /** A banned worker (by worker id or address) said hello; the message gives the reason and the expiry. Fatal. */
  BANNED: 'BANNED',
  /** A train result that cannot be right: an all-zero gradient with a positive loss (a broken backend), or a negative loss. Strike; re-issued. */
  IMPLAUSIBLE_RESULT: 'IMPLAUSIBLE_RESULT',
  /** Thrown: a checkpoint whose model has more than `MAX_CHECKPOINT_PARAMETERS` parameters (refused before anything is allocated). */
  CHECKPOINT_TOO_LARGE: 'CHECKPOINT_TOO_LARGE',
  /** Parameters or optimizer state that are not finite, or that give a non-finite loss (a step that produced them stops the run; `eval` reports it). */
  NON_FINITE_STATE: 'NON_FINITE_STATE',
  /** Sent to a peer when handling its message failed unexpectedly (a bug); also emitted as an `error` event. */
  INTERNAL: 'INTERNAL',
} as const;

/** One of the `CoordinatorErrorCode` values. */
export type CoordinatorErrorCode = (typeof CoordinatorErrorCode)[keyof typeof CoordinatorErrorCode];

/**
 * The one error class of `@swarmgrad/coordinator`. Thrown for bad options, bad checkpoints
 * and illegal calls; `code` is stable, `message` says what was wrong and what was expected.
 */
export class CoordinatorError extends Error {
  override readonly name = 'CoordinatorError';
  /** Stable code; see `CoordinatorErrorCode`. */
  readonly code: CoordinatorErrorCode;

  /**
   * @param code stable error code
   * @param message what was wrong and what was expected
   * @param options the underlying error, if any
   */
  constructor(code: CoordinatorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** Whether `error` is a `CoordinatorError`, optionally with the given code (by class, or by name and code across package copies). */
export function isCoordinatorError(error: unknown, code?: CoordinatorErrorCode): error is CoordinatorError {
  let ok: boolean;
  if (error instanceof CoordinatorError) ok = true;
  else if (typeof error !== 'object' || error === null) ok = false;
  else {
    const candidate = error as { name?: unknown; code?: unknown };
    ok =
      candidate.name === 'CoordinatorError' &&
      typeof candidate.code === 'string' &&
      Object.prototype.hasOwnProperty.call(CoordinatorErrorCode, candidate.code);
  }
  return ok && (code === undefined || (error as CoordinatorError).code === code);
}

/**
 * WebSocket close codes the coordinator passes to `transport.close`.
 * 1000/1002/1008 are RFC 6455 codes; 4000–4999 are reserved for applications.
 */
export const CloseCode = {
  /** The run finished or was stopped, or the peer said `bye`. */
  NORMAL: 1000,
  /** The peer's first message was not a valid `hello`. */
  PROTOCOL_ERROR: 1002,
  /** Authentication failed, too many strikes, or the peer was refused. */
  POLICY_VIOLATION: 1008,
  /** No message within `heartbeatTimeoutMs`. */
  HEARTBEAT_TIMEOUT: 4000,
} as const;

/** One of the `CloseCode` values. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
