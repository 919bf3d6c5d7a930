/**
 * A second small WebAssembly module for the compiled step: what plain JavaScript runs slowly
 * because V8 compiles its data-dependent choices to branches (mispredicted about half the
 * time on real data), written with WebAssembly's branch-free `select`.
 *
 * `maxpool2(src, dst, arg, ow, c, rowStep, base)` (byte addresses and strides): one output
 * row of a 2×2, stride-2 max pool over NHWC windows that lie fully inside. For each of the
 * `ow` windows and `c` channels, positions in row-major window order, starting from
 * -Infinity, the first value strictly greater than all before it wins (NaN never wins);
 * `dst` gets the winner (or the window's first value when none wins), `arg` its element
 * index relative to `base` (or -1). The same rule as the JavaScript pool in `layers.ts`.
 *
 * `im2col(dst, rowBytes, src, bases, rows, runs, runLen, rowStride)`: im2col rows of a
 * convolution with stride-1 taps, copied run by run: for row r, `dst + r·rowBytes` gets, for
 * each filter row i < runs, the `runLen` contiguous floats at `src + 4·bases[r] + i·rowStride`
 * (a filter row's `kw · cin` taps lie next to each other in NHWC). Four floats per
 * `v128.load` / `v128.store`, the rest one by one. The same values as the table `gather`.
 */
import { buildModule, f32, i32, op, v128, type FunctionDef } from '../kernels/wasm-builder.js';

function maxPool2Function(): FunctionDef {
  const SRC = 0, DST = 1, ARG = 2, OW = 3, C = 4, ROW = 5, BASE = 6;
  const CI = 7, A0 = 8, AT = 9, CB = 10, ADDR = 11, G = 12, BEST = 13, V = 14, V0 = 15;
  const tap = (offset: Array<readonly number[]>) => [
    op.localGet(A0), ...offset, op.localSet(ADDR),
    op.localGet(ADDR), op.f32Load(0), op.localSet(V),
    op.localGet(V), op.localGet(BEST), op.f32Gt, op.localSet(G),
    op.localGet(V), op.localGet(BEST), op.localGet(G), op.select, op.localSet(BEST),
    op.localGet(ADDR), op.localGet(BASE), op.i32Sub, op.i32Const(2), op.i32ShrS, op.localGet(AT), op.localGet(G), op.select, op.localSet(AT),
  ];
  const body: Array<readonly number[]> = [op.localGet(C), op.i32Const(2), op.i32Shl, op.localSet(CB)];
  body.push(op.loop); // output columns
  body.push(op.localGet(SRC), op.localSet(A0), op.localGet(C), op.localSet(CI));
  body.push(op.loop); // channels
  body.push(op.localGet(A0), op.f32Load(0), op.localSet(V0), op.f32Const(-Infinity), op.localSet(BEST), op.i32Const(-1), op.localSet(AT));
  body.push(...tap([]), ...tap([op.localGet(CB), op.i32Add]), ...tap([op.localGet(ROW), op.i32Add]), ...tap([op.localGet(ROW), op.i32Add, op.localGet(CB), op.i32Add]));
  body.push(op.localGet(DST), op.localGet(V0), op.localGet(BEST), op.localGet(AT), op.i32Const(0), op.i32LtS, op.select, op.f32Store(0));
  body.push(op.localGet(ARG), op.localGet(AT), op.i32Store(0));
  body.push(op.localGet(DST), op.i32Const(4), op.i32Add, op.localSet(DST));
  body.push(op.localGet(ARG), op.i32Const(4), op.i32Add, op.localSet(ARG));
  body.push(op.localGet(A0), op.i32Const(4), op.i32Add, op.localSet(A0));
  body.push(op.localGet(CI), op.i32Const(1), op.i32Sub, op.localTee(CI), op.brIf(0), op.end);
  body.push(op.localGet(SRC), op.localGet(CB), op.i32Const(1), op.i32Shl, op.i32Add, op.localSet(SRC));
  body.push(op.localGet(OW), op.i32Const(1), op.i32Sub, op.localTee(OW), op.brIf(0), op.end);
  return {
    params: [i32, i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32, i32, i32, i32, f32, f32, f32],
    body,
    exportAs: 'maxpool2',
  };
}

/**
 * `maxpool2x4(src, dst, arg, ow, c, rowStep, base)`: `maxpool2` with four channels per
 * `v128` (`c ≥ 4`). Per lane the same rule, branch-free: `f32x4.gt` against the best so far,
 * `v128.bitselect` of value and element index. Channel groups start at 0, 4, 8, … and the last
 * at `c − 4`, so for `c` not a multiple of 4 the last group overlaps the one before it and
 * writes the same values again.
 */
function maxPool2x4Function(): FunctionDef {
  const SRC = 0, DST = 1, ARG = 2, OW = 3, C = 4, ROW = 5, BASE = 6;
  const G = 7, CB = 8, LAST = 9, A0 = 10, ADDR = 11;
  const BEST = 12, AT = 13, V = 14, GT = 15, V0 = 16;
  const tap = (offset: Array<readonly number[]>) => [
    op.localGet(A0), ...offset, op.localSet(ADDR),
    op.localGet(ADDR), op.v128Load(0), op.localSet(V),
    op.localGet(V), op.localGet(BEST), op.f32x4Gt, op.localSet(GT),
    op.localGet(V), op.localGet(BEST), op.localGet(GT), op.v128Bitselect, op.localSet(BEST),
    op.localGet(ADDR), op.localGet(BASE), op.i32Sub, op.i32Const(2), op.i32ShrS, op.i32x4Splat, op.v128ConstIota, op.i32x4Add,
    op.localGet(AT), op.localGet(GT), op.v128Bitselect, op.localSet(AT),
  ];
  const body: Array<readonly number[]> = [op.localGet(C), op.i32Const(2), op.i32Shl, op.localSet(CB), op.localGet(CB), op.i32Const(16), op.i32Sub, op.localSet(LAST)];
  body.push(op.loop); // output columns
  body.push(op.i32Const(0), op.localSet(G));
  body.push(op.block, op.loop); // channel groups
  body.push(op.localGet(SRC), op.localGet(G), op.i32Add, op.localSet(A0));
  body.push(op.localGet(A0), op.v128Load(0), op.localSet(V0));
  body.push(op.f32Const(-Infinity), op.f32x4Splat, op.localSet(BEST), op.i32Const(-1), op.i32x4Splat, op.localSet(AT));
  body.push(...tap([]), ...tap([op.localGet(CB), op.i32Add]), ...tap([op.localGet(ROW), op.i32Add]), ...tap([op.localGet(ROW), op.i32Add, op.localGet(CB), op.i32Add]));
  body.push(op.localGet(DST), op.localGet(G), op.i32Add, op.localGet(V0), op.localGet(BEST), op.localGet(AT), op.v128Const0, op.i32x4LtS, op.v128Bitselect, op.v128Store(0));
  body.push(op.localGet(ARG), op.localGet(G), op.i32Add, op.localGet(AT), op.v128Store(0));
  // Next group: done after the last; else G + 16, but never past the last.
  body.push(op.localGet(G), op.localGet(LAST), op.i32Eq, op.brIf(1));
  body.push(op.localGet(LAST), op.localGet(G), op.i32Const(16), op.i32Add, op.localGet(G), op.i32Const(16), op.i32Add, op.localGet(LAST), op.i32GtS, op.select, op.localSet(G));
  body.push(op.br(0), op.end, op.end);
  body.push(op.localGet(DST), op.localGet(CB), op.i32Add, op.localSet(DST));
  body.push(op.localGet(ARG), op.localGet(CB), op.i32Add, op.localSet(ARG));
  body.push(op.localGet(SRC), op.localGet(CB), op.i32Const(1), op.i32Shl, op.i32Add, op.localSet(SRC));
  body.push(op.localGet(OW), op.i32Const(1), op.i32Sub, op.localTee(OW), op.brIf(0), op.end);
  return {
    params: [i32, i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32, i32, i32, v128, v128, v128, v128, v128],
    body,
    exportAs: 'maxpool2x4',
  };
}

function im2colFunction(): FunctionDef {
  const DST = 0, ROW_BYTES = 1, SRC = 2, BASES = 3, ROWS = 4, RUNS = 5, RUN_LEN = 6, ROW_STRIDE = 7;
  const D = 8, S = 9, I = 10, T = 11, V = 12;
  const body: Array<readonly number[]> = [op.loop]; // rows
  body.push(op.localGet(DST), op.localSet(D));
  body.push(op.localGet(SRC), op.localGet(BASES), op.i32Load(0), op.i32Const(2), op.i32Shl, op.i32Add, op.localSet(S));
  body.push(op.localGet(RUNS), op.localSet(I));
  body.push(op.loop); // filter rows
  body.push(op.localGet(RUN_LEN), op.localSet(T));
  body.push(op.block, op.loop); // four at a time
  body.push(op.localGet(T), op.i32Const(4), op.i32LtS, op.brIf(1));
  body.push(op.localGet(D), op.localGet(S), op.v128Load(0), op.v128Store(0));
  body.push(op.localGet(D), op.i32Const(16), op.i32Add, op.localSet(D), op.localGet(S), op.i32Const(16), op.i32Add, op.localSet(S));
  body.push(op.localGet(T), op.i32Const(4), op.i32Sub, op.localSet(T), op.br(0), op.end, op.end);
  body.push(op.block, op.loop); // the rest
  body.push(op.localGet(T), op.i32Eqz, op.brIf(1));
  body.push(op.localGet(D), op.localGet(S), op.f32Load(0), op.f32Store(0));
  body.push(op.localGet(D), op.i32Const(4), op.i32Add, op.localSet(D), op.localGet(S), op.i32Const(4), op.i32Add, op.localSet(S));
  body.push(op.localGet(T), op.i32Const(1), op.i32Sub, op.localSet(T), op.br(0), op.end, op.end);
  // Next filter row: back to the run's start, one input row down.
  body.push(op.localGet(S), op.localGet(RUN_LEN), op.i32Const(2), op.i32Shl, op.i32Sub, op.localGet(ROW_STRIDE), op.i32Add, op.localSet(S));
  body.push(op.localGet(I), op.i32Const(1), op.i32Sub, op.localTee(I), op.brIf(0), op.end);
  body.push(op.localGet(DST), op.localGet(ROW_BYTES), op.i32Add, op.localSet(DST));
  body.push(op.localGet(BASES), op.i32Const(4), op.i32Add, op.localSet(BASES));
  body.push(op.localGet(ROWS), op.i32Const(1), op.i32Sub, op.localTee(ROWS), op.brIf(0), op.end);
  return { params: [i32, i32, i32, i32, i32, i32, i32, i32], locals: [i32, i32, i32, i32, v128], body, exportAs: 'im2col' };
}

/**
 * `biasRelu(src, ld, dst, rows, cols, bias)`: `dst[r][c] = max(src[r][c] + bias[c], 0)` for a
 * GEMM output with a row stride of `ld` bytes into a packed `rows × cols` output: a float32 add,
 * then `f32x4.pmax(0, v)` (`v > 0 ? v : +0`, NaN → +0: the JavaScript rule), four columns at a
 * time, the rest one by one with the same rule.
 */
function biasReluFunction(): FunctionDef {
  const SRC = 0, LD = 1, DST = 2, ROWS = 3, COLS = 4, BIAS = 5;
  const S = 6, D = 7, B = 8, T = 9, V = 10;
  const body: Array<readonly number[]> = [op.loop]; // rows
  body.push(op.localGet(SRC), op.localSet(S), op.localGet(BIAS), op.localSet(B), op.localGet(COLS), op.localSet(T));
  body.push(op.block, op.loop); // four at a time
  body.push(op.localGet(T), op.i32Const(4), op.i32LtS, op.brIf(1));
  body.push(op.localGet(DST), op.v128Const0, op.localGet(S), op.v128Load(0), op.localGet(B), op.v128Load(0), op.f32x4Add, op.f32x4Pmax, op.v128Store(0));
  body.push(op.localGet(DST), op.i32Const(16), op.i32Add, op.localSet(DST), op.localGet(S), op.i32Const(16), op.i32Add, op.localSet(S), op.localGet(B), op.i32Const(16), op.i32Add, op.localSet(B));
  body.push(op.localGet(T), op.i32Const(4), op.i32Sub, op.localSet(T), op.br(0), op.end, op.end);
  body.push(op.block, op.loop); // the rest
  body.push(op.localGet(T), op.i32Eqz, op.brIf(1));
  body.push(op.localGet(S), op.f32Load(0), op.localGet(B), op.f32Load(0), op.f32Add, op.localSet(V));
  body.push(op.localGet(DST), op.localGet(V), op.f32Const0, op.localGet(V), op.f32Const0, op.f32Gt, op.select, op.f32Store(0));
  body.push(op.localGet(DST), op.i32Const(4), op.i32Add, op.localSet(DST), op.localGet(S), op.i32Const(4), op.i32Add, op.localSet(S), op.localGet(B), op.i32Const(4), op.i32Add, op.localSet(B));
  body.push(op.localGet(T), op.i32Const(1), op.i32Sub, op.localSet(T), op.br(0), op.end, op.end);
  body.push(op.localGet(SRC), op.localGet(LD), op.i32Add, op.localSet(SRC));
  body.push(op.localGet(ROWS), op.i32Const(1), op.i32Sub, op.localTee(ROWS), op.brIf(0), op.end);
  return { params: [i32, i32, i32, i32, i32, i32], locals: [i32, i32, i32, i32, f32], body, exportAs: 'biasRelu' };
}

/**
 * `maskSumPackRelu(y, d, rows, cols, acc, panel)`: the backward of a fused ReLU over `rows`
 * rows of a packed `· × cols` output (`y` its values, `d` its gradient, made `y > 0 ? d : +0`
 * in place, branch-free), the bias gradient's float64 column sums continued in `acc`
 * (`acc[c] += v`, rows in order), and the rows packed into 8-wide GEMM panels at `panel`
 * (`panel[(c >> 3)·rows·8 + r·8 + (c & 7)]`, see `packB`; the padding columns are the caller's).
 */
function maskSumPackReluFunction(): FunctionDef {
  const Y = 0, DP = 1, ROWS = 2, COLS = 3, ACC = 4, PANEL = 5;
  const C = 6, GROUP = 7, ROW_PANEL = 8, V = 9;
  const body: Array<readonly number[]> = [op.localGet(ROWS), op.i32Const(5), op.i32Shl, op.localSet(GROUP)];
  body.push(op.localGet(PANEL), op.localSet(ROW_PANEL));
  body.push(op.loop); // rows
  body.push(op.i32Const(0), op.localSet(C));
  body.push(op.loop); // columns
  body.push(op.localGet(DP), op.f32Load(0), op.f32Const0, op.localGet(Y), op.f32Load(0), op.f32Const0, op.f32Gt, op.select, op.localSet(V));
  body.push(op.localGet(DP), op.localGet(V), op.f32Store(0));
  // acc[c] += v (float64)
  body.push(op.localGet(ACC), op.localGet(C), op.i32Const(3), op.i32Shl, op.i32Add);
  body.push(op.localGet(ACC), op.localGet(C), op.i32Const(3), op.i32Shl, op.i32Add, op.f64Load(0), op.localGet(V), op.f64PromoteF32, op.f64Add, op.f64Store(0));
  // panel[(c >> 3)·rows·8 + r·8 + (c & 7)] = v
  body.push(op.localGet(ROW_PANEL), op.localGet(C), op.i32Const(3), op.i32ShrS, op.localGet(GROUP), op.i32Mul, op.i32Add, op.localGet(C), op.i32Const(7), op.i32And, op.i32Const(2), op.i32Shl, op.i32Add, op.localGet(V), op.f32Store(0));
  body.push(op.localGet(Y), op.i32Const(4), op.i32Add, op.localSet(Y), op.localGet(DP), op.i32Const(4), op.i32Add, op.localSet(DP));
  body.push(op.localGet(C), op.i32Const(1), op.i32Add, op.localTee(C), op.localGet(COLS), op.i32LtS, op.brIf(0), op.end);
  body.push(op.localGet(ROW_PANEL), op.i32Const(32), op.i32Add, op.localSet(ROW_PANEL));
  body.push(op.localGet(ROWS), op.i32Const(1), op.i32Sub, op.localTee(ROWS), op.brIf(0), op.end);
  return { params: [i32, i32, i32, i32, i32, i32], locals: [i32, i32, i32, f32], body, exportAs: 'maskSumPackRelu' };
}

/**
 * `maxpoolBackward(dIn, dOut, arg, n)`: the max pool's backward scatter, `dIn[arg[o]] +=
 * dOut[o]` (float32 adds) for o = 0 … n−1 in order, skipping `arg[o] < 0` (a window with no
 * winner). `arg` holds element indices relative to `dIn`. The JavaScript loop's operations in
 * its order: a float32 add equals JavaScript's float64 add of two float32 values rounded once.
 */
function maxpoolBackwardFunction(): FunctionDef {
  const DIN = 0, DOUT = 1, ARG = 2, N = 3;
  const AT = 4, ADDR = 5;
  const body: Array<readonly number[]> = [op.block, op.localGet(N), op.i32Eqz, op.brIf(0), op.loop];
  body.push(op.localGet(ARG), op.i32Load(0), op.localSet(AT));
  body.push(op.block, op.localGet(AT), op.i32Const(0), op.i32LtS, op.brIf(0));
  body.push(op.localGet(DIN), op.localGet(AT), op.i32Const(2), op.i32Shl, op.i32Add, op.localSet(ADDR));
  body.push(op.localGet(ADDR), op.localGet(ADDR), op.f32Load(0), op.localGet(DOUT), op.f32Load(0), op.f32Add, op.f32Store(0));
  body.push(op.end);
  body.push(op.localGet(ARG), op.i32Const(4), op.i32Add, op.localSet(ARG), op.localGet(DOUT), op.i32Const(4), op.i32Add, op.localSet(DOUT));
  body.push(op.localGet(N), op.i32Const(1), op.i32Sub, op.localTee(N), op.brIf(0), op.end, op.end);
  return { params: [i32, i32, i32, i32], locals: [i32, i32], body, exportAs: 'maxpoolBackward' };
}

/**
 * `transposeRows(dst, src, rows, cols, srcStride)`: `dst[r·cols + c] = src[c·srcStride + r]`
 * for r < rows, c < cols (`srcStride` in floats; addresses in bytes): a GEMM's transposed
 * output (`cols × rows`, padded rows) read back into row-major order. Copies only.
 */
function transposeRowsFunction(): FunctionDef {
  const DST = 0, SRC = 1, ROWS = 2, COLS = 3, STRIDE = 4;
  const S = 5, C = 6, STEP = 7;
  const body: Array<readonly number[]> = [op.localGet(STRIDE), op.i32Const(2), op.i32Shl, op.localSet(STEP)];
  body.push(op.block, op.localGet(ROWS), op.i32Eqz, op.brIf(0), op.localGet(COLS), op.i32Eqz, op.brIf(0), op.loop); // rows
  body.push(op.localGet(SRC), op.localSet(S), op.localGet(COLS), op.localSet(C));
  body.push(op.loop); // columns
  body.push(op.localGet(DST), op.localGet(S), op.f32Load(0), op.f32Store(0));
  body.push(op.localGet(DST), op.i32Const(4), op.i32Add, op.localSet(DST), op.localGet(S), op.localGet(STEP), op.i32Add, op.localSet(S));
  body.push(op.localGet(C), op.i32Const(1), op.i32Sub, op.localTee(C), op.brIf(0), op.end);
  body.push(op.localGet(SRC), op.i32Const(4), op.i32Add, op.localSet(SRC));
  body.push(op.localGet(ROWS), op.i32Const(1), op.i32Sub, op.localTee(ROWS), op.brIf(0), op.end, op.end);
  return { params: [i32, i32, i32, i32, i32], locals: [i32, i32, i32], body, exportAs: 'transposeRows' };
}

let bytes: Uint8Array<ArrayBuffer> | undefined;

/** The module's bytes (imports `env.memory`; exports `maxpool2`, `maxpool2x4`, `im2col`, `biasRelu`, `maskSumPackRelu`, `maxpoolBackward`, `transposeRows`). */
export function stepOpsModuleBytes(): Uint8Array<ArrayBuffer> {
  bytes ??= buildModule([maxPool2Function(), maxPool2x4Function(), im2colFunction(), biasReluFunction(), maskSumPackReluFunction(), maxpoolBackwardFunction(), transposeRowsFunction()]);
  return bytes;
}

/** The exports of an instance. */
export interface StepOps {
  maxpool2(src: number, dst: number, arg: number, ow: number, c: number, rowStep: number, base: number): void;
  maxpool2x4(src: number, dst: number, arg: number, ow: number, c: number, rowStep: number, base: number): void;
  im2col(dst: number, rowBytes: number, src: number, bases: number, rows: number, runs: number, runLen: number, rowStride: number): void;
  biasRelu(src: number, ld: number, dst: number, rows: number, cols: number, bias: number): void;
  maskSumPackRelu(y: number, d: number, rows: number, cols: number, acc: number, panel: number): void;
  maxpoolBackward(dIn: number, dOut: number, arg: number, n: number): void;
  transposeRows(dst: number, src: number, rows: number, cols: number, srcStride: number): void;
}
