/**
 * Node-only: decode PNG and JPEG files to RGB pixels and resize them. Decoding uses two
 * pure-JavaScript npm libraries, `pngjs` and `jpeg-js`: no native addon, no install script,
 * nothing downloaded, the same bytes out on every machine.
 */
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { DataError, DataErrorCode } from './errors.js';

/** A decoded image: always 3 interleaved channels (RGB); `gray` says whether the file had no colour. */
export interface DecodedImage {
  readonly height: number;
  readonly width: number;
  /** `height × width × 3` bytes, row-major, alpha dropped. */
  readonly rgb: Uint8Array;
  /** True for grayscale files (then R = G = B). */
  readonly gray: boolean;
}

/** Largest image accepted, in pixels (a decompression bomb is refused before it is inflated). */
export const MAX_IMAGE_PIXELS = 64 * 1024 * 1024;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function corrupt(file: string, why: string, cause?: unknown): DataError {
  return new DataError(DataErrorCode.CORRUPT_IMAGE, `${file}: ${why}`, cause === undefined ? undefined : { cause });
}

function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function checkPixels(file: string, width: number, height: number): void {
  if (!(width > 0 && height > 0)) throw corrupt(file, `image is ${width}×${height}, expected a positive size`);
  if (width * height > MAX_IMAGE_PIXELS) throw corrupt(file, `image is ${width}×${height}, more than ${MAX_IMAGE_PIXELS} pixels`);
}

function decodePng(file: string, bytes: Uint8Array): DecodedImage {
  // Read the IHDR size before pngjs allocates anything.
  if (bytes.length < 24) throw corrupt(file, `PNG of ${bytes.length} bytes ends before its header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  checkPixels(file, view.getUint32(16), view.getUint32(20));
  let png: ReturnType<typeof PNG.sync.read> & { color?: boolean };
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (cause) {
    throw corrupt(file, `cannot decode PNG (${(cause as Error).message})`, cause);
  }
  return { height: png.height, width: png.width, rgb: dropAlpha(png.data, png.width * png.height), gray: png.color === false };
}

function decodeJpeg(file: string, bytes: Uint8Array): DecodedImage {
  let image: { width: number; height: number; data: Uint8Array };
  try {
    image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
  } catch (cause) {
    throw corrupt(file, `cannot decode JPEG (${(cause as Error).message})`, cause);
  }
  checkPixels(file, image.width, image.height);
  const pixels = image.width * image.height;
  const components = image.data.length / pixels;
  if (components === 3) return { height: image.height, width: image.width, rgb: image.data, gray: false };
  if (components === 1) {
    const rgb = new Uint8Array(pixels * 3);
    for (let i = 0; i < pixels; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = image.data[i] as number;
    return { height: image.height, width: image.width, rgb, gray: true };
  }
  throw corrupt(file, `JPEG decodes to ${components} values per pixel, expected 1 or 3`);
}

function dropAlpha(rgba: Uint8Array, pixels: number): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    rgb[3 * i] = rgba[4 * i] as number;
    rgb[3 * i + 1] = rgba[4 * i + 1] as number;
    rgb[3 * i + 2] = rgba[4 * i + 2] as number;
  }
  return rgb;
}

/**
 * Decodes a PNG (any bit depth, palette, gray, RGB, with or without alpha; 16-bit samples are
 * scaled to 8) or a baseline/progressive JPEG, chosen by the file's signature, not its name.
 * Alpha is dropped (not composited).
 *
 * @throws {@link DataError} `CORRUPT_IMAGE` naming `file` when the bytes are not a decodable image
 */
export function decodeImage(file: string, bytes: Uint8Array): DecodedImage {
  if (isPng(bytes)) return decodePng(file, bytes);
  if (isJpeg(bytes)) return decodeJpeg(file, bytes);
  throw corrupt(file, 'is neither a PNG nor a JPEG (unknown signature)');
}

/**
 * Resizes interleaved 8-bit pixels with **bilinear interpolation, half-pixel centres, no
 * antialiasing** — the filter of TensorFlow's `tf.image.resize(..., 'bilinear', antialias=False)`
 * and OpenCV's `INTER_LINEAR`: output pixel `(r, c)` samples the source at
 * `((r + 0.5)·H/h − 0.5, (c + 0.5)·W/w − 0.5)`, clamped to the edge, and is rounded to the
 * nearest integer. Returns `pixels` itself when the size does not change.
 */
export function resizeBilinear(pixels: Uint8Array, height: number, width: number, channels: number, toHeight: number, toWidth: number): Uint8Array {
  if (height === toHeight && width === toWidth) return pixels;
  const out = new Uint8Array(toHeight * toWidth * channels);
  const sy = height / toHeight;
  const sx = width / toWidth;
  for (let r = 0; r < toHeight; r++) {
    const y = Math.min(Math.max((r + 0.5) * sy - 0.5, 0), height - 1);
    const y0 = Math.floor(y);
    const y1 = Math.min(y0 + 1, height - 1);
    const fy = y - y0;
    for (let c = 0; c < toWidth; c++) {
      const x = Math.min(Math.max((c + 0.5) * sx - 0.5, 0), width - 1);
      const x0 = Math.floor(x);
      const x1 = Math.min(x0 + 1, width - 1);
      const fx = x - x0;
      for (let k = 0; k < channels; k++) {
        const a = pixels[(y0 * width + x0) * channels + k] as number;
        const b = pixels[(y0 * width + x1) * channels + k] as number;
        const d = pixels[(y1 * width + x0) * channels + k] as number;
        const e = pixels[(y1 * width + x1) * channels + k] as number;
        const top = a + (b - a) * fx;
        const bottom = d + (e - d) * fx;
        out[(r * toWidth + c) * channels + k] = Math.round(top + (bottom - top) * fy);
      }
    }
  }
  return out;
}

/**
 * One decoded image as a training sample of `height × width × channels` bytes: resized with
 * {@link resizeBilinear}, then (for one channel) reduced to ITU-R BT.601 luma — exactly what
 * `loadImageFolder` does, so `predict` sees files as training did.
 */
export function imageToSample(image: DecodedImage, height: number, width: number, channels: 1 | 3): Uint8Array {
  const rgb = resizeBilinear(image.rgb, image.height, image.width, 3, height, width);
  if (channels === 3) return rgb;
  const out = new Uint8Array(height * width);
  for (let i = 0; i < out.length; i++) out[i] = luma(rgb, i);
  return out;
}

/** ITU-R BT.601 luma, rounded: gray pixels (R = G = B) keep their value. */
export function luma(rgb: Uint8Array, pixel: number): number {
  return Math.round(0.299 * (rgb[3 * pixel] as number) + 0.587 * (rgb[3 * pixel + 1] as number) + 0.114 * (rgb[3 * pixel + 2] as number));
}
