import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The store's shared code is written once for every database: what differs
 * lives behind `StoreDialect`, in each adapter's own folder. These checks
 * keep it so.
 */

const STORE = path.dirname(fileURLToPath(import.meta.url));
const ADAPTERS = ['sqlite', 'postgres'];

/** The store's modules outside the adapters' folders, by path relative to src/store. */
function sharedModules(dir = STORE): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      return dir === STORE && ADAPTERS.includes(entry.name) ? [] : sharedModules(full);
    }
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

describe('the store dialects', () => {
  it('leave no shared module asking which database it runs on', () => {
    const asking = /[=!]==?\s*'(sqlite|postgres)'|'(sqlite|postgres)'\s*[=!]==?/;
    const offenders = sharedModules()
      .filter((file) => asking.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(STORE, file));
    expect(offenders).toEqual([]);
  });

  it('keep each database driver inside its adapter folder', () => {
    const importsDriver = /from '(pg|better-sqlite3)'/;
    const offenders = sharedModules()
      .filter((file) => importsDriver.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(STORE, file));
    expect(offenders).toEqual([]);
  });
});
