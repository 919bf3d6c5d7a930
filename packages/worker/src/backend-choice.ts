/**
 * Choosing the backend a worker computes on: `webgpu` → `wasm-step` → `wasm` → `cpu`, by availability
 * and a short self-benchmark, or one backend named by the user.
 */
import { createModel, lenet5, probeBackends, useBackend, type ModelSpec, type UseBackendOptions } from '@swarmgrad/nn';
import { BACKENDS, type Backend } from '@swarmgrad/protocol';
import { WorkerError, WorkerErrorCode, messageOf } from './errors.js';
import { monotonicMs } from './timers.js';


/** How much faster a backend later in the preference order (webgpu → wasm-step → wasm → cpu) must measure to be chosen over an earlier one. */
export const PREFERENCE_MARGIN = 1.25;

/**
 * The backends `auto` chooses from, in preference order. `wasm-step` (the compiled training
 * step over tfjs `wasm`) comes before `wasm`, so `wasm` must measure clearly faster to be
 * chosen over it (it does not: the compiled step is 1.3–2× faster on LeNet-5). Their last
 * bits differ, as between any two backends; a run records per step which backends computed it.
 */
export const AUTO_BACKENDS: readonly Backend[] = ['webgpu', 'wasm-fma', 'wasm-step', 'wasm', 'cpu'];

/**
 * Whether a WebGPU adapter description names a software rasterizer (Mesa llvmpipe /
 * lavapipe / softpipe, SwiftShader, or an adapter flagged as the fallback adapter): it
 * computes on this machine's CPU cores, 15–30× slower than `wasm` on LeNet-5 here.
 */
export function isSoftwareAdapter(adapter: string | undefined): boolean {
  return adapter !== undefined && /\[fallback adapter\]|llvmpipe|lavapipe|softpipe|swiftshader/i.test(adapter);
}

/** What the user asks for: `auto` (fastest that works), or one backend. */
export type BackendPreference = 'auto' | Backend;

/** Every accepted {@link BackendPreference}. */
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', ...BACKENDS];

/** The backend {@link chooseBackend} started (it is the active tfjs backend afterwards). */
export interface BackendChoice {
  name: Backend;
  /** WebGPU adapter description, for `webgpu`. */
  adapter?: string;
  /** Training throughput measured by the self-benchmark (LeNet-5 samples per second); absent when the benchmark was skipped. */
  samplesPerSecond?: number;
  /**
   * Why each other backend is not the one used, for people (the volunteer page shows
   * them): `unavailable: <why>`, `failed its self-benchmark: <why>`, `slower here: …`,
   * or `not tried: …`. Has no entry for the chosen backend.
   */
  reasons: Partial<Record<Backend, string>>;
}

/** What one backend probe found (the shape of `probeBackends()` of `@swarmgrad/nn`). */
export interface BackendProbeResult {
  ok: boolean;
  reason?: string;
  adapter?: string;
}

/** The functions {@link chooseBackend} uses; each defaults to `@swarmgrad/nn`'s (tests and special environments replace them). */
export interface BackendChoiceDeps {
  /** Which backends can start here. Default: `probeBackends` of `@swarmgrad/nn`. */
  probeBackends: (options?: UseBackendOptions) => Promise<Partial<Record<Backend, BackendProbeResult>>>;
  /** Makes a backend the active one. Default: `useBackend` of `@swarmgrad/nn`. */
  useBackend: (name: Backend, options?: UseBackendOptions) => Promise<{ name: Backend; adapter?: string }>;
  /** Measures training samples per second on the active backend. Default: {@link benchmarkBackend}. */
  benchmark: (name: Backend) => Promise<number>;
}

/** Options of {@link chooseBackend}. */
export interface ChooseBackendOptions extends Partial<Omit<BackendChoiceDeps, 'benchmark'>> {
  /** Passed to `probeBackends` / `useBackend` (wasm binary paths, a WebGPU entry point, ...). */
  backendOptions?: UseBackendOptions;
  /**
   * Run the self-benchmark. Default `true`. With `false`, `auto` takes the first backend that
   * starts (webgpu, then wasm, then cpu) and `samplesPerSecond` is absent.
   */
  benchmark?: BackendChoiceDeps['benchmark'] | boolean;
}

/**
 * Starts the backend to compute on and returns it.
 *
 * - `'auto'`: probes webgpu, wasm-fma, wasm-step, wasm and cpu (a software WebGPU adapter counts only
 *   when nothing else starts); if one starts, uses it; if several do, runs
 *   {@link benchmarkBackend} on each and keeps the fastest (a backend whose benchmark throws
 *   is skipped: e.g. a missing gradient kernel). `reasons` says why the others were not used.
 * - `'webgpu' | 'wasm' | 'cpu' | 'wasm-step' | 'wasm-fma'`: uses that backend or fails; no fallback.
 *
 * @throws WorkerError `BACKEND_UNAVAILABLE` when no (or not the requested) backend can start.
 */
export async function chooseBackend(preference: BackendPreference, options: ChooseBackendOptions = {}): Promise<BackendChoice> {
  if (!BACKEND_PREFERENCES.includes(preference)) {
    throw new TypeError(`chooseBackend: unknown backend preference '${String(preference)}'; expected one of ${BACKEND_PREFERENCES.join(', ')}`);
  }
  const deps: ChoiceDeps = {
    start: options.useBackend ?? (useBackend as BackendChoiceDeps['useBackend']),
    benchmark: options.benchmark === false ? undefined : typeof options.benchmark === 'function' ? options.benchmark : () => benchmarkBackend(),
    backendOptions: options.backendOptions ?? {},
  };
  const reasons: Partial<Record<Backend, string>> = {};
  if (preference !== 'auto') return chooseRequested(preference, deps, reasons);

  const probes = await (options.probeBackends ?? (probeBackends as BackendChoiceDeps['probeBackends']))(deps.backendOptions);
  const available: Backend[] = [];
  for (const name of AUTO_BACKENDS) {
    // `probeBackends` probes the tfjs backends; `wasm-step` and `wasm-fma` start where `wasm`
    // does (and SIMD128, or a fused relaxed multiply-add, is there: starting them checks).
    const result = name === 'wasm-step' || name === 'wasm-fma' ? (probes[name] ?? probes.wasm) : probes[name];
    if (result?.ok === true) available.push(name);
    else reasons[name] = `unavailable: ${result?.reason ?? 'not probed'}`;
  }
  if (available.length === 0) {
    throw new WorkerError(WorkerErrorCode.BACKEND_UNAVAILABLE, `no backend can start here: ${describeReasons(reasons)}`);
  }
  // A software WebGPU adapter runs on the same cores as the CPU backends, far slower: not
  // worth its benchmark (1–3 s, mostly shader compilation) when another backend can start.
  const webgpuAdapter = probes.webgpu?.adapter;
  if (available[0] === 'webgpu' && available.length > 1 && isSoftwareAdapter(webgpuAdapter)) {
    available.shift();
    reasons.webgpu = `not tried: ${webgpuAdapter} is a software adapter, computing on this CPU`;
  }
  if (deps.benchmark === undefined) return firstThatStarts(available, deps, reasons);
  return fastestMeasured(available, { ...deps, benchmark: deps.benchmark }, reasons);
}

/** How {@link chooseBackend} starts and measures backends. */
interface ChoiceDeps {
  start: BackendChoiceDeps['useBackend'];
  benchmark: ((name: Backend) => Promise<number>) | undefined;
  backendOptions: UseBackendOptions;
}

/** A named backend: it starts (and measures itself) or the choice fails; no fallback. */
async function chooseRequested(preference: Backend, { start, benchmark, backendOptions }: ChoiceDeps, reasons: Partial<Record<Backend, string>>): Promise<BackendChoice> {
  let info: { name: Backend; adapter?: string };
  try {
    info = await start(preference, backendOptions);
  } catch (cause) {
    throw new WorkerError(WorkerErrorCode.BACKEND_UNAVAILABLE, `backend ${preference} was requested but cannot start: ${messageOf(cause)}`, { cause });
  }
  for (const other of AUTO_BACKENDS) if (other !== preference) reasons[other] = `not tried: backend ${preference} was requested`;
  const choice: BackendChoice = { name: preference, reasons };
  if (info.adapter !== undefined) choice.adapter = info.adapter;
  if (benchmark !== undefined) {
    try {
      choice.samplesPerSecond = await benchmark(preference);
    } catch (cause) {
      throw new WorkerError(WorkerErrorCode.BACKEND_UNAVAILABLE, `backend ${preference} started but failed its self-benchmark: ${messageOf(cause)}`, { cause });
    }
  }
  return choice;
}

/** No benchmark: the first backend (in preference order) that really starts. */
async function firstThatStarts(available: Backend[], { start, backendOptions }: ChoiceDeps, reasons: Partial<Record<Backend, string>>): Promise<BackendChoice> {
  for (const name of available) {
    try {
      const info = await start(name, backendOptions);
      for (const later of available) if (later !== name && reasons[later] === undefined) reasons[later] = `not tried: ${name} started first and no benchmark was run`;
      return withAdapter({ name, reasons }, info.adapter);
    } catch (error) {
      reasons[name] = `unavailable: ${messageOf(error)}`;
    }
  }
  throw new WorkerError(WorkerErrorCode.BACKEND_UNAVAILABLE, `no backend can start here: ${describeReasons(reasons)}`);
}

/**
 * A backend that, once it started and measured, makes another one pointless to measure:
 * `wasm-fma` is `wasm-step` with fused multiply-adds (the same work, fewer instructions).
 * The two are close (1.1×), closer than a short benchmark on a busy machine can tell apart:
 * measuring both let workers started side by side pick differently, and a run mix them.
 */
const SUPERSEDES: Partial<Record<Backend, Backend>> = { 'wasm-fma': 'wasm-step' };

/** Starts and measures every available backend, then keeps the fastest (a later one must be clearly faster). */
async function fastestMeasured(
  available: Backend[],
  { start, benchmark, backendOptions }: ChoiceDeps & { benchmark: (name: Backend) => Promise<number> },
  reasons: Partial<Record<Backend, string>>,
): Promise<BackendChoice> {
  const measured: Array<{ name: Backend; adapter: string | undefined; samplesPerSecond: number }> = [];
  let active: Backend | undefined;
  for (const name of available) {
    const over = measured.find((m) => SUPERSEDES[m.name] === name);
    if (over !== undefined) {
      reasons[name] = `not tried: ${over.name} runs the same compiled step with fused multiply-add`;
      continue;
    }
    let adapter: string | undefined;
    try {
      adapter = (await start(name, backendOptions)).adapter;
      active = name;
    } catch (error) {
      reasons[name] = `unavailable: ${messageOf(error)}`;
      continue;
    }
    try {
      const samplesPerSecond = await benchmark(name);
      if (!(Number.isFinite(samplesPerSecond) && samplesPerSecond > 0)) throw new Error(`measured ${samplesPerSecond} samples/s`);
      measured.push({ name, adapter, samplesPerSecond });
    } catch (error) {
      reasons[name] = `failed its self-benchmark: ${messageOf(error)}`;
    }
    // With only one candidate there is nothing to compare: no need to measure the rest.
    if (available.length === 1) break;
  }
  if (measured.length === 0) {
    throw new WorkerError(WorkerErrorCode.BACKEND_UNAVAILABLE, `no backend can compute gradients here: ${describeReasons(reasons)}`);
  }
  // `measured` is in preference order (webgpu, wasm-step, wasm, cpu). A later backend must beat the
  // current choice clearly, not by the noise of a short benchmark on a busy machine: workers
  // started side by side then agree on one backend (and one backend keeps a run bitwise
  // reproducible).
  let best = measured[0]!;
  for (const candidate of measured.slice(1)) if (candidate.samplesPerSecond > best.samplesPerSecond * PREFERENCE_MARGIN) best = candidate;
  for (const other of measured) {
    if (other === best) continue;
    reasons[other.name] =
      other.samplesPerSecond > best.samplesPerSecond
        ? `not clearly faster here: ${formatRate(other.samplesPerSecond)} samples/s against ${best.name}'s ${formatRate(best.samplesPerSecond)} (a later backend must be ${PREFERENCE_MARGIN}× faster to be preferred)`
        : `slower here: ${formatRate(other.samplesPerSecond)} samples/s against ${best.name}'s ${formatRate(best.samplesPerSecond)}`;
  }
  // The last backend started is the active one: switch back to the winner.
  let adapter = best.adapter;
  if (active !== best.name) adapter = (await start(best.name, backendOptions)).adapter ?? adapter;
  return withAdapter({ name: best.name, samplesPerSecond: best.samplesPerSecond, reasons }, adapter);
}

/** Options of {@link benchmarkBackend}. */
export interface BenchmarkOptions {
  /** Model to time. Default LeNet-5 (28×28×1, 10 classes). */
  spec?: ModelSpec;
  /** Samples per gradient call (one micro-shard). Default 32. */
  microShardSize?: number;
  /** Stop after this many timed calls. Default 5. */
  maxCalls?: number;
  /** Untimed warm-up calls first: up to this many (at least one). Default 8. */
  warmupCalls?: number;
  /** Stop warming up once this much time has been spent (ms), after the first call. Default 400. */
  warmupMs?: number;
  /** Stop once this much time has been spent in timed calls (ms), after at least 2 calls. Default 1500. */
  maxMs?: number;
}

/**
 * Measures training throughput on the active backend: untimed warm-up calls (kernel
 * compilation, first allocations, and the JIT of helper threads that only start computing
 * with the first calls: the compiled step on 2 threads runs its first handful of calls 2–4×
 * slower than later ones), then timed calls on a seeded random micro-shard until
 * `maxCalls` or `maxMs`. Returns samples per second of the median timed call.
 */
export async function benchmarkBackend(options: BenchmarkOptions = {}): Promise<number> {
  const spec = options.spec ?? lenet5();
  const microShardSize = options.microShardSize ?? 32;
  const maxCalls = options.maxCalls ?? 5;
  const maxMs = options.maxMs ?? 1500;
  const model = createModel(spec);
  const params = model.initParams(12345);
  const sampleSize = model.inputShape.reduce((a, b) => a * b, 1);
  const classes = model.outputShape[0] ?? 1;
  let seed = 0x9e3779b9;
  const next = (): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const x = new Float32Array(microShardSize * sampleSize);
  for (let i = 0; i < x.length; i++) x[i] = next();
  const y: Int32Array | Float32Array =
    model.plan.loss === 'softmaxCrossEntropy'
      ? Int32Array.from({ length: microShardSize }, () => Math.floor(next() * classes))
      : Float32Array.from({ length: microShardSize * classes }, () => next());
  const warmupCalls = Math.max(1, options.warmupCalls ?? 8);
  const warmupMs = options.warmupMs ?? 400;
  const warmupStart = monotonicMs();
  for (let call = 0; call < warmupCalls && (call === 0 || monotonicMs() - warmupStart < warmupMs); call++) await model.gradients(params, x, y);
  const times: number[] = [];
  const started = monotonicMs();
  while (times.length < maxCalls && (times.length < 2 || monotonicMs() - started < maxMs)) {
    const t = monotonicMs();
    await model.gradients(params, x, y);
    times.push(monotonicMs() - t);
  }
  times.sort((a, b) => a - b);
  return (microShardSize * 1000) / Math.max(times[times.length >> 1]!, 1e-3);
}

function withAdapter(choice: BackendChoice, adapter: string | undefined): BackendChoice {
  if (adapter !== undefined) choice.adapter = adapter;
  return choice;
}

function describeReasons(reasons: Partial<Record<Backend, string>>): string {
  return BACKENDS.filter((name) => reasons[name] !== undefined)
    .map((name) => `${name}: ${reasons[name]}`)
    .join('; ');
}

function formatRate(rate: number): string {
  return rate >= 100 ? String(Math.round(rate)) : rate.toPrecision(3);
}
