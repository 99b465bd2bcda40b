import { FerryError } from '../protocol/errors.js';
import { isPostgresStorageFull } from './postgres/postgres-errors.js';
import { isSqliteStorageFull } from './sqlite/sqlite-errors.js';

/**
 * True when an error says the disk is full: the file system's ENOSPC (or EDQUOT,
 * over quota), or either store dialect's own word for it (SQLite's SQLITE_FULL,
 * PostgreSQL's SQLSTATE 53100). Such a failure is the operator's to fix, not a bug.
 */
export function isStorageFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === 'ENOSPC' || code === 'EDQUOT' || isSqliteStorageFull(err) || isPostgresStorageFull(err)
  );
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
