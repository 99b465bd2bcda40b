import type { Kysely, Selectable } from 'kysely';
import {
  type AuditEntry,
  type AuditTarget,
  auditTargetSchema,
  auditWhoSchema,
} from '../../protocol/audit-api.js';
import type { AuditListQuery, AuditStore, NewAuditEntry } from '../audit-store.js';
import type { AuditLogTable, Database } from '../schema.js';

/** `AuditStore` over Kysely, written once for every dialect: one row per entry. */
export class KyselyAuditStore implements AuditStore {
  constructor(private readonly db: Kysely<Database>) {}

  async record(entry: NewAuditEntry): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({
        at: entry.at,
        token_id: entry.who?.tokenId ?? null,
        token_name: entry.who?.name ?? null,
        token_role: entry.who?.role ?? null,
        via: entry.who?.via ?? null,
        address: entry.from,
        action: entry.action,
        method: entry.method,
        path: entry.path,
        target_json: JSON.stringify(entry.target),
        status: entry.status,
        outcome: entry.outcome,
        count: entry.count ?? 1,
      })
      .execute();
  }

  async list(query: AuditListQuery): Promise<AuditEntry[]> {
    let select = this.db.selectFrom('audit_log').selectAll();
    if (query.since !== undefined) select = select.where('at', '>=', query.since);
    const who = query.who;
    if (who !== undefined) {
      select = select.where((eb) => eb.or([eb('token_name', '=', who), eb('token_id', '=', who)]));
    }
    const rows = await select
      .orderBy('at', 'desc')
      .orderBy('seq', 'desc')
      .limit(query.limit)
      .execute();
    return rows.reverse().map(toAuditEntry);
  }

  async prune(before: string): Promise<number> {
    const result = await this.db
      .deleteFrom('audit_log')
      .where('at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function toAuditEntry(row: Selectable<AuditLogTable>): AuditEntry {
  const who = auditWhoSchema.safeParse({
    tokenId: row.token_id,
    name: row.token_name,
    role: row.token_role,
    via: row.via,
  });
  const target = auditTargetSchema.safeParse(JSON.parse(row.target_json) as unknown);
  return {
    id: Number(row.seq),
    at: row.at,
    who: who.success ? who.data : null,
    from: row.address,
    action: row.action,
    method: row.method,
    path: row.path,
    target: target.success ? target.data : ({} satisfies AuditTarget),
    status: Number(row.status),
    outcome: row.outcome,
    count: Number(row.count),
  };
}
