/** The result code a database error carries, if any. */
function codeOf(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code;
}

/**
 * True when better-sqlite3 reports a violated primary key or unique constraint
 * (SQLite's extended result codes).
 */
export function isSqliteUniqueViolation(err: unknown): boolean {
  const code = codeOf(err);
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** True when SQLite could not write for a full disk (SQLITE_FULL). */
export function isSqliteStorageFull(err: unknown): boolean {
  return codeOf(err) === 'SQLITE_FULL';
}
