import type { Conv2DGeometry } from './conv2d-geometry.js';

/**
 * Writes rows `m0 .. m0+rows-1` of the im2col matrix of an NHWC input into `out`.
 *
 * Row `m` stands for output pixel `(n, oh, ow)` in row-major order (`m = (n*OH + oh)*OW + ow`);
 * its `K = kh*kw*cin` entries are the input values under the filter window at that pixel,
 * in filter order `(i, j, c)`, with zeros where the window hangs over the padding. Row `r`
 * of the block starts at `out[r * rowStride]`; entries `K .. rowStride-1` are left alone
 * (callers keep them zero as GEMM padding).
 *
 * With stride 1 the `kw*cin` values of one window row are contiguous in the input, so the
 * copy is a run of plain sequential loads and stores.
 */
export function im2colRows(
  x: Float32Array,
  g: Conv2DGeometry,
  m0: number,
  rows: number,
  out: Float32Array | Float64Array,
  rowStride: number,
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW, padTop, padLeft } = g;
  const { dilationHeight: DH, dilationWidth: DW } = g;
  const windowRow = KW * C;
  let n = Math.floor(m0 / (OH * OW));
  let oh = Math.floor((m0 - n * OH * OW) / OW);
  let ow = m0 - n * OH * OW - oh * OW;
  for (let r = 0; r < rows; r++) {
    let d = r * rowStride;
    const ih0 = oh * SH - padTop;
    const iw0 = ow * SW - padLeft;
    // Filter taps j in [jLo, jHi) read input columns inside [0, W).
    const jLo = iw0 < 0 ? Math.min(Math.ceil(-iw0 / DW), KW) : 0;
    const jHi = Math.max(jLo, Math.min(KW, Math.ceil((W - iw0) / DW)));
    const leadZeros = jLo * C;
    const trailZeros = (KW - jHi) * C;
    for (let i = 0; i < KH; i++) {
      const ih = ih0 + i * DH;
      if (ih < 0 || ih >= H) {
        for (let t = 0; t < windowRow; t++) out[d++] = 0;
        continue;
      }
      for (let t = 0; t < leadZeros; t++) out[d++] = 0;
      const rowBase = (n * H + ih) * W + iw0;
      if (DW === 1) {
        let s = (rowBase + jLo) * C;
        const end = d + (jHi - jLo) * C;
        while (d < end) out[d++] = x[s++]!;
      } else {
        for (let j = jLo; j < jHi; j++) {
          let s = (rowBase + j * DW) * C;
          for (let c = 0; c < C; c++) out[d++] = x[s++]!;
        }
      }
      for (let t = 0; t < trailZeros; t++) out[d++] = 0;
    }
    if (++ow === OW) {
      ow = 0;
      if (++oh === OH) {
        oh = 0;
        n++;
      }
    }
  }
}

/**
 * The adjoint of {@link im2colRows}: adds rows `m0 .. m0+rows-1` of an im2col-shaped matrix
 * (`cols`, row `r` at `cols[r * rowStride]`) back into the NHWC input positions they were
 * read from, skipping padding. `sums` is the float64 NHWC accumulator. Rows and entries are
 * visited in increasing order, so the sums are deterministic.
 */
export function col2imRowsAdd(
  cols: Float64Array,
  rowStride: number,
  g: Conv2DGeometry,
  m0: number,
  rows: number,
  sums: Float64Array,
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW, padTop, padLeft } = g;
  const { dilationHeight: DH, dilationWidth: DW } = g;
  const windowRow = KW * C;
  let n = Math.floor(m0 / (OH * OW));
  let oh = Math.floor((m0 - n * OH * OW) / OW);
  let ow = m0 - n * OH * OW - oh * OW;
  for (let r = 0; r < rows; r++) {
    const rowStart = r * rowStride;
    const ih0 = oh * SH - padTop;
    const iw0 = ow * SW - padLeft;
    // Filter taps j in [jLo, jHi) read input columns inside [0, W).
    const jLo = iw0 < 0 ? Math.min(Math.ceil(-iw0 / DW), KW) : 0;
    const jHi = Math.max(jLo, Math.min(KW, Math.ceil((W - iw0) / DW)));
    for (let i = 0; i < KH; i++) {
      const ih = ih0 + i * DH;
      if (ih < 0 || ih >= H) continue;
      const rowBase = (n * H + ih) * W + iw0;
      for (let j = jLo; j < jHi; j++) {
        let s = rowStart + i * windowRow + j * C;
        let d = (rowBase + j * DW) * C;
        for (let c = 0; c < C; c++) {
          sums[d] = sums[d]! + cols[s++]!;
          d++;
        }
      }
    }
    if (++ow === OW) {
      ow = 0;
      if (++oh === OH) {
        oh = 0;
        n++;
      }
    }
  }
}
