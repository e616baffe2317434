import { GripError, type GripErrorCode } from '../../src/index';

/** Run `fn`, expect it to throw a GripError (with `code`, when given), and return the error. */
export function errorOf(fn: () => unknown, code?: GripErrorCode): GripError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GripError);
    if (code !== undefined) expect((err as GripError).code).toBe(code);
    return err as GripError;
  }
  throw new Error('expected a throw');
}
