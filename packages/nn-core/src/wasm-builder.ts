/**
 * A very small WebAssembly binary writer: just what the project's SIMD modules need (the
 * GEMM and the compiled step's ops in `@swarmgrad/nn`, the Adam update here): one imported
 * memory, functions with i32 / f32 / v128 locals, structured control flow, i32 arithmetic,
 * scalar f32 / f64 loads, stores and adds, `v128.load`, `v128.load32_splat`, `v128.store`,
 * `v128.const`, and f32x4 arithmetic (add, sub, mul, div, sqrt, pmax).
 *
 * Emitting the bytes from TypeScript keeps the project free of a WebAssembly toolchain and of
 * binary blobs in the repository; the module is a few kilobytes and is built once per
 * process. Reference: the WebAssembly core specification, "Binary Format", and the
 * fixed-width SIMD proposal (merged into the standard; Node ≥ 16.4, Chrome 91, Firefox 89,
 * Safari 16.4).
 */

/** Unsigned LEB128. */
export function u32(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 (32-bit). */
export function s32(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function utf8(text: string): number[] {
  return [...new TextEncoder().encode(text)];
}

function name(text: string): number[] {
  const bytes = utf8(text);
  return [...u32(bytes.length), ...bytes];
}

function vec(items: number[][]): number[] {
  return [...u32(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...u32(body.length), ...body];
}

export const i32 = 0x7f;
export const f32 = 0x7d;
export const v128 = 0x7b;
type ValType = typeof i32 | typeof f32 | typeof v128;

/** Instructions, each as its bytes. `simd(op)` prefixes 0xfd and LEB-encodes the opcode. */
const simd = (op: number, ...imm: number[]) => [0xfd, ...u32(op), ...imm];
export const op = {
  localGet: (index: number) => [0x20, ...u32(index)],
  localSet: (index: number) => [0x21, ...u32(index)],
  localTee: (index: number) => [0x22, ...u32(index)],
  i32Const: (value: number) => [0x41, ...s32(value)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32Shl: [0x74],
  i32ShrS: [0x75],
  i32And: [0x71],
  /** `f32.const` of a float32 value (little-endian bytes). */
  f32Const: (value: number) => [0x43, ...new Uint8Array(Float32Array.of(value).buffer)],
  f32Gt: [0x5e],
  /** `select`: pops a, b, cond; pushes cond ≠ 0 ? a : b (branch-free). */
  select: [0x1b],
  i32Store: (offset: number) => [0x36, 2, ...u32(offset)],
  i32Eqz: [0x45],
  i32Eq: [0x46],
  i32Ne: [0x47],
  i32LtS: [0x48],
  i32GtS: [0x4a],
  i32GeS: [0x4e],
  /** `block` / `loop` / `if` with no result; close each with `end`. */
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...u32(depth)],
  brIf: (depth: number) => [0x0d, ...u32(depth)],
  call: (func: number) => [0x10, ...u32(func)],
  /** Memory immediates: alignment as log2 bytes, then a constant byte offset. */
  i32Load: (offset: number) => [0x28, 2, ...u32(offset)],
  f32Load: (offset: number) => [0x2a, 2, ...u32(offset)],
  f64Load: (offset: number) => [0x2b, 3, ...u32(offset)],
  f32Store: (offset: number) => [0x38, 2, ...u32(offset)],
  f64Store: (offset: number) => [0x39, 3, ...u32(offset)],
  f64Add: [0xa0],
  f64PromoteF32: [0xbb],
  v128Load: (offset: number) => simd(0x00, 4, ...u32(offset)),
  v128Load32Splat: (offset: number) => simd(0x09, 2, ...u32(offset)),
  v128Store: (offset: number) => simd(0x0b, 4, ...u32(offset)),
  f32x4Sqrt: simd(0xe3),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
  /** `f32x4.relaxed_madd(a, b, c)`: `a · b + c`, fused or not as the engine's hardware does it (relaxed SIMD). */
  f32x4RelaxedMadd: simd(0x105),
  /** `f32x4.pmax(a, b)`: lane-wise `a < b ? b : a` (so `pmax(0, v)` is `v > 0 ? v : +0`, NaN → +0). */
  f32x4Pmax: simd(0xeb),
  v128Const0: simd(0x0c, ...new Array<number>(16).fill(0)),
  /** `v128.const i32x4 0 1 2 3`. */
  v128ConstIota: simd(0x0c, ...new Uint8Array(Int32Array.of(0, 1, 2, 3).buffer)),
  i32x4Splat: simd(0x11),
  f32x4Splat: simd(0x13),
  f32x4Gt: simd(0x44),
  i32x4LtS: simd(0x39),
  i32x4Add: simd(0xae),
  /** `v128.bitselect(a, b, mask)`: `(a & mask) | (b & ~mask)`. */
  v128Bitselect: simd(0x52),
  f32Add: [0x92],
  f32Const0: [0x43, 0, 0, 0, 0],
} as const;

export interface FunctionDef {
  params: ValType[];
  /** Extra locals, in order after the parameters. */
  locals: ValType[];
  body: ReadonlyArray<readonly number[]>;
  /** Export name, if exported. */
  exportAs?: string;
}

/**
 * A module importing one memory as `env.memory` and defining `functions` (none return a
 * value). Function `i` of the list has index `i` for `call`.
 */
export function buildModule(functions: FunctionDef[]): Uint8Array<ArrayBuffer> {
  const signatures: string[] = [];
  const typeIndex = functions.map((f) => {
    const key = f.params.join(',');
    let index = signatures.indexOf(key);
    if (index < 0) index = signatures.push(key) - 1;
    return index;
  });
  const types = signatures.map((key) => {
    const params = key === '' ? [] : key.split(',').map(Number);
    return [0x60, ...vec(params.map((p) => [p])), 0x00];
  });
  // Import kind 0x02 (memory), limits 0x00 (minimum only): 1 page; JavaScript grows it.
  const memoryImport = [...name('env'), ...name('memory'), 0x02, 0x00, ...u32(1)];
  const exports = functions.flatMap((f, i) => (f.exportAs === undefined ? [] : [[...name(f.exportAs), 0x00, ...u32(i)]]));
  const bodies = functions.map((f) => {
    const groups: number[][] = [];
    for (let i = 0; i < f.locals.length; ) {
      let j = i;
      while (j < f.locals.length && f.locals[j] === f.locals[i]) j++;
      groups.push([...u32(j - i), f.locals[i]!]);
      i = j;
    }
    const code = [...vec(groups), ...f.body.flat(), 0x0b];
    return [...u32(code.length), ...code];
  });
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec([memoryImport])),
    ...section(3, vec(typeIndex.map((t) => u32(t)))),
    ...section(7, vec(exports)),
    ...section(10, vec(bodies)),
  ];
  return new Uint8Array(bytes);
}
