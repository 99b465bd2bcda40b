import { FerryError } from '../protocol/errors.js';

/**
 * True when an error says the disk is full: the file system's ENOSPC (or EDQUOT,
 * over quota), SQLite's SQLITE_FULL, or PostgreSQL's SQLSTATE 53100
 * (disk_full). Such a failure is the operator's to fix, not a bug.
 */
export function isStorageFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || code === '53100';
}

/**
 * The coded error for a full disk, saying what could not be written.
 *
 * @example
 *   if (isStorageFull(err)) throw storageFullError(err, 'the upload');
 */
export function storageFullError(err: unknown, what: string): FerryError {
  const code = (err as { code?: unknown } | null)?.code;
  return new FerryError(
    'E_STORAGE_FULL',
    `The server's disk is full: ${what} could not be written (${String(code)})`,
    { cause: String(code) },
    { cause: err },
  );
}
