import { checkFrameSize, encodeMessage, packFrame, type EncodeOptions } from './codec.js';
import type { Message } from './messages.js';

/**
 * An `encodeMessage` for a sender that broadcasts: a `params` message whose parameter vector
 * (same `Float32Array`, same run and step) was encoded before reuses that frame, so a
 * coordinator with W workers encodes each step's parameters once instead of W times. Other
 * messages are encoded as usual. Holds the frame weakly, keyed by the parameter array; the
 * sender must not mutate the array of a message it has passed in (the coordinator doesn't).
 */
export class FrameEncoder {
  private readonly paramsFrames = new WeakMap<Float32Array, { runId: string; step: number; frame: Uint8Array }>();

  constructor(private readonly options?: EncodeOptions) {}

  /** The frame of `message`. */
  encode(message: Message): Uint8Array {
    if (message.type !== 'params') return encodeMessage(message, this.options);
    const cached = this.paramsFrames.get(message.params);
    if (cached && cached.runId === message.runId && cached.step === message.step) return cached.frame;
    // Kept and sent again, so it must not share its buffer with other frames: a parameter
    // vector's frame has one of its own; a tiny one (a few parameters) is copied.
    const packed = packFrame(message);
    const frame = checkFrameSize(message, packed.owned ? packed.frame : packed.frame.slice(), this.options);
    this.paramsFrames.set(message.params, { runId: message.runId, step: message.step, frame });
    return frame;
  }
}
