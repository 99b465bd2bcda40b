import type { Kysely } from 'kysely';
import type { Role } from '../../protocol/api.js';
import type { Database } from '../schema.js';
import type { ActiveSession, NewSession, SessionStore } from '../session-store.js';

/** `SessionStore` over Kysely, written once for every dialect. */
export class KyselySessionStore implements SessionStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(session: NewSession): Promise<void> {
    // Sweeping here keeps the table to the sessions that count, with no timer
    // of its own: people sign in far less often than they make calls.
    await this.db.deleteFrom('sessions').where('expires_at', '<=', session.createdAt).execute();
    await this.db
      .deleteFrom('sessions')
      .where('token_id', 'in', (q) =>
        q.selectFrom('tokens').select('id').where('revoked_at', 'is not', null),
      )
      .execute();
    await this.db
      .insertInto('sessions')
      .values({
        id_hash: session.idHash,
        token_id: session.tokenId,
        csrf_token: session.csrfToken,
        created_at: session.createdAt,
        expires_at: session.expiresAt,
      })
      .execute();
  }

  async findActive(idHash: string, now: string): Promise<ActiveSession | undefined> {
    // Times are ISO-8601 text of one length (toISOString), so text order is time order.
    const row = await this.db
      .selectFrom('sessions')
      .innerJoin('tokens', 'tokens.id', 'sessions.token_id')
      .selectAll('tokens')
      .select([
        'sessions.id_hash',
        'sessions.csrf_token',
        'sessions.created_at as session_created_at',
        'sessions.expires_at as session_expires_at',
      ])
      .where('sessions.id_hash', '=', idHash)
      .where('sessions.expires_at', '>', now)
      .where('tokens.revoked_at', 'is', null)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      idHash: row.id_hash,
      csrfToken: row.csrf_token,
      createdAt: row.session_created_at,
      expiresAt: row.session_expires_at,
      token: {
        id: row.id,
        name: row.name,
        role: row.role as Role,
        env: row.env,
        createdAt: row.created_at,
        createdBy: row.created_by,
        lastUsedAt: row.last_used_at,
        revokedAt: row.revoked_at,
        hostId: row.host_id,
        tokenHash: row.token_hash,
        expiresAt: row.expires_at,
        replaces: row.replaces,
      },
    };
  }

  async end(idHash: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('sessions')
      .where('id_hash', '=', idHash)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
