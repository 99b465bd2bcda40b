/** The SQLSTATE a `pg` error carries, if any. */
function sqlStateOf(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code;
}

/** True when PostgreSQL reports a violated primary key or unique constraint (SQLSTATE 23505). */
export function isPostgresUniqueViolation(err: unknown): boolean {
  return sqlStateOf(err) === '23505';
}

/** True when PostgreSQL could not write for a full disk (SQLSTATE 53100, disk_full). */
export function isPostgresStorageFull(err: unknown): boolean {
  return sqlStateOf(err) === '53100';
}
