/**
 * The volunteer's Web Worker: chooses the backend (WebGPU at the compatibility feature
 * level, wasm, cpu), runs a `@swarmgrad/worker` session against the coordinator and reports
 * to the page through comlink. All computing happens here; the page only draws.
 */
import * as Comlink from 'comlink';
import { probeBackends, type UseBackendOptions } from '@swarmgrad/nn';
import {
  benchmarkBackend,
  chooseBackend,
  isWorkerError,
  startWorkerSession,
  webSocketEndpoint,
  type BackendChoice,
  type BackendPreference,
  type WorkerSession,
  type WorkerSessionStatus,
} from '@swarmgrad/worker';
import type { BackendSummary, StartOptions, VolunteerEvent, VolunteerWorkerApi } from './api.js';

/**
 * tfjs-backend-wasm fetches its binaries from here. The build copies them to `tfjs-wasm/` at
 * the app's root (see vite.config.ts); this module is in `assets/` (built) or `src/` (dev).
 */
const WASM_PATHS = new URL(/* @vite-ignore */ '../tfjs-wasm/', import.meta.url).href;

/**
 * Options for every backend start. WebGPU: the compatibility feature level, which also
 * covers OpenGL ES adapters (and, in Chromium on a machine without a GPU started with
 * `--use-webgpu-adapter=opengles`, reaches Mesa's llvmpipe instead of SwiftShader).
 */
const BACKEND_OPTIONS: UseBackendOptions = { wasmPaths: WASM_PATHS, featureLevel: 'compatibility' };

// tfjs-backend-wasm stays on its single-threaded SIMD binary: `useBackend`'s default
// (`wasmThreads: false`); its threaded binary fails inside a bundled module Web Worker.

/** Coordinator errors after which retrying is pointless: the run is over. */
const RUN_OVER_CODES = ['RUN_FINISHED'];

/** Fewest milliseconds between two status events to the page (the last one is always sent). */
const STATUS_INTERVAL_MS = 150;

let session: WorkerSession | undefined;
let choice: BackendChoice | undefined;
let choosing: Promise<BackendChoice> | undefined;
let choicePreference: BackendPreference | undefined;
let listener: ((event: VolunteerEvent) => void) | undefined;

/** Sends an event to the page; a page that is gone is not an error. */
function emit(event: VolunteerEvent): void {
  if (listener === undefined) return;
  Promise.resolve(listener(event)).catch(() => undefined);
}

/** Status events at most every {@link STATUS_INTERVAL_MS}, trailing edge included. */
let pendingStatus: WorkerSessionStatus | undefined;
let statusTimer: ReturnType<typeof setTimeout> | undefined;
let lastStatusAt = 0;
function emitStatus(status: WorkerSessionStatus): void {
  pendingStatus = status;
  if (statusTimer !== undefined) return;
  const wait = Math.max(0, lastStatusAt + STATUS_INTERVAL_MS - performance.now());
  statusTimer = setTimeout(() => {
    statusTimer = undefined;
    lastStatusAt = performance.now();
    if (pendingStatus !== undefined) emit({ type: 'status', status: pendingStatus });
    pendingStatus = undefined;
  }, wait);
}

async function chooseOnce(preference: BackendPreference): Promise<BackendChoice> {
  if (choice !== undefined && choicePreference === preference) return choice;
  if (choosing !== undefined) return choosing;
  const started = performance.now();
  choosing = chooseBackend(preference, {
    backendOptions: BACKEND_OPTIONS,
    probeBackends: async (options) => {
      emit({ type: 'choosing', detail: 'checking which backends start here' });
      return probeBackends(options);
    },
    benchmark: async (name) => {
      emit({ type: 'choosing', detail: `measuring ${name}` });
      return benchmarkBackend();
    },
  });
  try {
    choice = await choosing;
    choicePreference = preference;
  } finally {
    choosing = undefined;
  }
  const summary: BackendSummary = { name: choice.name, reasons: { ...choice.reasons }, choiceMs: Math.round(performance.now() - started) };
  if (choice.adapter !== undefined) summary.adapter = choice.adapter;
  if (choice.samplesPerSecond !== undefined) summary.samplesPerSecond = choice.samplesPerSecond;
  emit({ type: 'backend', backend: summary });
  return choice;
}

const api: VolunteerWorkerApi = {
  async start(options: StartOptions, onEvent: (event: VolunteerEvent) => void): Promise<void> {
    listener = onEvent;
    if (session !== undefined) {
      session.resume();
      return;
    }
    let backend: BackendChoice;
    try {
      backend = await chooseOnce(options.backend);
    } catch (error) {
      emit({ type: 'error', code: isWorkerError(error) ? error.code : 'BACKEND_UNAVAILABLE', message: messageOf(error) });
      emit({ type: 'stopped' });
      return;
    }
    if (session !== undefined) return; // a second start() raced this one
    const nav = globalThis.navigator;
    const current = startWorkerSession({
      connect: () => webSocketEndpoint(options.coordinatorUrl),
      backend,
      name: options.name,
      capabilities: { environment: 'browser', userAgent: nav.userAgent, cores: nav.hardwareConcurrency },
      permanentErrorCodes: RUN_OVER_CODES,
      ...(options.slowdownMs !== undefined && options.slowdownMs > 0 ? { slowdownMs: options.slowdownMs } : {}),
      onStatus: emitStatus,
      // Volunteer tabs keep the console quiet: every line goes to the page's activity list.
      log: (entry) => {
        if (entry.level !== 'debug') emit({ type: 'log', entry, at: Date.now() });
      },
    });
    session = current;
    emitStatus(current.status());
    current.done.then(
      () => undefined,
      (error: unknown) => {
        const code = isWorkerError(error) ? (error.remoteCode ?? error.code) : 'FAILED';
        emit({ type: 'error', code, message: messageOf(error) });
      },
    ).finally(() => {
      if (session === current) session = undefined;
      emit({ type: 'status', status: current.status() });
      emit({ type: 'stopped' });
    });
  },
  pause(): void {
    session?.pause();
  },
  resume(): void {
    session?.resume();
  },
  async stop(): Promise<void> {
    await session?.stop();
  },
};

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

Comlink.expose(api);
