// Bytes of the training samples of one step on the wire: the task frames the coordinator sends
// for a global batch of B samples, with samples as float32 `x` (before) and as 8-bit `pixels`
// plus the normalisation (after). Frames are encoded with the real codec (@swarmgrad/protocol).
// Prints one JSON line per data shape.
import { encodeMessage } from '@swarmgrad/protocol';
import { ImageDataset, TransformedImageDataset, computeNormalization } from '@swarmgrad/data';

const shapes = [
  { name: 'MNIST 28×28×1, lenet5', h: 28, w: 28, c: 1, batch: 128, micro: 32 },
  { name: 'CIFAR 32×32×3, alexnetSmall', h: 32, w: 32, c: 3, batch: 128, micro: 32 },
  { name: 'AlexNet 227×227×3', h: 227, w: 227, c: 3, batch: 32, micro: 8 },
];
for (const s of shapes) {
  const n = s.batch;
  const images = Uint8Array.from({ length: n * s.h * s.w * s.c }, (_, i) => (i * 2654435761) >>> 24);
  const source = new ImageDataset({ images, labels: Array.from({ length: n }, (_, i) => i % 10), height: s.h, width: s.w, channels: s.c, numClasses: 10 });
  const data = new TransformedImageDataset(source, s.c === 3 ? { normalization: computeNormalization(images, s.c) } : {});
  const indices = Uint32Array.from({ length: n }, (_, i) => i);
  const base = { type: 'task', taskId: 's0-1', runId: 'bench', step: 0, kind: 'train', blocks: [{ start: 0, count: n / s.micro }], microShardSize: s.micro, indices, deadlineMs: 30000 };
  const floats = data.batch(indices, { epoch: 0 });
  const pixels = data.batchPixels(indices, { epoch: 0 });
  const before = encodeMessage({ ...base, x: floats.x, labels: floats.y }).byteLength;
  const after = encodeMessage({ ...base, pixels: pixels.pixels, labels: pixels.y, ...(pixels.normalization && { pixelNormalization: { mean: [...pixels.normalization.mean], std: [...pixels.normalization.std] } }) }).byteLength;
  console.log(JSON.stringify({ data: s.name, batch: n, beforeBytes: before, afterBytes: after }));
}
