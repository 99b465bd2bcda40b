import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { keyMismatch, SecretBox } from '../secret-box.js';

/** What a secret variable's sealed value is bound to: its name and scope. */
export function variableContext(row: {
  name: string;
  scope_kind: string;
  scope_value: string;
  app?: string;
}): string {
  // A variable of every app keeps the context it had before variables per app.
  const app = row.app === undefined || row.app === '' ? '' : `:app:${row.app}`;
  return `variable:${row.name}:${row.scope_kind}:${row.scope_value}${app}`;
}

/** What an install's sealed snapshot is bound to: its install id. */
export function snapshotContext(installId: string): string {
  return `snapshot:${installId}`;
}

/** What a queued job's sealed body is bound to: its host and message id. */
export function outboxContext(hostId: string, messageId: string): string {
  return `outbox:${hostId}:${messageId}`;
}

/**
 * On start: checks that the store's secrets are sealed with this server's key
 * (`E_SECRET_KEY_MISMATCH` if not, before anything is served) — the first
 * server to start records its key's id in the store, so a replica given
 * another key fails even before any secret is set — then seals what an older Ferry kept in plaintext — secret variables and
 * queued jobs. Safe to run on every start and by replicas at once: a row
 * sealed already is left alone. Returns how many rows it sealed.
 */
export async function sealStoredSecrets(db: Kysely<Database>, box: SecretBox): Promise<number> {
  await db
    .insertInto('store_settings')
    .values({ name: 'secret_key_id', value: box.keyId })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const recorded = await db
    .selectFrom('store_settings')
    .select('value')
    .where('name', '=', 'secret_key_id')
    .executeTakeFirstOrThrow();
  if (recorded.value !== box.keyId) throw keyMismatch(recorded.value, box.keyId);
  const variables = await db
    .selectFrom('variables')
    .select(['name', 'scope_kind', 'scope_value', 'app', 'value'])
    .where('secret', '=', 1)
    .execute();
  const jobs = await db.selectFrom('outbox').select(['host_id', 'message_id', 'body']).execute();
  const snapshots = await db
    .selectFrom('install_snapshots')
    .select(['install_id', 'body'])
    .execute();
  const foreign = [
    ...variables.map((v) => v.value),
    ...jobs.map((j) => j.body),
    ...snapshots.map((s) => s.body),
  ]
    .filter((value) => SecretBox.isSealed(value))
    .map((value) => SecretBox.sealedWith(value))
    .find((keyId) => keyId !== box.keyId);
  if (foreign !== undefined) throw keyMismatch(foreign, box.keyId);

  let sealed = 0;
  for (const v of variables.filter((row) => !SecretBox.isSealed(row.value))) {
    const result = await db
      .updateTable('variables')
      .set({ value: box.seal(v.value, variableContext(v)) })
      .where('name', '=', v.name)
      .where('scope_kind', '=', v.scope_kind)
      .where('scope_value', '=', v.scope_value)
      .where('app', '=', v.app)
      // Only if no one changed it meanwhile (another replica sealing it too).
      .where('value', '=', v.value)
      .executeTakeFirst();
    sealed += Number(result.numUpdatedRows);
  }
  for (const j of jobs.filter((row) => !SecretBox.isSealed(row.body))) {
    const result = await db
      .updateTable('outbox')
      .set({ body: box.seal(j.body, outboxContext(j.host_id, j.message_id)) })
      .where('host_id', '=', j.host_id)
      .where('message_id', '=', j.message_id)
      .where('body', '=', j.body)
      .executeTakeFirst();
    sealed += Number(result.numUpdatedRows);
  }
  // Snapshots recorded by a store that had no key (tests, tools) hold secret values too.
  for (const s of snapshots.filter((row) => !SecretBox.isSealed(row.body))) {
    const result = await db
      .updateTable('install_snapshots')
      .set({ body: box.seal(s.body, snapshotContext(s.install_id)) })
      .where('install_id', '=', s.install_id)
      .where('body', '=', s.body)
      .executeTakeFirst();
    sealed += Number(result.numUpdatedRows);
  }
  return sealed;
}
