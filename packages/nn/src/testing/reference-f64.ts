/**
 * An independent float64 reference of the model's forward pass and loss, written as plain
 * loops straight from the definitions (cross-correlation, TensorFlow 'same' padding). Tests
 * only: it is slow on purpose and shares no code with the tfjs path.
 */
import type { ModelPlan } from '@swarmgrad/nn-core';

interface T {
  shape: number[]; // per sample, no batch
  data: Float64Array[]; // one array per sample
}

function samePad(size: number, window: number, stride: number): number {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + window - size, 0);
  return Math.floor(total / 2);
}

/** Forward pass of one batch in float64; returns per-sample outputs (logits if `logits`). */
export function referenceForward(plan: ModelPlan, params: ArrayLike<number>, x: ArrayLike<number>, n: number, logits = true): Float64Array[] {
  const sampleSize = plan.inputShape.reduce((a, b) => a * b, 1);
  let t: T = { shape: plan.inputShape, data: Array.from({ length: n }, (_, i) => Float64Array.from({ length: sampleSize }, (_, j) => x[i * sampleSize + j]!)) };
  const last = plan.layers[plan.layers.length - 1]!;
  for (const layer of plan.layers) {
    const kernel = layer.params.find((p) => p.name === 'kernel');
    const bias = layer.params.find((p) => p.name === 'bias');
    switch (layer.type) {
      case 'conv2d':
      case 'conv1d': {
        const is1d = layer.type === 'conv1d';
        const [H, W, C] = is1d ? [1, t.shape[0]!, t.shape[1]!] : (t.shape as [number, number, number]);
        const [kh, kw] = layer.window!;
        const [sh, sw] = layer.strides!;
        const out = layer.outputShape;
        const [OH, OW, F] = is1d ? [1, out[0]!, out[1]!] : (out as [number, number, number]);
        const ph = layer.padding === 'same' ? samePad(H, kh, sh) : 0;
        const pw = layer.padding === 'same' ? samePad(W, kw, sw) : 0;
        t = {
          shape: out,
          data: t.data.map((img) => {
            const o = new Float64Array(OH * OW * F);
            for (let oh = 0; oh < OH; oh++)
              for (let ow = 0; ow < OW; ow++)
                for (let f = 0; f < F; f++) {
                  let s = params[bias!.offset + f]!;
                  for (let i = 0; i < kh; i++)
                    for (let j = 0; j < kw; j++) {
                      const ih = oh * sh + i - ph;
                      const iw = ow * sw + j - pw;
                      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                      for (let c = 0; c < C; c++) s += img[(ih * W + iw) * C + c]! * params[kernel!.offset + ((i * kw + j) * C + c) * F + f]!;
                    }
                  o[(oh * OW + ow) * F + f] = s;
                }
            return o;
          }),
        };
        break;
      }
      case 'maxPool':
      case 'avgPool': {
        const is1d = t.shape.length === 2;
        const [H, W, C] = is1d ? [1, t.shape[0]!, t.shape[1]!] : (t.shape as [number, number, number]);
        const [kh, kw] = layer.window!;
        const [sh, sw] = layer.strides!;
        const out = layer.outputShape;
        const [OH, OW] = is1d ? [1, out[0]!] : [out[0]!, out[1]!];
        const ph = layer.padding === 'same' ? samePad(H, kh, sh) : 0;
        const pw = layer.padding === 'same' ? samePad(W, kw, sw) : 0;
        t = {
          shape: out,
          data: t.data.map((img) => {
            const o = new Float64Array(OH * OW * C);
            for (let oh = 0; oh < OH; oh++)
              for (let ow = 0; ow < OW; ow++)
                for (let c = 0; c < C; c++) {
                  let best = -Infinity;
                  let sum = 0;
                  let cnt = 0;
                  for (let i = 0; i < kh; i++)
                    for (let j = 0; j < kw; j++) {
                      const ih = oh * sh + i - ph;
                      const iw = ow * sw + j - pw;
                      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                      const v = img[(ih * W + iw) * C + c]!;
                      best = Math.max(best, v);
                      sum += v;
                      cnt++;
                    }
                  // TensorFlow's avg pool divides by the number of in-bounds elements.
                  o[(oh * OW + ow) * C + c] = layer.type === 'maxPool' ? best : sum / cnt;
                }
            return o;
          }),
        };
        break;
      }
      case 'flatten':
        t = { shape: layer.outputShape, data: t.data };
        break;
      case 'dense': {
        const [I] = t.shape as [number];
        const U = layer.outputShape[0]!;
        t = {
          shape: layer.outputShape,
          data: t.data.map((v) => {
            const o = new Float64Array(U);
            for (let u = 0; u < U; u++) {
              let s = params[bias!.offset + u]!;
              for (let i = 0; i < I; i++) s += v[i]! * params[kernel!.offset + i * U + u]!;
              o[u] = s;
            }
            return o;
          }),
        };
        break;
      }
      default:
        break;
    }
    let act = layer.activation;
    if (layer === last && logits && plan.loss === 'softmaxCrossEntropy' && act === 'softmax') act = 'linear';
    const C = t.shape[t.shape.length - 1]!;
    t.data = t.data.map((v) => {
      switch (act) {
        case 'relu':
          return v.map((a) => Math.max(a, 0));
        case 'sigmoid':
          return v.map((a) => 1 / (1 + Math.exp(-a)));
        case 'tanh':
          return v.map((a) => Math.tanh(a));
        case 'softmax': {
          const o = new Float64Array(v.length);
          for (let r = 0; r < v.length; r += C) {
            let m = -Infinity;
            for (let k = 0; k < C; k++) m = Math.max(m, v[r + k]!);
            let z = 0;
            for (let k = 0; k < C; k++) z += Math.exp(v[r + k]! - m);
            for (let k = 0; k < C; k++) o[r + k] = Math.exp(v[r + k]! - m) / z;
          }
          return o;
        }
        default:
          return v;
      }
    });
  }
  return t.data;
}

/** Summed loss of a batch in float64. */
export function referenceLoss(plan: ModelPlan, params: ArrayLike<number>, x: ArrayLike<number>, y: ArrayLike<number>, n: number): number {
  const outs = referenceForward(plan, params, x, n, true);
  let total = 0;
  const K = plan.outputShape[0]!;
  outs.forEach((o, i) => {
    if (plan.loss === 'softmaxCrossEntropy') {
      let m = -Infinity;
      for (const v of o) m = Math.max(m, v);
      let z = 0;
      for (const v of o) z += Math.exp(v - m);
      total += Math.log(z) + m - o[y[i]!]!;
    } else {
      let s = 0;
      for (let k = 0; k < K; k++) s += (o[k]! - y[i * K + k]!) ** 2;
      total += s / K;
    }
  });
  return total;
}

/** Central finite differences of {@link referenceLoss} in float64 for every parameter. */
export function referenceGradients(plan: ModelPlan, params: Float32Array, x: ArrayLike<number>, y: ArrayLike<number>, n: number, h = 1e-6): Float64Array {
  const p = Float64Array.from(params);
  const g = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const keep = p[i]!;
    p[i] = keep + h;
    const up = referenceLoss(plan, p, x, y, n);
    p[i] = keep - h;
    const down = referenceLoss(plan, p, x, y, n);
    p[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** ‖a − b‖ / ‖b‖ over a range (per-tensor relative error). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, start = 0, end = b.length): number {
  let num = 0;
  let den = 0;
  for (let i = start; i < end; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
