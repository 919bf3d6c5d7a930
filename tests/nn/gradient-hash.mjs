// Prints the SHA-256 of LeNet-5 gradients for a fixed random batch on the backend named in
// argv[2]: run in fresh processes to show gradients are bitwise reproducible across processes.
import { createHash } from 'node:crypto';
import { createModel, lenet5, useBackend, Xoshiro128 } from '@swarmgrad/nn';

const backend = process.argv[2] ?? 'cpu';
await useBackend(backend);
const model = createModel(lenet5());
const params = model.initParams(7);
const rng = new Xoshiro128(99);
const n = 16;
const x = Float32Array.from({ length: n * 784 }, () => rng.nextFloat());
const y = Int32Array.from({ length: n }, () => rng.nextUint32() % 10);
const { grads, lossSum } = await model.gradients(params, x, y);
console.log(JSON.stringify({ backend, lossSum, sha256: createHash('sha256').update(new Uint8Array(grads.buffer)).digest('hex') }));
process.exit(0);
