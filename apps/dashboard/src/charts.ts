/**
 * Small canvas charts: lines/dots over steps, and stacked bars. Sharp on high-DPI screens,
 * resized with their container, with a hover read-out. Redraws are coalesced into one
 * animation frame.
 */
import { barTop, bucketStacks, columnExtremes, nearest, niceTicks, seriesExtent, shortNumber } from './chart-math.js';
import { h } from './dom.js';

export { niceTicks, shortNumber } from './chart-math.js';

/** One series of a {@link LineChart}. */
export interface Series {
  label: string;
  color: string;
  /** x values (steps), ascending. */
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
  /** `line` (default), `dots`, or both. */
  style?: 'line' | 'dots' | 'line+dots';
  width?: number;
  /** Drawn faintly (e.g. the raw series behind its moving average); left out of the legend. */
  faint?: boolean;
  /** Left out of the hover read-out. */
  quiet?: boolean;
  /** Formats this series' values in the read-out (default: the chart's `yFormat`). */
  format?: (value: number) => string;
}

/** Options of charts. */
export interface ChartOptions {
  /** Formats y tick labels and read-out values. */
  yFormat?: (value: number) => string;
  /** Fixes the y range's ends (otherwise fitted to the data). */
  yMin?: number;
  yMax?: number;
  /** CSS height in pixels. Default 200. */
  height?: number;
  /** Text shown while there is nothing to draw. */
  empty?: string;
  /** Name of the x axis in the read-out. Default `step`. */
  xName?: string;
}

const PAD = { left: 48, right: 12, top: 10, bottom: 24 };

abstract class CanvasChart {
  readonly element: HTMLElement;
  protected readonly canvas: HTMLCanvasElement;
  protected readonly tip: HTMLElement;
  protected width = 0;
  protected heightPx: number;
  private frame = 0;
  protected hoverX: number | null = null;
  /** Left margin of the plot (fits the y labels; set by `axes`). */
  protected left = PAD.left;

  constructor(
    protected readonly options: ChartOptions,
    legend: HTMLElement | null,
  ) {
    this.heightPx = options.height ?? 200;
    this.canvas = h('canvas', { class: 'chart-canvas', role: 'img' });
    this.canvas.style.height = `${this.heightPx}px`;
    this.tip = h('div', { class: 'chart-tip', hidden: true });
    this.element = h('div', { class: 'chart' }, legend, h('div', { class: 'chart-body' }, this.canvas, this.tip));
    new ResizeObserver(() => this.schedule()).observe(this.canvas);
    this.canvas.addEventListener('pointermove', (event) => {
      this.hoverX = event.offsetX;
      this.schedule();
    });
    this.canvas.addEventListener('pointerleave', () => {
      this.hoverX = null;
      this.schedule();
    });
  }

  /** Redraws in the next animation frame. */
  schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Sets up the backing store for the current size; returns the 2-D context in CSS pixels. */
  protected context(): CanvasRenderingContext2D | null {
    const width = this.canvas.clientWidth;
    if (!width) return null;
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(width * ratio);
    const hgt = Math.round(this.heightPx * ratio);
    if (this.canvas.width !== w || this.canvas.height !== hgt) {
      this.canvas.width = w;
      this.canvas.height = hgt;
    }
    this.width = width;
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return null;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, this.heightPx);
    return ctx;
  }

  protected abstract draw(): void;

  protected drawEmpty(ctx: CanvasRenderingContext2D): void {
    ctx.fillStyle = cssVar('--muted');
    ctx.font = '13px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(this.options.empty ?? 'no data yet', this.width / 2, this.heightPx / 2);
  }

  /** Grid, y ticks and x ticks; returns the value → pixel mappings. */
  protected axes(ctx: CanvasRenderingContext2D, x0: number, x1: number, y0: number, y1: number) {
    const plotH = Math.max(10, this.heightPx - PAD.top - PAD.bottom);
    const format = this.options.yFormat ?? shortNumber;
    ctx.font = '11px system-ui, sans-serif';
    const yTicks = niceTicks(y0, y1, Math.max(2, Math.floor(plotH / 40)));
    // The left margin fits the widest y label.
    this.left = Math.ceil(Math.max(28, ...yTicks.map((t) => ctx.measureText(format(t)).width)) + 12);
    const plotW = Math.max(10, this.width - this.left - PAD.right);
    const px = (x: number) => this.left + ((x - x0) / (x1 - x0 || 1)) * plotW;
    const py = (y: number) => PAD.top + plotH - ((y - y0) / (y1 - y0 || 1)) * plotH;
    ctx.lineWidth = 1;
    ctx.strokeStyle = cssVar('--grid');
    ctx.fillStyle = cssVar('--muted');
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const t of yTicks) {
      const y = Math.round(py(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(this.left, y);
      ctx.lineTo(this.left + plotW, y);
      ctx.stroke();
      ctx.fillText(format(t), this.left - 6, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const t of niceTicks(x0, x1, Math.max(2, Math.floor(plotW / 80)), true)) {
      ctx.fillText(shortNumber(t), px(t), PAD.top + plotH + 6);
    }
    ctx.strokeStyle = cssVar('--axis');
    ctx.beginPath();
    ctx.moveTo(this.left + 0.5, PAD.top);
    ctx.lineTo(this.left + 0.5, PAD.top + plotH + 0.5);
    ctx.lineTo(this.left + plotW, PAD.top + plotH + 0.5);
    ctx.stroke();
    return { px, py, plotW, plotH };
  }

  protected showTip(lines: string[], x: number): void {
    this.tip.hidden = false;
    this.tip.replaceChildren(...lines.map((line, i) => h(i === 0 ? 'strong' : 'div', {}, line)));
    const left = Math.min(Math.max(0, x + 12), Math.max(0, this.width - 170));
    this.tip.style.left = `${left}px`;
  }

  protected hideTip(): void {
    this.tip.hidden = true;
  }
}

/** Lines and dots over a shared x axis (steps). */
export class LineChart extends CanvasChart {
  private series: Series[] = [];
  private readonly legend: HTMLElement;

  constructor(options: ChartOptions = {}) {
    const legend = h('div', { class: 'chart-legend' });
    super(options, legend);
    this.legend = legend;
  }

  setSeries(series: Series[]): void {
    this.series = series;
    const shown = series.filter((s) => !s.faint);
    const key = shown.map((s) => `${s.label}|${s.color}`).join(',');
    if (this.legend.dataset.key !== key) {
      this.legend.dataset.key = key;
      this.legend.replaceChildren(...shown.map((s) => h('span', { class: 'legend-item' }, h('i', { style: `background:${s.color}` }), s.label)));
    }
    this.element.dataset.points = String(series.reduce((n, s) => n + (s.faint ? 0 : s.xs.length), 0));
    this.schedule();
  }

  protected draw(): void {
    const ctx = this.context();
    if (!ctx) return;
    const series = this.series.filter((s) => s.xs.length > 0);
    if (!series.length) {
      this.drawEmpty(ctx);
      this.hideTip();
      return;
    }
    const extent = seriesExtent(series, this.options.yMin, this.options.yMax);
    if (!extent) {
      this.drawEmpty(ctx);
      return;
    }
    const { x0, x1, y0, y1 } = extent;
    const { px, py, plotW } = this.axes(ctx, x0, x1, y0, y1);
    ctx.save();
    ctx.beginPath();
    ctx.rect(this.left, PAD.top - 4, plotW + 4, this.heightPx - PAD.top - PAD.bottom + 8);
    ctx.clip();
    for (const s of series) {
      const style = s.style ?? 'line';
      ctx.globalAlpha = s.faint ? 0.28 : 1;
      ctx.strokeStyle = paint(s.color);
      ctx.fillStyle = paint(s.color);
      ctx.lineWidth = s.width ?? (s.faint ? 1 : 1.8);
      ctx.lineJoin = 'round';
      ctx.lineCap = 'round';
      if (style !== 'dots') {
        ctx.beginPath();
        // Many more points than pixels: draw min/max per pixel column (keeps spikes visible).
        const columns = columnExtremes(s.xs, s.ys, plotW);
        if (columns) {
          columns.forEach((column, c) => {
            const x = px(column.x);
            if (c === 0) ctx.moveTo(x, py(column.lo));
            else ctx.lineTo(x, py(column.lo));
            ctx.lineTo(x, py(column.hi));
          });
        } else {
          for (let i = 0; i < s.xs.length; i++) {
            const x = px(s.xs[i]!), y = py(s.ys[i]!);
            if (i === 0) ctx.moveTo(x, y);
            else ctx.lineTo(x, y);
          }
        }
        ctx.stroke();
      }
      if (style !== 'line' || s.xs.length === 1) {
        const r = s.xs.length > 60 ? 2 : 3;
        for (let i = 0; i < s.xs.length; i++) {
          ctx.beginPath();
          ctx.arc(px(s.xs[i]!), py(s.ys[i]!), r, 0, Math.PI * 2);
          ctx.fill();
        }
      }
    }
    ctx.restore();
    ctx.globalAlpha = 1;
    if (this.hoverX === null) {
      this.hideTip();
      return;
    }
    this.drawReadout(ctx, series, x0, x1, px, py, plotW);
  }

  /** The hover read-out: the value of each series nearest the pointer's step, and a marker line. */
  private drawReadout(ctx: CanvasRenderingContext2D, series: Series[], x0: number, x1: number, px: (x: number) => number, py: (y: number) => number, plotW: number): void {
    if (this.hoverX === null) return;
    const step = x0 + ((this.hoverX - this.left) / plotW) * (x1 - x0);
    const lines: string[] = [];
    let shownStep: number | null = null;
    const format = this.options.yFormat ?? shortNumber;
    for (const s of series) {
      if (s.faint || s.quiet) continue;
      const i = nearest(s.xs, step);
      if (i < 0) continue;
      shownStep ??= s.xs[i]!;
      lines.push(`${s.label}: ${(s.format ?? format)(s.ys[i]!)}${s.xs[i] !== shownStep ? ` (${this.options.xName ?? 'step'} ${s.xs[i]})` : ''}`);
      ctx.fillStyle = paint(s.color);
      ctx.beginPath();
      ctx.arc(px(s.xs[i]!), py(s.ys[i]!), 4, 0, Math.PI * 2);
      ctx.fill();
    }
    if (shownStep !== null) {
      ctx.strokeStyle = cssVar('--axis');
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(px(shownStep) + 0.5, PAD.top);
      ctx.lineTo(px(shownStep) + 0.5, this.heightPx - PAD.bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      this.showTip([`${this.options.xName ?? 'step'} ${shownStep}`, ...lines], px(shownStep));
    }
  }
}

/** One part of a {@link StackedBars} chart. */
export interface Stack {
  label: string;
  color: string;
  values: ArrayLike<number>;
}

/** Bars of several parts stacked per x (e.g. step time = compute + transfer + wait). */
export class StackedBars extends CanvasChart {
  private xs: ArrayLike<number> = [];
  private stacks: Stack[] = [];
  private readonly legend: HTMLElement;

  constructor(options: ChartOptions = {}) {
    const legend = h('div', { class: 'chart-legend' });
    super(options, legend);
    this.legend = legend;
  }

  setData(xs: ArrayLike<number>, stacks: Stack[]): void {
    this.xs = xs;
    this.stacks = stacks;
    const key = stacks.map((s) => s.label).join(',');
    if (this.legend.dataset.key !== key) {
      this.legend.dataset.key = key;
      this.legend.replaceChildren(...stacks.map((s) => h('span', { class: 'legend-item' }, h('i', { style: `background:${s.color}` }), s.label)));
    }
    this.element.dataset.points = String(xs.length);
    this.schedule();
  }

  protected draw(): void {
    const ctx = this.context();
    if (!ctx) return;
    const n = this.xs.length;
    if (!n) {
      this.drawEmpty(ctx);
      this.hideTip();
      return;
    }
    // An estimate of the plot width (the real one depends on the y labels).
    const plotW = Math.max(10, this.width - 60 - PAD.right);
    // Average neighbouring steps when there are more than one bar per 3 pixels.
    const { per, xs: bucketX, parts, totals } = bucketStacks(this.xs, this.stacks.map((stack) => stack.values), Math.floor(plotW / 3));
    const buckets = bucketX.length;
    // One outlier (the first step waits for workers) would flatten every other bar: cap the
    // axis and mark the bars that go past it.
    const { top, capped } = barTop(totals);
    const x0 = this.xs[0]!;
    const x1 = this.xs[n - 1]! + 1;
    const { px, py, plotW: width } = this.axes(ctx, x0, x1, 0, (top || 1) * 1.08);
    const slot = width / buckets;
    const barW = Math.max(1, slot * 0.78);
    const ceiling = (top || 1) * 1.08;
    for (let b = 0; b < buckets; b++) {
      let base = 0;
      const x = px(bucketX[b]!) + (slot - barW) / 2;
      this.stacks.forEach((s, k) => {
        const v = parts[k]![b]!;
        if (v <= 0 || base >= ceiling) return;
        ctx.fillStyle = paint(s.color);
        const yTop = py(Math.min(ceiling, base + v));
        ctx.fillRect(x, yTop, barW, py(base) - yTop);
        base += v;
      });
      if (capped && totals[b]! > ceiling) {
        // A broken-bar mark: this bar is taller than the axis.
        ctx.fillStyle = cssVar('--panel');
        ctx.fillRect(x - 1, py(ceiling) + 5, barW + 2, 3);
      }
    }
    if (this.hoverX === null) {
      this.hideTip();
      return;
    }
    const b = Math.min(buckets - 1, Math.max(0, Math.floor(((this.hoverX - this.left) / width) * buckets)));
    const format = this.options.yFormat ?? shortNumber;
    const label = per > 1 ? `steps ${bucketX[b]}–${Math.floor(bucketX[b]! + per - 1)} (mean)` : `step ${bucketX[b]}`;
    this.showTip([label, ...this.stacks.map((s, k) => `${s.label}: ${format(parts[k]![b]!)}`), `total: ${format(totals[b]!)}`], px(bucketX[b]!));
  }
}

/** A colour for the canvas: `var(--name)` is looked up in the page's theme. */
function paint(colour: string): string {
  const match = /^var\((--[\w-]+)\)$/.exec(colour);
  return match ? cssVar(match[1]!) : colour;
}

/** A CSS custom property of the page (theme colours). */
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}
