import type { Kysely, Selectable } from 'kysely';
import type { Role, TokenRecord } from '../../protocol/api.js';
import type { Database, TokensTable } from '../schema.js';
import type { StoreDialect } from '../store-dialect.js';
import type { NewToken, RotatedToken, StoredToken, TokenStore } from '../token-store.js';

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
    // A host's own token counts only while its host is not cut off: whatever
    // revoking the host's tokens missed (one a rotation made at that moment)
    // dies with the host.
    const row = await this.db
      .selectFrom('tokens')
      .leftJoin('hosts', 'hosts.id', 'tokens.host_id')
      .selectAll('tokens')
      .where('tokens.token_hash', '=', tokenHash)
      .where('tokens.revoked_at', 'is', null)
      .where('hosts.revoked_at', 'is', null)
      .where('hosts.removed_at', 'is', null)
      .executeTakeFirst();
    if (!row) return undefined;
    return { ...tokenFields(row), tokenHash: row.token_hash, replaces: row.replaces };
  }

  async list(options: { all?: boolean } = {}): Promise<TokenRecord[]> {
    let query = this.db.selectFrom('tokens').selectAll();
    if (!options.all) query = query.where('superseded_by', 'is', null);
    const rows = await query.orderBy('created_at').orderBy('id').execute();
    return rows.map(toTokenRecord);
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const row = await this.db
      .selectFrom('tokens')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toTokenRecord(row);
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

  async rotate(oldId: string, next: RotatedToken, oldExpiresAt: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      // The host's row is locked first, as removing or cutting off the host
      // locks it first: a removal waits for this rotation and then revokes its
      // successor too, or this rotation waits for the removal and makes none.
      const host = await this.dialect
        .forUpdate(
          trx
            .selectFrom('hosts')
            .select(['revoked_at', 'removed_at'])
            .where('id', '=', next.hostId),
        )
        .executeTakeFirst();
      if (!host || host.revoked_at !== null || host.removed_at !== null) return false;
      // Then the credential's, so that two rotations of one credential run one after the other.
      const shortened = await trx
        .updateTable('tokens')
        .set((eb) => ({
          expires_at: eb
            .case()
            .when('expires_at', 'is', null)
            .then(oldExpiresAt)
            .when('expires_at', '>', oldExpiresAt)
            .then(oldExpiresAt)
            .else(eb.ref('expires_at'))
            .end(),
        }))
        .where('id', '=', oldId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(shortened.numUpdatedRows) === 0) return false;
      await trx
        .updateTable('tokens')
        .set({ revoked_at: now, replaces: null, superseded_by: next.id })
        .where('replaces', '=', oldId)
        .where('revoked_at', 'is', null)
        .execute();
      await insertToken(trx, next, oldId);
      return true;
    });
  }

  async confirm(id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // The host's row is locked first, as rotating, removing and cutting off
      // the host lock it first: one lock order, so that none of them deadlocks
      // with a confirmation (PostgreSQL would end one of the two).
      const owner = await trx
        .selectFrom('tokens')
        .select('host_id')
        .where('id', '=', id)
        .executeTakeFirst();
      if (owner?.host_id) {
        await this.dialect
          .forUpdate(trx.selectFrom('hosts').select('id').where('id', '=', owner.host_id))
          .execute();
      }
      const row = await trx
        .selectFrom('tokens')
        .select('replaces')
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      const replaced = row?.replaces;
      if (!replaced) return;
      await trx
        .updateTable('tokens')
        .set({ revoked_at: new Date().toISOString(), superseded_by: id })
        .where('id', '=', replaced)
        .where('revoked_at', 'is', null)
        .execute();
      await trx.updateTable('tokens').set({ replaces: null }).where('id', '=', id).execute();
    });
  }
}

/** A token's row as its record. */
function toTokenRecord(row: Selectable<TokensTable>): TokenRecord {
  return { ...tokenFields(row), superseded: row.superseded_by !== null };
}

/** What a record and a stored token share. */
function tokenFields(row: Selectable<TokensTable>): Omit<TokenRecord, 'superseded'> {
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
    expiresAt: row.expires_at,
  };
}

async function insertToken(
  db: Kysely<Database>,
  token: NewToken,
  replaces: string | null = null,
): Promise<TokenRecord> {
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
    expires_at: token.expiresAt ?? null,
    replaces,
    superseded_by: null,
  };
  await db.insertInto('tokens').values(row).execute();
  return toTokenRecord(row);
}
