/**
 * Stable error codes of `@swarmgrad/worker`. Callers and tests match on `code`, never on
 * message text. Codes marked "wire" are also sent to the coordinator in an `error` message
 * (with `ref: { taskId, step }` when a task is to blame).
 */
export const WorkerErrorCode = {
  /** wire — a task names a step whose `params` the worker does not hold (never received, or evicted). */
  MISSING_PARAMS: 'MISSING_PARAMS',
  /** wire — a task carries no inline samples (`x` and `labels`/`targets`) and no sample source was configured. */
  MISSING_SAMPLES: 'MISSING_SAMPLES',
  /** wire — a task's samples do not fit the model (wrong input size, labels for a regression model, ...). */
  BAD_TASK: 'BAD_TASK',
  /** wire — a `params` or `task` names another run than the one the `welcome` joined. */
  RUN_MISMATCH: 'RUN_MISMATCH',
  /** wire — a `params` or `task` arrived before any `welcome`. */
  NOT_READY: 'NOT_READY',
  /** wire — the model failed while computing a task (the message says why). */
  COMPUTE_FAILED: 'COMPUTE_FAILED',
  /** wire — the worker hands a task back without computing it (paused, or shutting down); reissue its blocks elsewhere. */
  TASK_DECLINED: 'TASK_DECLINED',
  /** wire, fatal — `welcome.parameterCount` differs from the parameter count of `welcome.modelSpec` as this worker builds it. */
  PARAMETER_COUNT_MISMATCH: 'PARAMETER_COUNT_MISMATCH',
  /** wire, fatal — `welcome.modelSpec` is not a model this worker can build. */
  INVALID_MODEL: 'INVALID_MODEL',
  /** No requested backend can start here (or the requested one failed its benchmark). */
  BACKEND_UNAVAILABLE: 'BACKEND_UNAVAILABLE',
  /** The coordinator refused this worker for good (a fatal `error` whose code is permanent, e.g. `AUTH_FAILED`); `remoteCode` holds its code. */
  REFUSED: 'REFUSED',
  /** The coordinator speaks another protocol version (its `welcome` failed with `VERSION_MISMATCH`). */
  INCOMPATIBLE: 'INCOMPATIBLE',
  /** The coordinator could not be reached in `reconnect.maxAttempts` attempts. */
  CONNECT_FAILED: 'CONNECT_FAILED',
  /** A token file could not be read, or was empty. */
  TOKEN_FILE: 'TOKEN_FILE',
} as const;

/** One of the {@link WorkerErrorCode} values. */
export type WorkerErrorCode = (typeof WorkerErrorCode)[keyof typeof WorkerErrorCode];

/** Options of {@link WorkerError}. */
export interface WorkerErrorOptions {
  /** The underlying error. */
  cause?: unknown;
  /** For `REFUSED`: the `code` of the coordinator's `error` message. */
  remoteCode?: string;
}

/** The one error class of `@swarmgrad/worker`; `code` is stable, `message` is for people. */
export class WorkerError extends Error {
  override readonly name = 'WorkerError';
  /** Stable code; see {@link WorkerErrorCode}. */
  readonly code: WorkerErrorCode;
  /** For `REFUSED`: the coordinator's error code (e.g. `AUTH_FAILED`). */
  readonly remoteCode: string | undefined;

  constructor(code: WorkerErrorCode, message: string, options: WorkerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.remoteCode = options.remoteCode;
  }
}

/** True when `error` is a {@link WorkerError}. */
export function isWorkerError(error: unknown): error is WorkerError {
  return error instanceof WorkerError;
}

/** `error.message` for errors, `String(error)` otherwise. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
