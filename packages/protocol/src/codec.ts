/**
 * Frames: one msgpackr-encoded message per WebSocket binary frame.
 *
 * msgpackr is configured so that every frame stands alone (no records, no shared
 * structures, no structured-clone references) and typed arrays travel as raw bytes in
 * msgpackr's typed-array extension (ext type 0x74: one byte naming the array type, then
 * the array's bytes, little-endian on every platform swarmgrad runs on): a Float32Array of
 * P values costs 4P bytes plus a 7-byte header, never one MessagePack number per value.
 */
import { Packr } from 'msgpackr';
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { resolveDecodeLimits, type DecodeLimits } from './limits.js';
import type { Message } from './messages.js';
import { validateResolved } from './validate.js';

/**
 * The msgpackr settings of every swarmgrad frame: plain maps, typed arrays as raw bytes, no
 * shared state between frames. Other swarmgrad binary files (checkpoints) use them too.
 */
export const MSGPACK_OPTIONS = Object.freeze({
  // Plain maps, no record structures: each frame decodes on its own.
  useRecords: false,
  mapsAsObjects: true,
  // Typed arrays as msgpackr's typed-array extension (raw bytes, type preserved).
  moreTypes: true,
  // No reference tracking on either side: a frame cannot describe a cyclic object.
  structuredClone: false,
  // `bin` values decode to their own copies, never views into the caller's frame buffer.
  copyBuffers: true,
  // Optional fields set to `undefined` are left out rather than written as an extension.
  skipValues: [undefined],
} as ConstructorParameters<typeof Packr>[0] & object);

const packr = new Packr({ ...MSGPACK_OPTIONS });

/** A buffer for msgpackr to pack into: a Node Buffer where there is one (msgpackr writes long strings with its `utf8Write`), else a Uint8Array. */
function packBuffer(bytes: number): Uint8Array {
  const NodeBuffer = (globalThis as { Buffer?: { allocUnsafeSlow(n: number): Uint8Array } }).Buffer;
  return NodeBuffer ? NodeBuffer.allocUnsafeSlow(bytes) : new Uint8Array(bytes);
}

/** Options for `encodeMessage`. */
export interface EncodeOptions {
  /** Throw `FRAME_TOO_LARGE` instead of returning a frame longer than this (the receiver would refuse it). */
  maxFrameBytes?: number;
}

/**
 * Frames estimated at this many bytes or more are packed into a buffer of their own. msgpackr
 * otherwise packs every frame after the last one into a shared buffer and, when that runs
 * out, allocates a new one four times the frame's size: with 247 KB parameter and gradient
 * frames that was a fresh 1 MB buffer every few frames. V8 counts every ArrayBuffer
 * allocated since its last full collection against the old generation's limit, so those
 * megabytes made full collections more frequent on both ends of every step. (Tasks, with
 * their samples, are tens of KB: hence a threshold well below a parameter vector's size.)
 */
const OWN_BUFFER_BYTES = 16 * 1024;

/** An upper estimate of `value`'s MessagePack size under MSGPACK_OPTIONS (typed arrays as raw bytes). */
export function estimateFrameBytes(value: unknown, depth = 0): number {
  if (ArrayBuffer.isView(value)) return value.byteLength + 8;
  if (typeof value === 'string') return 3 * value.length + 5;
  if (value === null || typeof value !== 'object' || depth > 16) return 9;
  let bytes = 5;
  if (Array.isArray(value)) for (const item of value) bytes += estimateFrameBytes(item, depth + 1);
  else for (const key in value) bytes += 3 * key.length + 5 + estimateFrameBytes((value as Record<string, unknown>)[key], depth + 1);
  return bytes;
}

/** Packs `message`; `owned` when the frame has an ArrayBuffer of its own that no other frame shares. */
export function packFrame(message: Message): { frame: Uint8Array; owned: boolean } {
  const estimate = estimateFrameBytes(message);
  if (estimate < OWN_BUFFER_BYTES) {
    const packed: Uint8Array = packr.pack(message);
    // A plain Uint8Array view (not Node's Buffer subclass), so every environment gets the same type.
    return { frame: new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength), owned: false };
  }
  // msgpackr starts a new buffer when fewer than 2 KB are left at the start of a frame.
  packr.useBuffer(packBuffer(estimate + 0x800 + 16));
  let packed: Uint8Array;
  try {
    packed = packr.pack(message);
  } finally {
    // Later small frames go to a fresh buffer, not after this one (whose leftover room would
    // run out and make msgpackr allocate buffers of this frame's size for them).
    packr.useBuffer(packBuffer(16 * 1024));
  }
  // If the estimate fell short, msgpackr moved the frame to a new buffer of its own making,
  // which holds this frame alone and is no longer its target either.
  return { frame: new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength), owned: true };
}

/**
 * Encode a message as one frame. The message is not validated (its type says what it
 * holds); typed arrays are copied into the frame once, as raw bytes.
 *
 * The returned bytes may share their `ArrayBuffer` with other frames from this function:
 * send or copy them, but do not transfer or detach `frame.buffer`.
 */
export function encodeMessage(message: Message, options?: EncodeOptions): Uint8Array {
  return checkFrameSize(message, packFrame(message).frame, options);
}

/** Returns `frame`, or throws `FRAME_TOO_LARGE` when it is longer than `options.maxFrameBytes`. */
export function checkFrameSize(message: Message, frame: Uint8Array, options?: EncodeOptions): Uint8Array {
  const max = options?.maxFrameBytes;
  if (max !== undefined && frame.byteLength > max) {
    throw new ProtocolError(
      ProtocolErrorCode.FRAME_TOO_LARGE,
      `${message.type} frame is ${frame.byteLength} bytes; the limit is ${max}`,
    );
  }
  return frame;
}

/**
 * Decode and validate one frame: the only way wire bytes become a `Message`.
 *
 * In order: a frame longer than `limits.maxFrameBytes` → `FRAME_TOO_LARGE` (before
 * parsing); bytes that are not exactly one MessagePack value → `MALFORMED`; then
 * `validateMessage`'s checks (`MALFORMED`, `UNKNOWN_TYPE`, `VERSION_MISMATCH`,
 * `BAD_FIELD`, `TOO_MANY_SHARDS`, `BAD_BLOCK`, `LENGTH_MISMATCH`, `NON_FINITE`).
 *
 * Typed arrays in the result are aligned and own their memory (msgpackr copies each once
 * out of the frame); nothing in the result aliases `frame`. Throws only `ProtocolError`
 * for bad data, and `TypeError` for bad `limits`.
 *
 * @param frame the frame's bytes (a Node `Buffer` is a `Uint8Array`; a browser WebSocket with `binaryType = 'arraybuffer'` gives an `ArrayBuffer`)
 * @param limits what to enforce; omitted fields take `DEFAULT_DECODE_LIMITS`
 */
export function decodeMessage(frame: Uint8Array | ArrayBuffer, limits?: Partial<DecodeLimits>): Message {
  const resolved = resolveDecodeLimits(limits);
  const input: unknown = frame;
  let bytes: Uint8Array;
  if (input instanceof Uint8Array) bytes = input;
  else if (input instanceof ArrayBuffer) bytes = new Uint8Array(input);
  else if (ArrayBuffer.isView(input)) bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  else {
    throw new ProtocolError(ProtocolErrorCode.MALFORMED, `a frame must be binary (Uint8Array or ArrayBuffer), got ${typeof input}`);
  }
  if (bytes.byteLength > resolved.maxFrameBytes) {
    throw new ProtocolError(
      ProtocolErrorCode.FRAME_TOO_LARGE,
      `frame is ${bytes.byteLength} bytes; the limit is ${resolved.maxFrameBytes}`,
    );
  }
  if (bytes.byteLength === 0) {
    throw new ProtocolError(ProtocolErrorCode.MALFORMED, 'frame is empty');
  }
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ProtocolError(ProtocolErrorCode.MALFORMED, `frame is not one valid MessagePack value: ${reason.slice(0, 200)}`, {
      cause,
    });
  }
  return validateResolved(value, resolved);
}
