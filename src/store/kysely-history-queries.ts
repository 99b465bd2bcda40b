import type { Kysely, Selectable } from 'kysely';
import type { HistoryEventsTable, Database } from './schema.js';
import type { HistoryEvent } from './store.js';

/**
 * The history half of `KyselyStore`: changes no other table tells (cancels,
 * variables, hosts, tokens), one row each. Written to run on every Kysely
 * dialect the store supports.
 */
export class KyselyHistoryQueries {
  constructor(private readonly db: Kysely<Database>) {}

  async recordHistoryEvent(event: HistoryEvent): Promise<void> {
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
      .execute();
  }

  async listHistoryEvents(query: { app?: string; limit: number }): Promise<HistoryEvent[]> {
    let select = this.db.selectFrom('history_events').selectAll();
    if (query.app !== undefined) select = select.where('app', '=', query.app);
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
