import type { Kysely, Selectable } from 'kysely';
import type { Role, TokenRecord } from '../../protocol/api.js';
import type { Database, TokensTable } from '../schema.js';
import type { StoreDialect } from '../store-dialect.js';
import type { NewToken, StoredToken, TokenStore } from '../token-store.js';

/** `TokenStore` over Kysely, written once for every dialect. */
export class KyselyTokenStore implements TokenStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  create(token: NewToken): Promise<TokenRecord> {
    return insertToken(this.db, token);
  }

  async findActive(tokenHash: string): Promise<StoredToken | undefined> {
    const row = await this.db
      .selectFrom('tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row ? { ...toTokenRecord(row), tokenHash: row.token_hash } : undefined;
  }

  async list(): Promise<TokenRecord[]> {
    const rows = await this.db
      .selectFrom('tokens')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toTokenRecord);
  }

  async createFirst(token: NewToken): Promise<TokenRecord | undefined> {
    return this.db.transaction().execute(async (trx) => {
      // Of replicas starting together, one inserts: another's insert waits for our commit.
      await this.dialect.lockTableForInsert(trx, 'tokens');
      const any = await trx.selectFrom('tokens').select('id').limit(1).executeTakeFirst();
      if (any) return undefined;
      return insertToken(trx, token);
    });
  }

  async revoke(id: string): Promise<boolean> {
    const result = await this.db
      .updateTable('tokens')
      .set({ revoked_at: new Date().toISOString() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) > 0) return true;
    const row = await this.db
      .selectFrom('tokens')
      .select('id')
      .where('id', '=', id)
      .executeTakeFirst();
    return row !== undefined;
  }

  async touch(id: string, at: string): Promise<void> {
    await this.db.updateTable('tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }
}

function toTokenRecord(row: Selectable<TokensTable>): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role as Role,
    env: row.env,
    createdAt: row.created_at,
    createdBy: row.created_by,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    hostId: row.host_id,
  };
}

async function insertToken(db: Kysely<Database>, token: NewToken): Promise<TokenRecord> {
  const row = {
    id: token.id,
    name: token.name,
    role: token.role,
    env: token.env,
    token_hash: token.tokenHash,
    created_at: new Date().toISOString(),
    created_by: token.createdBy,
    last_used_at: null,
    revoked_at: null,
    host_id: token.hostId ?? null,
  };
  await db.insertInto('tokens').values(row).execute();
  return toTokenRecord(row);
}
