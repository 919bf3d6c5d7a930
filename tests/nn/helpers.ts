import { createHash } from 'node:crypto';
import { Xoshiro128 } from '@swarmgrad/nn';

/** A reproducible random LeNet-5-shaped batch: inputs in [0, 1), labels 0..9. */
export function randomMnistBatch(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const rng = new Xoshiro128(seed);
  const x = Float32Array.from({ length: n * 28 * 28 }, () => rng.nextFloat());
  const y = Int32Array.from({ length: n }, () => rng.nextUint32() % 10);
  return { x, y };
}

/** SHA-256 of a typed array's bytes. */
export function sha256(values: ArrayBufferView): string {
  return createHash('sha256').update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest('hex');
}

/** ‖a − b‖ / ‖b‖ over [start, end). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, start = 0, end = b.length): number {
  let num = 0;
  let den = 0;
  for (let i = start; i < end; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
