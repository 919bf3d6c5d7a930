/** Number and time formatting for the dashboard. */

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** 61,706 */
export function formatInt(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '—' : integer.format(value);
}

/** 0.4123, 12.3, 1,234 — a few significant digits. */
export function formatNumber(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  if (abs >= 1000) return integer.format(value);
  if (abs === 0) return '0';
  if (abs < 1e-3) return value.toExponential(Math.max(0, digits - 2));
  return Number(value.toPrecision(digits)).toString();
}

/** A learning rate: 0.002, 5e-4 → 0.0005, 1.2e-5. */
export function formatRate(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (value !== 0 && Math.abs(value) < 1e-4) return value.toExponential(2).replace(/\.?0+e/, 'e');
  return Number(value.toPrecision(4)).toString();
}

/** 91.3% */
export function formatPercent(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '—' : `${(value * 100).toFixed(digits)}%`;
}

/** 850 ms, 3.2 s, 4 min 10 s, 2 h 05 min (rounded once, so never "1 min 60 s"). */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 999.5) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 9.95) return `${s.toFixed(1)} s`;
  if (s < 59.5) return `${Math.round(s)} s`;
  const seconds = Math.round(s);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
  const minutes = Math.floor(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** "just now", "4 s ago", "3 min ago" */
export function formatAgo(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms < 1500) return 'just now';
  if (ms < 60_000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min ago`;
  return `${Math.round(ms / 3_600_000)} h ago`;
}

/** 12:04:31 */
export function formatClock(time: number): string {
  return new Date(time).toLocaleTimeString('en-GB', { hour12: false });
}

/** [28, 28, 6] → 28×28×6 */
export function formatShape(shape: readonly number[]): string {
  return shape.join('×');
}
