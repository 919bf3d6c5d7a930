import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { useBackend } from '../backend.js';
import { createModel } from '../model.js';
import { Xoshiro128 } from '@swarmgrad/nn-core';
import type { ModelSpec } from '@swarmgrad/nn-core';
import { referenceGradients, referenceLoss, relativeError } from '../testing/reference-f64.js';
import { lenet5 } from '@swarmgrad/nn-core';
import { setStepMode, stepBackendActive, stepGradients, stepShardGradients, sumChunks } from './hook.js';
import { CHUNK_SAMPLES, setStepThreads, stepHelpers } from './pool.js';
import { boardViews, computeChunks, computeMissingChunks, planChunks, serveChunks, type HelperMessage } from './thread-entry.js';
import { compileStep, unsupportedReason } from './step.js';
import { fusedMultiplyAdd } from '../kernels/simd-gemm.js';

function randomArray(rng: Xoshiro128, length: number, scale = 1): Float32Array {
  return Float32Array.from({ length }, () => (2 * rng.nextFloat() - 1) * scale);
}

function randomBatch(spec: ModelSpec, n: number, seed: number) {
  const model = createModel(spec);
  const rng = new Xoshiro128(seed);
  const params = model.initParams(seed);
  // Non-zero biases so that their gradients and the activations' kinks are exercised.
  for (const l of model.plan.layers) for (const p of l.params) if (p.name === 'bias') params.set(randomArray(rng, p.size, 0.1), p.offset);
  const x = randomArray(rng, n * model.inputShape.reduce((a, b) => a * b, 1));
  const k = model.outputShape[0]!;
  const y = model.plan.loss === 'softmaxCrossEntropy' ? Int32Array.from({ length: n }, () => rng.nextUint32() % k) : randomArray(rng, n * k);
  return { model, params, x, y };
}

/** Small nets covering every layer type the step compiles, with several shapes, strides and paddings. */
const cases: Array<[string, ModelSpec]> = [
  ['conv2d same s1 + relu + maxPool + dense', { inputShape: [7, 6, 2], layers: [{ type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }, { type: 'maxPool', poolSize: 2 }, { type: 'flatten' }, { type: 'dense', units: 4 }] }],
  ['conv2d valid s2 rect kernel + tanh layer + maxPool 2/1 same', { inputShape: [9, 8, 3], layers: [{ type: 'conv2d', filters: 2, kernelSize: [3, 2], strides: 2, padding: 'valid' }, { type: 'tanh' }, { type: 'maxPool', poolSize: 2, strides: 1, padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
  ['conv2d same s2 odd input + sigmoid + maxPool 3/2 same', { inputShape: [7, 7, 1], layers: [{ type: 'conv2d', filters: 4, kernelSize: 4, strides: [2, 2], padding: 'same', activation: 'sigmoid' }, { type: 'maxPool', poolSize: 3, strides: 2, padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 5, activation: 'tanh' }, { type: 'dense', units: 3 }] }],
  ['conv1d valid + relu + maxPool1d + conv1d same s2', { inputShape: [12, 2], layers: [{ type: 'conv1d', filters: 3, kernelSize: 3, activation: 'relu' }, { type: 'maxPool', poolSize: 2 }, { type: 'conv1d', filters: 2, kernelSize: 2, strides: 2, padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
  ['dense stack + trailing softmax folded into the loss', { inputShape: [5], layers: [{ type: 'dense', units: 6, activation: 'sigmoid' }, { type: 'relu' }, { type: 'dense', units: 4 }, { type: 'softmax' }] }],
  ['regression with mean squared error', { inputShape: [6, 5, 1], loss: 'meanSquaredError', layers: [{ type: 'conv2d', filters: 2, kernelSize: 2, activation: 'tanh' }, { type: 'flatten' }, { type: 'dense', units: 3 }] }],
  ['9 output channels (two GEMM panels, one partial)', { inputShape: [6, 6, 3], layers: [{ type: 'conv2d', filters: 9, kernelSize: 3, activation: 'relu' }, { type: 'maxPool', poolSize: 2 }, { type: 'flatten' }, { type: 'dense', units: 11, activation: 'relu' }, { type: 'dense', units: 2 }] }],
];

/** max |a − b| / max |b| per parameter tensor, the worst over all tensors. */
function worstTensorError(model: { plan: { layers: Array<{ params: Array<{ offset: number; size: number }> }> } }, a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (const l of model.plan.layers) {
    for (const p of l.params) {
      let diff = 0;
      let scale = 0;
      for (let i = p.offset; i < p.offset + p.size; i++) {
        diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
        scale = Math.max(scale, Math.abs(b[i]!));
      }
      worst = Math.max(worst, scale === 0 ? diff : diff / scale);
    }
  }
  return worst;
}

function sha256(data: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
}

afterAll(async () => {
  await setStepThreads(1);
  await useBackend('cpu');
});

describe('compiled step: gradients against float64 finite differences', () => {
  /** The compiled step (fused GEMMs with `fma`) against float64 finite differences on 3 samples. */
  function expectFloat64Gradients(spec: ModelSpec, fma: boolean): void {
    const n = 3;
    const { model, params, x, y } = randomBatch(spec, n, 7);
    expect(unsupportedReason(model.plan)).toBeNull();
    const result = compileStep(model.plan, { fma })!.gradients(params, x, y, n);
    expect(result.count).toBe(n);
    const refLoss = referenceLoss(model.plan, params, x, y, n);
    expect(Math.abs(result.lossSum - refLoss) / Math.abs(refLoss)).toBeLessThan(1e-5);
    const ref = referenceGradients(model.plan, params, x, y, n);
    for (const layer of model.plan.layers) {
      for (const p of layer.params) {
        const err = relativeError(result.grads, ref, p.offset, p.offset + p.size);
        expect(err, `layer ${layer.index} ${layer.type} ${p.name}`).toBeLessThan(1e-4);
      }
    }
  }

  it.each(cases)('%s', (_name, spec) => expectFloat64Gradients(spec, false));

  it.each(cases)('%s, with fused multiply-add GEMMs (wasm-fma)', async (_name, spec) => {
    // Where nothing fuses, wasm-fma refuses to start (tested below).
    if ((await fusedMultiplyAdd()).ok) expectFloat64Gradients(spec, true);
  });

  it('refuses what it cannot compile (avgPool), and wasm-step then falls back to tfjs', async () => {
    const spec: ModelSpec = { inputShape: [4, 4, 1], layers: [{ type: 'avgPool', poolSize: 2 }, { type: 'flatten' }, { type: 'dense', units: 2 }] };
    const { model, params, x, y } = randomBatch(spec, 2, 3);
    expect(unsupportedReason(model.plan)).toMatch(/avgPool/);
    expect(compileStep(model.plan)).toBeNull();
    await useBackend('wasm-step');
    const viaStepBackend = await model.gradients(params, x, y);
    await useBackend('wasm');
    const viaWasm = await model.gradients(params, x, y);
    expect(sha256(viaStepBackend.grads)).toBe(sha256(viaWasm.grads));
  });
});

describe('compiled step: LeNet-5 against the other backends', () => {
  // 300 samples: dense kernel gradients span two blocks of 240 rows, conv ones hundreds.
  const n = 300;
  const { model, params, x, y } = randomBatch(lenet5(), n, 21);
  const step = compileStep(model.plan)!;

  it('agrees with cpu and wasm within 1e-5 (per tensor, relative to its largest value) and with the float64 loss', async () => {
    const ours = step.gradients(params, x, y, n);
    for (const backend of ['cpu', 'wasm'] as const) {
      await useBackend(backend);
      const theirs = await model.gradients(params, x, y);
      expect(worstTensorError(model, ours.grads, theirs.grads), backend).toBeLessThan(1e-5);
      expect(Math.abs(ours.lossSum - theirs.lossSum) / theirs.lossSum).toBeLessThan(1e-6);
    }
    const refLoss = referenceLoss(model.plan, params, x, y, n);
    expect(Math.abs(ours.lossSum - refLoss) / refLoss).toBeLessThan(1e-6);
  }, 120_000);

  it('is bitwise repeatable, also after other batch sizes and models used the same code', () => {
    const first = sha256(step.gradients(params, x, y, n).grads);
    step.gradients(params.map((v) => v * 0.5), x.subarray(0, 5 * 784), y.subarray(0, 5), 5);
    compileStep(createModel(cases[0]![1]).plan);
    expect(sha256(step.gradients(params, x, y, n).grads)).toBe(first);
    expect(sha256(compileStep(model.plan)!.gradients(params, x, y, n).grads)).toBe(first);
  });

  it('sums over samples: two halves add up to the whole within float32 rounding', () => {
    const whole = step.gradients(params, x, y, n).grads;
    const a = step.gradients(params, x.subarray(0, 150 * 784), y.subarray(0, 150), 150).grads;
    const b = step.gradients(params, x.subarray(150 * 784), y.subarray(150), 150).grads;
    expect(worstTensorError(model, a.map((v, i) => v + b[i]!), whole)).toBeLessThan(1e-5);
  });

  it('gives the pinned bits (the wasm-step arithmetic contract) for a seeded batch', () => {
    const small = randomBatch(lenet5(), 16, 5);
    const result = compileStep(small.model.plan)!.gradients(small.params, small.x, small.y, 16);
    expect(sha256(result.grads)).toBe(GOLDEN_LENET5_16);
  });
});

describe('the wasm-step backend', () => {
  it('routes Model.gradients through the compiled step while active, and only then', async () => {
    const { model, params, x, y } = randomBatch(cases[2]![1], 4, 9);
    const direct = compileStep(model.plan)!.gradients(params, x, y, 4);
    expect(await useBackend('wasm-step')).toEqual({ name: 'wasm-step' });
    expect(stepBackendActive()).toBe(true);
    const viaModel = await model.gradients(params, x, y);
    expect(sha256(viaModel.grads)).toBe(sha256(direct.grads));
    expect(viaModel.lossSum).toBe(direct.lossSum);
    // evaluate / predict run on tfjs wasm underneath
    const ev = await model.evaluate(params, x, y);
    expect(ev.count).toBe(4);
    await useBackend('cpu');
    expect(stepBackendActive()).toBe(false);
    const viaCpu = await model.gradients(params, x, y);
    expect(worstTensorError(model, viaCpu.grads, direct.grads)).toBeLessThan(1e-5);
  });
});

describe('chunks and threads', () => {
  const n = 5 * CHUNK_SAMPLES + 3; // five full chunks and a short one
  const { model, params, x, y } = randomBatch(lenet5(), n, 33);

  it('gives the same bits on 1, 2 and 3 threads (real worker_threads), equal to chunk sums added in order', async () => {
    await useBackend('wasm-step');
    const hashes: string[] = [];
    let one: Float32Array | undefined;
    for (const threads of [1, 2, 3, 1]) {
      await setStepThreads(threads);
      const r = (await stepGradients(model.plan, params, x, y, n))!;
      one ??= r.grads;
      hashes.push(sha256(r.grads));
    }
    expect(new Set(hashes).size).toBe(1);
    // The definition: each chunk by one compiled step, float64 sums in chunk order, rounded once.
    const step = compileStep(model.plan)!;
    const sums = new Float64Array(model.paramCount);
    for (let s0 = 0; s0 < n; s0 += CHUNK_SAMPLES) {
      const s1 = Math.min(n, s0 + CHUNK_SAMPLES);
      const g = step.gradients(params, x.subarray(s0 * 784, s1 * 784), y.subarray(s0, s1), s1 - s0).grads;
      for (let i = 0; i < g.length; i++) sums[i] = sums[i]! + g[i]!;
    }
    expect(sha256(Float32Array.from(sums))).toBe(hashes[0]);
    await setStepThreads(1);
  }, 60_000);

  it('reuses and grows its shared board across batch sizes and models with the same bits as one thread', async () => {
    await useBackend('wasm-step');
    const small: ModelSpec = {
      name: 'small',
      inputShape: [8, 8, 1],
      layers: [
        { type: 'conv2d', filters: 3, kernelSize: 3, activation: 'relu' },
        { type: 'flatten' },
        { type: 'dense', units: 4 },
      ],
      loss: 'softmaxCrossEntropy',
    };
    const cases = [
      randomBatch(lenet5(), 3 * CHUNK_SAMPLES, 41),
      randomBatch(lenet5(), 11 * CHUNK_SAMPLES + 5, 42), // grows the board
      randomBatch(small, 7 * CHUNK_SAMPLES + 1, 43), // another model, another board
      randomBatch(lenet5(), 2 * CHUNK_SAMPLES + 9, 44), // back to a smaller batch on the grown board
      randomBatch(small, 2 * CHUNK_SAMPLES, 45),
    ];
    const run = async () => {
      const out: string[] = [];
      for (const c of cases) out.push(sha256((await stepGradients(c.model.plan, c.params, c.x, c.y, c.x.length / c.model.inputShape.reduce((a, b) => a * b, 1)))!.grads));
      return out;
    };
    await setStepThreads(1);
    const one = await run();
    await setStepThreads(3);
    expect(await run()).toEqual(one);
    // Concurrent calls take turns on the board: each gets its own batch's gradient.
    const together = await Promise.all(cases.map((c) => stepGradients(c.model.plan, c.params, c.x, c.y, c.x.length / c.model.inputShape.reduce((a, b) => a * b, 1))));
    expect(together.map((r) => sha256(r!.grads))).toEqual(one);
    await setStepThreads(1);
  }, 60_000);

  it('shard gradients in one run equal each shard computed alone, bit for bit, on 1 and 3 threads', async () => {
    await useBackend('wasm-step');
    const sizes = [32, 7, 16, 40, 1, 17]; // whole chunks, short chunks, shards of one chunk
    const total = sizes.reduce((a, b) => a + b, 0);
    const batch = randomBatch(lenet5(), total, 51);
    const alone: string[] = [];
    const losses: number[] = [];
    let at = 0;
    await setStepThreads(1);
    for (const size of sizes) {
      const r = (await stepGradients(batch.model.plan, batch.params, batch.x.slice(at * 784, (at + size) * 784), batch.y.slice(at, at + size), size))!;
      alone.push(sha256(r.grads));
      losses.push(r.lossSum);
      at += size;
    }
    for (const threads of [1, 3]) {
      await setStepThreads(threads);
      const together = (await stepShardGradients(batch.model.plan, batch.params, batch.x, batch.y, sizes))!;
      expect(together.map((r) => sha256(r.grads))).toEqual(alone);
      expect(together.map((r) => r.lossSum)).toEqual(losses);
      expect(together.map((r) => r.count)).toEqual(sizes);
    }
    // Through the model: the same, and on tfjs backends the per-shard loop.
    expect((await batch.model.shardGradients(batch.params, batch.x, batch.y, sizes)).map((r) => sha256(r.grads))).toEqual(alone);
    await useBackend('cpu');
    const cpu = await batch.model.shardGradients(batch.params, batch.x.slice(0, 39 * 784), batch.y.slice(0, 39), [32, 7]);
    await expect(batch.model.shardGradients(batch.params, batch.x, batch.y, [32, 7])).rejects.toMatchObject({ code: 'BAD_INPUT' });
    expect(sha256(cpu[1]!.grads)).toBe(sha256((await batch.model.gradients(batch.params, batch.x.slice(32 * 784, 39 * 784), batch.y.slice(32, 39))).grads));
    await useBackend('wasm-step');
    await setStepThreads(1);
  }, 60_000);

  it('a helper thread that dies during a step loses nothing: its chunks are recomputed and the thread replaced', async () => {
    await useBackend('wasm-step');
    await setStepThreads(1);
    const expected = sha256((await stepGradients(model.plan, params, x, y, n))!.grads);
    await setStepThreads(3);
    const helpers = await stepHelpers();
    expect(helpers.length).toBe(2);
    // Killed as the step starts: the run message reaches a thread that is going away.
    void helpers[0]!.terminate();
    const r = (await stepGradients(model.plan, params, x, y, n))!;
    expect(sha256(r.grads)).toBe(expected);
    expect(helpers[0]!.dead).toBe(true);
    const next = await stepHelpers();
    expect(next.length).toBe(2);
    expect(next.every((h) => !h.dead)).toBe(true);
    expect(next[0]).not.toBe(helpers[0]);
    expect(next[1]).toBe(helpers[1]);
    expect(sha256((await stepGradients(model.plan, params, x, y, n))!.grads)).toBe(expected);
    await setStepThreads(1);
  }, 60_000);

  it('chunks a dead helper took but never finished are found and computed by the calling thread', () => {
    const step = compileStep(model.plan)!;
    const board = boardViews({ paramCount: model.paramCount, sampleSize: 784, targetSize: 1, intTargets: true, capacity: n, maxChunks: 6 });
    board.params.set(params);
    board.x.set(x);
    board.y.set(y);
    expect(planChunks(board, [n])).toEqual([{ first: 0, count: 6 }]);
    board.done.fill(0);
    board.counter[0] = 2; // chunks 0 and 1 were taken by a thread that then died
    computeChunks(step, board);
    expect(Array.from(board.done)).toEqual([0, 0, 1, 1, 1, 1]);
    expect(computeMissingChunks(step, board)).toBe(2);
    const reference = step.gradients(params, x.subarray(0, CHUNK_SAMPLES * 784), y.subarray(0, CHUNK_SAMPLES), CHUNK_SAMPLES).grads;
    expect(sha256(board.grads[0]!)).toBe(sha256(reference));
    expect(computeMissingChunks(step, board)).toBe(0);
  });

  it('a helper that fails a run reports the error and takes no further chunks', () => {
    const replies: unknown[] = [];
    let listener: ((m: HelperMessage) => void) | undefined;
    serveChunks({ on: (_event, l) => (listener = l), postMessage: (m) => replies.push(m) });
    listener!({ type: 'run', board: 7, seq: 3 });
    expect(replies).toEqual([{ seq: 3, error: 'unknown board 7' }]);
  });

  /** Runs 48 LeNet-5 samples on `threads` wasm-step threads in a fresh Node process started with `nodeFlags`. */
  const gradientsInFreshProcess = (threads: number, nodeFlags: string[] = []) => {
    const dist = new URL('../../dist/index.js', import.meta.url).href;
    const script = `import { createModel, lenet5, setStepThreads, useBackend } from '${dist}';
      const model = createModel(lenet5()); await useBackend('wasm-step'); await setStepThreads(${threads});
      const r = await model.gradients(model.initParams(1), new Float32Array(48 * 784).fill(0.5), new Int32Array(48));
      console.log(r.count);`;
    return spawnSync(process.execPath, [...nodeFlags, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, cwd: fileURLToPath(new URL('.', import.meta.url)) });
  };

  it('a process that used helper threads exits by itself', () => {
    const run = gradientsInFreshProcess(3);
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('48');
    expect(run.status).toBe(0);
  }, 90_000);

  it('a process started with a flag worker threads refuse still computes on its helper threads', () => {
    const run = gradientsInFreshProcess(2, ['--single-threaded-gc']);
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('48');
    expect(run.status).toBe(0);
  }, 90_000);

  it('a chunked batch agrees with cpu within 1e-5', async () => {
    await useBackend('wasm-step');
    const ours = await model.gradients(params, x, y);
    await useBackend('cpu');
    const theirs = await model.gradients(params, x, y);
    expect(worstTensorError(model, ours.grads, theirs.grads)).toBeLessThan(1e-5);
  }, 60_000);
});

/** sha256 of the compiled step's LeNet-5 gradient for `randomBatch(lenet5(), 16, 5)`. */
const GOLDEN_LENET5_16 = 'd0d270b1d0fdd4791a7cb82c7a0091450846b307304c08a07c2442dab7712970';

describe('sumChunks', () => {
  /** The definition: a float64 array from 0, each chunk added in order, rounded once. */
  function reference(grads: Float32Array[], first: number, count: number): Float32Array {
    const sums = new Float64Array(grads[first]!.length);
    for (let c = first; c < first + count; c++) for (let i = 0; i < sums.length; i++) sums[i] = sums[i]! + grads[c]![i]!;
    return new Float32Array(sums);
  }

  it.each([2, 3, 5])('adds %i chunks in order from 0, rounded once, bit for bit', (count) => {
    const rng = new Xoshiro128(count);
    const special = [0, -0, 1e-45, -1e-45, 3.4e38, -3.4e38, 1e30, 1, 2 ** -24];
    const grads = Array.from({ length: count + 2 }, (_, c) =>
      Float32Array.from({ length: 1001 }, (_, i) => (i < special.length * special.length ? special[(c % 2 === 0 ? i : Math.floor(i / special.length)) % special.length]! : (rng.nextFloat() - 0.5) * 2 ** ((i % 40) - 20))),
    );
    grads[1]!.fill(-0, 0, 50);
    grads[2]!.fill(-0, 0, 50);
    const got = sumChunks(grads, 1, count);
    const want = reference(grads, 1, count);
    expect(new Uint8Array(got.buffer)).toEqual(new Uint8Array(want.buffer));
    expect(Object.is(got[0], 0)).toBe(true); // -0 + -0 … from 0 is +0
  });
});

describe('the wasm-fma backend (fused multiply-add GEMMs)', () => {
  const n = 3 * CHUNK_SAMPLES + 5;
  const { model, params, x, y } = randomBatch(lenet5(), n, 61);

  it('starts exactly where relaxed_madd fuses, and says why not elsewhere', async () => {
    const fused = await fusedMultiplyAdd();
    if (!fused.ok) {
      // A machine without FMA: the backend must refuse, naming the reason.
      await expect(useBackend('wasm-fma')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringContaining(fused.reason) });
      return;
    }
    expect(await useBackend('wasm-fma')).toEqual({ name: 'wasm-fma' });
    expect(stepBackendActive()).toBe(true);
    await useBackend('cpu');
    expect(stepBackendActive()).toBe(false);
  });

  it('agrees with float64 within 1e-5, differs from wasm-step in the last bits, and is the same for 1 and 3 threads', async () => {
    const fused = await fusedMultiplyAdd();
    if (!fused.ok) return; // the test above checks the refusal
    await useBackend('wasm-step');
    await setStepThreads(1);
    const plain = (await model.gradients(params, x, y)).grads;
    await useBackend('wasm-fma');
    const hashes: string[] = [];
    let fma: Float32Array | undefined;
    for (const threads of [1, 3, 1]) {
      await setStepThreads(threads);
      const r = await model.gradients(params, x, y);
      fma ??= r.grads;
      hashes.push(sha256(r.grads));
    }
    await setStepThreads(1);
    expect(new Set(hashes).size).toBe(1);
    // Fused: other bits than the plain step's (the GEMMs round once per multiply-add) …
    expect(sha256(fma!)).not.toBe(sha256(plain));
    // … and the same gradient as the plain step (the float64 checks are below).
    expect(worstTensorError(model, fma!, plain)).toBeLessThan(1e-5);
    // Switching back and forth keeps each backend's bits (separate compiled steps and boards).
    await useBackend('wasm-step');
    expect(sha256((await model.gradients(params, x, y)).grads)).toBe(sha256(plain));
    await useBackend('wasm-fma');
    expect(sha256((await model.gradients(params, x, y)).grads)).toBe(hashes[0]);
    await useBackend('cpu');
  }, 120_000);

  it('a chunked call keeps the backend of its call when a switch comes while it waits its turn', async () => {
    if (!(await fusedMultiplyAdd()).ok) return;
    await useBackend('wasm-fma');
    await setStepThreads(3);
    const alone = sha256((await stepGradients(model.plan, params, x, y, n))!.grads);
    const first = stepGradients(model.plan, params, x, y, n);
    const queued = stepGradients(model.plan, params, x, y, n); // waits for the first one's turn
    setStepMode('step'); // what a switch to wasm-step does, before the queued call runs
    expect(sha256((await first)!.grads)).toBe(alone);
    expect(sha256((await queued)!.grads)).toBe(alone);
    await setStepThreads(1);
    await useBackend('cpu');
  }, 60_000);
});
