/**
 * Adam's update in WebAssembly SIMD, four parameters per `f32x4` operation, bit for bit the
 * same as the float32 loop of `optimizers.ts` for finite values. That loop computes every
 * operation in float64 on float32 values and rounds it once with `Math.fround`; for +, −, ×,
 * ÷ and √ this is the correctly rounded float32 result (float64's 53 bits are ≥ 2·24 + 2, so
 * rounding twice changes nothing), which is what each `f32x4` lane computes. The operations
 * and their order are the loop's, one function per weight-decay form so that no extra
 * operation (such as adding `0 · p`, which can turn −0 into +0) enters the others.
 *
 * Parameters, gradient and the two moment buffers live in one `WebAssembly.Memory`, each
 * padded to a multiple of four values (the padding lanes compute on zeros and are never
 * read back). Where WebAssembly SIMD is missing, or the memory cannot be had, the caller
 * keeps the JavaScript loop.
 */
import { buildModule, f32, i32, op, v128, type FunctionDef } from './wasm-builder.js';

/** Adam's per-step scalars, each already a float32 value. */
export interface AdamScalars {
  b1: number;
  oneMinusB1: number;
  b2: number;
  oneMinusB2: number;
  biasCorrection2Sqrt: number;
  eps: number;
  stepSize: number;
  /** `decoupled`: the decay factor `1 − lr·wd`; `l2`: `wd`; `none`: unused. */
  k: number;
  mode: 'none' | 'decoupled' | 'l2';
}

/** The Adam update over arrays in WebAssembly memory. */
export interface AdamSimd {
  /** Views of the memory: copy parameters and gradient in, read parameters back. */
  readonly params: Float32Array;
  readonly grad: Float32Array;
  /** The moment buffers, kept here between steps (the optimizer's `expAvg` and `expAvgSq`). */
  readonly expAvg: Float32Array;
  readonly expAvgSq: Float32Array;
  /** Updates `params`, `expAvg` and `expAvgSq` in place from `grad`. */
  update(s: AdamScalars): void;
}

// Parameters: count of 4-value groups, byte addresses of p, g, m, v, then the f32 scalars.
const N = 0, P = 1, G = 2, M = 3, V = 4, B1 = 5, OMB1 = 6, B2 = 7, OMB2 = 8, BC2 = 9, EPS = 10, SS = 11, K = 12;
// Locals: the scalars splatted, then the lanes in flight.
const XB1 = 13, XOMB1 = 14, XB2 = 15, XOMB2 = 16, XBC2 = 17, XEPS = 18, XSS = 19, XK = 20, XP = 21, XG = 22, XM = 23, XV = 24;

function adamFunction(mode: AdamScalars['mode'], exportAs: string): FunctionDef {
  const splat = (from: number, to: number) => [op.localGet(from), op.f32x4Splat, op.localSet(to)];
  const body: Array<readonly number[]> = [
    ...splat(B1, XB1), ...splat(OMB1, XOMB1), ...splat(B2, XB2), ...splat(OMB2, XOMB2),
    ...splat(BC2, XBC2), ...splat(EPS, XEPS), ...splat(SS, XSS), ...splat(K, XK),
  ];
  body.push(op.block, op.loop);
  body.push(op.localGet(N), op.i32Eqz, op.brIf(1));
  body.push(op.localGet(P), op.v128Load(0), op.localSet(XP));
  body.push(op.localGet(G), op.v128Load(0), op.localSet(XG));
  // p ← p · (1 − lr·wd)  |  g ← g + wd · p
  if (mode === 'decoupled') body.push(op.localGet(XP), op.localGet(XK), op.f32x4Mul, op.localSet(XP));
  if (mode === 'l2') body.push(op.localGet(XG), op.localGet(XK), op.localGet(XP), op.f32x4Mul, op.f32x4Add, op.localSet(XG));
  // m ← b1·m + (1 − b1)·g
  body.push(op.localGet(XB1), op.localGet(M), op.v128Load(0), op.f32x4Mul, op.localGet(XOMB1), op.localGet(XG), op.f32x4Mul, op.f32x4Add, op.localSet(XM));
  // v ← b2·v + (1 − b2)·(g·g)
  body.push(op.localGet(XB2), op.localGet(V), op.v128Load(0), op.f32x4Mul, op.localGet(XOMB2), op.localGet(XG), op.localGet(XG), op.f32x4Mul, op.f32x4Mul, op.f32x4Add, op.localSet(XV));
  body.push(op.localGet(M), op.localGet(XM), op.v128Store(0), op.localGet(V), op.localGet(XV), op.v128Store(0));
  // p ← p − stepSize · (m / (√v / bc2 + eps))
  body.push(op.localGet(P), op.localGet(XP), op.localGet(XSS), op.localGet(XM), op.localGet(XV), op.f32x4Sqrt, op.localGet(XBC2), op.f32x4Div, op.localGet(XEPS), op.f32x4Add, op.f32x4Div, op.f32x4Mul, op.f32x4Sub, op.v128Store(0));
  for (const address of [P, G, M, V]) body.push(op.localGet(address), op.i32Const(16), op.i32Add, op.localSet(address));
  body.push(op.localGet(N), op.i32Const(1), op.i32Sub, op.localSet(N), op.br(0), op.end, op.end);
  return {
    params: [i32, i32, i32, i32, i32, f32, f32, f32, f32, f32, f32, f32, f32],
    locals: new Array<typeof v128>(12).fill(v128),
    body,
    exportAs,
  };
}

let compiled: WebAssembly.Module | null | undefined;

function adamModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(buildModule([adamFunction('none', 'none'), adamFunction('decoupled', 'decoupled'), adamFunction('l2', 'l2')]));
    } catch {
      compiled = null; // no WebAssembly, or no SIMD128
    }
  }
  return compiled;
}

type AdamExport = (n: number, p: number, g: number, m: number, v: number, b1: number, omb1: number, b2: number, omb2: number, bc2: number, eps: number, ss: number, k: number) => void;

/** The SIMD update for `parameterCount` parameters, or null where it cannot run here. */
export function createAdamSimd(parameterCount: number): AdamSimd | null {
  const module = adamModule();
  if (module === null || parameterCount === 0) return null;
  const groups = Math.ceil(parameterCount / 4);
  const region = groups * 16;
  const pages = Math.ceil((4 * region) / 65536);
  let memory: WebAssembly.Memory;
  let exports: Record<AdamScalars['mode'], AdamExport>;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Record<AdamScalars['mode'], AdamExport>;
  } catch {
    return null; // more memory than this engine gives one module
  }
  const view = (i: number) => new Float32Array(memory.buffer, i * region, parameterCount);
  return {
    params: view(0),
    grad: view(1),
    expAvg: view(2),
    expAvgSq: view(3),
    update(s) {
      exports[s.mode](groups, 0, region, 2 * region, 3 * region, s.b1, s.oneMinusB1, s.b2, s.oneMinusB2, s.biasCorrection2Sqrt, s.eps, s.stepSize, s.k);
    },
  };
}
