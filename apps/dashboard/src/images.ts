/**
 * Drawing the numbers the insights routes return: images, filters and feature maps, each on
 * a canvas at its own resolution, scaled up on screen with crisp (pixelated) edges.
 */
import { h } from './dom.js';

/** How values become colours. */
export type ColourMode =
  /** Inputs: grey levels (one channel) or RGB (three), `min`..`max` → 0..255. */
  | 'image'
  /** Weights: blue (negative) – white (0) – red (positive), symmetric around 0. */
  | 'diverging'
  /** Activations: the viridis colour map, `min`..`max`. */
  | 'heat';

/** Options of {@link drawTile}. */
export interface TileOptions {
  mode: ColourMode;
  min: number;
  max: number;
  /** On-screen pixels per value. */
  scale: number;
  /** Accessible label and tooltip. */
  label?: string;
}

/**
 * A canvas showing one `height × width` plane of HWC `data` (`channels` per pixel; `channel`
 * picks one for maps; three channels in `image` mode are drawn as RGB).
 */
export function drawTile(data: ArrayLike<number>, height: number, width: number, channels: number, channel: number | 'rgb', options: TileOptions): HTMLCanvasElement {
  const canvas = h('canvas', { class: 'tile', width, height, role: 'img', 'aria-label': options.label, title: options.label });
  canvas.style.width = `${Math.round(width * options.scale)}px`;
  canvas.style.height = `${Math.round(height * options.scale)}px`;
  const ctx = canvas.getContext('2d');
  if (!ctx) return canvas;
  const image = ctx.createImageData(width, height);
  const pixels = image.data;
  const { min, max, mode } = options;
  const span = max - min || 1;
  const bound = Math.max(Math.abs(min), Math.abs(max)) || 1;
  for (let p = 0; p < height * width; p++) {
    const o = p * 4;
    pixels[o + 3] = 255;
    if (channel === 'rgb') {
      for (let k = 0; k < 3; k++) pixels[o + k] = clamp255(((data[p * channels + Math.min(k, channels - 1)]! - min) / span) * 255);
      continue;
    }
    const v = data[p * channels + channel]!;
    if (mode === 'image') {
      const g = clamp255(((v - min) / span) * 255);
      pixels[o] = pixels[o + 1] = pixels[o + 2] = g;
    } else if (mode === 'diverging') {
      const [r, g, b] = diverging(v / bound);
      pixels[o] = r;
      pixels[o + 1] = g;
      pixels[o + 2] = b;
    } else {
      const [r, g, b] = viridis((v - min) / span);
      pixels[o] = r;
      pixels[o + 1] = g;
      pixels[o + 2] = b;
    }
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

/** An input image (HWC values in [0, 1]) as a canvas, `scale` screen pixels per pixel. */
export function drawImage(data: ArrayLike<number>, shape: readonly number[], scale: number, label?: string): HTMLCanvasElement {
  const [height, width, channels] = [shape[0] ?? 1, shape[1] ?? 1, shape[2] ?? 1];
  return drawTile(data, height, width, channels, channels === 3 ? 'rgb' : 0, { mode: 'image', min: 0, max: 1, scale, ...(label ? { label } : {}) });
}

/** A scale giving about `target` screen pixels for `size` values (at least 1, whole numbers). */
export function scaleFor(size: number, target: number): number {
  return Math.max(1, Math.round(target / Math.max(1, size)));
}

/** A legend bar for a colour mode. */
export function colourBar(mode: ColourMode, low: string, high: string): HTMLElement {
  const stops = Array.from({ length: 11 }, (_, i) => {
    const t = i / 10;
    const [r, g, b] = mode === 'diverging' ? diverging(t * 2 - 1) : mode === 'heat' ? viridis(t) : [t * 255, t * 255, t * 255];
    return `rgb(${Math.round(r)},${Math.round(g)},${Math.round(b)}) ${t * 100}%`;
  });
  return h('span', { class: 'colour-bar' }, h('span', {}, low), h('i', { style: `background:linear-gradient(90deg,${stops.join(',')})` }), h('span', {}, high));
}

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/** t in [-1, 1] → RdBu-like colour (blue negative, near-white zero, red positive). */
function diverging(t: number): [number, number, number] {
  const x = Math.max(-1, Math.min(1, t));
  const neg: [number, number, number] = [33, 102, 172];
  const mid: [number, number, number] = [247, 247, 247];
  const pos: [number, number, number] = [178, 24, 43];
  const target = x < 0 ? neg : pos;
  const a = Math.abs(x);
  return [mid[0] + (target[0] - mid[0]) * a, mid[1] + (target[1] - mid[1]) * a, mid[2] + (target[2] - mid[2]) * a];
}

const VIRIDIS: [number, number, number][] = [
  [68, 1, 84], [72, 35, 116], [64, 67, 135], [52, 94, 141], [41, 120, 142],
  [32, 144, 140], [34, 167, 132], [68, 190, 112], [121, 209, 81], [189, 222, 38], [253, 231, 37],
];

/** t in [0, 1] → viridis. */
function viridis(t: number): [number, number, number] {
  const x = Number.isFinite(t) ? Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1) : 0;
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i]!, b = VIRIDIS[i + 1]!;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}
