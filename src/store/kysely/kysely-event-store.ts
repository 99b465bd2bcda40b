import type { Kysely, Selectable } from 'kysely';
import {
  type EventFilter,
  type FerryEvent,
  ferryEventSchema,
  type NewFerryEvent,
} from '../../protocol/events.js';
import type { EventStore } from '../event-store.js';
import type { Database, EventsTable } from '../schema.js';
import type { StoreDialect } from '../store-dialect.js';
import { CompiledOnce } from './compiled-query.js';

/** The append's insert, compiled once: every step an agent reports is an event. */
const insertEvent = new CompiledOnce<
  Database,
  {
    at: string;
    kind: string;
    app: string | null;
    env: string | null;
    deploymentId: string | null;
    hostId: string | null;
    data: string;
  },
  { seq: number | string }
>((db, slot) =>
  db
    .insertInto('events')
    .values({
      at: slot('at'),
      kind: slot('kind'),
      app: slot('app'),
      env: slot('env'),
      deployment_id: slot('deploymentId'),
      host_id: slot('hostId'),
      data: slot('data'),
    })
    .returning('seq'),
);

/**
 * `EventStore` over Kysely, written once for every dialect: appends numbered
 * events, lists them after an id, prunes the old. How appends stay in order
 * for readers, and how other replicas hear of them, is the dialect's.
 */
export class KyselyEventStore implements EventStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  async append(event: NewFerryEvent): Promise<FerryEvent> {
    const at = event.at ?? new Date().toISOString();
    // The dialect keeps the sequence gap-free for readers (one append at a time).
    const id = await this.dialect.appendEvent(this.db, async (db) => {
      const {
        rows: [row],
      } = await insertEvent.execute(db, {
        at,
        kind: event.kind,
        app: event.app,
        env: event.env,
        deploymentId: event.deploymentId,
        hostId: event.hostId,
        data: JSON.stringify(event.data),
      });
      if (row === undefined) throw new Error('the event insert returned no seq');
      return Number(row.seq);
    });
    return ferryEventSchema.parse({ ...event, at, id: String(id) });
  }

  async list(query: {
    after: number;
    until?: number;
    limit: number;
    filter?: EventFilter;
  }): Promise<FerryEvent[]> {
    const filter = query.filter ?? {};
    let select = this.db.selectFrom('events').selectAll().where('seq', '>', query.after);
    if (query.until !== undefined) select = select.where('seq', '<=', query.until);
    if (filter.app !== undefined) select = select.where('app', '=', filter.app);
    if (filter.env !== undefined) select = select.where('env', '=', filter.env);
    if (filter.deploymentId !== undefined) {
      select = select.where('deployment_id', '=', filter.deploymentId);
    }
    if (filter.hostId !== undefined) select = select.where('host_id', '=', filter.hostId);
    if (filter.kinds !== undefined) select = select.where('kind', 'in', filter.kinds);
    const rows = await select.orderBy('seq').limit(query.limit).execute();
    return rows.flatMap(toEvent);
  }

  async lastId(): Promise<number> {
    const row = await this.db
      .selectFrom('events')
      .select('seq')
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? Number(row.seq) : 0;
  }

  async firstId(): Promise<number> {
    const row = await this.db
      .selectFrom('events')
      .select('seq')
      .orderBy('seq')
      .limit(1)
      .executeTakeFirst();
    return row ? Number(row.seq) : 0;
  }

  async prune(before: string): Promise<number> {
    // The newest event always stays: an empty table would let SQLite number
    // the next one from 1 again, under ids that clients have already seen.
    const newest = await this.lastId();
    const result = await this.db
      .deleteFrom('events')
      .where('at', '<', before)
      .where('seq', '<', newest)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  watch(onAppended: (id?: number) => void): Promise<() => Promise<void>> {
    return this.dialect.watchEvents(onAppended);
  }
}

/** A row as an event; one that no longer parses (a kind since removed) is left out. */
function toEvent(row: Selectable<EventsTable>): FerryEvent[] {
  const parsed = ferryEventSchema.safeParse({
    id: String(row.seq),
    kind: row.kind,
    at: row.at,
    app: row.app,
    env: row.env,
    deploymentId: row.deployment_id,
    hostId: row.host_id,
    data: JSON.parse(row.data) as unknown,
  });
  return parsed.success ? [parsed.data] : [];
}
