/** Stable codes of {@link RelayError}, also sent in `error` messages to downstream workers. */
export const RelayErrorCode = {
  /** Bad relay options (thrown at start). */
  BAD_CONFIG: 'BAD_CONFIG',
  /** A downstream worker had no token or the wrong one (fatal; relays admit only token holders). */
  AUTH_FAILED: 'AUTH_FAILED',
  /** The first message of a connection was not a worker `hello` (fatal). */
  HELLO_REQUIRED: 'HELLO_REQUIRED',
  /** A dashboard tried to connect; relays serve workers only (fatal). */
  NOT_A_WORKER: 'NOT_A_WORKER',
  /** The worker cannot encode `f32`, the only codec a relay accepts (fatal). */
  CODEC_UNSUPPORTED: 'CODEC_UNSUPPORTED',
  /** A result that does not match a task this worker holds (wrong blocks, codec, length). */
  BAD_RESULT: 'BAD_RESULT',
  /** A result for a task the worker no longer holds (done elsewhere, or an old step); dropped. */
  STALE_RESULT: 'STALE_RESULT',
  /** A message a worker must not send (e.g. `task`, `params`). */
  UNEXPECTED_MESSAGE: 'UNEXPECTED_MESSAGE',
  /** The coordinator connection failed or closed before the run ended. */
  UPSTREAM_LOST: 'UPSTREAM_LOST',
  /** The coordinator refused the relay (its `error` code is in the message). */
  UPSTREAM_REFUSED: 'UPSTREAM_REFUSED',
  /** A worker was silent for longer than the heartbeat timeout (fatal). */
  HEARTBEAT_TIMEOUT: 'HEARTBEAT_TIMEOUT',
} as const;

/** One of {@link RelayErrorCode}. */
export type RelayErrorCode = (typeof RelayErrorCode)[keyof typeof RelayErrorCode];

/** The relay's one error class: a stable `code` plus a message. */
export class RelayError extends Error {
  override readonly name = 'RelayError';
  constructor(
    readonly code: RelayErrorCode,
    message: string,
  ) {
    super(message);
  }
}
