import type { Kysely, Selectable } from 'kysely';
import type { AlertKind, AlertStore, NewAlert, StoredAlert } from '../alert-store.js';
import type { AlertsTable, Database } from '../schema.js';
import type { StoreDialect } from '../store-dialect.js';

function toAlert(row: Selectable<AlertsTable>): StoredAlert {
  return {
    id: Number(row.id),
    kind: row.kind as AlertKind,
    key: row.alert_key,
    env: row.env,
    app: row.app,
    hostId: row.host_id,
    host: row.host,
    version: row.version,
    deploymentId: row.deployment_id,
    message: row.message,
    startedAt: row.started_at,
    clearedAt: row.cleared_at,
    clearedBecause: row.cleared_because,
  };
}

/** `AlertStore` over Kysely, written once for every dialect. */
export class KyselyAlertStore implements AlertStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Pick<StoreDialect, 'isUniqueViolation'>,
  ) {}

  async raise(alert: NewAlert): Promise<{ alert: StoredAlert; raised: boolean }> {
    // Two replicas raising one condition at once: the unique open key lets one in.
    for (let attempt = 0; ; attempt++) {
      const open = await this.openOf(alert.key);
      if (open) return { alert: open, raised: false };
      try {
        const row = await this.db
          .insertInto('alerts')
          .values({
            kind: alert.kind,
            alert_key: alert.key,
            open_key: alert.key,
            env: alert.env,
            app: alert.app,
            host_id: alert.hostId,
            host: alert.host,
            version: alert.version,
            deployment_id: alert.deploymentId,
            message: alert.message,
            started_at: alert.startedAt,
            cleared_at: null,
            cleared_because: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return { alert: toAlert(row), raised: true };
      } catch (err) {
        if (!this.dialect.isUniqueViolation(err) || attempt >= 3) throw err;
      }
    }
  }

  async clear(key: string, at: string, because: string): Promise<StoredAlert | undefined> {
    const row = await this.db
      .updateTable('alerts')
      .set({ open_key: null, cleared_at: at, cleared_because: because })
      .where('open_key', '=', key)
      .returningAll()
      .executeTakeFirst();
    return row ? toAlert(row) : undefined;
  }

  async get(id: number): Promise<StoredAlert | undefined> {
    const row = await this.db
      .selectFrom('alerts')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toAlert(row) : undefined;
  }

  async countOpen(): Promise<Partial<Record<AlertKind, number>>> {
    const rows = await this.db
      .selectFrom('alerts')
      .select(['kind', (eb) => eb.fn.countAll<number | string | bigint>().as('n')])
      .where('open_key', 'is not', null)
      .groupBy('kind')
      .execute();
    return Object.fromEntries(rows.map((row) => [row.kind, Number(row.n)]));
  }

  async pruneCleared(before: string): Promise<number> {
    const result = await this.db
      .deleteFrom('alerts')
      .where('open_key', 'is', null)
      .where('cleared_at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async list(
    query: {
      open?: boolean;
      kind?: AlertKind;
      env?: string;
      app?: string;
      hostId?: string;
      deploymentId?: string;
      limit?: number;
    } = {},
  ): Promise<StoredAlert[]> {
    let q = this.db.selectFrom('alerts').selectAll();
    if (query.open === true) q = q.where('open_key', 'is not', null);
    if (query.open === false) q = q.where('open_key', 'is', null);
    if (query.kind !== undefined) q = q.where('kind', '=', query.kind);
    if (query.env !== undefined) q = q.where('env', '=', query.env);
    if (query.app !== undefined) q = q.where('app', '=', query.app);
    if (query.hostId !== undefined) q = q.where('host_id', '=', query.hostId);
    if (query.deploymentId !== undefined) q = q.where('deployment_id', '=', query.deploymentId);
    const rows = await q
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(query.limit ?? 500)
      .execute();
    return rows.map(toAlert);
  }

  private async openOf(key: string): Promise<StoredAlert | undefined> {
    const row = await this.db
      .selectFrom('alerts')
      .selectAll()
      .where('open_key', '=', key)
      .executeTakeFirst();
    return row ? toAlert(row) : undefined;
  }
}
