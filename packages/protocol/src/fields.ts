/**
 * Typed, checked access to the fields of one decoded map, for the decoder (`validate.ts`).
 * Every method returns the field narrowed to its type or throws a `ProtocolError` whose
 * message and `path` name the field (`task.blocks[2].count`).
 */
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { describe, findJsonProblem, isPlainObject } from './json.js';
import type { JsonObject, JsonValue } from './messages.js';

/** Longest id (`workerId`, `runId`, `taskId`, error codes). */
const MAX_ID_LENGTH = 256;

// ---------------------------------------------------------------------------------------------
// JSON

/** `value` as a `JsonObject`, or a `BAD_FIELD` error naming the first path that is not JSON. */
export function checkJsonObject(value: Record<string, unknown>, path: string): JsonObject {
  checkJson(value, path);
  return value as JsonObject;
}

function checkJson(value: unknown, path: string): asserts value is JsonValue {
  const problem = findJsonProblem(value, path);
  if (problem) throw new ProtocolError(ProtocolErrorCode.BAD_FIELD, `${problem.path}: ${problem.reason}`, { path: problem.path });
}

// ---------------------------------------------------------------------------------------------
// field access

const hasOwn = Object.prototype.hasOwnProperty;

/** `record[key]` when `key` is the record's own property (never an inherited one). */
export function own(record: Record<string, unknown>, key: string): unknown {
  return hasOwn.call(record, key) ? record[key] : undefined;
}

/** Whether `value` is one of the strings of a name table. */
export function isOneOf<T extends string>(value: unknown, allowed: readonly T[]): value is T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value);
}

type TypedArrayType<T> = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

/** Typed field access on one decoded map; errors name `path.key`. */
export class Fields {
  constructor(
    readonly raw: Record<string, unknown>,
    readonly path: string,
  ) {}

  /** The field's value; `undefined` when absent or nil. */
  get(key: string): unknown {
    const value = own(this.raw, key);
    return value === null ? undefined : value;
  }

  /** Describe the field's raw value (telling nil from absent) for an error message. */
  describe(key: string): string {
    return describe(own(this.raw, key));
  }

  bad(key: string, expected: string, got: string, code: ProtocolErrorCode = ProtocolErrorCode.BAD_FIELD): ProtocolError {
    const path = `${this.path}.${key}`;
    return new ProtocolError(code, `${path}: expected ${expected}, got ${got}`, { path });
  }

  id(key: string): string {
    return this.text(key, MAX_ID_LENGTH, 1);
  }

  optionalId(key: string): string | undefined {
    return this.get(key) === undefined ? undefined : this.id(key);
  }

  text(key: string, maxLength: number, minLength = 0): string {
    const value = this.get(key);
    if (typeof value !== 'string') throw this.bad(key, 'string', this.describe(key));
    if (value.length < minLength || value.length > maxLength) {
      throw this.bad(key, `string of ${minLength}..${maxLength} characters`, `${value.length} characters`);
    }
    return value;
  }

  optionalText(key: string, maxLength: number): string | undefined {
    return this.get(key) === undefined ? undefined : this.text(key, maxLength);
  }

  boolean(key: string): boolean {
    const value = this.get(key);
    if (typeof value !== 'boolean') throw this.bad(key, 'boolean', this.describe(key));
    return value;
  }

  optionalBoolean(key: string): boolean | undefined {
    return this.get(key) === undefined ? undefined : this.boolean(key);
  }

  /** A safe integer >= `min`. */
  integer(key: string, min: number): number {
    const value = this.get(key);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      throw this.bad(key, min === 0 ? 'integer >= 0' : `integer >= ${min}`, this.describe(key));
    }
    return value;
  }

  optionalInteger(key: string, min: number): number | undefined {
    return this.get(key) === undefined ? undefined : this.integer(key, min);
  }

  /** A finite number >= `min` (any finite number when `min` is omitted). */
  finite(key: string, min = -Infinity): number {
    const value = this.get(key);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      const expected = min === -Infinity ? 'finite number' : min === Number.MIN_VALUE ? 'finite number > 0' : `finite number >= ${min}`;
      throw this.bad(key, expected, this.describe(key));
    }
    return value;
  }

  optionalFinite(key: string, min = -Infinity): number | undefined {
    return this.get(key) === undefined ? undefined : this.finite(key, min);
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T {
    const value = this.get(key);
    if (!isOneOf(value, allowed)) {
      throw this.bad(key, `one of ${allowed.join(', ')}`, typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : this.describe(key));
    }
    return value;
  }

  optionalOneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    return this.get(key) === undefined ? undefined : this.oneOf(key, allowed);
  }

  array(key: string): unknown[] {
    const value = this.get(key);
    if (!Array.isArray(value)) throw this.bad(key, 'array', this.describe(key));
    return value;
  }

  record(key: string): Fields {
    const value = this.get(key);
    if (!isPlainObject(value)) throw this.bad(key, 'map', this.describe(key));
    return new Fields(value, `${this.path}.${key}`);
  }

  jsonObject(key: string): JsonObject {
    const fields = this.record(key);
    return checkJsonObject(fields.raw, fields.path);
  }

  /**
   * A typed array of type `type`: msgpackr's typed-array extension of that type (already
   * an aligned copy owned by the message), or a MessagePack `bin` of whole elements (read
   * little-endian, as a view when aligned and as an aligned copy otherwise) from peers
   * that do not speak msgpackr's extension.
   */
  typedArray<T>(key: string, type: TypedArrayType<T>, typeName: string): T {
    const value = this.get(key);
    if (value instanceof type) return value;
    if (value instanceof Uint8Array) {
      const size = type.BYTES_PER_ELEMENT;
      if (value.byteLength % size !== 0) {
        throw this.bad(key, `${typeName} (or bin of a multiple of ${size} bytes)`, `bin of ${value.byteLength} bytes`);
      }
      if (value.byteOffset % size === 0) return new type(value.buffer, value.byteOffset, value.byteLength / size);
      // Uint8Array's own slice copies (a Node Buffer's `slice` would return a view).
      return new type(Uint8Array.prototype.slice.call(value).buffer, 0, value.byteLength / size);
    }
    throw this.bad(key, typeName, this.describe(key));
  }
}
