import * as tf from '@tensorflow/tfjs-core';
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { probeBackends, releaseBackend, useBackend, type GpuLike } from './backend.js';
import { NnError } from '@swarmgrad/nn-core';
import { ownKernels, registerOwnKernels, unregisterOwnKernels } from './kernels/register.js';

/** Deterministic uniform(-1, 1) values. */
function randomValues(length: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/**
 * WebGPU needs an adapter (on a machine without a GPU: Mesa llvmpipe through EGL, or
 * Chromium's SwiftShader). Where there is none the WebGPU tests are skipped, unless
 * SWARMGRAD_REQUIRE_WEBGPU=1 says this machine must have one.
 */
const warn = vi.spyOn(console, 'warn');
const webgpuProbe = (await probeBackends()).webgpu;
await useBackend('cpu');
tf.dispose(tf.add(tf.ones([2]), 1));
const warnedAtStart = warn.mock.calls.map((args) => args.join(' '));
warn.mockRestore();
const requireWebGpu = process.env['SWARMGRAD_REQUIRE_WEBGPU'] === '1';
const webgpuTests = webgpuProbe.ok || requireWebGpu;
if (!webgpuTests) console.warn(`WebGPU tests skipped: ${webgpuProbe.reason}`);

afterAll(async () => {
  await releaseBackend();
});

describe('useBackend on cpu and wasm', () => {
  it.each(['cpu', 'wasm'] as const)('%s starts, becomes active and carries the own kernels', async (name) => {
    const info = await useBackend(name);
    expect(info).toEqual({ name });
    expect(tf.getBackend()).toBe(name);
    for (const config of ownKernels[name]) {
      expect(tf.getKernel(config.kernelName, name)?.kernelFunc).toBe(config.kernelFunc);
    }
    // Starting again is cheap and changes nothing.
    await expect(useBackend(name)).resolves.toEqual({ name });
  });

  it("does not print tfjs-cpu's Node.js banner", () => {
    expect(warnedAtStart.filter((line) => line.includes('running TensorFlow.js in Node.js'))).toEqual([]);
  });

  it('own kernel registration is idempotent and reversible', async () => {
    await useBackend('cpu');
    const own = ownKernels.cpu.map((config) => config.kernelName);
    expect(registerOwnKernels('cpu')).toEqual(own);
    expect(registerOwnKernels('cpu')).toEqual(own);
    unregisterOwnKernels('cpu');
    for (const config of ownKernels.cpu) {
      const stock = tf.getKernel(config.kernelName, 'cpu');
      expect(stock, config.kernelName).toBeDefined();
      expect(stock!.kernelFunc).not.toBe(config.kernelFunc);
    }
    unregisterOwnKernels('cpu');
    registerOwnKernels('cpu');
    for (const config of ownKernels.cpu) expect(tf.getKernel(config.kernelName, 'cpu')?.kernelFunc).toBe(config.kernelFunc);
  });

  it('rejects an unknown backend name with a TypeError', async () => {
    await expect(useBackend('gpu' as never)).rejects.toThrow(TypeError);
  });

  it('probeBackends reports cpu and wasm usable and leaves the active backend alone', async () => {
    await useBackend('wasm');
    const probe = await probeBackends();
    expect(probe.cpu).toEqual({ ok: true });
    expect(probe.wasm).toEqual({ ok: true });
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe.runIf(webgpuTests)('useBackend on webgpu', () => {
  it('starts, describes its adapter and agrees with cpu on random conv2d, matMul and filter gradients', async () => {
    const info = await useBackend('webgpu');
    expect(info.name).toBe('webgpu');
    expect(info.adapter).toMatch(/\S/);
    expect(tf.getBackend()).toBe('webgpu');

    const x = randomValues(4 * 14 * 14 * 6, 1);
    const f = randomValues(5 * 5 * 6 * 16, 2);
    const dy = randomValues(4 * 10 * 10 * 16, 3);
    const a = randomValues(33 * 70, 4);
    const b = randomValues(70 * 19, 5);
    const compute = async () => {
      const outputs = tf.tidy(() => {
        const xt = tf.tensor4d(x, [4, 14, 14, 6]);
        const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x: xt, dy: tf.tensor4d(dy, [4, 10, 10, 16]) }, {
          strides: [1, 1],
          pad: 'valid',
          dataFormat: 'NHWC',
          filterShape: [5, 5, 6, 16],
        }) as tf.Tensor;
        return [tf.conv2d(xt, tf.tensor4d(f, [5, 5, 6, 16]), 1, 'valid'), tf.matMul(tf.tensor2d(a, [33, 70]), tf.tensor2d(b, [70, 19])), dw];
      });
      const values = await Promise.all(outputs.map((t) => t.data()));
      tf.dispose(outputs);
      return values;
    };
    const onGpu = await compute();
    await useBackend('cpu');
    const onCpu = await compute();
    for (const [i, gpuValues] of onGpu.entries()) {
      const cpuValues = onCpu[i]!;
      let worst = 0;
      let largest = 0;
      for (let k = 0; k < cpuValues.length; k++) {
        worst = Math.max(worst, Math.abs(gpuValues[k]! - cpuValues[k]!));
        largest = Math.max(largest, Math.abs(cpuValues[k]!));
      }
      expect(worst / largest, `output ${i}`).toBeLessThan(1e-5);
    }
    // The started backend is reused.
    await expect(useBackend('webgpu')).resolves.toEqual(info);
  });

  it("refuses Dawn's null adapter, which computes wrong results, and keeps the previous backend", async () => {
    const { create } = (await import('webgpu')) as unknown as { create(flags: string[]): GpuLike };
    await useBackend('cpu');
    await releaseBackend();
    const error = await rejection(useBackend('webgpu', { gpu: create(['backend=null']) }));
    expect(error).toBeInstanceOf(NnError);
    expect((error as NnError).code).toBe('BACKEND_UNAVAILABLE');
    expect((error as NnError).message).toMatch(/self-check/);
    expect(tf.getBackend()).toBe('cpu');
    // A good adapter still starts afterwards.
    await expect(useBackend('webgpu')).resolves.toMatchObject({ name: 'webgpu' });
  });

  it('releaseBackend frees the device; webgpu starts again afterwards', async () => {
    await useBackend('webgpu');
    await releaseBackend();
    expect(tf.findBackend('webgpu')).toBeNull();
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
    await expect(useBackend('webgpu')).resolves.toMatchObject({ name: 'webgpu' });
    const sum = tf.tidy(() => tf.sum(tf.conv2d(tf.ones([1, 5, 5, 2]) as tf.Tensor4D, tf.ones([3, 3, 2, 4]) as tf.Tensor4D, 1, 'valid')));
    expect(await sum.data()).toEqual(new Float32Array([2 * 9 * 9 * 4]));
    sum.dispose();
  });

  it('a Node process that used webgpu exits by itself, with or without releaseBackend', async () => {
    // Bundle backend.ts for a plain Node child (the test runner compiles TypeScript; Node does not).
    const here = dirname(fileURLToPath(import.meta.url));
    const outdir = join(here, '..', 'node_modules', '.cache', 'backend-test');
    mkdirSync(outdir, { recursive: true });
    const outfile = join(outdir, 'backend.mjs');
    await build({
      entryPoints: [join(here, 'backend.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile,
      external: ['@tensorflow/*', 'webgpu'],
      logLevel: 'warning',
    });
    for (const release of [false, true]) {
      const script = `
        import * as tf from '@tensorflow/tfjs-core';
        import { useBackend, releaseBackend } from ${JSON.stringify(outfile)};
        await useBackend('webgpu');
        const y = tf.matMul(tf.ones([64, 64]), tf.ones([64, 64]));
        console.log('result', (await y.data())[0]);
        ${release ? 'await releaseBackend();' : ''}
      `;
      const started = Date.now();
      const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: outdir, stdio: ['ignore', 'pipe', 'ignore'] });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`child (release=${release}) did not exit within 30 s; output: ${out}`));
        }, 30_000);
        child.on('exit', (exitCode) => {
          clearTimeout(timer);
          resolve({ code: exitCode, stdout: out });
        });
      });
      expect(stdout).toContain('result 64');
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(30_000);
    }
  }, 60_000);
});

describe('useBackend failures', () => {
  it('a GPU object without adapters gives BACKEND_UNAVAILABLE and keeps the active backend', async () => {
    await useBackend('wasm');
    const noAdapters: GpuLike = { requestAdapter: async () => null };
    const error = await rejection(useBackend('webgpu', { gpu: noAdapters }));
    expect(error).toBeInstanceOf(NnError);
    expect((error as NnError).code).toBe('BACKEND_UNAVAILABLE');
    expect((error as NnError).message).toMatch(/no adapter/);
    expect(tf.getBackend()).toBe('wasm');
  });
});
