import type { Kysely } from 'kysely';
import type {
  HealthChange,
  HealthStore,
  ServiceHealth,
  ServiceHealthReport,
  ServiceHealthState,
} from '../health-store.js';
import type { Database } from '../schema.js';

/** `HealthStore` over Kysely, written once for every dialect. */
export class KyselyHealthStore implements HealthStore {
  constructor(private readonly db: Kysely<Database>) {}

  async record(report: ServiceHealthReport): Promise<HealthChange> {
    const row = {
      version: report.version,
      state: report.state,
      since: report.since,
      answer: report.answer,
      restarts: report.restarts,
      reported_at: report.at,
    };
    return this.db.transaction().execute(async (trx) => {
      const before = await trx
        .selectFrom('service_health')
        .select(['version', 'state', 'restarts'])
        .where('host_id', '=', report.hostId)
        .where('app', '=', report.app)
        .executeTakeFirst();
      if (!before) {
        await trx
          .insertInto('service_health')
          .values({ host_id: report.hostId, app: report.app, ...row })
          .onConflict((oc) => oc.columns(['host_id', 'app']).doUpdateSet(row))
          .execute();
        return { previous: null, changed: true };
      }
      await trx
        .updateTable('service_health')
        .set(row)
        .where('host_id', '=', report.hostId)
        .where('app', '=', report.app)
        .execute();
      return {
        previous: before.state as ServiceHealthState,
        changed:
          before.state !== report.state ||
          before.version !== report.version ||
          before.restarts !== report.restarts,
      };
    });
  }

  async list(
    query: { env?: string; app?: string; hostId?: string } = {},
  ): Promise<ServiceHealth[]> {
    let q = this.db
      .selectFrom('service_health as s')
      .innerJoin('hosts as h', 'h.id', 's.host_id')
      .select([
        's.host_id',
        's.app',
        's.version',
        's.state',
        's.since',
        's.answer',
        's.restarts',
        's.reported_at',
        'h.name',
        'h.env',
      ])
      .where('h.removed_at', 'is', null);
    if (query.env !== undefined) q = q.where('h.env', '=', query.env);
    if (query.app !== undefined) q = q.where('s.app', '=', query.app);
    if (query.hostId !== undefined) q = q.where('s.host_id', '=', query.hostId);
    const rows = await q.orderBy('h.env').orderBy('h.name').orderBy('s.app').execute();
    return rows.map((r) => ({
      hostId: r.host_id,
      host: r.name,
      env: r.env,
      app: r.app,
      version: r.version,
      state: r.state as ServiceHealthState,
      since: r.since,
      answer: r.answer,
      restarts: r.restarts,
      at: r.reported_at,
    }));
  }

  async forget(hostId: string, app?: string): Promise<void> {
    let q = this.db.deleteFrom('service_health').where('host_id', '=', hostId);
    if (app !== undefined) q = q.where('app', '=', app);
    await q.execute();
  }
}
