import type { Kysely, Selectable } from 'kysely';
import type { HistoryEvent, HistoryStore } from '../history-store.js';
import type { Database, HistoryEventsTable } from '../schema.js';

/**
 * `HistoryStore` over Kysely, written once for every dialect: changes no
 * other table tells (cancels, variables, hosts, tokens), one row each.
 */
export class KyselyHistoryStore implements HistoryStore {
  constructor(private readonly db: Kysely<Database>) {}

  async record(event: HistoryEvent): Promise<void> {
    await this.db
      .insertInto('history_events')
      .values({
        id: event.id,
        at: event.at,
        by: event.by,
        type: event.type,
        app: event.app,
        version: event.version,
        env: event.env,
        detail: event.detail,
        deployment_id: event.deploymentId,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }

  async list(query: {
    app?: string;
    limit: number;
    type?: HistoryEvent['type'];
    deploymentIds?: readonly string[];
  }): Promise<HistoryEvent[]> {
    if (query.deploymentIds?.length === 0) return [];
    let select = this.db.selectFrom('history_events').selectAll();
    if (query.app !== undefined) select = select.where('app', '=', query.app);
    if (query.type !== undefined) select = select.where('type', '=', query.type);
    if (query.deploymentIds !== undefined)
      select = select.where('deployment_id', 'in', query.deploymentIds);
    const rows = await select
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(query.limit)
      .execute();
    return rows.map(toHistoryEvent);
  }
}

function toHistoryEvent(row: Selectable<HistoryEventsTable>): HistoryEvent {
  return {
    id: row.id,
    at: row.at,
    by: row.by,
    type: row.type as HistoryEvent['type'],
    app: row.app,
    version: row.version === null ? null : Number(row.version),
    env: row.env,
    detail: row.detail,
    deploymentId: row.deployment_id,
  };
}
