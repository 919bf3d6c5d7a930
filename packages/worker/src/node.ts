/**
 * `@swarmgrad/worker/node`: the Node entry. Runs a worker session over a `ws` WebSocket
 * (binary frames, no compression). Installs nothing global: no signal handlers, no
 * `process.exit` — the caller (the `swarmgrad worker` CLI) owns the process.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import * as nn from '@swarmgrad/nn';
import WebSocket from 'ws';
import type { BackendPreference, ChooseBackendOptions } from './backend-choice.js';
import type { SampleSource } from './core.js';
import { WorkerError, WorkerErrorCode, messageOf } from './errors.js';
import {
  startWorkerSession,
  type Endpoint,
  type ReconnectPolicy,
  type WorkerLogEntry,
  type WorkerSessionOptions,
  type WorkerSessionStatus,
} from './session.js';

export * from './index.js';

/** Options of {@link connectWebSocket}. */
export interface ConnectWebSocketOptions {
  /** Largest frame accepted (bytes); larger ones close the connection (1009). Default 512 MiB. */
  maxPayload?: number;
  /** Give up opening after this long (ms). Default 10,000. */
  handshakeTimeoutMs?: number;
  /**
   * The lab token, also sent in the upgrade request (`Authorization: Bearer <token>`): a
   * swarmgrad coordinator then admits this connection past its caps for anonymous
   * connections, so a flood cannot keep lab machines out. (The `hello` still carries it.)
   */
  token?: string;
}

/** Fills a frame's masking key with zeros (see `connectWebSocket`). */
function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}

/**
 * Opens a `ws` WebSocket to `url` and adapts it to an `Endpoint`: binary frames,
 * `perMessageDeflate: false` (gradients do not compress, and deflate costs CPU), frames as
 * `Uint8Array`s (Node `Buffer`s), an all-zero masking key. Resolves once open; rejects if it
 * cannot open.
 */
export function connectWebSocket(url: string, options: ConnectWebSocketOptions = {}): Promise<Endpoint> {
  const maxPayload = options.maxPayload ?? 512 * 1024 * 1024;
  const handshakeTimeout = options.handshakeTimeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    let socket: WebSocket;
    try {
      const headers = options.token !== undefined ? { authorization: `Bearer ${options.token}` } : undefined;
      // An all-zero masking key: `ws` then skips masking here and unmasking at the coordinator
      // (a copy and an XOR pass over every gradient frame, about 1 ms a LeNet-5 step on
      // each side). Masking protects proxies from frames whose bytes a hostile page chose;
      // a Node worker's frames are its own results, so there is nothing to protect here.
      socket = new WebSocket(url, { perMessageDeflate: false, maxPayload, handshakeTimeout, generateMask: zeroMask, ...(headers && { headers }) });
    } catch (error) {
      reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    let opened = false;
    let messageListener: ((frame: Uint8Array) => void) | undefined;
    let closeListener: ((code: number, reason: string) => void) | undefined;
    const early: Uint8Array[] = [];
    socket.on('message', (data: WebSocket.RawData) => {
      const frame = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
      if (messageListener !== undefined) messageListener(frame);
      else early.push(frame);
    });
    socket.on('error', (error) => {
      if (!opened) reject(new Error(`cannot connect to ${url}: ${messageOf(error)}`, { cause: error }));
      // After opening, 'close' follows every 'error'.
    });
    socket.on('close', (code, reason) => {
      if (!opened) {
        reject(new Error(`connection to ${url} closed before it opened (${code})`));
        return;
      }
      closeListener?.(code, reason.toString());
    });
    socket.on('open', () => {
      opened = true;
      resolve({
        send: (frame) => socket.send(frame, { binary: true }),
        close: (code, reason) => {
          if (socket.readyState === WebSocket.CLOSED) return;
          socket.close(code, reason);
          // Do not wait 30 s for a peer that does not answer the closing handshake.
          setTimeout(() => socket.terminate(), 2_000).unref();
        },
        onMessage: (cb) => {
          messageListener = cb;
          for (const frame of early.splice(0)) cb(frame);
        },
        onClose: (cb) => {
          closeListener = cb;
        },
      });
    });
  });
}

/** `hello.capabilities` facts of this Node process. */
export function nodeCapabilities(): { environment: 'node'; cores: number; userAgent: string } {
  return {
    environment: 'node',
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
    userAgent: `node/${process.versions.node} ${process.platform}-${process.arch}`,
  };
}

/** Options of {@link startNodeWorker}. */
export interface NodeWorkerOptions {
  /** Coordinator URL, `ws://HOST:PORT` (or `wss://`). */
  url: string;
  /** Lab token. Conflicts with `tokenFile`. */
  token?: string;
  /** File holding the lab token (surrounding whitespace is trimmed). Conflicts with `token`. */
  tokenFile?: string;
  /** Backend preference. Default `'auto'`. */
  backend?: BackendPreference;
  /** Label shown on dashboards. Default: the host name. */
  name?: string;
  /** Artificial delay per task (ms), for straggler tests. Default 0. */
  slowdownMs?: number;
  /**
   * Threads of the compiled step (`wasm-step`, `wasm-fma`) in this process, 1–64 (`setStepThreads` of
   * `@swarmgrad/nn`; the bits do not depend on it). Default: the environment variable
   * `SWARMGRAD_STEP_THREADS`, else 1. A task's samples are shared out in 16-sample chunks
   * (each micro-shard cut from its own start), so a task of n samples keeps at most about
   * n / 16 threads busy.
   */
  threads?: number;
  /** Options for `chooseBackend` (benchmark on/off, backend options). */
  backendChoice?: ChooseBackendOptions;
  /** Reconnect policy (see `DEFAULT_RECONNECT_POLICY`). */
  reconnect?: Partial<ReconnectPolicy>;
  /** Longest wait for the current task on `stop()` (ms). Default 30,000. */
  shutdownTimeoutMs?: number;
  /** Largest frame accepted from the coordinator (bytes). Default 512 MiB. */
  maxFrameBytes?: number;
  /** Loads samples for tasks that carry none inline. */
  sampleSource?: SampleSource;
  /** Called after every status change. */
  onStatus?: (status: WorkerSessionStatus) => void;
  /** Log sink. Default: warnings and errors to the console. */
  log?: (entry: WorkerLogEntry) => void;
  /** Aborting it stops the worker gracefully. */
  signal?: AbortSignal;
}

/** A running Node worker. */
export interface NodeWorkerHandle {
  /** Graceful shutdown: finish the current task and send its result, `bye`, close, release the GPU. Resolves when done. */
  stop(): Promise<void>;
  /** A snapshot of the worker. */
  status(): WorkerSessionStatus;
  /** Stop taking tasks until {@link resume}. */
  pause(): void;
  resume(): void;
  /** Resolves after `stop()`; rejects with a `WorkerError` when the worker stops on its own (refused, no backend, ...). */
  readonly done: Promise<void>;
}

/**
 * Starts a worker in this Node process: chooses the backend (`backend`, default `auto`),
 * connects to `url` with `ws` and computes the coordinator's tasks until stopped.
 *
 * @throws TypeError when both `token` and `tokenFile` are given
 * @throws WorkerError `TOKEN_FILE` when the token file cannot be read or is empty
 */
export function startNodeWorker(options: NodeWorkerOptions): NodeWorkerHandle {
  if (typeof options?.url !== 'string' || !/^wss?:\/\//.test(options.url)) {
    throw new TypeError(`startNodeWorker: url must be a ws:// or wss:// URL, got ${String(options?.url)}`);
  }
  if (options.token !== undefined && options.tokenFile !== undefined) {
    throw new TypeError('startNodeWorker: give either token or tokenFile, not both');
  }
  if (options.threads !== undefined && !(Number.isInteger(options.threads) && options.threads >= 1 && options.threads <= 64)) {
    throw new TypeError(`startNodeWorker: threads must be an integer from 1 to 64, got ${String(options.threads)}`);
  }
  const token = options.tokenFile !== undefined ? readToken(options.tokenFile) : options.token;
  // Sets the count at once; the helper threads start with the first chunked step.
  if (options.threads !== undefined) void nn.setStepThreads(options.threads);
  const maxFrameBytes = options.maxFrameBytes ?? 512 * 1024 * 1024;
  const sessionOptions: WorkerSessionOptions = {
    connect: () => connectWebSocket(options.url, { maxPayload: maxFrameBytes, ...(token !== undefined && { token }) }),
    backend: options.backend ?? 'auto',
    capabilities: nodeCapabilities(),
    name: options.name ?? os.hostname(),
    maxFrameBytes,
  };
  if (token !== undefined) sessionOptions.token = token;
  if (options.slowdownMs !== undefined) sessionOptions.slowdownMs = options.slowdownMs;
  if (options.backendChoice !== undefined) sessionOptions.backendChoice = options.backendChoice;
  if (options.reconnect !== undefined) sessionOptions.reconnect = options.reconnect;
  if (options.shutdownTimeoutMs !== undefined) sessionOptions.shutdownTimeoutMs = options.shutdownTimeoutMs;
  if (options.sampleSource !== undefined) sessionOptions.sampleSource = options.sampleSource;
  if (options.onStatus !== undefined) sessionOptions.onStatus = options.onStatus;
  if (options.log !== undefined) sessionOptions.log = options.log;
  if (options.signal !== undefined) sessionOptions.signal = options.signal;

  const session = startWorkerSession(sessionOptions);
  const done = session.done.finally(releaseGpu);
  done.catch(() => undefined);
  return {
    stop: async () => {
      await session.stop();
      await done.catch(() => undefined);
    },
    status: () => session.status(),
    pause: () => session.pause(),
    resume: () => session.resume(),
    done,
  };
}

function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new WorkerError(WorkerErrorCode.TOKEN_FILE, `cannot read the token file ${file}: ${messageOf(cause)}`, { cause });
  }
  const token = text.trim();
  if (token === '') throw new WorkerError(WorkerErrorCode.TOKEN_FILE, `the token file ${file} is empty`);
  return token;
}

/** Frees the WebGPU device (if any) so the process can exit: `releaseBackend` of `@swarmgrad/nn`, where it exports it. */
async function releaseGpu(): Promise<void> {
  const release = (nn as unknown as { releaseBackend?: () => Promise<void> }).releaseBackend;
  if (typeof release === 'function') await release().catch(() => undefined);
}
