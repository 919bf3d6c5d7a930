import { describe, expect, it } from 'vitest';
import { barTop, bucketStacks, columnExtremes, nearest, niceTicks, seriesExtent, shortNumber } from './chart-math.js';

/** A seeded generator (mulberry32), so failures can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('nearest', () => {
  it('equals a brute-force search on random ascending arrays', () => {
    const rand = random(1);
    for (let trial = 0; trial < 300; trial++) {
      const xs: number[] = [];
      let x = rand() * 10;
      for (let i = 0, n = 1 + Math.floor(rand() * 40); i < n; i++) xs.push((x += rand() * 5));
      const query = rand() * (x + 10) - 5;
      let best = 0;
      for (let i = 1; i < xs.length; i++) if (Math.abs(xs[i]! - query) < Math.abs(xs[best]! - query)) best = i;
      expect(nearest(xs, query)).toBe(best);
    }
  });

  it('-1 for no points; the lower index on a tie', () => {
    expect(nearest([], 3)).toBe(-1);
    expect(nearest([0, 2], 1)).toBe(0);
  });
});

describe('niceTicks', () => {
  it('covers [lo, hi] with round, evenly spaced ticks on random ranges', () => {
    const rand = random(2);
    for (let trial = 0; trial < 300; trial++) {
      const lo = (rand() - 0.5) * 10 ** Math.floor(rand() * 8 - 3);
      // spans from a thousandth of the values' size up (tick labels carry 12 significant digits)
      const hi = lo + Math.max(Math.abs(lo) * 1e-3, rand() * 10 ** Math.floor(rand() * 8 - 3) + 1e-6);
      const count = 2 + Math.floor(rand() * 6);
      const ticks = niceTicks(lo, hi, count);
      expect(ticks.length).toBeGreaterThanOrEqual(1);
      const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : (hi - lo) / count;
      if (ticks.length > 1) {
        // 1, 2, 2.5 or 5 times a power of ten, at least (hi - lo) / count
        const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
        expect([1, 2, 2.5, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-6)).toBe(true);
        expect(step).toBeGreaterThanOrEqual(((hi - lo) / count) * (1 - 1e-9));
        for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).toBeCloseTo(step, 9);
        for (const t of ticks) expect(Math.abs(t / step - Math.round(t / step))).toBeLessThan(1e-6);
      }
      expect(ticks[0]!).toBeGreaterThanOrEqual(lo - step * 1e-6);
      if (ticks.length > 1) expect(ticks[0]! - step).toBeLessThan(lo);
      expect(ticks[ticks.length - 1]!).toBeLessThanOrEqual(hi + step * 1e-6);
    }
  });

  it('examples, integers only, and an empty range', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 100, 4)).toEqual([0, 25, 50, 75, 100]);
    expect(niceTicks(0, 3, 10, true)).toEqual([0, 1, 2, 3]);
    expect(niceTicks(5, 5, 4)).toEqual([5]);
  });
});

describe('shortNumber', () => {
  it.each([
    [0, '0'],
    [0.123456, '0.123'],
    [-0.5, '-0.5'],
    [42.42, '42.4'],
    [150.6, '151'],
    [1500, '1500'],
    [12_345, '12.3k'],
    [999_999, '1000k'],
    [3_210_000, '3.21M'],
  ])('%s → %s', (value, text) => {
    expect(shortNumber(value)).toBe(text);
  });
});

describe('seriesExtent', () => {
  it('equals the naive min and max over finite points, padded by 6 %', () => {
    const rand = random(3);
    for (let trial = 0; trial < 100; trial++) {
      const series = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => {
        const n = 2 + Math.floor(rand() * 30);
        return { xs: Array.from({ length: n }, (_, i) => i * 3 + trial), ys: Array.from({ length: n }, () => (rand() < 0.1 ? NaN : rand() * 100 - 50)) };
      });
      const points = series.flatMap((s) => s.xs.map((x, i) => [x, s.ys[i]!] as const)).filter(([, y]) => Number.isFinite(y));
      const extent = seriesExtent(series);
      if (!points.length) {
        expect(extent).toBeUndefined();
        continue;
      }
      const ys = points.map(([, y]) => y);
      const [minY, maxY] = [Math.min(...ys), Math.max(...ys)];
      const span = maxY - minY || Math.abs(maxY) || 1;
      const xs = points.map(([x]) => x);
      expect(extent!.x0).toBe(Math.min(...xs));
      expect(extent!.x1).toBe(Math.max(...xs) === Math.min(...xs) ? Math.min(...xs) + 1 : Math.max(...xs));
      expect(extent!.y0).toBeCloseTo(minY - 0.06 * span, 9);
      expect(extent!.y1).toBeCloseTo(maxY + 0.06 * span, 9);
    }
  });

  it('fixed ends win; one point gets a one-step x range; nothing finite is undefined', () => {
    expect(seriesExtent([{ xs: [0, 1], ys: [0.2, 0.9] }], 0, 1)).toEqual({ x0: 0, x1: 1, y0: 0, y1: 1 });
    expect(seriesExtent([{ xs: [7], ys: [2] }])).toEqual({ x0: 7, x1: 8, y0: 2 - 0.12, y1: 2 + 0.12 });
    expect(seriesExtent([{ xs: [1, 2], ys: [NaN, Infinity] }])).toBeUndefined();
  });
});

describe('columnExtremes', () => {
  it('is undefined while there are at most two points per pixel', () => {
    expect(columnExtremes([1, 2, 3, 4], [1, 2, 3, 4], 2)).toBeUndefined();
  });

  it('equals the naive min and max of each column on random dense series', () => {
    const rand = random(4);
    for (let trial = 0; trial < 50; trial++) {
      const width = 5 + Math.floor(rand() * 50);
      const n = width * 2 + 1 + Math.floor(rand() * width * 10);
      const xs = Array.from({ length: n }, (_, i) => i);
      const ys = Array.from({ length: n }, () => rand());
      const columns = columnExtremes(xs, ys, width)!;
      const stride = n / width;
      expect(columns).toHaveLength(width);
      columns.forEach((column, c) => {
        const slice = ys.slice(Math.floor(c * stride), Math.floor((c + 1) * stride));
        expect(column).toEqual({ x: Math.floor(c * stride), lo: Math.min(...slice), hi: Math.max(...slice) });
      });
    }
  });
});

describe('bucketStacks', () => {
  it('one bucket per step when there is room: the values themselves (negatives as 0)', () => {
    const b = bucketStacks([10, 11, 12], [[1, -2, 3], [4, 5, 6]], 100);
    expect(b.per).toBe(1);
    expect(Array.from(b.xs)).toEqual([10, 11, 12]);
    expect(b.parts.map((p) => Array.from(p))).toEqual([[1, 0, 3], [4, 5, 6]]);
    expect(Array.from(b.totals)).toEqual([5, 5, 9]);
  });

  it('equals naive bucket means on random data', () => {
    const rand = random(5);
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + Math.floor(rand() * 200);
      const count = 1 + Math.floor(rand() * 60);
      const xs = Array.from({ length: n }, (_, i) => 100 + i);
      const stacks = [0, 1, 2].map(() => Array.from({ length: n }, () => rand() * 10 - 1));
      const b = bucketStacks(xs, stacks, count);
      const buckets = Math.min(n, count);
      expect(b.xs).toHaveLength(buckets);
      for (let k = 0; k < buckets; k++) {
        const from = Math.floor((k * n) / buckets);
        const to = Math.max(from + 1, Math.floor(((k + 1) * n) / buckets));
        expect(b.xs[k]).toBe(xs[from]);
        let total = 0;
        stacks.forEach((values, s) => {
          const mean = values.slice(from, to).reduce((sum, v) => sum + Math.max(0, v), 0) / (to - from);
          expect(b.parts[s]![k]).toBeCloseTo(mean, 12);
          total += mean;
        });
        expect(b.totals[k]).toBeCloseTo(total, 12);
      }
    }
  });
});

describe('barTop', () => {
  it('the tallest bar, unless one outlier is over 4× the 90th percentile', () => {
    expect(barTop([1, 2, 3])).toEqual({ top: 3, capped: false });
    expect(barTop([1, 1, 1, 1, 3])).toEqual({ top: 3, capped: false });
    // fewer than five bars are never capped
    expect(barTop([1, 1, 1, 50])).toEqual({ top: 50, capped: false });
    // five: the 90th percentile is the 4th smallest
    expect(barTop([1, 1, 1, 1, 50])).toEqual({ top: 2.2, capped: true });
  });

  it('caps at 2.2× the 90th percentile of many bars', () => {
    const totals = [...Array.from({ length: 19 }, (_, i) => 1 + i / 100), 40];
    const sorted = [...totals].sort((a, b) => a - b);
    const p90 = sorted[Math.floor(0.9 * (totals.length - 1))]!;
    expect(barTop(totals)).toEqual({ top: p90 * 2.2, capped: true });
    expect(barTop([])).toEqual({ top: 0, capped: false });
  });
});
