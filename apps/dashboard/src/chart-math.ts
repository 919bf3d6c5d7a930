/**
 * The arithmetic behind the dashboard's charts, apart from the canvas: data extents, tick
 * values, per-pixel-column extremes, step buckets of stacked bars and the outlier cap. Pure
 * functions, so they are tested in Node.
 */

/** x and y ranges of a chart's data (a y padding of 6 % unless fixed). */
export interface Extent {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/**
 * The range of the finite points of every series; y padded by 6 % of its span at each end
 * unless `yMin` / `yMax` fix it; a single x is widened to one step. Undefined when no point
 * is finite.
 */
export function seriesExtent(series: ReadonlyArray<{ xs: ArrayLike<number>; ys: ArrayLike<number> }>, yMin?: number, yMax?: number): Extent | undefined {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of series) {
    for (let i = 0; i < s.xs.length; i++) {
      const x = s.xs[i]!, y = s.ys[i]!;
      if (!Number.isFinite(y)) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (!Number.isFinite(x0)) return undefined;
  if (x1 === x0) x1 = x0 + 1;
  const span = y1 - y0 || Math.abs(y1) || 1;
  return { x0, x1, y0: yMin ?? y0 - span * 0.06, y1: yMax ?? y1 + span * 0.06 };
}

/** One pixel column of a dense line: the first point's x and the column's lowest and highest y. */
export interface Column {
  x: number;
  lo: number;
  hi: number;
}

/**
 * When a series has more than two points per pixel, its min and max per pixel column (which
 * keeps spikes visible); undefined when it is sparse enough to draw point by point.
 */
export function columnExtremes(xs: ArrayLike<number>, ys: ArrayLike<number>, plotWidth: number): Column[] | undefined {
  if (!(xs.length > plotWidth * 2)) return undefined;
  const stride = xs.length / plotWidth;
  const columns: Column[] = [];
  for (let c = 0; c < plotWidth; c++) {
    const from = Math.floor(c * stride);
    const to = Math.min(xs.length, Math.floor((c + 1) * stride));
    let lo = Infinity, hi = -Infinity;
    for (let i = from; i < to; i++) {
      const y = ys[i]!;
      if (y < lo) lo = y;
      if (y > hi) hi = y;
    }
    if (Number.isFinite(lo)) columns.push({ x: xs[from]!, lo, hi });
  }
  return columns;
}

/** Stacked bars averaged over buckets of neighbouring steps. */
export interface Buckets {
  /** Steps per bucket (1: one bar per step). */
  per: number;
  /** The first step of each bucket. */
  xs: Float64Array;
  /** Per stack, its mean (negatives count as 0) in each bucket. */
  parts: Float64Array[];
  /** Per bucket, the sum of the parts. */
  totals: Float64Array;
}

/** Means of each stack's values over `count` buckets of consecutive steps (at most one per step). */
export function bucketStacks(xs: ArrayLike<number>, stacks: ReadonlyArray<ArrayLike<number>>, count: number): Buckets {
  const buckets = Math.min(xs.length, Math.max(1, count));
  const per = xs.length / buckets;
  const totals = new Float64Array(buckets);
  const parts = stacks.map(() => new Float64Array(buckets));
  const starts = new Float64Array(buckets);
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor(b * per);
    const to = Math.max(from + 1, Math.floor((b + 1) * per));
    starts[b] = xs[from]!;
    stacks.forEach((values, k) => {
      let sum = 0;
      for (let i = from; i < to; i++) sum += Math.max(0, values[i]!);
      parts[k]![b] = sum / (to - from);
      totals[b]! += parts[k]![b]!;
    });
  }
  return { per, xs: starts, parts, totals };
}

/**
 * The top of a bar chart's axis. One outlier (the first step waits for workers) would flatten
 * every other bar: with five bars or more, a top over 4× the 90th percentile is capped at
 * 2.2× that percentile, and `capped` says the taller bars must be marked.
 */
export function barTop(totals: ArrayLike<number>): { top: number; capped: boolean } {
  let top = 0;
  for (let i = 0; i < totals.length; i++) if (totals[i]! > top) top = totals[i]!;
  const sorted = Array.from(totals).sort((a, b) => a - b);
  const p90 = sorted[Math.floor(0.9 * (sorted.length - 1))] ?? 0;
  const capped = sorted.length >= 5 && p90 > 0 && top > 4 * p90;
  return { top: capped ? p90 * 2.2 : top, capped };
}

/** Index of the x nearest `x` in an ascending array (-1 when empty; the lower index on a tie). */
export function nearest(xs: ArrayLike<number>, x: number): number {
  if (!xs.length) return -1;
  let lo = 0, hi = xs.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < x) lo = mid;
    else hi = mid;
  }
  return Math.abs(xs[lo]! - x) <= Math.abs(xs[hi]! - x) ? lo : hi;
}

/** About `count` round tick values (1, 2, 2.5 or 5 × a power of ten apart) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count: number, integers = false): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(integers ? 1 : 0, [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude);
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** 0.25, 1500, 12k, 3.2M */
export function shortNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (abs >= 1e4) return `${Number((value / 1e3).toPrecision(3))}k`;
  if (abs >= 100) return String(Math.round(value));
  if (abs === 0) return '0';
  return String(Number(value.toPrecision(3)));
}
