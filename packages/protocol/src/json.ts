/**
 * The one JSON checker of swarmgrad: whether a decoded value is plain JSON (what `JsonValue`
 * describes). The decoder uses it for the opaque JSON fields of messages (dataset
 * descriptors, events, admin payloads); run configs and checkpoints use it for model specs
 * and histories. Pure, environment-free.
 */
import type { JsonValue } from './messages.js';

/** How deep arrays and objects may nest inside one JSON value (the root is level 0). */
export const MAX_JSON_DEPTH = 64;

/** Options of {@link findJsonProblem} and {@link isJsonValue}. */
export interface JsonCheckOptions {
  /**
   * Accept object properties whose value is `undefined` (they vanish in `JSON.stringify`), as an
   * in-process config with optional fields has them. Default `false`: on the wire a present
   * key must hold JSON.
   */
  allowUndefinedProperties?: boolean;
}

/** Where a value stops being JSON, and why. */
export interface JsonProblem {
  /** Path of the offending value, e.g. `$.event.history[3]`. */
  path: string;
  /** What is wrong there, e.g. `expected JSON value, got number NaN`. */
  reason: string;
}

/**
 * The first place (depth first, in key order) where `value` is not JSON, or `undefined` when
 * it is. JSON here means `null`, booleans, strings, finite numbers, arrays and plain objects
 * (maps as msgpackr decodes them; no typed arrays, `Map`s or dates), nested at most {@link MAX_JSON_DEPTH} levels.
 * @param path - the name of `value` in messages, e.g. `task.dataset`
 * @example
 * ```ts
 * findJsonProblem({ a: [1, Number.NaN] }, 'x'); // { path: 'x.a[1]', reason: 'expected JSON value, got number NaN' }
 * ```
 */
export function findJsonProblem(value: unknown, path = '$', options: JsonCheckOptions = {}): JsonProblem | undefined {
  return problemAt(value, path, 0, options.allowUndefinedProperties === true);
}

/** Whether `value` is JSON as {@link findJsonProblem} defines it. */
export function isJsonValue(value: unknown, options: JsonCheckOptions = {}): value is JsonValue {
  return findJsonProblem(value, '$', options) === undefined;
}

function problemAt(value: unknown, path: string, depth: number, allowUndefined: boolean): JsonProblem | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { path, reason: `expected JSON value, got ${describe(value)}` };
  const isArray = Array.isArray(value);
  if (!isArray && !isPlainObject(value)) return { path, reason: `expected JSON value, got ${describe(value)}` };
  if (depth >= MAX_JSON_DEPTH) return { path, reason: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` };
  if (isArray) {
    for (let i = 0; i < value.length; i++) {
      const problem = problemAt(value[i], `${path}[${i}]`, depth + 1, allowUndefined);
      if (problem) return problem;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const item = value[key];
    if (item === undefined && allowUndefined) continue;
    const problem = problemAt(item, `${path}.${key}`, depth + 1, allowUndefined);
    if (problem) return problem;
  }
  return undefined;
}

const objectToString = Object.prototype.toString;

/** A map as msgpackr decodes it: an object that is not an array, a typed array or a special object. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !ArrayBuffer.isView(value) &&
    objectToString.call(value) === '[object Object]'
  );
}

/** A short description of a value for error messages: `string`, `number -3`, `array`, `Float64Array`. */
export function describe(value: unknown): string {
  if (value === null) return 'nil';
  if (value === undefined) return 'nothing';
  switch (typeof value) {
    case 'number':
      return `number ${value}`;
    case 'boolean':
      return `boolean ${value}`;
    case 'string':
    case 'bigint':
      return typeof value;
    case 'object': {
      if (Array.isArray(value)) return 'array';
      if (isPlainObject(value)) return 'map';
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof name === 'string' ? name : 'object';
    }
    default:
      return typeof value;
  }
}
