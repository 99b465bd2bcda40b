import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from './schema.js';
import { keyMismatch, SecretBox } from './secret-box.js';
import type { ConfigSnapshot, InstallSnapshot } from './store.js';

const snapshotBodySchema = z.object({
  vars: z.record(z.string(), z.string()),
  secrets: z.array(z.string()),
});

/** What an install's sealed snapshot is bound to: its install id. */
export function snapshotContext(installId: string): string {
  return `snapshot:${installId}`;
}

/**
 * The configuration snapshots half of `KyselyStore`: what a deployment resolved
 * for each install. With a `SecretBox`, the whole snapshot is sealed (it holds
 * the values of secret variables), bound to its install's id so that a sealed
 * body moved to another row does not open.
 */
export class KyselySnapshotQueries {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly box: SecretBox | undefined,
  ) {}

  /** The same queries on another connection: a transaction's. */
  withDb(db: Kysely<Database>): KyselySnapshotQueries {
    return new KyselySnapshotQueries(db, this.box);
  }

  async saveInstallSnapshots(snapshots: readonly InstallSnapshot[]): Promise<void> {
    if (snapshots.length === 0) return;
    const now = new Date().toISOString();
    await this.db
      .insertInto('install_snapshots')
      .values(
        snapshots.map(({ installId, snapshot }) => ({
          install_id: installId,
          body: this.seal(installId, snapshot),
          created_at: now,
        })),
      )
      // The first one recorded is what the install was made with: saving it again
      // (a replica carrying on after another) changes nothing.
      .onConflict((oc) => oc.column('install_id').doNothing())
      .execute();
  }

  async getInstallSnapshot(installId: string): Promise<ConfigSnapshot | undefined> {
    const row = await this.db
      .selectFrom('install_snapshots')
      .select('body')
      .where('install_id', '=', installId)
      .executeTakeFirst();
    if (!row) return undefined;
    return snapshotBodySchema.parse(JSON.parse(this.open(installId, row.body)));
  }

  private seal(installId: string, snapshot: ConfigSnapshot): string {
    const body = JSON.stringify({ vars: snapshot.vars, secrets: [...snapshot.secrets].sort() });
    return this.box ? this.box.seal(body, snapshotContext(installId)) : body;
  }

  private open(installId: string, body: string): string {
    if (!SecretBox.isSealed(body)) return body;
    if (!this.box) throw keyMismatch(SecretBox.sealedWith(body), null);
    return this.box.open(body, snapshotContext(installId));
  }
}
