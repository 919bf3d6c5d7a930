import { describe, expect, it } from 'vitest';
import { formatAgo, formatClock, formatDuration, formatInt, formatNumber, formatPercent, formatRate, formatShape } from './format.js';

const missing = [null, undefined, NaN, Infinity, -Infinity];

describe('format', () => {
  it('every formatter shows — for a missing or non-finite value', () => {
    for (const value of missing) {
      for (const format of [formatInt, formatNumber, formatRate, formatPercent, formatDuration]) expect(format(value)).toBe('—');
    }
    expect(formatAgo(NaN)).toBe('—');
  });

  it.each([
    [61706, '61,706'],
    [-1234567.4, '-1,234,567'],
    [0.6, '1'],
  ])('formatInt(%s) = %s', (value, text) => expect(formatInt(value)).toBe(text));

  it.each([
    [0, '0'],
    [0.41234567, '0.4123'],
    [12.3456, '12.35'],
    [999.96, '1000'],
    [1234.5, '1,235'],
    [0.000123, '1.23e-4'],
    [-0.5, '-0.5'],
  ])('formatNumber(%s) = %s', (value, text) => expect(formatNumber(value)).toBe(text));

  it('formatNumber keeps `digits` significant digits', () => {
    expect(formatNumber(Math.PI, 2)).toBe('3.1');
    expect(formatNumber(Math.PI, 6)).toBe('3.14159');
  });

  it.each([
    [0.002, '0.002'],
    [5e-4, '0.0005'],
    [1.2e-5, '1.2e-5'],
    [1e-5, '1e-5'],
    [0, '0'],
    [0.123456, '0.1235'],
  ])('formatRate(%s) = %s', (value, text) => expect(formatRate(value)).toBe(text));

  it('formatPercent', () => {
    expect(formatPercent(0.913)).toBe('91.3%');
    expect(formatPercent(0.91349, 2)).toBe('91.35%');
    expect(formatPercent(1)).toBe('100.0%');
  });

  it.each([
    [0, '0 ms'],
    [850, '850 ms'],
    [999.4, '999 ms'],
    [999.6, '1.0 s'],
    [3200, '3.2 s'],
    [9960, '10 s'],
    [42_300, '42 s'],
    [59_600, '1 min 00 s'],
    [119_600, '2 min 00 s'],
    [250_000, '4 min 10 s'],
    [3_599_600, '1 h 00 min'],
    [7_500_000, '2 h 05 min'],
    [90_061_000, '25 h 01 min'],
  ])('formatDuration(%s) = %s', (ms, text) => expect(formatDuration(ms)).toBe(text));

  it('formatDuration never shows 60 seconds or 60 minutes, on a grid of durations', () => {
    for (let ms = 0; ms < 3 * 3_600_000; ms += 997) {
      const text = formatDuration(ms);
      expect(text).not.toMatch(/\b60 s|\b60 min/);
      const minutes = /^(\d+) min (\d\d) s$/.exec(text);
      if (minutes) expect(Number(minutes[1]) * 60 + Number(minutes[2])).toBe(Math.round(ms / 1000));
    }
  });

  it.each([
    [0, 'just now'],
    [1499, 'just now'],
    [4000, '4 s ago'],
    [59_000, '59 s ago'],
    [180_000, '3 min ago'],
    [7_200_000, '2 h ago'],
  ])('formatAgo(%s) = %s', (ms, text) => expect(formatAgo(ms)).toBe(text));

  it('formatClock: the local wall time as HH:MM:SS', () => {
    const time = new Date(2026, 0, 2, 7, 4, 31).getTime();
    expect(formatClock(time)).toBe('07:04:31');
  });

  it('formatShape', () => {
    expect(formatShape([28, 28, 6])).toBe('28×28×6');
    expect(formatShape([10])).toBe('10');
  });
});
