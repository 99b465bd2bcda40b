import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import pg from 'pg';

/**
 * A fresh PostgreSQL database for one suite, made on the server of `baseUrl`
 * (`FERRY_TEST_PG_URL`) and dropped afterwards, so that suites running in
 * parallel never see each other's rows.
 */
export async function createTestDatabase(
  baseUrl: string,
  template?: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `ferry_test_${randomBytes(6).toString('hex')}`;
  await admin(baseUrl, `create database ${name}${template ? ` template ${template}` : ''}`);
  return {
    url: databaseUrl(baseUrl, name),
    drop: () => admin(baseUrl, `drop database if exists ${name} with (force)`),
  };
}

/**
 * A fresh database as `migrate` leaves a new one: a copy of a template
 * database migrated once for these migrations' sources on this server (by
 * whichever suite asks first; the others wait for it), which costs a fraction
 * of migrating each anew (a store suite opens one per test). The template's
 * name carries a digest of the sources, so a change of a migration makes a
 * new one; it is kept for the next run.
 *
 * @example
 *   const database = await createMigratedDatabase(url, async (at) => {
 *     const store = await PostgresStore.open(at);
 *     await store.migrate();
 *     await store.close();
 *   });
 */
export async function createMigratedDatabase(
  baseUrl: string,
  migrate: (url: string) => Promise<void>,
): Promise<{ url: string; drop: () => Promise<void> }> {
  let template = templates.get(baseUrl);
  if (!template) {
    template = migratedTemplate(baseUrl, migrate);
    templates.set(baseUrl, template);
    // A failure fails the suite that asked, not every later one of its file.
    template.catch(() => templates.delete(baseUrl));
  }
  return createTestDatabase(baseUrl, await template);
}

const templates = new Map<string, Promise<string>>();

async function migratedTemplate(
  baseUrl: string,
  migrate: (url: string) => Promise<void>,
): Promise<string> {
  const name = `ferry_template_${await migrationsDigest()}`;
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    // One suite makes it; the others, in other processes, wait for it here.
    await client.query('select pg_advisory_lock(hashtext($1))', [name]);
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) {
      // Made under a name of its own and renamed once whole: a suite that
      // died half way leaves no template that looks ready. (The lock is the
      // base database's: a run on another database of the server may make
      // the same template at once; the second rename then finds it made.)
      const making = `${name}_${randomBytes(4).toString('hex')}`;
      await client.query(`create database ${making}`);
      try {
        await migrate(databaseUrl(baseUrl, making));
        await client.query(`alter database ${making} rename to ${name}`);
      } catch (err) {
        await client.query(`drop database if exists ${making} with (force)`);
        const made = await client.query('select 1 from pg_database where datname = $1', [name]);
        if (made.rowCount === 0) throw err;
      }
    }
    return name;
  } finally {
    await client.end();
  }
}

/** The migrations' sources, the store code that runs them and its drivers' versions, digested. */
async function migrationsDigest(): Promise<string> {
  const store = new URL('../../src/store/', import.meta.url);
  const modules = new URL('../../node_modules/', import.meta.url);
  const files = [
    new URL('kysely/package.json', modules),
    new URL('pg/package.json', modules),
    new URL('migrations.ts', store),
    new URL('kysely/kysely-store.ts', store),
    ...(await readdir(new URL('migrations/', store)))
      .sort()
      .map((f) => new URL(`migrations/${f}`, store)),
    ...(await readdir(new URL('postgres/', store)))
      .sort()
      .map((f) => new URL(`postgres/${f}`, store)),
  ];
  const hash = createHash('sha256');
  for (const file of files) hash.update(await readFile(file));
  return hash.digest('hex').slice(0, 16);
}

function databaseUrl(baseUrl: string, name: string): string {
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin(baseUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
