/**
 * @swarmgrad/protocol — the swarmgrad wire: message types, the msgpackr frame codec, the one
 * validating decoder, and gradient codecs. Environment-free (Node, browsers, Web Workers).
 */
export * from './messages.js';
export { ProtocolError, ProtocolErrorCode, isProtocolError, type ProtocolErrorOptions } from './errors.js';
export {
  DEFAULT_DECODE_LIMITS,
  frameBytesFor,
  resolveDecodeLimits,
  type DecodeLimits,
  type ResolvedDecodeLimits,
} from './limits.js';
export { encodeMessage, decodeMessage, MSGPACK_OPTIONS, type EncodeOptions } from './codec.js';
export { validateMessage, firstNonFiniteFloat } from './validate.js';
export {
  DEFAULT_INT8_CHUNK_SIZE,
  MAX_INT8_CHUNK_SIZE,
  MAX_INT8_SCALE,
  Int8Encoder,
  decodeGradient,
  encodeGradient,
  encodedGradientBytes,
} from './gradient-codecs.js';
export {
  FLOAT16_MAX,
  decodeFloat16,
  encodeFloat16,
  float16BitsToFloat32,
  float32ToFloat16Bits,
} from './float16.js';
export { FrameEncoder } from './frame-encoder.js';
export * from './events.js';
