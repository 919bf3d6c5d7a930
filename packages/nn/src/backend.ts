/**
 * Choosing and starting the tfjs backend that `@swarmgrad/nn` computes on: `cpu`, `wasm`
 * or `webgpu`, in Node and in browsers (including Web Workers).
 *
 * Backend packages are imported lazily, so a browser bundle that never asks for WebGPU does
 * not pay for it. Starting a backend also registers the project's own kernels for it
 * (see `kernels/register.ts`) and runs a tiny self-check with exactly known results: an
 * adapter that computes wrong numbers (Dawn's `null` backend, a broken driver) is refused
 * with `BACKEND_UNAVAILABLE` instead of being used.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NnError } from '@swarmgrad/nn-core';
import { BACKENDS, type Backend } from '@swarmgrad/protocol';
import { registerOwnKernels } from './kernels/register.js';
import { setStepMode, stepSelfCheck } from './fast/hook.js';
import { fusedMultiplyAdd } from './kernels/simd-gemm.js';
import { importNodeOnly, isNode } from './node-only.js';

/**
 * Backends that are not tfjs backends (not in {@link backendNames}, not probed by
 * {@link probeBackends}; they start where `wasm` does): `wasm-step` runs `Model.gradients`
 * as one compiled WebAssembly step (see `src/fast/`) over tfjs's `wasm` backend; `wasm-fma`
 * is the same step with fused multiply-add GEMMs (relaxed SIMD), offered only where the
 * engine fuses (`fusedMultiplyAdd()`). Their results differ in the last bits from `wasm`'s
 * and from each other's, so each is a backend of its own for the determinism contract.
 * (`@swarmgrad/worker`'s `auto` offers them ahead of `wasm`.)
 */
export type OptInBackendName = 'wasm-step' | 'wasm-fma';

/** The backends that are not tfjs backends, see {@link OptInBackendName}. */
export const optInBackendNames: readonly OptInBackendName[] = ['wasm-step', 'wasm-fma'];

/** The tfjs backends `@swarmgrad/nn` can run on: the wire contract's {@link Backend} names less the opt-in ones. */
export type BackendName = Exclude<Backend, OptInBackendName>;

/** All backend names, fastest kind first (the order a worker tries them in): `@swarmgrad/protocol`'s `BACKENDS` less the opt-in ones. */
export const backendNames: readonly BackendName[] = BACKENDS.filter((name): name is BackendName => !(optInBackendNames as readonly string[]).includes(name));

/** What {@link useBackend} started. */
export interface BackendInfo {
  name: BackendName | OptInBackendName;
  /**
   * For `webgpu`: a human description of the GPU adapter, e.g.
   * `llvmpipe (OpenGL ES 3.2 Mesa 22.3.6) via Dawn opengles, compatibility`. Absent for cpu/wasm.
   */
  adapter?: string;
}

/** The result of probing one backend with {@link probeBackends}. */
export interface BackendProbe {
  ok: boolean;
  /** Why the backend cannot start, when `ok` is false. */
  reason?: string;
  /** The WebGPU adapter description, when `ok` and the backend is `webgpu`. */
  adapter?: string;
}

/** Minimal structural view of a WebGPU `GPUAdapterInfo`. */
export interface GpuAdapterInfoLike {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
}

/** Minimal structural view of a WebGPU `GPUDevice` (what this module touches itself). */
export interface GpuDeviceLike {
  destroy(): void;
}

/** Minimal structural view of a WebGPU `GPUAdapter`. */
export interface GpuAdapterLike {
  readonly info?: GpuAdapterInfoLike;
  readonly isFallbackAdapter?: boolean;
  readonly limits: {
    readonly maxComputeWorkgroupStorageSize: number;
    readonly maxComputeWorkgroupsPerDimension: number;
    readonly maxStorageBufferBindingSize: number;
    readonly maxBufferSize: number;
    readonly maxComputeWorkgroupSizeX: number;
    readonly maxComputeInvocationsPerWorkgroup: number;
  };
  requestDevice(descriptor?: { requiredLimits?: Record<string, number> }): Promise<GpuDeviceLike>;
}

/** Options of `GPU.requestAdapter` that {@link useBackend} passes. */
export interface GpuRequestAdapterOptions {
  powerPreference?: 'low-power' | 'high-performance';
  featureLevel?: 'core' | 'compatibility';
}

/** A `navigator.gpu`-like object: the WebGPU entry point. */
export interface GpuLike {
  requestAdapter(options?: GpuRequestAdapterOptions): Promise<GpuAdapterLike | null>;
}

/** Options of {@link useBackend} and {@link probeBackends}. All optional. */
export interface UseBackendOptions {
  /**
   * wasm only: where the tfjs-backend-wasm `.wasm` binaries are served from (a URL prefix
   * ending in `/`, or a directory in Node), forwarded to tfjs's `setWasmPaths`. Browsers
   * need it unless the bundler serves the binaries next to the script. Must be given before
   * wasm first starts.
   */
  wasmPaths?: string;
  /**
   * wasm only: let tfjs-backend-wasm pick its multi-threaded binary where the page is
   * cross-origin isolated. Default `false`: its Emscripten pthread workers re-evaluate the
   * backend's source in blob: workers and fail inside bundled module Web Workers
   * ("e is not defined"), and the single-threaded SIMD binary keeps one reduction order.
   * Node never uses threads. Only before wasm first starts.
   */
  wasmThreads?: boolean;
  /**
   * webgpu only: the WebGPU entry point to use instead of `navigator.gpu` (browsers) or of
   * the `webgpu` npm package (Node), e.g. `create([...])` from that package.
   */
  gpu?: GpuLike;
  /**
   * webgpu only: the adapter feature level to request. Default: `'core'`, then
   * `'compatibility'` when no core adapter exists (OpenGL ES adapters such as llvmpipe
   * are compatibility-only).
   */
  featureLevel?: 'core' | 'compatibility';
  /** webgpu only: adapter power preference hint. Default `'high-performance'`. */
  powerPreference?: 'low-power' | 'high-performance';
}

/** tfjs's own backend priorities (cpu 1, wasm 2, webgpu 3), kept when this module re-registers one. */
const priorities: Record<BackendName, number> = { cpu: 1, wasm: 2, webgpu: 3 };

/** The live WebGPU objects, kept to release them in {@link releaseBackend}. */
interface WebGpuState {
  device: GpuDeviceLike;
  adapter: string;
  /** True when this module put `gpu` on `navigator` (and so must take it off again). */
  installedNavigatorGpu: boolean;
  /** The `gpu` option it was started with, if any. */
  requestedGpu: GpuLike | undefined;
}
let webGpuState: WebGpuState | undefined;

/** Serialises start-ups: tfjs's backend registry is global and start-up is asynchronous. */
let queue: Promise<unknown> = Promise.resolve();
function serialized<T>(task: () => Promise<T>): Promise<T> {
  const run = queue.then(task, task);
  queue = run.catch(() => undefined);
  return run;
}

function unavailable(name: BackendName, reason: string): NnError {
  return new NnError('BACKEND_UNAVAILABLE', `backend ${name} cannot start: ${reason}`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Makes `name` the active tfjs backend: imports its package on first use, registers the
 * project's kernels for it, starts it, checks it computes correctly, and returns what was
 * started. Calling it again for a started backend just makes it active again (webgpu
 * restarts when given a different `gpu` option).
 *
 * WebGPU in Node uses the `webgpu` npm package (Dawn) and tries, in order: the platform's
 * default GPU backend (Vulkan / Metal / D3D12) at core level; OpenGL ES through EGL with
 * `EGL_PLATFORM=surfaceless` at compatibility level (Mesa llvmpipe on a machine without a
 * GPU); Vulkan with Chromium's SwiftShader ICD when a Vulkan loader is present. Dawn's
 * `null` backend is never used.
 *
 * @throws NnError `BACKEND_UNAVAILABLE` with the reason when the backend cannot start or
 *   fails its self-check; the previously active backend stays active.
 */
export function useBackend(name: BackendName | OptInBackendName, options: UseBackendOptions = {}): Promise<BackendInfo> {
  if (name === 'wasm-step' || name === 'wasm-fma') return useStepBackend(name, options);
  return serialized(async () => {
    if (!backendNames.includes(name)) {
      throw new TypeError(`unknown backend '${String(name)}'; expected one of ${backendNames.join(', ')}`);
    }
    const previous = activeBackendName();
    const info = await start(name, options);
    try {
      await activate(name);
      await selfCheck(name);
    } catch (error) {
      await restore(previous, name);
      if (name === 'webgpu') discardWebGpu();
      throw error instanceof NnError ? error : unavailable(name, messageOf(error));
    }
    setStepMode('off');
    return info;
  });
}

/**
 * `wasm-step` / `wasm-fma`: tfjs `wasm` underneath (for everything but gradients), then the
 * compiled step's self-check; `wasm-fma` first needs a fused `f32x4.relaxed_madd` here.
 */
async function useStepBackend(name: OptInBackendName, options: UseBackendOptions): Promise<BackendInfo> {
  const fma = name === 'wasm-fma';
  try {
    if (fma) {
      const fused = await fusedMultiplyAdd();
      if (!fused.ok) throw new Error(fused.reason);
    }
    await useBackend('wasm', options);
    stepSelfCheck(fma);
  } catch (error) {
    throw new NnError('BACKEND_UNAVAILABLE', `backend ${name} cannot start: ${messageOf(error)}`);
  }
  setStepMode(fma ? 'fma' : 'step');
  return { name };
}

/**
 * Tries every backend and reports which can start here, without changing the active
 * backend (backends that start stay initialised, so a later {@link useBackend} is quick).
 */
export async function probeBackends(options: UseBackendOptions = {}): Promise<Record<BackendName, BackendProbe>> {
  const result = {} as Record<BackendName, BackendProbe>;
  for (const name of backendNames) {
    result[name] = await serialized(async () => {
      const previous = activeBackendName();
      try {
        const info = await start(name, options);
        await activate(name);
        await selfCheck(name);
        await restore(previous, name);
        return info.adapter === undefined ? { ok: true } : { ok: true, adapter: info.adapter };
      } catch (error) {
        await restore(previous, name);
        if (name === 'webgpu') discardWebGpu();
        return { ok: false, reason: messageOf(error) };
      }
    });
  }
  return result;
}

/**
 * Frees what {@link useBackend} holds outside the JavaScript heap so the process can exit
 * and the GPU is handed back: disposes the tfjs webgpu backend and its buffers, destroys
 * the WebGPU device and removes the `navigator.gpu` this module installed in Node. cpu
 * and wasm stay usable. If webgpu was active, no backend is active afterwards: call
 * {@link useBackend} again before computing.
 */
export function releaseBackend(): Promise<void> {
  return serialized(async () => {
    discardWebGpu();
  });
}

/** The active tfjs backend's name, if any (tfjs's `getBackend` returns null before one is set). */
function activeBackendName(): string | undefined {
  return (tf.getBackend() as string | null) ?? undefined;
}

async function activate(name: BackendName): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw unavailable(name, 'tfjs could not initialise it');
  await tf.ready();
}

/** Puts the previously active backend back after a failed or probing start. */
async function restore(previous: string | undefined, started: BackendName): Promise<void> {
  if (previous === undefined || previous === started) return;
  if (tf.findBackend(previous) !== null) await tf.setBackend(previous);
}

/** Imports, registers kernels for and initialises `name` (without activating it). */
async function start(name: BackendName, options: UseBackendOptions): Promise<BackendInfo> {
  switch (name) {
    case 'cpu': {
      await import('@tensorflow/tfjs-backend-cpu');
      registerOwnKernels('cpu');
      await initialise('cpu');
      silenceNodeBanner();
      return { name };
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      registerOwnKernels('wasm');
      // The flag is registered by the wasm package's import and read as the backend starts
      // (which `findBackend` below may trigger): set it first. No effect once started.
      if (!options.wasmThreads) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      if (tf.findBackend('wasm') === null && options.wasmPaths !== undefined) {
        try {
          wasm.setWasmPaths(options.wasmPaths);
        } catch (error) {
          throw unavailable('wasm', messageOf(error));
        }
      }
      await initialise('wasm');
      return { name };
    }
    case 'webgpu':
      return { name, adapter: await startWebGpu(options) };
  }
}

/**
 * Runs a registered backend factory ourselves, so that a failure surfaces as an
 * `NnError` with tfjs's reason (tfjs's own `setBackend` only logs it), and registers the
 * started instance in its place.
 */
async function initialise(name: 'cpu' | 'wasm'): Promise<void> {
  if (tf.findBackend(name) !== null) return;
  const factory = tf.findBackendFactory(name);
  if (factory === null) throw unavailable(name, `tfjs has no '${name}' backend registered`);
  let instance: tf.KernelBackend;
  try {
    instance = await factory();
  } catch (error) {
    throw unavailable(name, messageOf(error));
  }
  tf.removeBackend(name);
  tf.registerBackend(name, () => instance, priorities[name]);
}

/** tfjs-backend-cpu prints a "looks like you are running TensorFlow.js in Node.js" banner on first use. */
function silenceNodeBanner(): void {
  const cpu = tf.findBackend('cpu') as (tf.KernelBackend & { firstUse?: boolean }) | null;
  if (cpu !== null && cpu.firstUse === true) cpu.firstUse = false;
}

// ---------------------------------------------------------------------------------------
// WebGPU

/** One way to get a WebGPU adapter. */
interface AdapterSource {
  /** How the adapter is reached, for the adapter description and error messages. */
  label: string;
  gpu: () => Promise<GpuLike>;
  featureLevels: ReadonlyArray<'core' | 'compatibility'>;
}

interface FoundAdapter {
  gpu: GpuLike;
  adapter: GpuAdapterLike;
  description: string;
}

async function startWebGpu(options: UseBackendOptions): Promise<string> {
  const reusable = webGpuState !== undefined && (options.gpu === undefined || options.gpu === webGpuState.requestedGpu);
  if (reusable && tf.findBackend('webgpu') !== null) return webGpuState!.adapter;
  discardWebGpu();
  const sources = await adapterSources(options);
  const failures: string[] = [];
  for (const source of sources) {
    let found: FoundAdapter | undefined;
    try {
      found = await findAdapter(source, options);
    } catch (error) {
      failures.push(`${source.label}: ${messageOf(error)}`);
      continue;
    }
    if (found === undefined) {
      failures.push(`${source.label}: no adapter`);
      continue;
    }
    try {
      await startTfjsWebGpu(found, options.gpu);
      return found.description;
    } catch (error) {
      discardWebGpu();
      failures.push(`${found.description}: ${messageOf(error)}`);
    }
  }
  throw unavailable('webgpu', failures.length > 0 ? failures.join('; ') : 'no WebGPU implementation found');
}

async function findAdapter(source: AdapterSource, options: UseBackendOptions): Promise<FoundAdapter | undefined> {
  const gpu = await source.gpu();
  const levels = options.featureLevel !== undefined ? [options.featureLevel] : source.featureLevels;
  for (const featureLevel of levels) {
    const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance', featureLevel });
    if (adapter !== null) return { gpu, adapter, description: `${describeAdapter(adapter)} via ${source.label}, ${featureLevel}` };
  }
  return undefined;
}

function describeAdapter(adapter: GpuAdapterLike): string {
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.device].filter((part) => part !== undefined && part !== '').join(' ');
  const description = info.description ?? '';
  const text = name !== '' && description !== '' ? `${name} (${description})` : name || description || 'unnamed adapter';
  return adapter.isFallbackAdapter === true ? `${text} [fallback adapter]` : text;
}

/** Where WebGPU adapters can come from here, in the order to try them. */
async function adapterSources(options: UseBackendOptions): Promise<AdapterSource[]> {
  const both = ['core', 'compatibility'] as const;
  if (options.gpu !== undefined) {
    const gpu = options.gpu;
    return [{ label: 'the given GPU object', gpu: async () => gpu, featureLevels: both }];
  }
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  if (nav?.gpu !== undefined) {
    const gpu = nav.gpu;
    return [{ label: 'navigator.gpu', gpu: async () => gpu, featureLevels: both }];
  }
  if (!isNode()) return [];
  return nodeAdapterSources();
}

interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/** Chromium's SwiftShader Vulkan driver, as Debian installs it. */
const swiftShaderIcd = '/usr/lib/chromium/vk_swiftshader_icd.json';

async function nodeAdapterSources(): Promise<AdapterSource[]> {
  const fs = await importNodeOnly<{ existsSync(path: string): boolean }>('node:fs');
  const env = (globalThis as unknown as { process: { env: Record<string, string | undefined>; platform: string } }).process;
  let dawn: DawnModule | undefined;
  const loadDawn = async (): Promise<DawnModule> => {
    if (dawn !== undefined) return dawn;
    try {
      dawn = await importNodeOnly<DawnModule>('webgpu');
    } catch (error) {
      throw new Error(`the 'webgpu' npm package (Dawn for Node) cannot be loaded: ${messageOf(error)}`);
    }
    // The WebGPU constants (GPUBufferUsage, GPUMapMode, ...) tfjs-backend-webgpu reads as globals.
    for (const [key, value] of Object.entries(dawn.globals)) {
      if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
    }
    return dawn;
  };
  const linux = env.platform === 'linux';
  const vulkanLoader = linux ? hasVulkanLoader(fs, env.env) : true;
  const sources: AdapterSource[] = [];
  if (vulkanLoader) {
    sources.push({ label: 'Dawn default backend', gpu: async () => (await loadDawn()).create([]), featureLevels: ['core'] });
  }
  if (linux) {
    sources.push({
      label: 'Dawn opengles',
      gpu: async () => {
        // EGL without a display server: Mesa then offers llvmpipe (or the GPU's GL driver).
        env.env['EGL_PLATFORM'] ??= 'surfaceless';
        return (await loadDawn()).create(['backend=opengles']);
      },
      featureLevels: ['compatibility'],
    });
    if (vulkanLoader && env.env['VK_ICD_FILENAMES'] === undefined && fs.existsSync(swiftShaderIcd)) {
      sources.push({
        label: 'Dawn vulkan (SwiftShader)',
        gpu: async () => {
          env.env['VK_ICD_FILENAMES'] = swiftShaderIcd;
          return (await loadDawn()).create(['backend=vulkan']);
        },
        featureLevels: ['core'],
      });
    }
  }
  return sources;
}

/**
 * Whether the Vulkan loader `libvulkan.so.1` is where the dynamic linker looks. Without it,
 * Dawn's Vulkan backend only prints a warning, so skip it.
 */
function hasVulkanLoader(fs: { existsSync(path: string): boolean }, env: Record<string, string | undefined>): boolean {
  const dirs = [
    ...(env['LD_LIBRARY_PATH'] ?? '').split(':').filter((dir) => dir !== ''),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
    '/lib/x86_64-linux-gnu',
    '/lib64',
  ];
  return dirs.some((dir) => fs.existsSync(`${dir}/libvulkan.so.1`));
}

/** Creates the device and the tfjs WebGPU backend on `found`, and registers it as 'webgpu'. */
async function startTfjsWebGpu(found: FoundAdapter, requestedGpu: GpuLike | undefined): Promise<void> {
  const { gpu, adapter } = found;
  // tfjs-backend-webgpu checks `navigator.gpu` when it is imported and when a backend is
  // constructed; in Node there is none until we put one there.
  const installed = installNavigatorGpu(gpu);
  const limits = adapter.limits;
  let device: GpuDeviceLike;
  try {
    device = await adapter.requestDevice({
      requiredLimits: {
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
        maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      },
    });
  } catch (error) {
    if (installed) uninstallNavigatorGpu();
    throw error;
  }
  webGpuState = { device, adapter: found.description, installedNavigatorGpu: installed, requestedGpu };
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  registerOwnKernels('webgpu');
  // LeNet-5 steps on llvmpipe measured ~25% faster with it (see KERNELS.md).
  tf.env().set('WEBGPU_CONV_SEPARATE_IM2COL_SHADER', true);
  const backend = new WebGPUBackend(device as never, adapter.info as never);
  if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => backend, priorities.webgpu);
}

function installNavigatorGpu(gpu: GpuLike): boolean {
  const g = globalThis as { navigator?: { gpu?: GpuLike } };
  if (g.navigator?.gpu !== undefined) return false;
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  }
  Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  return true;
}

function uninstallNavigatorGpu(): void {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  if (nav !== undefined) delete nav.gpu;
}

/** Disposes the tfjs webgpu backend and the device; idempotent. */
function discardWebGpu(): void {
  if (tf.findBackendFactory('webgpu') !== null && webGpuState !== undefined) tf.removeBackend('webgpu');
  if (webGpuState === undefined) return;
  const state = webGpuState;
  webGpuState = undefined;
  try {
    state.device.destroy();
  } catch {
    // A lost device cannot be destroyed twice; nothing else to free.
  }
  if (state.installedNavigatorGpu) uninstallNavigatorGpu();
}

// ---------------------------------------------------------------------------------------
// Self-check

/**
 * Runs a 3×3 matMul, a small conv2d and its filter gradient on the active backend and
 * compares them with exactly known results (small integers, exact in float32). Catches
 * adapters that run but compute garbage, e.g. Dawn's `null` backend (all zeros). Reads
 * results asynchronously (WebGPU warns about synchronous reads).
 */
async function selfCheck(name: BackendName): Promise<void> {
  const outputs = tf.tidy(() => {
    const a = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8, 9], [3, 3]);
    const b = tf.tensor2d([9, 8, 7, 6, 5, 4, 3, 2, 1], [3, 3]);
    const x = tf.tensor4d(Array.from({ length: 16 }, (_, i) => i + 1), [1, 4, 4, 1]);
    const f = tf.tensor4d([1, 2, 3, 4], [2, 2, 1, 1]);
    const dy = tf.ones([1, 3, 3, 1]);
    const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
      strides: [1, 1],
      pad: 'valid',
      dataFormat: 'NHWC',
      filterShape: [2, 2, 1, 1],
    }) as tf.Tensor;
    return [tf.matMul(a, b), tf.conv2d(x, f, 1, 'valid'), dw];
  });
  const expected: Array<[string, number[]]> = [
    ['matMul', [30, 24, 18, 84, 69, 54, 138, 114, 90]],
    ['conv2d', [44, 54, 64, 84, 94, 104, 124, 134, 144]],
    ['conv2d filter gradient', [54, 63, 90, 99]],
  ];
  const problems: string[] = [];
  try {
    for (const [i, [what, values]] of expected.entries()) {
      const actual = await outputs[i]!.data();
      const wrong = values.findIndex((value, j) => actual[j] !== value);
      if (actual.length !== values.length || wrong >= 0) {
        problems.push(`${what} gave [${Array.from(actual).join(', ')}], expected [${values.join(', ')}]`);
      }
    }
  } finally {
    tf.dispose(outputs);
  }
  if (problems.length > 0) throw unavailable(name, `self-check failed: ${problems.join('; ')}`);
}
