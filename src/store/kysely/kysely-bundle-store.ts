import type { Kysely, Selectable } from 'kysely';
import type { AppSummary, BundleDetail, BundleRecord } from '../../protocol/api.js';
import { keyFingerprint } from '../../bundle/bundle-signature.js';
import type {
  BundleSigner,
  BundleStore,
  NewBundle,
  RecordedBundle,
  StoredSignature,
} from '../bundle-store.js';
import type { BundlesTable, Database } from '../schema.js';
import type { StoreDialect } from '../store-dialect.js';

/** `BundleStore` over Kysely, written once for every dialect. */
export class KyselyBundleStore implements BundleStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  async record(
    bundle: NewBundle,
    beforeCommit: () => Promise<void>,
    sign?: BundleSigner,
  ): Promise<RecordedBundle> {
    try {
      return await this.recordOnce(bundle, beforeCommit, sign);
    } catch (err) {
      // The same bytes pushed twice at once (to two replicas, say): the one that
      // lost the race gets the version the other recorded.
      if (!this.dialect.isUniqueViolation(err)) throw err;
      const existing = await this.db
        .selectFrom('bundles')
        .selectAll()
        .where('app', '=', bundle.app)
        .where('sha256', '=', bundle.sha256)
        .executeTakeFirst();
      if (!existing) throw err;
      return { bundle: toBundleRecord(existing), created: false };
    }
  }

  private recordOnce(
    bundle: NewBundle,
    beforeCommit: () => Promise<void>,
    sign: BundleSigner | undefined,
  ): Promise<RecordedBundle> {
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('bundles')
        .selectAll()
        .where('app', '=', bundle.app)
        .where('sha256', '=', bundle.sha256)
        .executeTakeFirst();
      if (existing) return { bundle: toBundleRecord(existing), created: false };

      const now = new Date().toISOString();
      await trx
        .insertInto('apps')
        .values({ name: bundle.app, last_version: 0, created_at: now })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      // The update takes the app row's write lock, so concurrent pushes of one app
      // queue here and each gets the next number.
      const { last_version: version } = await trx
        .updateTable('apps')
        .set((eb) => ({ last_version: eb('last_version', '+', 1) }))
        .where('name', '=', bundle.app)
        .returning('last_version')
        .executeTakeFirstOrThrow();
      const row = {
        app: bundle.app,
        version: Number(version),
        sha256: bundle.sha256,
        size: bundle.size,
        label: bundle.label,
        git_commit: bundle.commit,
        git_dirty: bundle.dirty === null ? null : Number(bundle.dirty),
        file_count: bundle.fileCount,
        created_at: bundle.createdAt,
        pushed_at: now,
        pushed_by: bundle.pushedBy,
        manifest_json: JSON.stringify(bundle.manifest),
        server_signature: null as string | null,
        server_public_key: null as string | null,
        developer_signatures_json:
          bundle.developerSignatures && bundle.developerSignatures.length > 0
            ? JSON.stringify(bundle.developerSignatures)
            : null,
      };
      // Signed once it has its version, in the same transaction: no bundle is
      // ever recorded without the server's signature.
      if (sign) {
        const signed = sign(toBundleRecord(row));
        row.server_signature = signed.signature;
        row.server_public_key = signed.publicKey;
      }
      await trx.insertInto('bundles').values(row).execute();
      await beforeCommit();
      return { bundle: toBundleRecord(row), created: true };
    });
  }

  async addDeveloperSignature(
    app: string,
    version: number,
    signature: StoredSignature,
  ): Promise<BundleRecord | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('bundles')
        .selectAll()
        .where('app', '=', app)
        .where('version', '=', version)
        .executeTakeFirst();
      if (!row) return undefined;
      const signatures = [
        ...developerSignatures(row).filter((s) => s.publicKey !== signature.publicKey),
        signature,
      ];
      const json = JSON.stringify(signatures);
      await trx
        .updateTable('bundles')
        .set({ developer_signatures_json: json })
        .where('app', '=', app)
        .where('version', '=', version)
        .execute();
      return toBundleRecord({ ...row, developer_signatures_json: json });
    });
  }

  async listUnsigned(limit: number): Promise<BundleRecord[]> {
    const rows = await this.db
      .selectFrom('bundles')
      .selectAll()
      .where('server_signature', 'is', null)
      .orderBy('pushed_at')
      .orderBy('app')
      .orderBy('version')
      .limit(limit)
      .execute();
    return rows.map(toBundleRecord);
  }

  async setServerSignature(
    app: string,
    version: number,
    sha256: string,
    signature: StoredSignature,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('bundles')
      .set({ server_signature: signature.signature, server_public_key: signature.publicKey })
      .where('app', '=', app)
      .where('version', '=', version)
      .where('sha256', '=', sha256)
      .where('server_signature', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async claimSigningKey(publicKey: string): Promise<string> {
    await this.db
      .insertInto('store_settings')
      .values({ name: 'signing_public_key', value: publicKey })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const recorded = await this.db
      .selectFrom('store_settings')
      .select('value')
      .where('name', '=', 'signing_public_key')
      .executeTakeFirstOrThrow();
    return recorded.value;
  }

  async get(app: string, version: number): Promise<BundleDetail | undefined> {
    const row = await this.db
      .selectFrom('bundles')
      .selectAll()
      .where('app', '=', app)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      ...toBundleRecord(row),
      manifest: JSON.parse(row.manifest_json) as Record<string, unknown>,
    };
  }

  async list(app: string, options: { limit?: number } = {}): Promise<BundleRecord[]> {
    const rows = await this.db
      .selectFrom('bundles')
      .selectAll()
      .where('app', '=', app)
      .orderBy('version', 'desc')
      .limit(options.limit ?? 1000)
      .execute();
    return rows.map(toBundleRecord);
  }

  async listByLabel(label: string): Promise<BundleRecord[]> {
    return (await this.rowsByLabel(label)).map(toBundleRecord);
  }

  async listDetailsByLabel(label: string): Promise<BundleDetail[]> {
    return (await this.rowsByLabel(label)).map((row) => ({
      ...toBundleRecord(row),
      manifest: JSON.parse(row.manifest_json) as Record<string, unknown>,
    }));
  }

  /** The rows of the bundles pushed with `label`, by app then version. */
  private rowsByLabel(label: string) {
    return this.db
      .selectFrom('bundles')
      .selectAll()
      .where('label', '=', label)
      .orderBy('app')
      .orderBy('version')
      .execute();
  }

  async hasApp(app: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('apps')
      .select('name')
      .where('name', '=', app)
      .executeTakeFirst();
    return row !== undefined;
  }

  async listApps(): Promise<AppSummary[]> {
    const rows = await this.db
      .selectFrom('apps')
      .leftJoin('bundles', 'bundles.app', 'apps.name')
      .select((eb) => [
        'apps.name',
        'apps.last_version',
        eb.fn.count<number | string>('bundles.version').as('bundle_count'),
        eb.fn.max('bundles.pushed_at').as('last_pushed_at'),
      ])
      .groupBy(['apps.name', 'apps.last_version'])
      .orderBy('apps.name')
      .execute();
    return rows.map((r) => ({
      name: r.name,
      latestVersion: Number(r.last_version),
      bundleCount: Number(r.bundle_count),
      lastPushedAt: r.last_pushed_at ?? null,
    }));
  }
}

function toBundleRecord(row: Selectable<BundlesTable>): BundleRecord {
  return {
    app: row.app,
    version: Number(row.version),
    label: row.label,
    commit: row.git_commit,
    dirty: row.git_dirty === null ? null : Boolean(row.git_dirty),
    sha256: row.sha256,
    size: Number(row.size),
    fileCount: Number(row.file_count),
    createdAt: row.created_at,
    pushedAt: row.pushed_at,
    pushedBy: row.pushed_by,
    signatures: [
      ...(row.server_signature !== null && row.server_public_key !== null
        ? [
            {
              by: 'server' as const,
              keyId: keyFingerprint(row.server_public_key),
              name: null,
              publicKey: row.server_public_key,
              signature: row.server_signature,
            },
          ]
        : []),
      ...developerSignatures(row).map((s) => ({
        by: 'developer' as const,
        keyId: keyFingerprint(s.publicKey),
        name: null,
        publicKey: s.publicKey,
        signature: s.signature,
      })),
    ],
  };
}

function developerSignatures(
  row: Pick<Selectable<BundlesTable>, 'developer_signatures_json'>,
): StoredSignature[] {
  if (row.developer_signatures_json === null) return [];
  return JSON.parse(row.developer_signatures_json) as StoredSignature[];
}
