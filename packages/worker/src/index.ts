/**
 * `@swarmgrad/worker` — the swarmgrad gradient worker, browser-safe entry: the
 * environment-free compute core, the connection loop over an `Endpoint` seam, backend
 * choice, and a WHATWG `WebSocket` endpoint. The Node entry (`ws`) is
 * `@swarmgrad/worker/node`.
 */
export { WorkerError, WorkerErrorCode, isWorkerError, type WorkerErrorOptions } from './errors.js';
export {
  GradientWorker,
  sampleSourceFromDatasets,
  type GradientWorkerOptions,
  type GradientWorkerStatus,
  type SampleRequest,
  type SampleSource,
  type TaskSamples,
  type WorkerLastError,
  type WorkerState,
} from './core.js';
export {
  BACKEND_PREFERENCES,
  benchmarkBackend,
  chooseBackend,
  isSoftwareAdapter,
  type BackendChoice,
  type BackendChoiceDeps,
  type BackendPreference,
  type BackendProbeResult,
  type BenchmarkOptions,
  type ChooseBackendOptions,
} from './backend-choice.js';
export {
  DEFAULT_RECONNECT_POLICY,
  PERMANENT_ERROR_CODES,
  backoffDelay,
  runWorkerSession,
  startWorkerSession,
  webSocketEndpoint,
  type ConnectionState,
  type Endpoint,
  type ReconnectPolicy,
  type WebSocketLike,
  type WorkerLogEntry,
  type WorkerSession,
  type WorkerSessionOptions,
  type WorkerSessionStatus,
} from './session.js';
