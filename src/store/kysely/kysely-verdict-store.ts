import type { Kysely, Selectable } from 'kysely';
import type { Verdict, VerdictRecord, VerdictState } from '../../protocol/api.js';
import type { Database, VerdictsTable } from '../schema.js';
import type { StoreDialect } from '../store-dialect.js';
import type { VerdictCondition, VerdictStore } from '../verdict-store.js';

/**
 * `VerdictStore` over Kysely, written once for every dialect: a bundle's
 * verdict history, one row per change.
 */
export class KyselyVerdictStore implements VerdictStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  async record(
    verdict: VerdictRecord,
    condition?: VerdictCondition,
  ): Promise<{ previous: VerdictState; recorded: boolean }> {
    // Two marks of one bundle at once may pick the same `seq`: the loser reads
    // again, and checks the condition against the winner's change.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.recordOnce(verdict, condition);
      } catch (err) {
        if (!this.dialect.isUniqueViolation(err) || attempt >= 5) throw err;
      }
    }
  }

  private recordOnce(
    verdict: VerdictRecord,
    condition: VerdictCondition | undefined,
  ): Promise<{ previous: VerdictState; recorded: boolean }> {
    return this.db.transaction().execute(async (trx) => {
      const latest = await trx
        .selectFrom('verdicts')
        .select(['seq', 'verdict', 'at'])
        .where('app', '=', verdict.app)
        .where('version', '=', verdict.version)
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      const previous = latest ? (latest.verdict as Verdict) : 'pending';
      if (
        condition &&
        (previous === verdict.verdict || (latest && latest.at >= condition.unchangedSince))
      )
        return { previous, recorded: false };
      await trx
        .insertInto('verdicts')
        .values({
          app: verdict.app,
          version: verdict.version,
          seq: latest ? Number(latest.seq) + 1 : 1,
          verdict: verdict.verdict,
          note: verdict.note,
          by: verdict.by,
          at: verdict.at,
        })
        .execute();
      return { previous, recorded: true };
    });
  }

  async list(app: string, version: number): Promise<VerdictRecord[]> {
    const rows = await this.db
      .selectFrom('verdicts')
      .selectAll()
      .where('app', '=', app)
      .where('version', '=', version)
      .orderBy('seq', 'desc')
      .execute();
    return rows.map(toVerdictRecord);
  }

  async listByApp(app: string): Promise<VerdictRecord[]> {
    const rows = await this.db
      .selectFrom('verdicts')
      .selectAll()
      .where('app', '=', app)
      .orderBy('at', 'desc')
      .orderBy('version', 'desc')
      .orderBy('seq', 'desc')
      .execute();
    return rows.map(toVerdictRecord);
  }

  async current(app: string, version: number): Promise<VerdictState> {
    const latest = await this.db
      .selectFrom('verdicts')
      .select('verdict')
      .where('app', '=', app)
      .where('version', '=', version)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    return latest ? (latest.verdict as Verdict) : 'pending';
  }
}

function toVerdictRecord(row: Selectable<VerdictsTable>): VerdictRecord {
  return {
    app: row.app,
    version: Number(row.version),
    verdict: row.verdict as Verdict,
    note: row.note,
    by: row.by,
    at: row.at,
  };
}
