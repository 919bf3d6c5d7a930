import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from './codec.js';
import { ProtocolError, ProtocolErrorCode, isProtocolError } from './errors.js';
import { MAX_INT8_SCALE, encodeGradient } from './gradient-codecs.js';
import type { DecodeLimits } from './limits.js';
import type { Message } from './messages.js';
import { OPAQUE_FIELDS, OPTIONAL_FIELDS, prng, randomFloats, sampleMessages } from './test-support/fixtures.js';
import { firstNonFiniteFloat, validateMessage } from './validate.js';

const P = 64;
const LIMITS: Partial<DecodeLimits> = { parameterCount: P, modelName: 'tiny' };

/** Encode anything (not only valid messages) as a frame. */
function frameOf(value: unknown): Uint8Array {
  return encodeMessage(value as Message);
}

/** A deep copy of a sample as loose data, to break on purpose. */
function loose(name: string, parameterCount = P): Record<string, any> {
  return structuredClone(sampleMessages(parameterCount)[name]) as Record<string, any>;
}

function decodeError(frame: Uint8Array | ArrayBuffer, limits: Partial<DecodeLimits> = LIMITS): ProtocolError {
  try {
    decodeMessage(frame, limits);
  } catch (error) {
    expect(isProtocolError(error)).toBe(true);
    return error as ProtocolError;
  }
  throw new Error('expected decodeMessage to throw');
}

function expectCode(value: unknown, code: ProtocolErrorCode, limits: Partial<DecodeLimits> = LIMITS): ProtocolError {
  const error = decodeError(frameOf(value), limits);
  expect(error.code, error.message).toBe(code);
  return error;
}

describe('MALFORMED', () => {
  const valid = encodeMessage(sampleMessages(P).resultTrain!);

  it('rejects every truncation of a valid frame', () => {
    for (let length = 0; length < valid.length; length++) {
      expect(decodeError(valid.subarray(0, length)).code).toBe(ProtocolErrorCode.MALFORMED);
    }
  });

  it('rejects trailing bytes after a complete value', () => {
    const longer = new Uint8Array(valid.length + 1);
    longer.set(valid);
    expect(decodeError(longer).code).toBe(ProtocolErrorCode.MALFORMED);
  });

  it('rejects random garbage', () => {
    const random = prng(11);
    for (let trial = 0; trial < 200; trial++) {
      const garbage = new Uint8Array(1 + Math.floor(random() * 300));
      for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(random() * 256);
      expect(decodeError(garbage).code).toBe(ProtocolErrorCode.MALFORMED);
    }
  });

  it('rejects the reserved byte 0xc1, non-maps, maps without a string type, and non-binary frames', () => {
    expect(decodeError(new Uint8Array([0xc1])).code).toBe(ProtocolErrorCode.MALFORMED);
    expectCode(42, ProtocolErrorCode.MALFORMED);
    expectCode('hello', ProtocolErrorCode.MALFORMED);
    expectCode(null, ProtocolErrorCode.MALFORMED);
    expectCode([{ type: 'bye', reason: 'x' }], ProtocolErrorCode.MALFORMED);
    expectCode(new Float32Array(4), ProtocolErrorCode.MALFORMED);
    expectCode({ reason: 'x' }, ProtocolErrorCode.MALFORMED);
    expectCode({ type: 7, reason: 'x' }, ProtocolErrorCode.MALFORMED);
    expect(() => decodeMessage('{"type":"bye"}' as unknown as Uint8Array)).toThrow(
      expect.objectContaining({ code: ProtocolErrorCode.MALFORMED }),
    );
  });

  it('rejects structured-clone references (frames cannot describe cycles)', () => {
    // 0xd6 0x69 <id:4>: msgpackr's "id" extension, followed by an empty map.
    const frame = new Uint8Array([0xd6, 0x69, 0, 0, 0, 1, 0x80]);
    expect(decodeError(frame).code).toBe(ProtocolErrorCode.MALFORMED);
  });
});

describe('UNKNOWN_TYPE', () => {
  it('names the unknown type', () => {
    const error = expectCode({ type: 'launch', target: 'moon' }, ProtocolErrorCode.UNKNOWN_TYPE);
    expect(error.message).toContain('"launch"');
  });
});

describe('VERSION_MISMATCH', () => {
  it('refuses a hello or welcome of another protocol version', () => {
    for (const name of ['helloWorker', 'helloDashboard', 'welcome']) {
      for (const version of [0, 2, 99]) {
        const message = loose(name);
        message.protocolVersion = version;
        expectCode(message, ProtocolErrorCode.VERSION_MISMATCH);
      }
    }
  });

  it('checks the version before the rest of the hello', () => {
    expectCode({ type: 'hello', protocolVersion: 2, role: 'robot' }, ProtocolErrorCode.VERSION_MISMATCH);
  });
});

describe('BAD_FIELD', () => {
  it('names the field path and the expected type', () => {
    const message = loose('resultTrain');
    message.blocks.push({ ...message.blocks[2], start: 18 });
    message.blocks[2].lossSum = '3.5';
    const error = expectCode(message, ProtocolErrorCode.BAD_FIELD);
    expect(error.path).toBe('result.blocks[2].lossSum');
    expect(error.message).toBe('result.blocks[2].lossSum: expected finite number, got string');
  });

  // Every field of every sample: dropping it is fine exactly when it is optional, and a value of
  // the wrong type is always BAD_FIELD.
  for (const [name, sample] of Object.entries(sampleMessages(P))) {
    it(`checks every field of ${name}`, () => {
      const optional = new Set(OPTIONAL_FIELDS[name]);
      const droppable: string[] = [];
      for (const path of fieldPaths(sample)) {
        const pattern = path.map((key) => (typeof key === 'number' ? '[]' : key)).join('.').replace(/\.\[\]/g, '[]');
        if (pattern === 'type') continue;

        const dropped = structuredClone(sample) as unknown as Record<string, unknown>;
        removeAt(dropped, path);
        try {
          decodeMessage(frameOf(dropped), LIMITS);
          droppable.push(pattern);
        } catch (error) {
          expect((error as ProtocolError).code, `${name}: dropping ${pattern}`).toBe(ProtocolErrorCode.BAD_FIELD);
        }

        const original = getAt(sample, path);
        const wrong = structuredClone(sample) as unknown as Record<string, unknown>;
        setAt(wrong, path, typeof original === 'string' ? 12345 : 'wrong');
        const error = decodeError(frameOf(wrong));
        expect(error.code, `${name}: mistyping ${pattern}: ${error.message}`).toBe(ProtocolErrorCode.BAD_FIELD);
        expect(error.message).toContain('expected');
      }
      expect(new Set(droppable), name).toEqual(optional);
    });
  }

  it('treats nil like an absent optional field, and rejects nil in a required one', () => {
    const hello = loose('helloWorker');
    hello.token = null;
    const decoded = decodeMessage(frameOf(hello), LIMITS);
    expect('token' in decoded).toBe(false);
    const bye = { type: 'bye', reason: null };
    expect(expectCode(bye, ProtocolErrorCode.BAD_FIELD).message).toBe('bye.reason: expected string, got nil');
  });

  it('drops unknown fields (forward compatibility)', () => {
    const decoded = decodeMessage(frameOf({ type: 'bye', reason: 'x', future: [1, 2, 3] }));
    expect(decoded).toStrictEqual({ type: 'bye', reason: 'x' });
  });

  it('checks ranges and enumerations', () => {
    const cases: Array<[string, (message: Record<string, any>) => void]> = [
      ['helloWorker', (m) => (m.capabilities.codecs = [])],
      ['helloWorker', (m) => (m.capabilities.codecs = ['f32', 'bf16'])],
      ['helloWorker', (m) => (m.capabilities.cores = 0)],
      ['helloWorker', (m) => (m.role = 'robot')],
      ['helloWorker', (m) => (m.workerId = '')],
      ['welcome', (m) => (m.dataset = { size: 10 })],
      ['welcome', (m) => (m.modelSpec = { layers: [{ units: Number.NaN }] })],
      ['welcome', (m) => (m.modelSpec = { bytes: new Uint8Array(3) })],
      ['welcome', (m) => (m.heartbeatIntervalMs = 0.5)],
      ['params', (m) => (m.step = -1)],
      ['params', (m) => (m.params = Array.from(m.params))],
      ['params', (m) => (m.params = new Float64Array(P))],
      ['taskTrain', (m) => (m.kind = 'infer')],
      ['taskTrain', (m) => (m.deadlineMs = 0)],
      ['taskTrain', (m) => (m.blocks = [])],
      ['taskTrain', (m) => (m.blocks[0].start = 2.5)],
      ['taskTrain', (m) => (m.indices = new Int32Array(m.indices.length))],
      ['resultTrain', (m) => (m.blocks[0].gradient.codec = 'f64')],
      ['resultTrain', (m) => (m.blocks[0].correct = m.blocks[0].sampleCount + 1)],
      ['resultTrain', (m) => (m.blocks[2].gradient.scales = undefined)],
      ['resultTrain', (m) => (m.blocks[2].gradient.scales[0] = -1)],
      ['resultTrain', (m) => (m.blocks[1].gradient.payload = new Int16Array(P))],
      ['resultTrain', (m) => (m.blocks[0].gradient = undefined)],
      ['resultTrain', (m) => (m.backend = 'tpu')],
      ['resultEval', (m) => (m.blocks[0].correct = undefined)],
      ['resultEval', (m) => (m.blocks[0].gradient = encodeGradient('f32', new Float32Array(P)))],
      ['heartbeat', (m) => (m.sentAt = Number.POSITIVE_INFINITY)],
      ['event', (m) => (m.event = { step: 1 })],
      ['event', (m) => (m.event.deep = nest(80))],
      ['adminLearningRate', (m) => (m.value = 0)],
      ['adminLearningRate', (m) => (m.value = undefined)],
      ['adminPause', (m) => (m.adminToken = '')],
    ];
    for (const [name, mutate] of cases) {
      const message = loose(name);
      mutate(message);
      let error: unknown;
      try {
        decodeMessage(frameOf(message), LIMITS);
      } catch (caught) {
        error = caught;
      }
      expect(error, `${name}: ${mutate.toString()}`).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).code, `${name}: ${mutate.toString()}`).toBe(ProtocolErrorCode.BAD_FIELD);
    }
  });
});

describe('FRAME_TOO_LARGE', () => {
  it('refuses a frame over maxFrameBytes before parsing it', () => {
    const frame = encodeMessage(sampleMessages(P).params!);
    expect(decodeError(frame, { maxFrameBytes: frame.length - 1 }).code).toBe(ProtocolErrorCode.FRAME_TOO_LARGE);
    expect(decodeMessage(frame, { maxFrameBytes: frame.length }).type).toBe('params');
    const garbage = new Uint8Array(2048).fill(0xc1); // would be MALFORMED if it were parsed
    expect(decodeError(garbage, { maxFrameBytes: 1024 }).code).toBe(ProtocolErrorCode.FRAME_TOO_LARGE);
  });

  it('throws TypeError for nonsensical limits', () => {
    const frame = encodeMessage(sampleMessages(P).bye!);
    expect(() => decodeMessage(frame, { maxFrameBytes: 0 })).toThrow(TypeError);
    expect(() => decodeMessage(frame, { maxShardsPerTask: 1.5 })).toThrow(TypeError);
    expect(() => decodeMessage(frame, { parameterCount: -1 })).toThrow(TypeError);
  });
});

describe('TOO_MANY_SHARDS', () => {
  it('counts micro-shards over all blocks of a task', () => {
    const task = loose('taskTrain'); // 4 + 1 shards
    expectCode(task, ProtocolErrorCode.TOO_MANY_SHARDS, { ...LIMITS, maxShardsPerTask: 4 });
    expect(decodeMessage(frameOf(task), { ...LIMITS, maxShardsPerTask: 5 }).type).toBe('task');
  });

  it('counts blocks of a result', () => {
    const result = loose('resultTrain'); // 3 blocks, 6 shards
    expectCode(result, ProtocolErrorCode.TOO_MANY_SHARDS, { ...LIMITS, maxShardsPerTask: 2 });
    expectCode(result, ProtocolErrorCode.TOO_MANY_SHARDS, { ...LIMITS, maxShardsPerTask: 5 });
  });

  it('refuses one huge aligned block under the default limit', () => {
    const task = loose('taskTrain');
    task.blocks = [{ start: 0, count: 2048 }];
    task.indices = new Uint32Array(2048 * task.microShardSize);
    expectCode(task, ProtocolErrorCode.TOO_MANY_SHARDS);
  });
});

describe('BAD_BLOCK', () => {
  const badBlockLists = [
    [{ start: 0, count: 3 }], // count not a power of two
    [{ start: 2, count: 4 }], // start not a multiple of count
    [{ start: 0, count: 0 }], // empty block
    [
      { start: 0, count: 4 },
      { start: 2, count: 2 },
    ], // overlap
    [
      { start: 8, count: 1 },
      { start: 4, count: 1 },
    ], // descending
  ];

  it.each(badBlockLists.map((blocks) => [JSON.stringify(blocks), blocks]))('refuses task blocks %s', (_label, blocks) => {
    const task = loose('taskTrain');
    task.blocks = blocks;
    const shards = (blocks as Array<{ count: number }>).reduce((sum, block) => sum + block.count, 0);
    task.indices = new Uint32Array(shards * task.microShardSize);
    expectCode(task, ProtocolErrorCode.BAD_BLOCK);
  });

  it('refuses misaligned result blocks', () => {
    const result = loose('resultTrain');
    result.blocks[0].start = 6;
    expectCode(result, ProtocolErrorCode.BAD_BLOCK);
  });
});

describe('LENGTH_MISMATCH', () => {
  it('says which step and model when a gradient has the wrong length', () => {
    const message = loose('resultTrain', 61705);
    message.blocks = [message.blocks[0]];
    const error = expectCode(message, ProtocolErrorCode.LENGTH_MISMATCH, { parameterCount: 61706, modelName: 'lenet5' });
    expect(error.message).toBe('result for step 12 block 8+4 has 61705 values; model lenet5 has 61706 parameters');
  });

  it('checks params, payloads against their length field, int8 scales, task indices and welcome', () => {
    expectCode(loose('params', P + 1), ProtocolErrorCode.LENGTH_MISMATCH);
    expectCode(loose('welcome', P + 1), ProtocolErrorCode.LENGTH_MISMATCH);

    for (const block of [0, 1, 2]) {
      const message = loose('resultTrain');
      const gradient = message.blocks[block].gradient;
      gradient.payload = gradient.payload.subarray(1);
      expectCode(message, ProtocolErrorCode.LENGTH_MISMATCH, {}); // no parameterCount: length vs payload
    }
    const scales = loose('resultTrain');
    scales.blocks[2].gradient.scales = scales.blocks[2].gradient.scales.subarray(1);
    expectCode(scales, ProtocolErrorCode.LENGTH_MISMATCH);

    const bin = loose('params');
    bin.params = new Uint8Array(4 * P - 2); // a bin that is not whole floats
    expectCode(bin, ProtocolErrorCode.BAD_FIELD);

    const train = loose('taskTrain');
    train.indices = train.indices.subarray(1);
    expectCode(train, ProtocolErrorCode.LENGTH_MISMATCH);
    const evalTask = loose('taskEval'); // 2 shards of 4, 7 indices: a short last shard is fine for eval
    evalTask.indices = new Uint32Array(4);
    expectCode(evalTask, ProtocolErrorCode.LENGTH_MISMATCH);
    evalTask.indices = new Uint32Array(9);
    expectCode(evalTask, ProtocolErrorCode.LENGTH_MISMATCH);
    evalTask.indices = new Uint32Array(5);
    expect(decodeMessage(frameOf(evalTask), LIMITS).type).toBe('task');
  });
});

describe('NON_FINITE', () => {
  it('finds NaN and ±Infinity anywhere in an f32 gradient or in params', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      for (const index of [0, 1, 31, P - 2, P - 1]) {
        const result = loose('resultTrain');
        result.blocks[0].gradient.payload[index] = bad;
        const error = expectCode(result, ProtocolErrorCode.NON_FINITE);
        expect(error.message).toContain(`value ${index} is`);
        const params = loose('params');
        params.params[index] = bad;
        expectCode(params, ProtocolErrorCode.NON_FINITE);
      }
    }
  });

  it('finds Inf/NaN halves in an f16 gradient and bad int8 scales', () => {
    for (const half of [0x7c00, 0xfc00, 0x7e00, 0x7c01]) {
      const result = loose('resultTrain');
      result.blocks[1].gradient.payload[5] = half;
      expectCode(result, ProtocolErrorCode.NON_FINITE);
    }
    for (const scale of [Number.NaN, Number.POSITIVE_INFINITY, MAX_INT8_SCALE * 2]) {
      const result = loose('resultTrain');
      result.blocks[2].gradient.scales[1] = scale;
      expectCode(result, ProtocolErrorCode.NON_FINITE);
    }
  });

  it('firstNonFiniteFloat agrees with a naive scan', () => {
    const random = prng(21);
    for (let trial = 0; trial < 200; trial++) {
      const values = randomFloats(random, Math.floor(random() * 40), 1e30);
      if (values.length > 0 && random() < 0.7) {
        const at = Math.floor(random() * values.length);
        values[at] = [Number.NaN, Infinity, -Infinity][trial % 3]!;
        if (random() < 0.3) values[Math.floor(random() * values.length)] = Number.NaN;
      }
      expect(firstNonFiniteFloat(values)).toBe(values.findIndex((value) => !Number.isFinite(value)));
    }
  });
});

// ---------------------------------------------------------------------------------------------

type Path = Array<string | number>;

/** Paths to every field of a message, descending into maps and arrays of maps but not into opaque JSON. */
function fieldPaths(value: unknown, prefix: Path = []): Path[] {
  const paths: Path[] = [];
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      if (isMap(item)) paths.push(...fieldPaths(item, [...prefix, index]));
    });
    return paths;
  }
  if (!isMap(value)) return paths;
  for (const [key, child] of Object.entries(value)) {
    const path = [...prefix, key];
    paths.push(path);
    if (prefix.length === 0 && OPAQUE_FIELDS.has(key)) {
      // Only the required key of an opaque JSON field is the protocol's business.
      const required = key === 'dataset' ? 'name' : key === 'event' ? 'kind' : undefined;
      if (required !== undefined) paths.push([...path, required]);
      continue;
    }
    paths.push(...fieldPaths(child, path));
  }
  return paths;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function getAt(root: unknown, path: Path): unknown {
  return path.reduce<any>((node, key) => node[key], root);
}

function setAt(root: unknown, path: Path, value: unknown): void {
  (getAt(root, path.slice(0, -1)) as any)[path[path.length - 1]!] = value;
}

function removeAt(root: unknown, path: Path): void {
  delete (getAt(root, path.slice(0, -1)) as any)[path[path.length - 1]!];
}

function nest(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe('inline task samples', () => {
  const base = {
    type: 'task', taskId: 't1', runId: 'r1', step: 3, kind: 'train', microShardSize: 2,
    blocks: [{ start: 0, count: 2 }], indices: Uint32Array.of(5, 6, 7, 8), deadlineMs: 1000,
  };
  it('accepts x with a whole number of values per sample and one label per sample', () => {
    const task = validateMessage({ ...base, x: new Float32Array(12), labels: Int32Array.of(1, 2, 3, 4) });
    expect(task).toMatchObject({ type: 'task' });
    expect((task as { x?: Float32Array }).x?.length).toBe(12);
  });
  it('rejects lengths that do not fit the indices, and non-finite samples', () => {
    const codeOf = (v: object): string | undefined => {
      try {
        validateMessage(v);
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return undefined;
    };
    expect(codeOf({ ...base, x: new Float32Array(13) })).toBe('LENGTH_MISMATCH');
    expect(codeOf({ ...base, labels: Int32Array.of(1, 2, 3) })).toBe('LENGTH_MISMATCH');
    expect(codeOf({ ...base, x: Float32Array.of(0, 0, 0, NaN) })).toBe('NON_FINITE');
    expect(codeOf({ ...base, labels: Float32Array.of(1, 2, 3, 4) })).toBe('BAD_FIELD');
  });
});

describe('task samples as 8-bit pixels', () => {
  const base = {
    type: 'task', taskId: 't1', runId: 'r1', step: 3, kind: 'train', microShardSize: 2,
    blocks: [{ start: 0, count: 2 }], indices: Uint32Array.of(5, 6, 7, 8), deadlineMs: 1000, labels: Int32Array.of(1, 2, 3, 4),
  };
  const codeOf = (v: object): string | undefined => {
    try {
      decodeMessage(frameOf(v), LIMITS);
    } catch (e) {
      return (e as { code?: string }).code;
    }
    return undefined;
  };
  it('round-trips pixels and their normalisation through the codec, at a quarter of the bytes of x', () => {
    const pixels = Uint8Array.from({ length: 4 * 12 }, (_, i) => (i * 37) & 255);
    const pixelNormalization = { mean: [0.5, 0.25, 0.125], std: [0.2, 0.3, 0.4] };
    const decoded = decodeMessage(frameOf({ ...base, pixels, pixelNormalization }), LIMITS) as { pixels: Uint8Array; pixelNormalization: object; x?: unknown };
    expect(decoded.pixels).toEqual(pixels);
    expect(decoded.pixelNormalization).toEqual(pixelNormalization);
    expect(decoded.x).toBeUndefined();
    const asFloat = frameOf({ ...base, x: new Float32Array(4 * 12) }).byteLength;
    expect(frameOf({ ...base, pixels }).byteLength).toBeLessThan(asFloat - 3 * 4 * 12 + 32);
  });
  it('refuses pixels with x, normalisation without pixels, bad lengths, and a zero or non-finite std', () => {
    const pixels = new Uint8Array(4 * 12);
    expect(codeOf({ ...base, pixels, x: new Float32Array(48) })).toBe('BAD_FIELD');
    expect(codeOf({ ...base, pixelNormalization: { mean: [0], std: [1] } })).toBe('BAD_FIELD');
    expect(codeOf({ ...base, pixels: new Uint8Array(47) })).toBe('LENGTH_MISMATCH');
    expect(codeOf({ ...base, pixels: new Uint8Array(0) })).toBe('LENGTH_MISMATCH');
    expect(codeOf({ ...base, pixels: new Uint8Array(4 * 10), pixelNormalization: { mean: [0, 0, 0], std: [1, 1, 1] } })).toBe('LENGTH_MISMATCH');
    expect(codeOf({ ...base, pixels, pixelNormalization: { mean: [0, 0, 0], std: [1, 0, 1] } })).toBe('BAD_FIELD');
    expect(codeOf({ ...base, pixels, pixelNormalization: { mean: [0, Infinity, 0], std: [1, 1, 1] } })).toBe('BAD_FIELD');
    expect(codeOf({ ...base, pixels, pixelNormalization: { mean: [0, 0, 0], std: [1, 1] } })).toBe('LENGTH_MISMATCH');
    expect(codeOf({ ...base, pixels, pixelNormalization: { mean: ['0'], std: [1] } })).toBe('BAD_FIELD');
    expect(codeOf({ ...base, pixels })).toBeUndefined();
  });
});

describe('admin liftBan', () => {
  it('round-trips with its key and refuses an empty or non-string key', () => {
    const lift = { type: 'admin', action: 'liftBan', value: 'worker:w7', adminToken: 'admin-secret' } as Message;
    expect(decodeMessage(encodeMessage(lift))).toEqual(lift);
    for (const value of ['', 7, undefined]) {
      let error: unknown;
      try {
        validateMessage({ ...lift, value });
      } catch (e) {
        error = e;
      }
      expect(isProtocolError(error) && error.code === ProtocolErrorCode.BAD_FIELD).toBe(true);
    }
  });
});
