import { Add, Multiply, Relu, Step, backend_util, util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, StepAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import { cpuIO } from './backend-io.js';
import { stockKernel } from './stock.js';

/**
 * tfjs-backend-cpu's elementwise kernels compute every element through a closure and, for
 * broadcasts, per-element index arithmetic with array allocations: its `Multiply`, `Add`,
 * `Relu` and `Step` together were ~35% of a LeNet-5 step on cpu once `Sum` was fast. These
 * run plain loops for float32 operands of the same shape, a scalar operand, or a bias-like
 * operand broadcast along the leading axes (b's shape, leading 1s dropped, equals a's
 * trailing axes, or the other way round); everything else goes to the stock kernel.
 *
 * Bits: one float32 add or multiply computed in float64 and rounded to float32 on the store
 * is exactly the float32 operation (double rounding is harmless for one operation, 53 ≥
 * 2·24 + 2), so results equal the stock kernels bit for bit (NaN payloads aside).
 */

function runStock(kernelName: string, args: Parameters<KernelFunc>[0]): TensorInfo {
  const stock = stockKernel('cpu', kernelName);
  if (stock === undefined) throw new Error(`swarmgrad ${kernelName} (cpu): the stock tfjs-backend-cpu kernel is not registered`);
  const { inputs, backend, attrs } = args;
  return stock.kernelFunc({ inputs, backend, ...(attrs === undefined ? {} : { attrs }) }) as TensorInfo;
}

/** Whether `small` (leading 1s dropped) equals the trailing axes of `big`. */
function isTrailing(big: readonly number[], small: readonly number[]): boolean {
  let s = 0;
  while (s < small.length && small[s] === 1) s++;
  const rest = small.length - s;
  if (rest > big.length) return false;
  for (let i = 0; i < rest; i++) if (small[s + i] !== big[big.length - rest + i]) return false;
  return true;
}

function binaryKernel(kernelName: string, multiply: boolean): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return runStock(kernelName, args);
    const aSize = util.sizeFromShape(a.shape);
    const bSize = util.sizeFromShape(b.shape);
    const outShape = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const outSize = util.sizeFromShape(outShape);
    // Which operand repeats, with what period: equal shapes and scalars are special cases.
    const aFull = aSize === outSize && isTrailing(a.shape, b.shape);
    const bFull = bSize === outSize && isTrailing(b.shape, a.shape);
    if (!aFull && !bFull) return runStock(kernelName, args);
    const io = cpuIO(args.backend);
    const out = io.allocate(outShape);
    const o = out.values;
    const full = aFull ? io.read(a) : io.read(b);
    const part = aFull ? io.read(b) : io.read(a);
    const period = part.length;
    if (period === 0 || outSize === 0) return out.info;
    // Operand order does not matter for one IEEE add or multiply (commutative, same bits).
    if (period === outSize) {
      if (multiply) for (let i = 0; i < outSize; i++) o[i] = full[i]! * part[i]!;
      else for (let i = 0; i < outSize; i++) o[i] = full[i]! + part[i]!;
    } else if (period === 1) {
      const v = part[0]!;
      if (multiply) for (let i = 0; i < outSize; i++) o[i] = full[i]! * v;
      else for (let i = 0; i < outSize; i++) o[i] = full[i]! + v;
    } else {
      for (let base = 0; base < outSize; base += period) {
        if (multiply) for (let j = 0; j < period; j++) o[base + j] = full[base + j]! * part[j]!;
        else for (let j = 0; j < period; j++) o[base + j] = full[base + j]! + part[j]!;
      }
    }
    return out.info;
  };
}

function unaryKernel(kernelName: string, op: (x: Float32Array, out: Float32Array, attrs: Parameters<KernelFunc>[0]['attrs']) => void): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype !== 'float32') return runStock(kernelName, args);
    const io = cpuIO(args.backend);
    const out = io.allocate([...x.shape]);
    op(io.read(x), out.values, args.attrs);
    return out.info;
  };
}

/** `Add` on cpu, see the file comment. */
export const addCpuConfig: KernelConfig = { kernelName: Add, backendName: 'cpu', kernelFunc: binaryKernel(Add, false) };
/** `Multiply` on cpu, see the file comment. */
export const multiplyCpuConfig: KernelConfig = { kernelName: Multiply, backendName: 'cpu', kernelFunc: binaryKernel(Multiply, true) };

/** `Relu` on cpu: `max(0, x)` as tfjs-cpu computes it (NaN stays NaN, -0 becomes +0). */
export const reluCpuConfig: KernelConfig = {
  kernelName: Relu,
  backendName: 'cpu',
  kernelFunc: unaryKernel(Relu, (x, out) => {
    for (let i = 0; i < x.length; i++) out[i] = Math.max(0, x[i]!); // tfjs-cpu's own expression
  }),
};

/** `Step` on cpu: 1 where x > 0, NaN where x is NaN, else `alpha` — tfjs-cpu's rule. */
export const stepCpuConfig: KernelConfig = {
  kernelName: Step,
  backendName: 'cpu',
  kernelFunc: unaryKernel(Step, (x, out, attrs) => {
    const alpha = (attrs as unknown as StepAttrs).alpha;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      out[i] = v > 0 ? 1 : v !== v ? NaN : alpha;
    }
  }),
};
