import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from './codec.js';
import { ProtocolError } from './errors.js';
import type { DecodeLimits } from './limits.js';
import type { Message } from './messages.js';
import { prng, sampleMessages } from './test-support/fixtures.js';

const P = 24;
const LIMITS: Partial<DecodeLimits> = { parameterCount: P, maxShardsPerTask: 64, modelName: 'tiny' };

/** Decode, and report the outcome: 'ok' or the ProtocolError code. Anything else thrown fails the test. */
function outcome(frame: Uint8Array, context: () => string): string {
  try {
    const message = decodeMessage(frame, LIMITS);
    // Whatever got through is a well-formed message: it survives another trip unchanged.
    expect(decodeMessage(encodeMessage(message), LIMITS), context()).toStrictEqual(message);
    return 'ok';
  } catch (error) {
    if (!(error instanceof ProtocolError)) {
      throw new Error(`${context()}: threw ${String(error)} instead of a ProtocolError`, { cause: error });
    }
    return error.code;
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

describe('fuzz', () => {
  const frames = Object.values(sampleMessages(P, 2)).map((message) => encodeMessage(message));

  it('1,000 random byte mutations of valid frames throw nothing but ProtocolError', () => {
    const random = prng(2026);
    const pick = (n: number): number => Math.floor(random() * n);
    const codes = new Map<string, number>();
    for (let trial = 0; trial < 1000; trial++) {
      const original = frames[pick(frames.length)]!;
      let bytes = Array.from(original);
      const mutations = 1 + pick(3);
      for (let m = 0; m < mutations; m++) {
        const at = pick(bytes.length + 1);
        switch (pick(7)) {
          case 0: // flip a bit
            if (at < bytes.length) bytes[at]! ^= 1 << pick(8);
            break;
          case 1: // replace a byte, often with an interesting one
            if (at < bytes.length) bytes[at] = random() < 0.5 ? pick(256) : [0x00, 0x7f, 0x80, 0xc0, 0xc1, 0xc2, 0xcb, 0xd4, 0xd9, 0xdc, 0xde, 0xff][pick(12)]!;
            break;
          case 2: // truncate
            bytes = bytes.slice(0, at);
            break;
          case 3: // insert random bytes
            bytes.splice(at, 0, ...Array.from({ length: 1 + pick(8) }, () => pick(256)));
            break;
          case 4: // delete a range
            bytes.splice(at, 1 + pick(16));
            break;
          case 5: // duplicate a range
            bytes.splice(at, 0, ...bytes.slice(at, at + 1 + pick(32)));
            break;
          default: // splice in a piece of another frame
            {
              const other = frames[pick(frames.length)]!;
              const from = pick(other.length);
              bytes.splice(at, pick(16), ...other.subarray(from, from + 1 + pick(32)));
            }
            break;
        }
      }
      const frame = Uint8Array.from(bytes);
      const code = outcome(frame, () => `trial ${trial}, frame ${hex(frame)}`);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    // The mutations reach past the parser into the validator.
    expect(codes.get('MALFORMED') ?? 0).toBeGreaterThan(100);
    expect(codes.size).toBeGreaterThanOrEqual(4);
  });

  it('1,000 random value mutations of valid messages throw nothing but ProtocolError', () => {
    const random = prng(7);
    const pick = (n: number): number => Math.floor(random() * n);
    const messages = Object.values(sampleMessages(P, 2));
    const replacements: Array<() => unknown> = [
      () => null,
      () => undefined,
      () => -1,
      () => 0,
      () => 2 ** 53,
      () => 0.5,
      () => Number.NaN,
      () => -Infinity,
      () => '',
      () => 'x'.repeat(300),
      () => true,
      () => [],
      () => [1, 2, 3],
      () => ({}),
      () => ({ type: 'bye' }),
      () => new Float32Array([Number.NaN]),
      () => new Float32Array(P + 1),
      () => new Float64Array(P),
      () => new Uint8Array(4 * P),
      () => new Uint8Array(4 * P + 1),
      () => new Int8Array(P),
      () => new Uint16Array(P).fill(0x7c00),
      () => new Uint32Array(3),
      () => 12345678901234567890n,
      () => new Map([[1, 2]]),
      () => new Set([1]),
      () => new Date(0),
      () => new Error('boom'),
      () => /re/g,
    ];
    const codes = new Map<string, number>();
    for (let trial = 0; trial < 1000; trial++) {
      const message = structuredClone(messages[pick(messages.length)]!) as unknown as Record<string, unknown>;
      const containers = collectContainers(message);
      const [container, key] = containers[pick(containers.length)]!;
      const value = replacements[pick(replacements.length)]!();
      if (random() < 0.15 && !Array.isArray(container)) delete container[key as string];
      else (container as Record<string | number, unknown>)[key] = value;
      const frame = encodeMessage(message as unknown as Message);
      const code = outcome(frame, () => `trial ${trial}: ${String(key)} := ${String(value)}`);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    expect(codes.get('BAD_FIELD') ?? 0).toBeGreaterThan(300);
    expect(codes.size).toBeGreaterThanOrEqual(5);
  });
});

/** Every (container, key) pair in a message tree, typed arrays excluded. */
function collectContainers(root: Record<string, unknown>): Array<[Record<string | number, unknown> | unknown[], string | number]> {
  const out: Array<[Record<string | number, unknown> | unknown[], string | number]> = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach((child, index) => {
        out.push([node, index]);
        visit(child);
      });
    } else if (typeof node === 'object' && node !== null && !ArrayBuffer.isView(node)) {
      for (const [key, child] of Object.entries(node)) {
        out.push([node as Record<string, unknown>, key]);
        visit(child);
      }
    }
  };
  visit(root);
  return out;
}
