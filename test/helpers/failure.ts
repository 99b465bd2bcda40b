import { expect } from 'vitest';
import { FerryError } from '../../src/protocol/errors.js';

/** The FerryError a promise rejects with, for asserting its code and details; fails if it resolves. */
export async function failure(promise: Promise<unknown>): Promise<FerryError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(FerryError);
    return err as FerryError;
  }
  throw new Error('expected the call to fail with a FerryError');
}
