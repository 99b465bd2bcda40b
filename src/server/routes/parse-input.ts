import type { z } from 'zod';
import { FerryError } from '../../protocol/errors.js';

/** Parses part of a request with a protocol schema; a mismatch is a 400 naming each field. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: string,
): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || where}: ${i.message}`);
  throw new FerryError('E_BAD_REQUEST', `Invalid request ${where}: ${problems.join('; ')}`, {
    problems,
  });
}
