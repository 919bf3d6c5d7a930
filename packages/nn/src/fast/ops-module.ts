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

let bytes: Uint8Array<ArrayBuffer> | undefined;

/** The module's bytes (imports `env.memory`; exports `maxpool2`, `im2col`). */
export function stepOpsModuleBytes(): Uint8Array<ArrayBuffer> {
  bytes ??= buildModule([maxPool2Function(), im2colFunction()]);
  return bytes;
}

/** The exports of an instance. */
export interface StepOps {
  maxpool2(src: number, dst: number, arg: number, ow: number, c: number, rowStep: number, base: number): void;
  im2col(dst: number, rowBytes: number, src: number, bases: number, rows: number, runs: number, runLen: number, rowStride: number): void;
}
