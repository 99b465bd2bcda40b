import { DEFAULT_AUDIT_LIMIT } from '../../protocol/audit-api.js';
import type { AuditLog } from '../audit/audit-log.js';
import { routePlugin } from './route-plugin.js';

/** `GET /audit` (admin): the audit log, since a time and of one token when asked. */
export function auditRoutes(audit: AuditLog) {
  return routePlugin('audit', {
    audit: async ({ query }) => ({
      entries: await audit.list({
        since: query.since,
        who: query.who,
        limit: query.limit ?? DEFAULT_AUDIT_LIMIT,
      }),
    }),
  });
}
