/**
 * Single-precision GEMM in a WebAssembly SIMD128 module that this file writes itself, with
 * a plain TypeScript twin that returns the same bits where SIMD is missing.
 *
 * What it computes (all offsets and strides in float32 elements of the engine's scratch
 * memory, see {@link SgemmEngine}):
 *
 *   C[i·ldc + j] = Σ_{p = 0 … K-1} A(i, p) · B(p, j)     for i < M, j < roundUp(N, 8)
 *
 * with `A(i, p) = a[i·lda + p]` (row-major) or, with `transA`, `a[p·lda + i]`, and `B`
 * packed into panels of 8 columns by {@link packB} (zero columns past N). C rows need room
 * for `roundUp(N, 8)` values: the kernel stores whole 8-wide tiles.
 *
 * **Accumulation order (the determinism contract).** Every output element is one float32
 * accumulator that starts at +0 and, for p = 0, 1, …, K-1 in that order, becomes
 * `fl32(acc + fl32(A(i,p) · B(p,j)))` — a float32 multiply rounded to nearest-even, then a
 * float32 add rounded to nearest-even, no fused multiply-add. That order depends on nothing
 * but K, so the result is the same bits whatever the tiling, the block sizes, the machine,
 * the browser, and whether the SIMD module or the TypeScript twin ran it (the twin rounds
 * with `Math.fround`; double rounding through float64 is exact for one float32 add or
 * multiply because 53 ≥ 2·24 + 2). Only NaN payloads may differ.
 *
 * The module: a 6×8 register tile (12 `f32x4` accumulators, 2 `B` vectors, 1 broadcast `A`
 * value = 15 of x86-64's 16 vector registers), `v128.load32_splat` for `A` so both
 * layouts of `A` need no packing, `B` packed so each step reads 32 contiguous bytes, the K
 * loop not unrolled (see {@link tileFunction}); rows left over at the bottom get 5- … 1-row tiles. No
 * threads.
 *
 * **The fused variant** (`sgemmModuleBytes(true)`, the `wasm-fma` backend only): each step is
 * one relaxed-SIMD `f32x4.relaxed_madd`, `acc ← fl32(A(i,p) · B(p,j) + acc)` rounded once,
 * in the same p order. Relaxed SIMD lets an engine fuse or not, as its hardware does; the
 * variant is used only where {@link fusedMultiplyAdd} found it fused, so wherever it runs it
 * gives the same bits (a fused multiply-add is exactly rounded), different from the plain
 * module's. Node 20 compiles it only with V8's `--experimental-wasm-relaxed-simd`, which
 * {@link fusedMultiplyAdd} sets; Chromium (114+) has it on; other engines where they ship it.
 */
import { buildModule, i32, op, v128, type FunctionDef } from './wasm-builder.js';
import { importNodeOnly, isNode } from '../node-only.js';

/** Rows × columns of the register tile. */
export const TILE_ROWS = 6;
export const TILE_COLS = 8;

/** Floats that {@link packB} writes for a K × N operand: `ceil(N/8)` panels of K × 8. */
export function packedBSize(K: number, N: number): number {
  return Math.ceil(N / TILE_COLS) * TILE_COLS * K;
}

/** `n` rounded up to a multiple of 8: the C row length the GEMM writes. */
export function paddedCols(n: number): number {
  return Math.ceil(n / TILE_COLS) * TILE_COLS;
}

/**
 * Packs the K × N matrix `B(p, j) = src[srcOff + p·rowStride + j·colStride]` into panels of 8
 * columns at `dst[dstOff …]`: panel `q` holds `B(p, 8q + l)` at `dstOff + q·8K + 8p + l`,
 * zeros past column N. `colStride = 1` reads a row-major B, `rowStride = 1` a transposed one.
 */
export function packB(
  src: ArrayLike<number>,
  srcOff: number,
  rowStride: number,
  colStride: number,
  K: number,
  N: number,
  dst: Float32Array,
  dstOff: number,
): void {
  for (let j0 = 0; j0 < N; j0 += TILE_COLS) {
    const width = Math.min(TILE_COLS, N - j0);
    let d = dstOff + j0 * K;
    if (width === TILE_COLS && colStride === 1) {
      for (let p = 0; p < K; p++) {
        const s = srcOff + p * rowStride + j0;
        dst[d] = src[s]!;
        dst[d + 1] = src[s + 1]!;
        dst[d + 2] = src[s + 2]!;
        dst[d + 3] = src[s + 3]!;
        dst[d + 4] = src[s + 4]!;
        dst[d + 5] = src[s + 5]!;
        dst[d + 6] = src[s + 6]!;
        dst[d + 7] = src[s + 7]!;
        d += TILE_COLS;
      }
    } else {
      for (let p = 0; p < K; p++) {
        const s = srcOff + p * rowStride + j0 * colStride;
        let l = 0;
        for (; l < width; l++) dst[d + l] = src[s + l * colStride]!;
        for (; l < TILE_COLS; l++) dst[d + l] = 0;
        d += TILE_COLS;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// The WebAssembly module.

/**
 * Tile function `(a, lda, b, c, ldc, k)` (byte addresses and byte strides; k ≥ 1): the
 * `mr`×8 tile of C at `c` from `mr` rows of A at `a` and one packed B panel at `b`.
 *
 * Per K step: load the two B vectors, then for each row `acc += splat(A) · B` per half. The
 * broadcast is loaded once per half (not kept in a local): with 12 accumulators, 2 B
 * vectors, the broadcast and a product, a kept broadcast needs a 16th register and V8
 * spilled an accumulator every step (measured ~10% slower). Unrolling the K loop made
 * TurboFan hoist loads and spill (measured up to 2× slower), so the loop is not unrolled.
 */
function tileFunction(mr: number, transA: boolean, fma: boolean): FunctionDef {
  const A = 0, LDA = 1, B = 2, C = 3, LDC = 4, K = 5;
  const rowPtr = (i: number) => (i === 0 ? A : 5 + i); // row-major A: one pointer per row
  const firstVec = transA ? 6 : 6 + mr - 1;
  const acc = (i: number, half: number) => firstVec + 2 * i + half;
  const B0 = firstVec + 2 * mr, B1 = B0 + 1;
  const body: Array<readonly number[]> = [];
  if (!transA) {
    for (let i = 1; i < mr; i++) body.push(op.localGet(rowPtr(i - 1)), op.localGet(LDA), op.i32Add, op.localSet(rowPtr(i)));
  }
  // Locals start at zero, as the accumulators must.
  body.push(op.block, op.localGet(K), op.i32Eqz, op.brIf(0), op.loop);
  body.push(op.localGet(B), op.v128Load(0), op.localSet(B0));
  body.push(op.localGet(B), op.v128Load(16), op.localSet(B1));
  for (let i = 0; i < mr; i++) {
    const splat = transA ? [...op.localGet(A), ...op.v128Load32Splat(4 * i)] : [...op.localGet(rowPtr(i)), ...op.v128Load32Splat(0)];
    for (const [half, bv] of [[0, B0], [1, B1]] as const) {
      if (fma) body.push(splat, op.localGet(bv), op.localGet(acc(i, half)), op.f32x4RelaxedMadd, op.localSet(acc(i, half)));
      else body.push(op.localGet(acc(i, half)), splat, op.localGet(bv), op.f32x4Mul, op.f32x4Add, op.localSet(acc(i, half)));
    }
  }
  if (transA) body.push(op.localGet(A), op.localGet(LDA), op.i32Add, op.localSet(A));
  else for (let i = 0; i < mr; i++) body.push(op.localGet(rowPtr(i)), op.i32Const(4), op.i32Add, op.localSet(rowPtr(i)));
  body.push(op.localGet(B), op.i32Const(32), op.i32Add, op.localSet(B));
  body.push(op.localGet(K), op.i32Const(1), op.i32Sub, op.localSet(K), op.localGet(K), op.brIf(0), op.end, op.end);
  for (let i = 0; i < mr; i++) {
    body.push(op.localGet(C), op.localGet(acc(i, 0)), op.v128Store(0));
    body.push(op.localGet(C), op.localGet(acc(i, 1)), op.v128Store(16));
    if (i + 1 < mr) body.push(op.localGet(C), op.localGet(LDC), op.i32Add, op.localSet(C));
  }
  return {
    params: [i32, i32, i32, i32, i32, i32],
    locals: [...(transA ? [] : Array<typeof i32>(mr - 1).fill(i32)), ...Array<typeof v128>(2 * mr + 2).fill(v128)],
    body,
  };
}

/**
 * Exported driver `(m, panels, k, a, lda, b, c, ldc)` (m, panels, k ≥ 1; byte addresses
 * and strides): for each B panel, 6-row tiles down C, then one tile for the 1–5 rows left.
 * `tileIndex(mr)` is the function index of the `mr`-row tile.
 */
function driverFunction(transA: boolean, tileIndex: (mr: number) => number, exportAs: string): FunctionDef {
  const M = 0, P = 1, K = 2, A = 3, LDA = 4, B = 5, C = 6, LDC = 7;
  const REM = 8, AI = 9, CI = 10, PANEL_BYTES = 11;
  const rowStep = (rows: number) => (transA ? op.i32Const(4 * rows) : [...op.localGet(LDA), ...op.i32Const(rows), ...op.i32Mul]);
  const call = (mr: number) => [...op.localGet(AI), ...op.localGet(LDA), ...op.localGet(B), ...op.localGet(CI), ...op.localGet(LDC), ...op.localGet(K), ...op.call(tileIndex(mr))];
  const body: Array<readonly number[]> = [op.localGet(K), op.i32Const(32), op.i32Mul, op.localSet(PANEL_BYTES)];
  body.push(op.loop); // panels
  body.push(op.localGet(M), op.localSet(REM), op.localGet(A), op.localSet(AI), op.localGet(C), op.localSet(CI));
  body.push(op.block, op.loop); // full tiles
  body.push(op.localGet(REM), op.i32Const(TILE_ROWS), op.i32LtS, op.brIf(1));
  body.push(call(TILE_ROWS));
  body.push(op.localGet(AI), rowStep(TILE_ROWS), op.i32Add, op.localSet(AI));
  body.push(op.localGet(CI), op.localGet(LDC), op.i32Const(TILE_ROWS), op.i32Mul, op.i32Add, op.localSet(CI));
  body.push(op.localGet(REM), op.i32Const(TILE_ROWS), op.i32Sub, op.localSet(REM));
  body.push(op.br(0), op.end, op.end);
  for (let mr = 1; mr < TILE_ROWS; mr++) body.push(op.localGet(REM), op.i32Const(mr), op.i32Eq, op.if, call(mr), op.end);
  body.push(op.localGet(B), op.localGet(PANEL_BYTES), op.i32Add, op.localSet(B));
  body.push(op.localGet(C), op.i32Const(4 * TILE_COLS), op.i32Add, op.localSet(C));
  body.push(op.localGet(P), op.i32Const(1), op.i32Sub, op.localTee(P), op.brIf(0), op.end);
  return { params: [i32, i32, i32, i32, i32, i32, i32, i32], locals: [i32, i32, i32, i32], body, exportAs };
}

/**
 * Exported `gather(dst, dstRowStride, src, bases, rows, offs, outOffs, n)` (rows, n ≥ 1;
 * `dst`, `src`, `bases`, `offs`, `outOffs`, `dstRowStride` in bytes; the tables hold int32
 * element offsets): for each row r and t < n,
 * `dst[r·rowStride + outOffs[t]] = src[bases[r] + offs[t]]` (float32). With a zero-padded
 * input this is im2col (bases: window origin per output pixel, offs: filter taps), and with
 * `outOffs` into 8-wide panels it is the packing of B.
 */
function gatherFunction(): FunctionDef {
  const DST = 0, DST_STRIDE = 1, SRC = 2, BASES = 3, ROWS = 4, OFFS = 5, OUT_OFFS = 6, N = 7;
  const BASE = 8, T = 9, PO = 10, PQ = 11;
  const body: Array<readonly number[]> = [op.loop];
  body.push(op.localGet(SRC), op.localGet(BASES), op.i32Load(0), op.i32Const(2), op.i32Shl, op.i32Add, op.localSet(BASE));
  body.push(op.localGet(OFFS), op.localSet(PO), op.localGet(OUT_OFFS), op.localSet(PQ), op.localGet(N), op.localSet(T));
  body.push(op.loop);
  body.push(op.localGet(DST), op.localGet(PQ), op.i32Load(0), op.i32Const(2), op.i32Shl, op.i32Add);
  body.push(op.localGet(BASE), op.localGet(PO), op.i32Load(0), op.i32Const(2), op.i32Shl, op.i32Add, op.f32Load(0), op.f32Store(0));
  body.push(op.localGet(PO), op.i32Const(4), op.i32Add, op.localSet(PO), op.localGet(PQ), op.i32Const(4), op.i32Add, op.localSet(PQ));
  body.push(op.localGet(T), op.i32Const(1), op.i32Sub, op.localTee(T), op.brIf(0), op.end);
  body.push(op.localGet(DST), op.localGet(DST_STRIDE), op.i32Add, op.localSet(DST));
  body.push(op.localGet(BASES), op.i32Const(4), op.i32Add, op.localSet(BASES));
  body.push(op.localGet(ROWS), op.i32Const(1), op.i32Sub, op.localTee(ROWS), op.brIf(0), op.end);
  return { params: [i32, i32, i32, i32, i32, i32, i32, i32], locals: [i32, i32, i32, i32], body, exportAs: 'gather' };
}

/**
 * Exported `scatter_add(sums, src, srcRowStride, bases, rows, offs, n)` (rows, n ≥ 1; bytes
 * except the int32 element offsets in the tables): for each row r in order and t < n in
 * order, `sums[bases[r] + offs[t]] += src[r·rowStride + t]`, sums float64, src float32 —
 * col2im into a zero-padded float64 input gradient.
 */
function scatterAddFunction(): FunctionDef {
  const SUMS = 0, SRC = 1, SRC_STRIDE = 2, BASES = 3, ROWS = 4, OFFS = 5, N = 6;
  const BASE = 7, T = 8, PO = 9, PS = 10, ADDR = 11;
  const body: Array<readonly number[]> = [op.loop];
  body.push(op.localGet(SUMS), op.localGet(BASES), op.i32Load(0), op.i32Const(3), op.i32Shl, op.i32Add, op.localSet(BASE));
  body.push(op.localGet(OFFS), op.localSet(PO), op.localGet(SRC), op.localSet(PS), op.localGet(N), op.localSet(T));
  body.push(op.loop);
  body.push(op.localGet(BASE), op.localGet(PO), op.i32Load(0), op.i32Const(3), op.i32Shl, op.i32Add, op.localTee(ADDR));
  body.push(op.localGet(ADDR), op.f64Load(0), op.localGet(PS), op.f32Load(0), op.f64PromoteF32, op.f64Add, op.f64Store(0));
  body.push(op.localGet(PO), op.i32Const(4), op.i32Add, op.localSet(PO), op.localGet(PS), op.i32Const(4), op.i32Add, op.localSet(PS));
  body.push(op.localGet(T), op.i32Const(1), op.i32Sub, op.localTee(T), op.brIf(0), op.end);
  body.push(op.localGet(SRC), op.localGet(SRC_STRIDE), op.i32Add, op.localSet(SRC));
  body.push(op.localGet(BASES), op.i32Const(4), op.i32Add, op.localSet(BASES));
  body.push(op.localGet(ROWS), op.i32Const(1), op.i32Sub, op.localTee(ROWS), op.brIf(0), op.end);
  return { params: [i32, i32, i32, i32, i32, i32, i32], locals: [i32, i32, i32, i32, i32], body, exportAs: 'scatter_add' };
}

const moduleBytes: [Uint8Array<ArrayBuffer> | undefined, Uint8Array<ArrayBuffer> | undefined] = [undefined, undefined];

/**
 * The module's bytes: tiles 0–5 (row-major A, 1–6 rows), 6–11 (transposed A), drivers
 * `gemm_n`, `gemm_t`, then `gather`, `scatter_add`. With `fma`, the tiles multiply-add with
 * `f32x4.relaxed_madd` (see the file comment).
 */
export function sgemmModuleBytes(fma = false): Uint8Array<ArrayBuffer> {
  let bytes = moduleBytes[fma ? 1 : 0];
  if (bytes === undefined) {
    const functions: FunctionDef[] = [];
    for (const transA of [false, true]) for (let mr = 1; mr <= TILE_ROWS; mr++) functions.push(tileFunction(mr, transA, fma));
    functions.push(driverFunction(false, (mr) => mr - 1, 'gemm_n'));
    functions.push(driverFunction(true, (mr) => TILE_ROWS + mr - 1, 'gemm_t'));
    functions.push(gatherFunction(), scatterAddFunction());
    bytes = buildModule(functions);
    moduleBytes[fma ? 1 : 0] = bytes;
  }
  return bytes;
}

/**
 * A module exporting `madd(a, b, c) → f32`: lane 0 of `f32x4.relaxed_madd` of three splats.
 * `(1 + 2⁻¹²) · (1 − 2⁻¹²) − 1` is −2⁻²⁴ fused and 0 unfused.
 */
function maddProbeBytes(): Uint8Array<ArrayBuffer> {
  const body = [0x20, 0, 0xfd, 0x13, 0x20, 1, 0xfd, 0x13, 0x20, 2, 0xfd, 0x13, ...op.f32x4RelaxedMadd, 0xfd, 0x1f, 0, 0x0b];
  const code = [0, ...body];
  // Type (f32, f32, f32) → f32; one function, exported as "madd".
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 8, 1, 0x60, 3, 0x7d, 0x7d, 0x7d, 1, 0x7d, 3, 2, 1, 0, 7, 8, 1, 4, 0x6d, 0x61, 0x64, 0x64, 0, 0, 10, code.length + 2, 1, code.length, ...code]);
}

let fused: Promise<{ ok: true } | { ok: false; reason: string }> | undefined;

/**
 * Whether this engine runs `f32x4.relaxed_madd` as a fused multiply-add: the condition for
 * the `wasm-fma` backend. In Node it first turns on V8's relaxed SIMD
 * (`--experimental-wasm-relaxed-simd`, needed in Node 20; a flag that changes no other
 * behaviour). Not fused (hardware without FMA) or no relaxed SIMD: `{ ok: false, reason }`.
 */
export function fusedMultiplyAdd(): Promise<{ ok: true } | { ok: false; reason: string }> {
  fused ??= (async () => {
    if (typeof WebAssembly !== 'object') return { ok: false, reason: 'WebAssembly is not available' };
    if (isNode() && !WebAssembly.validate(maddProbeBytes())) {
      const v8 = await importNodeOnly<{ setFlagsFromString(flags: string): void }>('node:v8');
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    }
    if (!WebAssembly.validate(maddProbeBytes()) || !WebAssembly.validate(sgemmModuleBytes(true))) {
      return { ok: false, reason: 'this engine has no relaxed SIMD (f32x4.relaxed_madd)' };
    }
    const { madd } = new WebAssembly.Instance(new WebAssembly.Module(maddProbeBytes())).exports as { madd(a: number, b: number, c: number): number };
    if (madd(1 + 2 ** -12, 1 - 2 ** -12, -1) !== -(2 ** -24)) return { ok: false, reason: "this machine's relaxed_madd does not fuse (no FMA instructions)" };
    return { ok: true };
  })();
  return fused;
}

// ---------------------------------------------------------------------------------------
// Engines.

/** A GEMM together with the scratch memory it reads and writes. */
export interface SgemmEngine {
  /** True for the WebAssembly SIMD module, false for the TypeScript twin. */
  readonly simd: boolean;
  /**
   * A view of at least `floats` float32 values of the engine's scratch memory. Growing
   * detaches earlier views, so call it once per kernel invocation, with the total size, and
   * use only the returned view. Contents are unspecified (the previous call's data).
   */
  scratch(floats: number): Float32Array;
  /** C = op(A) · B in scratch memory, see the file comment. Offsets and strides in floats. */
  gemm(transA: boolean, M: number, N: number, K: number, aOff: number, lda: number, bOff: number, cOff: number, ldc: number): void;
  /** Int32 view of the same scratch memory (element i at byte 4i), valid until the next `scratch`. */
  ints(): Int32Array;
  /** Float64 view of the same scratch memory (element i at byte 8i), valid until the next `scratch`. */
  doubles(): Float64Array;
  /**
   * `f32[dstOff + r·dstRowStride + i32[outOffsOff + t]] = f32[srcOff + i32[basesOff + r] + i32[offsOff + t]]`
   * for r < rows, t < n (all in elements of the views): im2col from a zero-padded input, packing.
   */
  gather(dstOff: number, dstRowStride: number, srcOff: number, basesOff: number, rows: number, offsOff: number, outOffsOff: number, n: number): void;
  /**
   * `f64[sumsOff + i32[basesOff + r] + i32[offsOff + t]] += f32[srcOff + r·srcRowStride + t]`, r then t
   * increasing: col2im into a zero-padded float64 buffer. `sumsOff` counts float64 elements.
   */
  scatterAdd(sumsOff: number, srcOff: number, srcRowStride: number, basesOff: number, rows: number, offsOff: number, n: number): void;
}

/** Shared view bookkeeping of both engines. */
abstract class Views {
  protected f32 = new Float32Array(0);
  protected i32 = new Int32Array(0);
  protected f64 = new Float64Array(0);
  protected setBuffer(buffer: ArrayBuffer): void {
    this.f32 = new Float32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer, 0, buffer.byteLength >> 3);
  }
  ints(): Int32Array {
    return this.i32;
  }
  doubles(): Float64Array {
    return this.f64;
  }
}

/** Rows of A per driver call for large M, so a block of A stays in L2 while the B panels pass over it. */
function rowsPerCall(K: number): number {
  return Math.max(TILE_ROWS, Math.floor(Math.floor(196608 / (4 * Math.max(K, 1))) / TILE_ROWS) * TILE_ROWS);
}

function zeroC(view: Float32Array, M: number, N: number, cOff: number, ldc: number): void {
  const width = paddedCols(N);
  for (let i = 0; i < M; i++) view.fill(0, cOff + i * ldc, cOff + i * ldc + width);
}

type Driver = (m: number, panels: number, k: number, a: number, lda: number, b: number, c: number, ldc: number) => void;
interface ModuleExports {
  gemm_n: Driver;
  gemm_t: Driver;
  gather(dst: number, dstRowStride: number, src: number, bases: number, rows: number, offs: number, outOffs: number, n: number): void;
  scatter_add(sums: number, src: number, srcRowStride: number, bases: number, rows: number, offs: number, n: number): void;
}

class WasmEngine extends Views implements SgemmEngine {
  readonly simd = true;
  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly exports: ModuleExports,
  ) {
    super();
    this.setBuffer(memory.buffer);
  }
  scratch(floats: number): Float32Array {
    const bytes = floats * 4;
    if (this.memory.buffer.byteLength < bytes) this.memory.grow(Math.ceil((bytes - this.memory.buffer.byteLength) / 65536));
    if (this.f32.buffer !== this.memory.buffer) this.setBuffer(this.memory.buffer);
    return this.f32;
  }
  gemm(transA: boolean, M: number, N: number, K: number, aOff: number, lda: number, bOff: number, cOff: number, ldc: number): void {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) return zeroC(this.f32, M, N, cOff, ldc);
    const panels = Math.ceil(N / TILE_COLS);
    const block = rowsPerCall(K);
    const driver = transA ? this.exports.gemm_t : this.exports.gemm_n;
    for (let i0 = 0; i0 < M; i0 += block) {
      const rows = Math.min(block, M - i0);
      const a = transA ? aOff + i0 : aOff + i0 * lda;
      driver(rows, panels, K, 4 * a, 4 * lda, 4 * bOff, 4 * (cOff + i0 * ldc), 4 * ldc);
    }
  }
  gather(dstOff: number, dstRowStride: number, srcOff: number, basesOff: number, rows: number, offsOff: number, outOffsOff: number, n: number): void {
    if (rows > 0 && n > 0) this.exports.gather(4 * dstOff, 4 * dstRowStride, 4 * srcOff, 4 * basesOff, rows, 4 * offsOff, 4 * outOffsOff, n);
  }
  scatterAdd(sumsOff: number, srcOff: number, srcRowStride: number, basesOff: number, rows: number, offsOff: number, n: number): void {
    if (rows > 0 && n > 0) this.exports.scatter_add(8 * sumsOff, 4 * srcOff, 4 * srcRowStride, 4 * basesOff, rows, 4 * offsOff, n);
  }
}

/** The same arithmetic in TypeScript, rounding every product and sum to float32. */
class ScalarEngine extends Views implements SgemmEngine {
  readonly simd = false;
  scratch(floats: number): Float32Array {
    if (this.f32.length < floats) {
      const old = this.f32;
      this.setBuffer(new ArrayBuffer(8 * Math.ceil(Math.max(floats, 2 * old.length) / 2)));
      this.f32.set(old);
    }
    return this.f32;
  }
  gather(dstOff: number, dstRowStride: number, srcOff: number, basesOff: number, rows: number, offsOff: number, outOffsOff: number, n: number): void {
    const f = this.f32, t32 = this.i32;
    for (let r = 0; r < rows; r++) {
      const base = srcOff + t32[basesOff + r]!;
      const dst = dstOff + r * dstRowStride;
      for (let t = 0; t < n; t++) f[dst + t32[outOffsOff + t]!] = f[base + t32[offsOff + t]!]!;
    }
  }
  scatterAdd(sumsOff: number, srcOff: number, srcRowStride: number, basesOff: number, rows: number, offsOff: number, n: number): void {
    const f = this.f32, d = this.f64, t32 = this.i32;
    for (let r = 0; r < rows; r++) {
      const base = sumsOff + t32[basesOff + r]!;
      const src = srcOff + r * srcRowStride;
      for (let t = 0; t < n; t++) {
        const k = base + t32[offsOff + t]!;
        d[k] = d[k]! + f[src + t]!;
      }
    }
  }
  gemm(transA: boolean, M: number, N: number, K: number, aOff: number, lda: number, bOff: number, cOff: number, ldc: number): void {
    const m = this.f32;
    const f = Math.fround;
    if (M <= 0 || N <= 0) return;
    if (K <= 0) return zeroC(m, M, N, cOff, ldc);
    const rowStep = transA ? 1 : lda;
    const pStep = transA ? lda : 1;
    for (let q = 0; q * TILE_COLS < N; q++) {
      const panel = bOff + q * TILE_COLS * K;
      for (let i = 0; i < M; i++) {
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        let ai = aOff + i * rowStep;
        let bi = panel;
        for (let p = 0; p < K; p++) {
          const x = m[ai]!;
          s0 = f(s0 + f(x * m[bi]!));
          s1 = f(s1 + f(x * m[bi + 1]!));
          s2 = f(s2 + f(x * m[bi + 2]!));
          s3 = f(s3 + f(x * m[bi + 3]!));
          s4 = f(s4 + f(x * m[bi + 4]!));
          s5 = f(s5 + f(x * m[bi + 5]!));
          s6 = f(s6 + f(x * m[bi + 6]!));
          s7 = f(s7 + f(x * m[bi + 7]!));
          ai += pStep;
          bi += TILE_COLS;
        }
        const o = cOff + i * ldc + q * TILE_COLS;
        m[o] = s0;
        m[o + 1] = s1;
        m[o + 2] = s2;
        m[o + 3] = s3;
        m[o + 4] = s4;
        m[o + 5] = s5;
        m[o + 6] = s6;
        m[o + 7] = s7;
      }
    }
  }
}

let simdEngine: WasmEngine | null | undefined; // undefined: not tried yet; null: unavailable
let scalarEngine: ScalarEngine | undefined;
let simdEnabled = true;

function instantiate(module: WebAssembly.Module): WasmEngine {
  const memory = new WebAssembly.Memory({ initial: 16 });
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return new WasmEngine(memory, instance.exports as unknown as ModuleExports);
}

function loadSimdEngine(): WasmEngine | null {
  if (simdEngine !== undefined) return simdEngine;
  simdEngine = null;
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') return null;
  const bytes = sgemmModuleBytes();
  if (!WebAssembly.validate(bytes)) return null; // no SIMD128 (e.g. Safari < 16.4)
  try {
    simdEngine = instantiate(new WebAssembly.Module(bytes));
  } catch {
    // A browser's main thread may refuse to compile modules over 4 KB synchronously:
    // compile in the background and use the bitwise identical TypeScript twin meanwhile.
    simdEngine = null;
    WebAssembly.compile(bytes).then(
      (module) => {
        simdEngine = instantiate(module);
      },
      () => undefined,
    );
  }
  return simdEngine;
}

/** Whether the WebAssembly SIMD module runs here (compiles it on first call). */
export function simdGemmAvailable(): boolean {
  return loadSimdEngine() !== null;
}

/**
 * Switches the SIMD module off (`false`: every kernel uses the TypeScript twin) or back on.
 * Results are bitwise the same either way; for tests and benchmarks.
 */
export function setSimdGemmEnabled(enabled: boolean): void {
  simdEnabled = enabled;
}

/** The engine the kernels use: the SIMD module when available and enabled, else the TypeScript twin. */
export function sgemmEngine(): SgemmEngine {
  const simd = simdEnabled ? loadSimdEngine() : null;
  if (simd !== null) return simd;
  scalarEngine ??= new ScalarEngine();
  return scalarEngine;
}
