/**
 * True when a database error is a violated primary key or unique constraint,
 * on any dialect the store runs on (PostgreSQL's SQLSTATE 23505, SQLite's
 * extended result codes). Lets a store method that raced another writer find
 * the row the other one wrote instead of failing.
 */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}
