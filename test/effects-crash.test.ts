import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rabbitmqSetup } from './helpers/backends.js';
import { Cluster, type ClusterOptions, waitFor } from './helpers/cluster.js';
import { createTestDatabase } from './helpers/pg-database.js';
import { amqpUrl, pgUrl } from './helpers/services.js';

/**
 * A real `ferry server` killed after it recorded that an install failed in QA
 * and before it marked the bundle failed: the agent's report was not
 * acknowledged, so the server started again gets it again, and marks the
 * bundle failed — once. The kill lands at that exact point because the test
 * holds every verdict write in PostgreSQL (a trigger that waits on an
 * advisory lock the test holds) and kills the server while it waits there.
 */

const postgres = pgUrl();
const rabbit = amqpUrl();
/** The advisory lock verdict writes wait on while the test holds it. */
const HOLD = 4711;

const TRANSPORTS: {
  name: string;
  available: boolean;
  setup: () => { options: ClusterOptions; cleanup: () => Promise<void> };
}[] = [
  {
    name: 'the built-in transport',
    available: true,
    setup: () => ({ options: {}, cleanup: () => Promise.resolve() }),
  },
  { name: 'RabbitMQ', available: rabbit !== undefined, setup: () => rabbitmqSetup(rabbit!) },
];

/** A release whose health check never passes. */
const BROKEN = {
  'ferry.yml':
    'apps:\n  web:\n    role: web\n' +
    '    service: { command: "exec sleep 1000" }\n' +
    '    health: { command: "false", timeout: 1s, interval: 200ms }\n',
  'marker.txt': 'broken',
};

for (const transport of TRANSPORTS) {
  describe.skipIf(!postgres || !transport.available)(
    `a server killed before a failed install's effect, with ${transport.name} and PostgreSQL`,
    () => {
      let database: Awaited<ReturnType<typeof createTestDatabase>>;
      let cleanup: () => Promise<void> = () => Promise.resolve();
      let cluster: Cluster;
      let db: pg.Client;

      beforeAll(async () => {
        database = await createTestDatabase(postgres!);
        const setup = transport.setup();
        cleanup = setup.cleanup;
        cluster = await Cluster.start({
          ...setup.options,
          config: `${setup.options.config ?? ''}environments:\n  - { name: qa, autoDeploy: true }\n`,
          serverArgs: ['--store-url', database.url],
        });
        await cluster.addHost('qa-1', 'qa', { roles: ['web'] });
        db = new pg.Client({ connectionString: database.url });
        await db.connect();
      }, 120_000);

      afterAll(async () => {
        await db?.end();
        await cluster?.close();
        await cleanup();
        await database?.drop();
      });

      it('marks the bundle failed when the agent reports the install again to the server started again', async () => {
        await db.query(
          `create function hold_verdicts() returns trigger language plpgsql as $$
           begin perform pg_advisory_xact_lock_shared(${HOLD}); return new; end $$`,
        );
        await db.query(
          'create trigger hold_verdicts before insert on verdicts for each row execute function hold_verdicts()',
        );
        await db.query('select pg_advisory_lock($1)', [HOLD]);

        const version = await cluster.push(BROKEN, 'broken');
        // The install's end is recorded; marking the verdict waits on the lock.
        const held = await waitFor('the server to be marking the bundle failed', async () => {
          const { rows } = await db.query<{ pid: number }>(
            // Only waits on the test's lock: the server's own (event appends
            // take one in turn) are waited on for a moment while steps run.
            `select pid from pg_locks where locktype = 'advisory' and not granted
             and objid = $1 and objsubid = 1
             and database = (select oid from pg_database where datname = current_database())`,
            [HOLD],
          );
          return rows.length > 0 ? rows.map((r) => r.pid) : undefined;
        });
        const [deployment] = await cluster.api().deployments({ app: 'web', env: 'qa', limit: 1 });
        const install = (await cluster.api().deployment(deployment!.id)).installs[0]!;
        expect([install.version, install.state]).toEqual([version, 'failed']);
        expect(await cluster.api().verdicts('web', version)).toEqual([]);

        await cluster.restartServer('SIGKILL');
        // The dead server's transaction, still waiting, goes; then verdicts may be written.
        await db.query('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [held]);
        await db.query('select pg_advisory_unlock($1)', [HOLD]);

        const verdicts = await waitFor(`web@${version} to be marked failed`, async () => {
          const history = await cluster.api().verdicts('web', version);
          return history.length > 0 ? history : undefined;
        });
        expect(verdicts).toEqual([
          expect.objectContaining({
            verdict: 'failed',
            by: 'ferry',
            note: expect.stringContaining('install failed on qa-1 in qa') as string,
          }),
        ]);
        // Reports that come again after it change nothing more.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        expect(await cluster.api().verdicts('web', version)).toHaveLength(1);
      }, 180_000);
    },
  );
}
