import { fileURLToPath } from 'node:url';

/**
 * Where `npm run build` puts the dashboard: `<package root>/dist/web`. Found
 * from this module's own place, which is three folders below the package root
 * both when built (`dist/server/web/`) and when run from source under vitest
 * (`src/server/web/`), so it needs no working directory.
 */
export function defaultWebRoot(): string {
  return fileURLToPath(new URL('../../../dist/web', import.meta.url));
}
