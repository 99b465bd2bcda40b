import type { Kysely } from 'kysely';
import type {
  HealthChange,
  HealthStore,
  ServiceHealth,
  ServiceHealthReport,
  ServiceHealthState,
} from '../health-store.js';
import type { Database } from '../schema.js';

/**
 * How long after a report was recorded an older one (by the agent's clock) is
 * taken for a late copy and refused: well past the agent's 10 s resend.
 */
const REORDER_WINDOW_MS = 60_000;

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
      agent_at: report.agentAt ?? null,
    };
    return this.db.transaction().execute(async (trx) => {
      const before = await trx
        .selectFrom('service_health')
        .select(['version', 'state', 'restarts', 'agent_at', 'reported_at'])
        .where('host_id', '=', report.hostId)
        .where('app', '=', report.app)
        .executeTakeFirst();
      if (!before) {
        await trx
          .insertInto('service_health')
          .values({ host_id: report.hostId, app: report.app, ...row })
          .onConflict((oc) => oc.columns(['host_id', 'app']).doUpdateSet(row))
          .execute();
        return { previous: null, restartsBefore: null, changed: true };
      }
      // The agent's clock orders its own reports: an older one came late (a
      // resend overtaken by a newer report). Only within the resend window: a
      // host whose clock stepped back (NTP, a restored snapshot) must not have
      // every later report refused.
      if (
        report.agentAt !== undefined &&
        before.agent_at !== null &&
        Date.parse(report.agentAt) < Date.parse(before.agent_at) &&
        Date.parse(report.at) - Date.parse(before.reported_at) < REORDER_WINDOW_MS
      ) {
        return {
          previous: before.state as ServiceHealthState,
          restartsBefore: before.restarts,
          changed: false,
          stale: true,
        };
      }
      await trx
        .updateTable('service_health')
        .set(row)
        .where('host_id', '=', report.hostId)
        .where('app', '=', report.app)
        .execute();
      return {
        previous: before.state as ServiceHealthState,
        restartsBefore: before.restarts,
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
        's.agent_at',
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
      ...(r.agent_at === null ? {} : { agentAt: r.agent_at }),
    }));
  }

  async forget(hostId: string, app?: string, version?: number | null): Promise<boolean> {
    let q = this.db.deleteFrom('service_health').where('host_id', '=', hostId);
    if (app !== undefined) q = q.where('app', '=', app);
    if (version !== undefined)
      q = version === null ? q.where('version', 'is', null) : q.where('version', '=', version);
    const result = await q.executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
