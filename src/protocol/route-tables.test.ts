import { describe, expect, it } from 'vitest';
import { BUNDLE_ROUTES } from './bundle-routes.js';
import { DEPLOYMENT_ROUTES } from './deployment-routes.js';
import { HOST_ROUTES } from './host-routes.js';
import { NOTE_ROUTES } from './note-routes.js';
import { REPORT_ROUTES } from './report-routes.js';
import { ROUTES } from './routes.js';
import { SESSION_ROUTES } from './session-routes.js';
import { TOKEN_ROUTES } from './token-routes.js';
import { VARIABLE_ROUTES } from './variable-routes.js';
import { VERDICT_ROUTES } from './verdict-routes.js';
import { WEBHOOK_ROUTES } from './webhook-routes.js';

/** The area tables `ROUTES` spreads, where a name used twice would pass unseen. */
const TABLES: Record<string, Record<string, unknown>> = {
  BUNDLE_ROUTES,
  TOKEN_ROUTES,
  HOST_ROUTES,
  VARIABLE_ROUTES,
  VERDICT_ROUTES,
  DEPLOYMENT_ROUTES,
  NOTE_ROUTES,
  REPORT_ROUTES,
  SESSION_ROUTES,
  WEBHOOK_ROUTES,
};
/** The routes declared in routes.ts itself. */
const OWN = ['events', 'health', 'environments', 'audit', 'alerts', 'installWanted'];

describe('the route table', () => {
  it('has each name once: no area table replaces another route', () => {
    const seen = new Map<string, string>();
    for (const [table, routes] of Object.entries(TABLES)) {
      for (const name of Object.keys(routes)) {
        expect(
          seen.get(name) ?? (OWN.includes(name) ? 'routes.ts' : undefined),
          `${name} in ${table}`,
        ).toBeUndefined();
        seen.set(name, table);
      }
    }
    for (const [name, table] of seen)
      expect(ROUTES[name as keyof typeof ROUTES]).toBe(TABLES[table]![name]);
    expect(Object.keys(ROUTES).sort()).toEqual([...seen.keys(), ...OWN].sort());
  });
});
