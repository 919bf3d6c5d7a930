/**
 * The memory a compiled training step works in: one `WebAssembly.Memory` holding every
 * activation, gradient, im2col block and table of a model at one batch size, laid out once
 * ({@link ArenaLayout}) and reused by every step, with its own instance of the project's
 * SIMD GEMM module (`kernels/simd-gemm.ts`) computing over it.
 *
 * The GEMM's accumulation order is the module's (see `simd-gemm.ts`): every output is one
 * float32 sum over the inner index in increasing order, multiply then add, never fused.
 */
import { paddedCols, sgemmModuleBytes, TILE_ROWS } from '../kernels/simd-gemm.js';
import { stepOpsModuleBytes, type StepOps } from './ops-module.js';

/** Hands out 32-byte aligned regions (offsets in float32 elements; even, so float64 views line up). */
export class ArenaLayout {
  private top = 0;
  /** Reserves `floats` float32 elements; returns the first element's index. */
  alloc(floats: number): number {
    const off = this.top;
    this.top += paddedCols(Math.max(floats, 1));
    return off;
  }
  /** Reserves `doubles` float64 elements; returns the first element's index in float64 units. */
  allocDoubles(doubles: number): number {
    return this.alloc(2 * doubles) / 2;
  }
  /** Float32 elements reserved so far. */
  get size(): number {
    return this.top;
  }
}

type Driver = (m: number, panels: number, k: number, a: number, lda: number, b: number, c: number, ldc: number) => void;
interface GemmExports {
  gemm_n: Driver;
  gemm_t: Driver;
  gather(dst: number, dstRowStride: number, src: number, bases: number, rows: number, offs: number, outOffs: number, n: number): void;
  scatter_add(sums: number, src: number, srcRowStride: number, bases: number, rows: number, offs: number, n: number): void;
}

let compiled: WebAssembly.Module | null | undefined;
let compiledFma: WebAssembly.Module | undefined;
let compiledOps: WebAssembly.Module | undefined;

/** Whether the SIMD GEMM module compiles here (WebAssembly with SIMD128). */
export function arenaAvailable(): boolean {
  if (compiled === undefined) {
    compiled = null;
    try {
      const bytes = sgemmModuleBytes();
      if (typeof WebAssembly === 'object' && WebAssembly.validate(bytes)) {
        compiledOps = new WebAssembly.Module(stepOpsModuleBytes());
        compiled = new WebAssembly.Module(bytes);
      }
    } catch {
      compiled = null;
    }
  }
  return compiled !== null;
}

/** An instance of the GEMM module over a memory of at least `floats` float32 elements. */
export class Arena {
  readonly f32: Float32Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  private readonly x: GemmExports;
  /** The step's own small ops (`ops-module.ts`) over the same memory. */
  readonly ops: StepOps;

  /**
   * @param fma the GEMM's fused variant (`sgemmModuleBytes(true)`, the `wasm-fma` backend):
   *   only where `fusedMultiplyAdd()` said so (in Node it also turns relaxed SIMD on)
   */
  constructor(floats: number, fma = false) {
    if (!arenaAvailable()) throw new Error('WebAssembly SIMD128 is not available');
    if (fma) compiledFma ??= new WebAssembly.Module(sgemmModuleBytes(true));
    const pages = Math.ceil((floats * 4) / 65536) + 1;
    const memory = new WebAssembly.Memory({ initial: pages });
    const instance = new WebAssembly.Instance(fma ? compiledFma! : compiled!, { env: { memory } });
    this.x = instance.exports as unknown as GemmExports;
    this.ops = new WebAssembly.Instance(compiledOps!, { env: { memory } }).exports as unknown as StepOps;
    this.f32 = new Float32Array(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
    this.f64 = new Float64Array(memory.buffer);
  }

  /**
   * `C = op(A)·B` (offsets and strides in float32 elements): `A` row-major `M × K` with row
   * stride `lda`, or with `transA` stored `K × M` (`A(i, p) = a[p·lda + i]`); `B` packed in
   * 8-wide panels (`packB`); `C` rows of `paddedCols(N)` values at stride `ldc`. K ≥ 1.
   */
  gemm(transA: boolean, M: number, N: number, K: number, aOff: number, lda: number, bOff: number, cOff: number, ldc: number): void {
    if (M <= 0 || N <= 0 || K <= 0) return;
    const panels = Math.ceil(N / 8);
    const block = rowsPerCall(K);
    const driver = transA ? this.x.gemm_t : this.x.gemm_n;
    for (let i0 = 0; i0 < M; i0 += block) {
      const rows = Math.min(block, M - i0);
      const a = transA ? aOff + i0 : aOff + i0 * lda;
      driver(rows, panels, K, 4 * a, 4 * lda, 4 * bOff, 4 * (cOff + i0 * ldc), 4 * ldc);
    }
  }

  /** `f32[dst + r·stride + i32[outOffs + t]] = f32[src + i32[bases + r] + i32[offs + t]]` (im2col, packing). */
  gather(dst: number, stride: number, src: number, bases: number, rows: number, offs: number, outOffs: number, n: number): void {
    if (rows > 0 && n > 0) this.x.gather(4 * dst, 4 * stride, 4 * src, 4 * bases, rows, 4 * offs, 4 * outOffs, n);
  }

  /** `f64[sums + i32[bases + r] + i32[offs + t]] += f32[src + r·stride + t]`, r then t increasing (col2im). `sums` in float64 elements. */
  scatterAdd(sums: number, src: number, stride: number, bases: number, rows: number, offs: number, n: number): void {
    if (rows > 0 && n > 0) this.x.scatter_add(8 * sums, 4 * src, 4 * stride, 4 * bases, rows, 4 * offs, n);
  }
}

/** Rows of A per driver call, so a block of A stays in L2 while the B panels pass over it. */
function rowsPerCall(K: number): number {
  return Math.max(TILE_ROWS, Math.floor(Math.floor(196608 / (4 * Math.max(K, 1))) / TILE_ROWS) * TILE_ROWS);
}
