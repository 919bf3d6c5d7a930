import { fusedMultiplyAdd } from '@swarmgrad/nn';
import { type Backend } from '@swarmgrad/protocol';
import { describe, expect, it } from 'vitest';
import { benchmarkBackend, chooseBackend, isSoftwareAdapter, type BackendChoiceDeps, type BackendProbeResult } from './backend-choice.js';
import { tinySpec } from './testing/fixtures.js';

describe('chooseBackend on the real cpu backend', () => {
  it('starts cpu when asked and measures its throughput', async () => {
    const choice = await chooseBackend('cpu', { benchmark: () => benchmarkBackend({ microShardSize: 8, maxCalls: 2 }) });
    expect(choice.name).toBe('cpu');
    expect(choice.adapter).toBeUndefined();
    expect(choice.samplesPerSecond).toBeGreaterThan(0);
    expect(Object.keys(choice.reasons).sort()).toEqual(['wasm', 'wasm-fma', 'wasm-step', 'webgpu']);
  });

  it('benchmarks any model spec', async () => {
    await chooseBackend('cpu', { benchmark: false });
    expect(await benchmarkBackend({ spec: tinySpec, microShardSize: 4, maxCalls: 2 })).toBeGreaterThan(0);
  });
});

/**
 * Fake backends: which backend is available, fails, or is fast cannot be arranged on one
 * machine, so these tests inject the probe, start and benchmark functions.
 */
function fakeDeps(setup: Partial<Record<Backend, { probe?: BackendProbeResult; startError?: string; rate?: number; benchError?: string }>>) {
  const started: Backend[] = [];
  const benchmarked: Backend[] = [];
  const deps: BackendChoiceDeps = {
    probeBackends: async () => {
      const out = {} as Record<Backend, BackendProbeResult>;
      for (const name of ['webgpu', 'wasm', 'cpu'] as const) out[name] = setup[name]?.probe ?? { ok: false, reason: `${name} missing` };
      if (setup['wasm-step']?.probe) out['wasm-step'] = setup['wasm-step'].probe; // a probe that (wrongly) offered it
      if (setup['wasm-fma']?.probe) out['wasm-fma'] = setup['wasm-fma'].probe;
      return out;
    },
    useBackend: async (name) => {
      // `wasm-step` and `wasm-fma` start where `wasm` does; tests that leave them out model a
      // WebAssembly without SIMD128 or without a fused relaxed multiply-add.
      const missing: Partial<Record<Backend, string>> = { 'wasm-step': 'WebAssembly SIMD128 is not available', 'wasm-fma': "this machine's relaxed_madd does not fuse" };
      const error = missing[name] !== undefined && setup[name] === undefined ? missing[name] : setup[name]?.startError;
      if (error !== undefined) throw new Error(error);
      started.push(name);
      const adapter = setup[name]?.probe?.adapter;
      return adapter === undefined ? { name } : { name, adapter };
    },
    benchmark: async (name) => {
      benchmarked.push(name);
      const error = setup[name]?.benchError;
      if (error !== undefined) throw new Error(error);
      return setup[name]?.rate ?? 1;
    },
  };
  return { deps, started, benchmarked };
}

describe('chooseBackend auto', () => {
  it('keeps the fastest of the backends that start and says why the others were not used', async () => {
    const { deps, started, benchmarked } = fakeDeps({
      webgpu: { probe: { ok: true, adapter: 'intel gen-12lp (Mesa Intel Xe Graphics)' }, rate: 400 },
      wasm: { probe: { ok: true }, rate: 1600 },
      cpu: { probe: { ok: true }, rate: 175 },
    });
    const choice = await chooseBackend('auto', deps);
    expect(choice).toMatchObject({ name: 'wasm', samplesPerSecond: 1600 });
    expect(choice.adapter).toBeUndefined();
    expect(benchmarked).toEqual(['webgpu', 'wasm', 'cpu']);
    expect(started.at(-1)).toBe('wasm'); // the winner is the active backend afterwards
    expect(choice.reasons.webgpu).toMatch(/^slower here: 400 samples\/s against wasm's 1600/);
    expect(choice.reasons.cpu).toMatch(/^slower here/);
    expect(choice.reasons.wasm).toBeUndefined();
  });

  it('keeps the earlier backend unless a later one is clearly (25%) faster', async () => {
    const close = fakeDeps({ wasm: { probe: { ok: true }, rate: 1600 }, cpu: { probe: { ok: true }, rate: 1900 } });
    const kept = await chooseBackend('auto', close.deps);
    expect(kept.name).toBe('wasm');
    expect(kept.reasons.cpu).toMatch(/^not clearly faster here: 1900 samples\/s against wasm's 1600/);
    const clear = fakeDeps({ wasm: { probe: { ok: true }, rate: 1600 }, cpu: { probe: { ok: true }, rate: 2100 } });
    expect((await chooseBackend('auto', clear.deps)).name).toBe('cpu');
  });

  it('skips unavailable backends and backends that fail their benchmark', async () => {
    const { deps } = fakeDeps({
      webgpu: { probe: { ok: false, reason: 'no adapter found' } },
      wasm: { probe: { ok: true }, benchError: "kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'" },
      cpu: { probe: { ok: true }, rate: 175 },
    });
    const choice = await chooseBackend('auto', deps);
    expect(choice.name).toBe('cpu');
    expect(choice.reasons).toEqual({
      webgpu: 'unavailable: no adapter found',
      'wasm-fma': "unavailable: this machine's relaxed_madd does not fuse",
      'wasm-step': 'unavailable: WebAssembly SIMD128 is not available',
      wasm: "failed its self-benchmark: kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'",
    });
  });

  it('does not spend a benchmark on a software WebGPU adapter when a CPU backend starts', async () => {
    for (const adapter of ['llvmpipe (OpenGL ES 3.2 Mesa 22.3.6) via Dawn opengles, compatibility', 'google swiftshader via navigator.gpu, compatibility', 'mesa lavapipe', 'Microsoft Basic Render Driver [fallback adapter]']) {
      const { deps, started, benchmarked } = fakeDeps({ webgpu: { probe: { ok: true, adapter }, rate: 99_999 }, wasm: { probe: { ok: true }, rate: 1600 } });
      const choice = await chooseBackend('auto', deps);
      expect(choice.name).toBe('wasm');
      expect(started).not.toContain('webgpu');
      expect(benchmarked).not.toContain('webgpu');
      expect(choice.reasons.webgpu).toBe(`not tried: ${adapter} is a software adapter, computing on this CPU`);
    }
    expect(isSoftwareAdapter('nvidia ampere (NVIDIA GeForce RTX 3060)')).toBe(false);
    expect(isSoftwareAdapter(undefined)).toBe(false);
  });

  it('uses webgpu with its adapter when it is the only backend that starts, benchmarking it once', async () => {
    const { deps, benchmarked } = fakeDeps({ webgpu: { probe: { ok: true, adapter: 'SwiftShader' }, rate: 900 } });
    const choice = await chooseBackend('auto', deps);
    expect(choice).toMatchObject({ name: 'webgpu', adapter: 'SwiftShader', samplesPerSecond: 900 });
    expect(benchmarked).toEqual(['webgpu']);
  });

  it('without a benchmark takes the first backend that starts, in webgpu, wasm-fma, wasm-step, wasm, cpu order', async () => {
    const { deps, benchmarked } = fakeDeps({
      webgpu: { probe: { ok: true }, startError: 'device lost' },
      wasm: { probe: { ok: true } },
      cpu: { probe: { ok: true } },
    });
    const choice = await chooseBackend('auto', { ...deps, benchmark: false });
    expect(choice.name).toBe('wasm');
    expect(choice.samplesPerSecond).toBeUndefined();
    expect(choice.reasons.webgpu).toBe('unavailable: device lost');
    expect(choice.reasons['wasm-fma']).toBe("unavailable: this machine's relaxed_madd does not fuse");
    expect(choice.reasons['wasm-step']).toBe('unavailable: WebAssembly SIMD128 is not available');
    expect(choice.reasons.cpu).toMatch(/^not tried/);
    expect(benchmarked).toEqual([]);
  });

  it('fails with BACKEND_UNAVAILABLE when nothing can compute', async () => {
    const { deps } = fakeDeps({ cpu: { probe: { ok: true }, benchError: 'out of memory' } });
    await expect(chooseBackend('auto', deps)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await expect(chooseBackend('auto', fakeDeps({}).deps)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });
});

describe('chooseBackend with a named backend', () => {
  it('does not fall back when the named backend cannot start', async () => {
    const { deps, started } = fakeDeps({ webgpu: { startError: 'no adapter found' }, cpu: { probe: { ok: true } } });
    await expect(chooseBackend('webgpu', deps)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(started).toEqual([]);
  });

  it('rejects unknown preferences with a TypeError', async () => {
    await expect(chooseBackend('cuda' as Backend, fakeDeps({}).deps)).rejects.toBeInstanceOf(TypeError);
  });
});

describe('the wasm-step backend (the compiled step)', () => {
  it('is tried by auto where wasm starts, before wasm, and kept when it measures faster', async () => {
    const { deps, started, benchmarked } = fakeDeps({ wasm: { probe: { ok: true }, rate: 1600 }, cpu: { probe: { ok: true }, rate: 400 }, 'wasm-step': { rate: 3000 } });
    const choice = await chooseBackend('auto', deps);
    expect(choice).toMatchObject({ name: 'wasm-step', samplesPerSecond: 3000 });
    expect(benchmarked).toEqual(['wasm-step', 'wasm', 'cpu']);
    expect(started.at(-1)).toBe('wasm-step');
    expect(choice.reasons.wasm).toMatch(/^slower here: 1600 samples\/s against wasm-step's 3000/);
  });

  it('is not measured once wasm-fma (the same step, fused) has started and measured, so workers side by side agree', async () => {
    // A cold first benchmark can rate wasm-fma below wasm-step by more than the margin; both are the same step.
    const { deps, benchmarked } = fakeDeps({ wasm: { probe: { ok: true }, rate: 1600 }, 'wasm-fma': { rate: 2000 }, 'wasm-step': { rate: 3000 } });
    const choice = await chooseBackend('auto', deps);
    expect(choice).toMatchObject({ name: 'wasm-fma', samplesPerSecond: 2000 });
    expect(benchmarked).toEqual(['wasm-fma', 'wasm']);
    expect(choice.reasons['wasm-step']).toBe('not tried: wasm-fma runs the same compiled step with fused multiply-add');
    // Where wasm-fma cannot start (no fused multiply-add) or fails its benchmark, wasm-step is measured as before.
    const unfused = fakeDeps({ wasm: { probe: { ok: true }, rate: 1600 }, 'wasm-step': { rate: 3000 } });
    expect((await chooseBackend('auto', unfused.deps)).name).toBe('wasm-step');
    const failing = fakeDeps({ wasm: { probe: { ok: true }, rate: 1600 }, 'wasm-fma': { benchError: 'boom' }, 'wasm-step': { rate: 3000 } });
    const fallback = await chooseBackend('auto', failing.deps);
    expect(fallback.name).toBe('wasm-step');
    expect(fallback.reasons['wasm-fma']).toBe('failed its self-benchmark: boom');
  });

  it('gives way to wasm only when wasm is clearly faster, and is not offered where wasm cannot start', async () => {
    const close = fakeDeps({ wasm: { probe: { ok: true }, rate: 1900 }, 'wasm-step': { rate: 1600 } });
    expect((await chooseBackend('auto', close.deps)).name).toBe('wasm-step');
    const noWasm = fakeDeps({ wasm: { probe: { ok: false, reason: 'no WebAssembly' } }, cpu: { probe: { ok: true }, rate: 400 }, 'wasm-step': { rate: 3000 } });
    const choice = await chooseBackend('auto', noWasm.deps);
    expect(choice.name).toBe('cpu');
    expect(noWasm.started).not.toContain('wasm-step');
    expect(choice.reasons['wasm-step']).toBe('unavailable: no WebAssembly');
  });

  it('takes part in a real auto choice on @swarmgrad/nn (webgpu left out to keep it short)', async () => {
    const choice = await chooseBackend('auto', {
      probeBackends: async () => ({ webgpu: { ok: false, reason: 'left out by the test' }, wasm: { ok: true }, cpu: { ok: true } }),
      benchmark: () => benchmarkBackend({ microShardSize: 16, maxCalls: 3 }),
    });
    expect(['wasm-fma', 'wasm-step', 'wasm', 'cpu']).toContain(choice.name);
    expect(choice.samplesPerSecond).toBeGreaterThan(0);
    // Every backend but the chosen one says why: measured slower (or not clearly faster),
    // unavailable (wasm-fma where the multiply-add does not fuse), or not tried (wasm-step
    // once wasm-fma measured).
    const fused = (await fusedMultiplyAdd()).ok;
    if (fused) expect(choice.reasons['wasm-step']).toBe('not tried: wasm-fma runs the same compiled step with fused multiply-add');
    else expect(choice.reasons['wasm-fma']).toMatch(/^unavailable: /);
    for (const name of ['wasm-fma', 'wasm-step', 'wasm', 'cpu'].filter((n) => n !== choice.name && n !== (fused ? 'wasm-step' : 'wasm-fma'))) expect(choice.reasons[name as Backend]).toMatch(/^(slower here|not clearly faster here): /);
    await chooseBackend('cpu', { benchmark: false });
  });

  it('starts on the real @swarmgrad/nn when named, and its gradients run the compiled step', async () => {
    const choice = await chooseBackend('wasm-step', { benchmark: () => benchmarkBackend({ microShardSize: 8, maxCalls: 2 }) });
    expect(choice.name).toBe('wasm-step');
    expect(choice.samplesPerSecond).toBeGreaterThan(0);
    expect(Object.keys(choice.reasons).sort()).toEqual(['cpu', 'wasm', 'wasm-fma', 'webgpu']);
    await chooseBackend('cpu', { benchmark: false });
  });

  it('wasm-fma starts on the real @swarmgrad/nn when named where the multiply-add fuses, and refuses with the reason elsewhere', async () => {
    const fused = await fusedMultiplyAdd();
    if (!fused.ok) {
      await expect(chooseBackend('wasm-fma', { benchmark: false })).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringContaining(fused.reason) });
      return;
    }
    const choice = await chooseBackend('wasm-fma', { benchmark: () => benchmarkBackend({ microShardSize: 8, maxCalls: 2 }) });
    expect(choice.name).toBe('wasm-fma');
    expect(choice.samplesPerSecond).toBeGreaterThan(0);
    await chooseBackend('cpu', { benchmark: false });
  });
});
