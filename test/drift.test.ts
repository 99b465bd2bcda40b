import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsArtifactStore } from '../src/artifacts/fs/fs-artifact-store.js';
import { API_PREFIX } from '../src/protocol/api.js';
import { hostFactsSchema, type HostFactsInput } from '../src/protocol/host-facts.js';
import { driftAnswerSchema } from '../src/protocol/report-api.js';
import { type BuiltServer, buildServer } from '../src/server/build-server.js';
import { serverConfigSchema } from '../src/server/server-config.js';
import type { Store } from '../src/store/store.js';
import { runFerry } from './helpers/ferry-process.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';

/**
 * `GET /drift` on a real store of each dialect: hosts with facts (one away),
 * a desired release, the configuration snapshots their current releases run
 * with — what differs, with secrets numbered and never shown.
 */
for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`GET /drift (${dialect.name})`, () => {
    let opened: StoreUnderTest;
    let store: Store;
    let server: BuiltServer;
    let dir: string;
    let token: string;

    const facts = (input: Omit<HostFactsInput, 'factsVersion'>) =>
      hostFactsSchema.parse({ factsVersion: 2, ...input });

    async function addHost(
      name: string,
      env: string,
      roles: string[],
      input: Omit<HostFactsInput, 'factsVersion'>,
    ): Promise<string> {
      const id = `host_${name}`;
      await store.hosts.create({ id, name, env, roles, vars: {} });
      await store.hosts.setFacts(id, facts({ roles, ...input }), '2024-05-01T12:00:00.000Z');
      return id;
    }

    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-drift-'));
      opened = await dialect.open();
      store = opened.store;
      await store.bundles.record(
        {
          app: 'cart',
          sha256: 'a'.repeat(64),
          size: 10,
          label: null,
          commit: null,
          dirty: null,
          fileCount: 1,
          createdAt: '2024-05-01T10:00:00.000Z',
          pushedBy: 'dev',
          manifest: { role: 'web' },
        },
        () => Promise.resolve(),
      );
      const hosts = [
        await addHost('web-1', 'qa', ['web'], {
          runtimes: { node: '20.11.1' },
          apps: { cart: { current: 1, config: { installId: 'inst_1' } } },
        }),
        await addHost('web-2', 'qa', ['web'], {
          runtimes: { node: '18.19.0' },
          apps: { cart: { current: 1, config: { installId: 'inst_2' } } },
        }),
        await addHost('db-1', 'qa', ['db'], { runtimes: { node: '16.0.0' } }),
        await addHost('web-9', 'prod', ['web'], { runtimes: { node: '22.0.0' } }),
      ];
      await store.hosts.setPresence(hosts[0]!, true, '2024-05-01T12:00:00.000Z');
      await store.hosts.setPresence(hosts[2]!, true, '2024-05-01T12:00:00.000Z');
      for (const [n, secret] of [
        [1, 'key-one'],
        [2, 'key-two'],
      ] as const) {
        await store.installs.create({
          id: `inst_${n}`,
          hostId: `host_web-${n}`,
          app: 'cart',
          version: 1,
          createdBy: 'dev',
        });
        await store.installs.saveSnapshots([
          {
            installId: `inst_${n}`,
            snapshot: { vars: { PORT: '8080', API_KEY: secret }, secrets: ['API_KEY'] },
          },
        ]);
      }
      const artifacts = new FsArtifactStore(path.join(dir, 'artifacts'));
      await artifacts.init();
      server = buildServer(serverConfigSchema.parse({ data: dir, logLevel: 'silent' }), {
        store,
        artifacts,
      });
      await server.app.ready();
      token = (await server.tokens.create({ role: 'qa' }, null)).token;
    });

    afterAll(async () => {
      await server?.app.close();
      await opened?.close();
      await rm(dir, { recursive: true, force: true });
    });

    async function drift(query = '') {
      const answer = await server.app.inject({
        method: 'GET',
        url: `${API_PREFIX}/drift${query}`,
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: answer.statusCode, body: answer.json<unknown>() };
    }

    it("answers what differs among qa's hosts of cart, secrets numbered, the away host named", async () => {
      const { status, body } = await drift('?env=qa&app=cart');
      expect(status).toBe(200);
      const answer = driftAnswerSchema.parse(body);
      expect(answer.hostsCompared).toBe(2);
      expect(answer.away).toEqual(['web-2']);
      expect(answer.drift.map((d) => [d.env, d.aspect, d.name])).toEqual([
        ['qa', 'runtime', 'node'],
        ['qa', 'config', 'API_KEY'],
      ]);
      expect(answer.drift[1]).toMatchObject({
        app: 'cart',
        role: 'web',
        values: [
          { value: '(secret #1)', hosts: ['web-1'] },
          { value: '(secret #2)', hosts: ['web-2'] },
        ],
      });
      expect(JSON.stringify(body)).not.toMatch(/key-one|key-two/);
    });

    it('compares the hosts of each role without an app, and no environment with another', async () => {
      const answer = driftAnswerSchema.parse((await drift()).body);
      expect(answer.hostsCompared).toBe(4);
      const node = answer.drift.find((d) => d.aspect === 'runtime' && d.name === 'node');
      // Among the hosts of one role: db-1's node is no business of the web hosts'.
      expect(node?.role).toBe('web');
      expect(node?.values.flatMap((v) => v.hosts).sort()).toEqual(['web-1', 'web-2']);
    });

    it('ferry drift prints a table of the same, and names the away host', async () => {
      const url = await server.app.listen({ port: 0, host: '127.0.0.1' });
      const env = {
        FERRY_SERVER: url,
        FERRY_TOKEN: token,
        FERRY_CONFIG_DIR: path.join(dir, 'cli'),
      };
      const table = await runFerry(['drift', '--env', 'qa', '--app', 'cart'], { env });
      expect(table.code, table.stderr).toBe(0);
      const lines = table.stdout.split('\n');
      expect(lines[0]).toMatch(/^ENV +WHAT +EXPECTED +VALUES$/);
      expect(lines[1]).toMatch(
        /^qa +runtime node \(role web\) +- +20\.11\.1: web-1 \| 18\.19\.0: web-2$/,
      );
      expect(lines[2]).toMatch(
        /^qa +config cart\/API_KEY \(role web\) +- +\(secret #1\): web-1 \| \(secret #2\): web-2$/,
      );
      expect(table.stdout).toContain('Away, compared by their last facts: web-2.');
      expect(table.stdout).not.toMatch(/key-one|key-two/);
      const json = await runFerry(['drift', '--env', 'prod', '--json'], { env });
      expect(json.code, json.stderr).toBe(0);
      expect(driftAnswerSchema.parse(JSON.parse(json.stdout))).toMatchObject({
        hostsCompared: 1,
        drift: [],
      });
      const bad = await runFerry(['drift', '--app', 'Not An App'], { env });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('--app');
    });

    it('refuses an environment or an app the server does not know', async () => {
      const env = await drift('?env=staging');
      expect(env.status).toBe(404);
      expect(env.body).toMatchObject({ code: 'E_ENV_NOT_FOUND' });
      const app = await drift('?app=nope');
      expect(app.status).toBe(404);
      expect(app.body).toMatchObject({ code: 'E_APP_NOT_FOUND' });
    });

    it('refuses a query it does not know, naming it', async () => {
      const { status, body } = await drift('?host=web-1');
      expect(status).toBe(400);
      expect(JSON.stringify(body)).toContain('host');
    });
  });
}
