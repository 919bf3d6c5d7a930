import { describe, expect, it } from 'vitest';
import { NnErrorCode } from './errors.js';
import { createOptimizer, setAdamSimd, validateOptimizerConfig, type OptimizerConfig, type OptimizerState } from './optimizers.js';
import { createAdamSimd } from './adam-simd.js';
import { Xoshiro128 } from './prng.js';
import { learningRateAt } from './schedules.js';
import { expectNnError } from './testing/expect-nn-error.js';

const P = 257;
const STEPS = 20;

function randomVector(rng: Xoshiro128, length: number, scale: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (2 * rng.nextFloat() - 1) * scale;
  return out;
}

/** The gradients of a run: fixed random vectors, so every run sees the same sequence. */
function gradientSequence(seed: number, steps: number): Float32Array[] {
  const rng = new Xoshiro128(seed);
  return Array.from({ length: steps }, () => randomVector(rng, P, 1));
}

function bits(array: Float32Array): Uint32Array {
  return new Uint32Array(array.buffer.slice(array.byteOffset, array.byteOffset + array.byteLength));
}

/**
 * Independent float64 reference, written from PyTorch's documented algorithms
 * (torch.optim.SGD / Adam / AdamW pseudo-code) with plain arrays and `**`.
 */
function referenceRun(config: OptimizerConfig, initial: Float32Array, grads: Float32Array[]): number[] {
  const p = Array.from(initial);
  const state1 = new Array<number>(P).fill(0);
  const state2 = new Array<number>(P).fill(0);
  const wd = config.weightDecay ?? 0;
  grads.forEach((grad, index) => {
    const t = index + 1;
    const lr = learningRateAt(config.lr, config.schedule, index);
    for (let i = 0; i < P; i++) {
      let g = grad[i]!;
      if (config.type === 'sgd') {
        g += wd * p[i]!;
        p[i] = p[i]! - lr * g;
      } else if (config.type === 'momentum') {
        const mu = config.momentum ?? 0.9;
        g += wd * p[i]!;
        // PyTorch: buf = clone(g) on the first step, else buf = mu*buf + g.
        state1[i] = t === 1 ? g : mu * state1[i]! + g;
        const d = config.nesterov === true ? g + mu * state1[i]! : state1[i]!;
        p[i] = p[i]! - lr * d;
      } else {
        const b1 = config.beta1 ?? 0.9;
        const b2 = config.beta2 ?? 0.999;
        const eps = config.epsilon ?? 1e-8;
        if (config.decoupledWeightDecay === true) p[i] = p[i]! * (1 - lr * wd);
        else g += wd * p[i]!;
        state1[i] = b1 * state1[i]! + (1 - b1) * g;
        state2[i] = b2 * state2[i]! + (1 - b2) * g * g;
        const mHat = state1[i]! / (1 - b1 ** t);
        const vHat = state2[i]! / (1 - b2 ** t);
        p[i] = p[i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
      }
    }
  });
  return p;
}

const CONFIGS: Record<string, OptimizerConfig> = {
  sgd: { type: 'sgd', lr: 0.05 },
  'sgd + weight decay + step schedule': {
    type: 'sgd',
    lr: 0.1,
    weightDecay: 0.01,
    schedule: { type: 'step', stepSize: 7, gamma: 0.5 },
  },
  momentum: { type: 'momentum', lr: 0.02 },
  'momentum nesterov + weight decay + cosine with warmup': {
    type: 'momentum',
    lr: 0.03,
    momentum: 0.8,
    nesterov: true,
    weightDecay: 1e-3,
    schedule: { type: 'cosine', totalSteps: STEPS, warmupSteps: 4, minLr: 0.001 },
  },
  adam: { type: 'adam', lr: 1e-2 },
  'adam + L2 weight decay, custom betas': {
    type: 'adam',
    lr: 3e-3,
    beta1: 0.85,
    beta2: 0.99,
    epsilon: 1e-6,
    weightDecay: 0.05,
  },
  'adamW + cosine': {
    type: 'adam',
    lr: 1e-2,
    weightDecay: 0.1,
    decoupledWeightDecay: true,
    schedule: { type: 'cosine', totalSteps: 15 },
  },
};

function run(config: OptimizerConfig, steps = STEPS): { params: Float32Array; state: OptimizerState } {
  const params = randomVector(new Xoshiro128(7), P, 1);
  const grads = gradientSequence(11, steps);
  const opt = createOptimizer(config, P);
  for (const grad of grads) opt.step(params, grad);
  return { params, state: opt.state() };
}

describe('optimizers against a float64 reference', () => {
  for (const [name, config] of Object.entries(CONFIGS)) {
    it(`${name}: ${STEPS} steps agree to 1e-6 relative`, () => {
      const initial = randomVector(new Xoshiro128(7), P, 1);
      const reference = referenceRun(config, initial, gradientSequence(11, STEPS));
      const { params } = run(config);
      // Norm-wise relative error: float32 rounding errors scale with the vector's magnitude,
      // not with each element's (an element that crossed zero keeps its history's error).
      let worstError = 0;
      let scale = 0;
      let moved = 0;
      for (let i = 0; i < P; i++) {
        const ref = reference[i]!;
        worstError = Math.max(worstError, Math.abs(params[i]! - ref));
        scale = Math.max(scale, Math.abs(ref));
        moved = Math.max(moved, Math.abs(ref - initial[i]!));
      }
      expect(worstError / scale).toBeLessThan(1e-6);
      // The run really moved the parameters (the comparison is not trivially passing).
      expect(moved).toBeGreaterThan(1e-3);
    });
  }

  it('momentum: the first step uses v = g (PyTorch clones the gradient into the buffer)', () => {
    const opt = createOptimizer({ type: 'momentum', lr: 0.5, momentum: 0.9 }, 3);
    const params = new Float32Array([1, 2, 3]);
    const grad = new Float32Array([0.25, -0.5, 1]);
    opt.step(params, grad);
    expect(Array.from(opt.state().buffers['momentumBuffer']!)).toEqual([0.25, -0.5, 1]);
    expect(Array.from(params)).toEqual([0.875, 2.25, 2.5]);
    // Second step: v = 0.9·v + g, in float32.
    opt.step(params, grad);
    const v = opt.state().buffers['momentumBuffer']!;
    expect(v[0]).toBe(Math.fround(Math.fround(Math.fround(0.9) * 0.25) + 0.25));
  });

  it('adam: the first step moves each parameter by about lr·sign(g) (bias correction)', () => {
    const opt = createOptimizer({ type: 'adam', lr: 0.01 }, 4);
    const params = new Float32Array([0, 0, 0, 0]);
    opt.step(params, new Float32Array([3, -0.2, 1e-3, -50]));
    for (const [i, sign] of [-1, 1, -1, 1].entries()) expect(params[i]!).toBeCloseTo(sign * 0.01, 6);
  });
});

describe('determinism and checkpoints', () => {
  for (const [name, config] of Object.entries(CONFIGS)) {
    it(`${name}: two runs are bitwise identical`, () => {
      const a = run(config);
      const b = run(config);
      expect(bits(a.params)).toEqual(bits(b.params));
      for (const key of Object.keys(a.state.buffers)) {
        expect(bits(a.state.buffers[key]!)).toEqual(bits(b.state.buffers[key]!));
      }
    });

    it(`${name}: save mid-run, load into a new optimizer, continue = uninterrupted run, bitwise`, () => {
      const uninterrupted = run(config);
      const grads = gradientSequence(11, STEPS);
      const params = randomVector(new Xoshiro128(7), P, 1);
      const first = createOptimizer(config, P);
      for (const grad of grads.slice(0, 9)) first.step(params, grad);
      // A checkpoint: the state is copied (structuredClone, as a file round trip would).
      const checkpoint = structuredClone(first.state());
      const savedParams = params.slice();
      first.step(params, grads[9]!); // the old optimizer keeps going; the checkpoint must not change

      const second = createOptimizer(config, P);
      second.loadState(checkpoint);
      expect(second.stepCount).toBe(9);
      for (const grad of grads.slice(9)) second.step(savedParams, grad);
      expect(second.stepCount).toBe(STEPS);
      expect(bits(savedParams)).toEqual(bits(uninterrupted.params));
      const state = second.state();
      expect(state.stepCount).toBe(STEPS);
      for (const key of Object.keys(uninterrupted.state.buffers)) {
        expect(bits(state.buffers[key]!)).toEqual(bits(uninterrupted.state.buffers[key]!));
      }
    });
  }

  it('pins the float32 operation order: golden bit patterns after 3 steps', () => {
    // Recorded once and cross-checked bitwise against a numpy float32 implementation doing
    // the same operations in the same order. A change here breaks checkpoint reproducibility.
    const golden: Array<[OptimizerConfig, number[]]> = [
      [{ type: 'sgd', lr: 0.1, weightDecay: 0.01 }, [0x3ef27407, 0xbf9d9cff, 0x3ff64ffc, 0x3dd046ad]],
      [{ type: 'momentum', lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }, [0x3ed66645, 0xbf917f74, 0x3fce1aec, 0x3dd8103e]],
      [{ type: 'adam', lr: 0.01, weightDecay: 0.01 }, [0x3ef829b5, 0xbf9e54f4, 0x3ffd429c, 0x3dc7a1d9]],
      [{ type: 'adam', lr: 0.01, weightDecay: 0.1, decoupledWeightDecay: true }, [0x3ef7993a, 0xbf9dea23, 0x3ffc84f0, 0x3dc8071b]],
    ];
    for (const [config, expected] of golden) {
      const opt = createOptimizer(config, 4);
      const params = new Float32Array([0.5, -1.25, 2, 0.1]);
      for (const grad of [[0.3, -0.7, 1.1, 0.01], [-0.2, 0.4, 0.9, -0.05], [0.15, 0.15, -1.3, 0.02]]) {
        opt.step(params, new Float32Array(grad));
      }
      expect(Array.from(bits(params))).toEqual(expected);
    }
  });

  it('Adam in WebAssembly SIMD gives the JavaScript loop\'s bits, for every weight-decay form and odd lengths', () => {
    expect(createAdamSimd(5)).not.toBeNull(); // Node 20 has SIMD128: the default path is the SIMD one
    const configs: OptimizerConfig[] = [
      { type: 'adam', lr: 0.01 },
      { type: 'adam', lr: 0.003, weightDecay: 0.01 },
      { type: 'adam', lr: 0.003, weightDecay: 0.05, decoupledWeightDecay: true, beta1: 0.8, beta2: 0.95, epsilon: 1e-6 },
    ];
    for (const config of configs) {
      for (const length of [1, 3, 4, 257]) {
        const rng = new Xoshiro128(length);
        const start = randomVector(rng, length, 2);
        // Values the loop must round the same way: zeros of both signs, subnormals, huge and tiny gradients.
        const special = [0, -0, 1e-40, -3e-39, 1e30, -1e-30, 65504, 1e-8];
        const grads = Array.from({ length: 6 }, (_, s) => {
          const g = randomVector(rng, length, 10 ** (s - 3));
          for (let i = 0; i < length; i += 3) g[i] = special[(i + s) % special.length]!;
          return g;
        });
        const run = (simd: boolean) => {
          setAdamSimd(simd);
          try {
            const opt = createOptimizer(config, length);
            const params = start.slice();
            for (const g of grads) opt.step(params, g);
            return { params, state: opt.state() };
          } finally {
            setAdamSimd(true);
          }
        };
        const js = run(false);
        const simd = run(true);
        expect(bits(simd.params)).toEqual(bits(js.params));
        expect(bits(simd.state.buffers['expAvg']!)).toEqual(bits(js.state.buffers['expAvg']!));
        expect(bits(simd.state.buffers['expAvgSq']!)).toEqual(bits(js.state.buffers['expAvgSq']!));
      }
    }
  });

  it('state() returns copies that later steps do not change', () => {
    const opt = createOptimizer({ type: 'adam', lr: 0.1 }, 2);
    const params = new Float32Array([1, 1]);
    opt.step(params, new Float32Array([1, 2]));
    const state = opt.state();
    const before = state.buffers['expAvg']!.slice();
    opt.step(params, new Float32Array([5, 5]));
    expect(state.buffers['expAvg']).toEqual(before);
    expect(state.stepCount).toBe(1);
    expect(Object.keys(state.buffers).sort()).toEqual(['expAvg', 'expAvgSq']);
    expect(createOptimizer({ type: 'sgd', lr: 1 }, 2).state()).toEqual({ type: 'sgd', stepCount: 0, buffers: {} });
  });

  it('state(into) copies into a given state of the same shape and allocates nothing', () => {
    const opt = createOptimizer({ type: 'adam', lr: 0.1 }, 2);
    const params = new Float32Array([1, 1]);
    opt.step(params, new Float32Array([1, 2]));
    const old = opt.state();
    const expAvg = old.buffers['expAvg']!;
    opt.step(params, new Float32Array([3, 4]));
    const reused = opt.state(old);
    expect(reused).toBe(old);
    expect(reused.buffers['expAvg']).toBe(expAvg);
    expect(reused).toEqual(opt.state());
    // A state of another shape is left alone: a fresh copy comes back.
    const other = createOptimizer({ type: 'adam', lr: 0.1 }, 3).state();
    const fresh = opt.state(other);
    expect(fresh).not.toBe(other);
    expect(fresh).toEqual(opt.state());
    expect(other.buffers['expAvg']).toEqual(new Float32Array(3));
  });

  it('firstNonFinite() names the first non-finite buffer value, reading the live buffers', () => {
    const opt = createOptimizer({ type: 'adam', lr: 0.1 }, 3);
    const params = new Float32Array([1, 1, 1]);
    opt.step(params, new Float32Array([1, 2, 3]));
    expect(opt.firstNonFinite()).toBeNull();
    // A gradient of 1e20 squares past float32's range: expAvgSq overflows, expAvg does not.
    opt.step(params, new Float32Array([1, 1e20, 3]));
    expect(opt.firstNonFinite()).toBe('expAvgSq[1] = Infinity');
    opt.step(params, new Float32Array([Number.NaN, 1, 3]));
    expect(opt.firstNonFinite()).toBe('expAvg[0] = NaN');
    expect(createOptimizer({ type: 'sgd', lr: 1 }, 2).firstNonFinite()).toBeNull();
  });
});

describe('learning rates', () => {
  it('uses the schedule when no lr is given and returns the lr used', () => {
    const config: OptimizerConfig = { type: 'sgd', lr: 0.1, schedule: { type: 'step', stepSize: 2, gamma: 0.1, warmupSteps: 2 } };
    const opt = createOptimizer(config, 1);
    const params = new Float32Array([0]);
    const used: number[] = [];
    for (let i = 0; i < 6; i++) {
      expect(opt.learningRate()).toBe(learningRateAt(0.1, config.schedule, i));
      used.push(opt.step(params, new Float32Array([1])));
    }
    expect(used).toEqual([0.05, 0.1, 0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1]);
  });

  it('an explicit lr overrides the schedule for that step only', () => {
    const opt = createOptimizer({ type: 'sgd', lr: 0.1 }, 1);
    const params = new Float32Array([1]);
    expect(opt.step(params, new Float32Array([1]), 0.5)).toBe(0.5);
    expect(params[0]).toBe(0.5);
    expect(opt.step(params, new Float32Array([1]), 0)).toBe(0);
    expect(params[0]).toBe(0.5);
    expect(opt.step(params, new Float32Array([1]))).toBe(0.1);
    expect(params[0]).toBe(Math.fround(0.5 - Math.fround(0.1)));
  });
});

describe('validation', () => {
  it('fills defaults and freezes the config', () => {
    expect(createOptimizer({ type: 'adam', lr: 1e-3 }, 1).config).toEqual({
      type: 'adam',
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-8,
      weightDecay: 0,
      decoupledWeightDecay: false,
    });
    const opt = createOptimizer({ type: 'momentum', lr: 1, schedule: { type: 'constant' } }, 1);
    expect(opt.config).toEqual({ type: 'momentum', lr: 1, momentum: 0.9, nesterov: false, weightDecay: 0, schedule: { type: 'constant', warmupSteps: 0 } });
    expect(Object.isFrozen(opt.config)).toBe(true);
    expect(validateOptimizerConfig(JSON.parse(JSON.stringify(opt.config)))).toEqual(opt.config);
  });

  const badConfigs: Array<[string, unknown]> = [
    ['not an object', 'adam'],
    ['unknown type', { type: 'rmsprop', lr: 0.1 }],
    ['missing lr', { type: 'sgd' }],
    ['lr = 0', { type: 'sgd', lr: 0 }],
    ['lr negative', { type: 'adam', lr: -1 }],
    ['lr NaN', { type: 'sgd', lr: Number.NaN }],
    ['lr Infinity', { type: 'sgd', lr: Infinity }],
    ['lr as string', { type: 'sgd', lr: '0.1' }],
    ['negative weightDecay', { type: 'sgd', lr: 0.1, weightDecay: -0.1 }],
    ['momentum = 1', { type: 'momentum', lr: 0.1, momentum: 1 }],
    ['momentum < 0', { type: 'momentum', lr: 0.1, momentum: -0.5 }],
    ['nesterov not boolean', { type: 'momentum', lr: 0.1, nesterov: 'yes' }],
    ['momentum on sgd', { type: 'sgd', lr: 0.1, momentum: 0.9 }],
    ['snake_case field', { type: 'adam', lr: 0.1, weight_decay: 0.1 }],
    ['beta1 = 1', { type: 'adam', lr: 0.1, beta1: 1 }],
    ['beta2 > 1', { type: 'adam', lr: 0.1, beta2: 1.5 }],
    ['epsilon = 0', { type: 'adam', lr: 0.1, epsilon: 0 }],
    ['decoupledWeightDecay on momentum', { type: 'momentum', lr: 0.1, decoupledWeightDecay: true }],
    ['bad schedule', { type: 'sgd', lr: 0.1, schedule: { type: 'cosine' } }],
    ['minLr above lr', { type: 'sgd', lr: 0.1, schedule: { type: 'cosine', totalSteps: 10, minLr: 0.2 } }],
  ];
  for (const [name, config] of badConfigs) {
    it(`rejects ${name} with BAD_OPTIONS`, () => {
      expectNnError(() => createOptimizer(config as OptimizerConfig, 4), NnErrorCode.BAD_OPTIONS);
    });
  }

  it('rejects a bad parameterCount with BAD_OPTIONS', () => {
    expectNnError(() => createOptimizer({ type: 'sgd', lr: 1 }, -1), NnErrorCode.BAD_OPTIONS);
    expectNnError(() => createOptimizer({ type: 'sgd', lr: 1 }, 2.5), NnErrorCode.BAD_OPTIONS);
  });

  it('rejects vectors of the wrong length or type with BAD_INPUT, and a bad lr with BAD_OPTIONS', () => {
    const opt = createOptimizer({ type: 'momentum', lr: 0.1 }, 4);
    const params = new Float32Array(4);
    expectNnError(() => opt.step(params, new Float32Array(3)), NnErrorCode.BAD_INPUT);
    expectNnError(() => opt.step(new Float32Array(5), new Float32Array(4)), NnErrorCode.BAD_INPUT);
    expectNnError(() => opt.step(params, new Float64Array(4) as unknown as Float32Array), NnErrorCode.BAD_INPUT);
    expectNnError(() => opt.step(params, [0, 0, 0, 0] as unknown as Float32Array), NnErrorCode.BAD_INPUT);
    expectNnError(() => opt.step(params, new Float32Array(4), -0.1), NnErrorCode.BAD_OPTIONS);
    expectNnError(() => opt.step(params, new Float32Array(4), Number.NaN), NnErrorCode.BAD_OPTIONS);
    expect(opt.stepCount).toBe(0);
  });

  it('loadState rejects a state that does not fit, with BAD_INPUT, and leaves the optimizer untouched', () => {
    const opt = createOptimizer({ type: 'adam', lr: 0.1 }, 4);
    const params = new Float32Array(4);
    opt.step(params, new Float32Array([1, 2, 3, 4]));
    const good = opt.state();
    const bad: unknown[] = [
      null,
      { ...good, type: 'momentum' },
      { ...good, stepCount: -1 },
      { ...good, stepCount: 1.5 },
      { ...good, buffers: { expAvg: good.buffers['expAvg'] } },
      { ...good, buffers: { ...good.buffers, extra: new Float32Array(4) } },
      { ...good, buffers: { ...good.buffers, expAvgSq: new Float32Array(3) } },
      { ...good, buffers: { ...good.buffers, expAvgSq: new Float64Array(4) } },
      { ...good, buffers: null },
      createOptimizer({ type: 'momentum', lr: 0.1 }, 4).state(),
    ];
    const fresh = createOptimizer({ type: 'adam', lr: 0.1 }, 4);
    for (const state of bad) {
      expectNnError(() => fresh.loadState(state as OptimizerState), NnErrorCode.BAD_INPUT);
    }
    expect(fresh.state()).toEqual({ type: 'adam', stepCount: 0, buffers: { expAvg: new Float32Array(4), expAvgSq: new Float32Array(4) } });
    fresh.loadState(good);
    expect(fresh.state()).toEqual(good);
  });
});
