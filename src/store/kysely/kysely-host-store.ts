import type { Kysely, Selectable } from 'kysely';
import type { HostRecord } from '../../protocol/api.js';
import { type FactsSample, type HostFacts, parseHostFacts } from '../../protocol/host-facts.js';
import type { FactsRetention, HostStore, NewHost } from '../host-store.js';
import type { Database, HostsTable } from '../schema.js';
import type { StoreDialect } from '../store-dialect.js';

/** Host ids per statement when hosts are read by id (SQLite allows 32,766 parameters, PostgreSQL 65,535). */
const HOST_IDS_PER_QUERY = 1000;

/** `HostStore` over Kysely, written once for every dialect. */
export class KyselyHostStore implements HostStore {
  /**
   * Each host's facts as last read: the stored text, and what it reads as
   * (`readStoredFacts`), as JSON. Reading facts through their schema costs
   * about 0.2 ms a host, and the host list is read often (each rollout tick,
   * every `status`): a thousand hosts cost 200 ms a time. The same text
   * always reads the same, so each host's facts go through the schema once
   * per change; every caller still gets objects of its own, but for a
   * list with `facts: 'shared'`: the one frozen object read at the change
   * (`status` read every host's facts again for each answer: 4–5% of the
   * server's CPU in a thousand-host deployment, `status` asked back to back).
   */
  private readonly factsRead = new Map<
    string,
    { stored: string; read: string; shared?: HostFacts | null }
  >();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Pick<StoreDialect, 'forUpdate'>,
  ) {}

  private toHostRecord(row: Selectable<HostsTable>, shared = false): HostRecord {
    return toHostRecord(row, this.readFacts(row.id, row.facts_json, shared));
  }

  /**
   * `readStoredFacts`, through the schema only when the host's stored facts
   * changed; `shared`: the one frozen object for these facts.
   */
  private readFacts(hostId: string, stored: string | null, shared: boolean): HostFacts | null {
    if (stored === null) return null;
    let known = this.factsRead.get(hostId);
    if (known?.stored !== stored) {
      const facts = readStoredFacts(stored);
      known = { stored, read: JSON.stringify(facts) };
      this.factsRead.set(hostId, known);
      if (!shared) return facts;
    }
    if (!shared) return JSON.parse(known.read) as HostFacts | null;
    known.shared ??= deepFrozen(JSON.parse(known.read) as HostFacts | null);
    return known.shared;
  }

  async create(host: NewHost): Promise<HostRecord> {
    const row = {
      id: host.id,
      name: host.name,
      env: host.env,
      roles_json: JSON.stringify(host.roles),
      vars_json: JSON.stringify(host.vars),
      enrolled_at: new Date().toISOString(),
      last_seen_at: null,
      connected: 0,
      facts_json: null,
      revoked_at: null,
      removed_at: null,
    };
    await this.db.insertInto('hosts').values(row).execute();
    return toHostRecord(row, null);
  }

  async get(id: string): Promise<HostRecord | undefined> {
    const row = await this.db
      .selectFrom('hosts')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && this.toHostRecord(row);
  }

  async findByName(name: string): Promise<HostRecord | undefined> {
    const row = await this.db
      .selectFrom('hosts')
      .selectAll()
      .where('name', '=', name)
      .where('removed_at', 'is', null)
      .executeTakeFirst();
    return row && this.toHostRecord(row);
  }

  async list(
    options: { env?: string; ids?: readonly string[]; facts?: boolean | 'shared' } = {},
  ): Promise<HostRecord[]> {
    const withFacts = options.facts !== false;
    const shared = options.facts === 'shared';
    const query = (ids?: readonly string[]) => {
      let q = this.db
        .selectFrom('hosts')
        .select([
          'id',
          'name',
          'env',
          'roles_json',
          'vars_json',
          'enrolled_at',
          'last_seen_at',
          'connected',
          'revoked_at',
          'removed_at',
        ])
        // Without facts, their JSON (the bulk of a row) is neither read nor parsed.
        .$if(withFacts, (qb) => qb.select('facts_json'))
        .where('removed_at', 'is', null);
      if (options.env) q = q.where('env', '=', options.env);
      if (ids) q = q.where('id', 'in', ids);
      return q
        .orderBy('env')
        .orderBy('name')
        .execute()
        .then((rows) => rows.map((row) => ({ ...row, facts_json: row.facts_json ?? null })));
    };
    if (!options.ids) return (await query()).map((row) => this.toHostRecord(row, shared));
    // In pieces, under every dialect's limit on a statement's parameters.
    const ids = [...new Set(options.ids)];
    const rows = [];
    for (let i = 0; i < ids.length; i += HOST_IDS_PER_QUERY)
      rows.push(...(await query(ids.slice(i, i + HOST_IDS_PER_QUERY))));
    if (ids.length > HOST_IDS_PER_QUERY)
      rows.sort((a, b) => compare(a.env, b.env) || compare(a.name, b.name));
    return rows.map((row) => this.toHostRecord(row, shared));
  }

  async cutOff(id: string, at: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // The host's row first (the update locks it), as a rotation of its
      // credential locks it first: the tokens are then revoked with whatever
      // a rotation running meanwhile made, and a later rotation finds it cut off.
      await trx
        .updateTable('hosts')
        .set({ revoked_at: at })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .execute();
      await trx
        .updateTable('tokens')
        .set({ revoked_at: at })
        .where('host_id', '=', id)
        .where('revoked_at', 'is', null)
        .execute();
      // Its jobs (and the variables in them) are never delivered now: they go.
      await trx.deleteFrom('outbox').where('host_id', '=', id).execute();
    });
  }

  async remove(id: string, at: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // Locked first, as a rotation of its credential locks it first: the
      // removal waits for a rotation under way, then revokes what it made.
      const row = await this.dialect
        .forUpdate(
          trx
            .selectFrom('hosts')
            .select(['name'])
            .where('id', '=', id)
            .where('removed_at', 'is', null),
        )
        .executeTakeFirst();
      if (!row) return false;
      // The record stays, for the history of its installs, under a name that frees the old one.
      await trx
        .updateTable('hosts')
        .set({
          name: `${row.name} (removed ${id})`,
          removed_at: at,
          revoked_at: at,
          connected: 0,
        })
        .where('id', '=', id)
        .execute();
      await trx
        .updateTable('tokens')
        .set({ revoked_at: at })
        .where('host_id', '=', id)
        .where('revoked_at', 'is', null)
        .execute();
      await trx.deleteFrom('outbox').where('host_id', '=', id).execute();
      return true;
    });
  }

  async cutOffIds(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('hosts')
      .select('id')
      .where('revoked_at', 'is not', null)
      .execute();
    return rows.map((r) => r.id);
  }

  async setPresence(id: string, connected: boolean, at: string): Promise<void> {
    await this.db
      .updateTable('hosts')
      .set({ connected: Number(connected), last_seen_at: at })
      .where('id', '=', id)
      .execute();
  }

  async resetPresence(): Promise<void> {
    await this.db.updateTable('hosts').set({ connected: 0 }).where('connected', '=', 1).execute();
  }

  async setFacts(id: string, facts: HostFacts, at: string): Promise<void> {
    await this.db
      .updateTable('hosts')
      .set({ facts_json: JSON.stringify(facts), last_seen_at: at })
      .where('id', '=', id)
      .execute();
  }

  async addFactsSample(
    hostId: string,
    sample: FactsSample,
    retention: FactsRetention,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('host_facts')
        .values({ host_id: hostId, at: sample.at, facts_json: JSON.stringify(sample.facts) })
        .execute();
      await trx
        .deleteFrom('host_facts')
        .where('host_id', '=', hostId)
        .where('at', '<', retention.since)
        .execute();
      // The newest `keep` stay: the first one past them, and every older one, go.
      const oldestKept = await trx
        .selectFrom('host_facts')
        .select(['at', 'seq'])
        .where('host_id', '=', hostId)
        .orderBy('at', 'desc')
        .orderBy('seq', 'desc')
        .offset(Math.max(0, retention.keep - 1))
        .limit(1)
        .executeTakeFirst();
      if (!oldestKept) return;
      await trx
        .deleteFrom('host_facts')
        .where('host_id', '=', hostId)
        .where((eb) =>
          eb.or([
            eb('at', '<', oldestKept.at),
            eb.and([eb('at', '=', oldestKept.at), eb('seq', '<', oldestKept.seq)]),
          ]),
        )
        .execute();
    });
  }

  async listFactsSamples(hostId: string, options: { limit?: number } = {}): Promise<FactsSample[]> {
    let query = this.db
      .selectFrom('host_facts')
      .select(['at', 'facts_json'])
      .where('host_id', '=', hostId)
      .orderBy('at', 'desc')
      .orderBy('seq', 'desc');
    if (options.limit !== undefined) query = query.limit(options.limit);
    const samples: FactsSample[] = [];
    for (const row of await query.execute()) {
      const facts = readStoredFacts(row.facts_json);
      if (facts) samples.push({ at: row.at, facts });
    }
    return samples;
  }
}

/** A host's row as its record, with its facts as read. */
function toHostRecord(row: Selectable<HostsTable>, facts: HostFacts | null): HostRecord {
  return {
    id: row.id,
    name: row.name,
    env: row.env,
    roles: JSON.parse(row.roles_json) as string[],
    vars: JSON.parse(row.vars_json) as Record<string, string>,
    enrolledAt: row.enrolled_at,
    lastSeenAt: row.last_seen_at,
    connected: Boolean(row.connected),
    facts,
    revokedAt: row.revoked_at,
  };
}

/**
 * Facts as stored: written by this version, or by an older Ferry before facts
 * had a schema. What no longer parses reads as none rather than failing the
 * host's record.
 */
function readStoredFacts(json: string | null): HostFacts | null {
  if (json === null) return null;
  try {
    return parseHostFacts(JSON.parse(json));
  } catch {
    return null;
  }
}

/** `value`, and every object in it, frozen (read from JSON: no cycles). */
function deepFrozen<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const each of Object.values(value)) deepFrozen(each);
    Object.freeze(value);
  }
  return value;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
