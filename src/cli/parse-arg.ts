import type { z } from 'zod';
import { FerryError } from '../protocol/errors.js';

/** Parses a command-line argument with a protocol schema; a mismatch is `E_BAD_REQUEST` naming it. */
export function parseArg<S extends z.ZodType>(
  schema: S,
  value: unknown,
  name: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new FerryError(
    'E_BAD_REQUEST',
    `Invalid ${name} "${String(value)}": ${result.error.issues[0]?.message ?? 'invalid'}`,
  );
}
