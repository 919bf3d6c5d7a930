import { expect } from 'vitest';
import { NnError, type NnErrorCode } from '../errors.js';

/** Asserts that `fn` throws an `NnError` with `code` (tests match codes, not messages). */
export function expectNnError(fn: () => unknown, code: NnErrorCode): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(NnError);
  expect((caught as NnError).code).toBe(code);
}
