import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, findJsonProblem, isJsonValue } from './json.js';

/** `levels` arrays nested inside each other around `inner`. */
function nested(levels: number, inner: unknown = 1): unknown {
  let value = inner;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

describe('findJsonProblem / isJsonValue', () => {
  it('accepts JSON: null, booleans, strings, finite numbers, arrays and maps', () => {
    for (const value of [null, true, 'x', 0, -1.5, [], {}, { a: [1, { b: 'c' }], d: null }, Object.create(null) as object]) {
      expect(findJsonProblem(value)).toBeUndefined();
      expect(isJsonValue(value)).toBe(true);
    }
  });

  it('names the path and the reason of the first value that is not JSON', () => {
    expect(findJsonProblem({ a: [1, Number.NaN] }, 'x')).toEqual({ path: 'x.a[1]', reason: 'expected JSON value, got number NaN' });
    expect(findJsonProblem({ a: { b: Infinity } })).toEqual({ path: '$.a.b', reason: 'expected JSON value, got number Infinity' });
    expect(findJsonProblem([new Float32Array(2)])?.reason).toBe('expected JSON value, got Float32Array');
    expect(findJsonProblem({ when: new Date(0) })?.path).toBe('$.when');
    expect(findJsonProblem(new Map())?.reason).toBe('expected JSON value, got Map');
    expect(findJsonProblem({ f: () => 1 })?.path).toBe('$.f');
    expect(findJsonProblem(10n)?.reason).toBe('expected JSON value, got bigint');
    expect(findJsonProblem(undefined)?.reason).toBe('expected JSON value, got nothing');
  });

  it('refuses undefined properties unless asked to skip them', () => {
    expect(findJsonProblem({ a: 1, b: undefined })).toEqual({ path: '$.b', reason: 'expected JSON value, got nothing' });
    expect(isJsonValue({ a: 1, b: undefined }, { allowUndefinedProperties: true })).toBe(true);
    expect(isJsonValue([undefined], { allowUndefinedProperties: true })).toBe(false);
  });

  it(`limits nesting to ${MAX_JSON_DEPTH} levels`, () => {
    expect(isJsonValue(nested(MAX_JSON_DEPTH))).toBe(true);
    expect(findJsonProblem(nested(MAX_JSON_DEPTH + 1))?.reason).toBe(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    // A cycle is not JSON either: it ends as too deep instead of overflowing the stack.
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    expect(findJsonProblem(cycle)?.reason).toBe(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  });
});
