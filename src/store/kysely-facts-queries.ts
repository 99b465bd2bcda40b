import type { Kysely } from 'kysely';
import { type FactsSample, type HostFacts, parseHostFacts } from '../protocol/host-facts.js';
import type { Database } from './schema.js';
import type { FactsRetention } from './store.js';

/**
 * Host facts: the latest on the host's record, and the history of samples.
 * Written to run on every Kysely dialect the store supports.
 */
export class KyselyFactsQueries {
  constructor(private readonly db: Kysely<Database>) {}

  async setHostFacts(id: string, facts: HostFacts, at: string): Promise<void> {
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

  async listFactsSamples(hostId: string, options: { limit?: number }): Promise<FactsSample[]> {
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

/**
 * Facts as stored: written by this version, or by an older Ferry before facts
 * had a schema. What no longer parses reads as none rather than failing the
 * host's record.
 */
export function readStoredFacts(json: string | null): HostFacts | null {
  if (json === null) return null;
  try {
    return parseHostFacts(JSON.parse(json));
  } catch {
    return null;
  }
}
