import { FerryError } from '../protocol/errors.js';

/** Prints an error for a person: the message, its code and a hint. Returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof FerryError) {
    process.stderr.write(`error: ${err.message} [${err.code}]\nhint: ${err.hint}\n`);
    return 1;
  }
  const error = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`error: ${error.message}\n`);
  if (process.env.FERRY_DEBUG) process.stderr.write(`${error.stack ?? ''}\n`);
  else process.stderr.write('hint: set FERRY_DEBUG=1 to see where it happened\n');
  return 1;
}
