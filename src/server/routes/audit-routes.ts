import { DEFAULT_AUDIT_LIMIT } from '../../protocol/audit-api.js';
import type { AuditLog } from '../audit/audit-log.js';
import { routePlugin } from './route-plugin.js';

/**
 * `GET /audit` (admin): the audit log, since a time and of one token when
 * asked; one entry more than the limit is read to tell whether there are more.
 */
export function auditRoutes(audit: AuditLog) {
  return routePlugin('audit', {
    audit: async ({ query }) => {
      const limit = query.limit ?? DEFAULT_AUDIT_LIMIT;
      const entries = await audit.list({ since: query.since, who: query.who, limit: limit + 1 });
      const more = entries.length > limit;
      return { entries: more ? entries.slice(entries.length - limit) : entries, more };
    },
  });
}
