import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FsArtifactStore } from '../src/artifacts/fs/fs-artifact-store.js';
import { API_PREFIX } from '../src/protocol/api.js';
import type { AppStatus } from '../src/protocol/deployment-api.js';
import { hostFactsSchema } from '../src/protocol/host-facts.js';
import { type BuiltServer, buildServer } from '../src/server/build-server.js';
import { RecordsService, SnapshotDigests } from '../src/server/records-service.js';
import { VariableService } from '../src/server/variable-service.js';
import { serverConfigSchema } from '../src/server/server-config.js';
import type { EnvironmentConfig } from '../src/server/environment-config.js';
import type { Store } from '../src/store/store.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';

/**
 * `ferry status` tells which variables changed since each host's release
 * started, from the configuration snapshot it started with; a snapshot never
 * changes once recorded, so a status reads (and decrypts) each one once, not
 * at every request (a thousand per request with a thousand hosts).
 */
for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`GET /status and snapshots (${dialect.name})`, () => {
    let opened: StoreUnderTest;
    let store: Store;
    let server: BuiltServer;
    let dir: string;
    let token: string;

    const setVar = (name: string, value: string, secret = false) =>
      store.variables.set({
        name,
        scope: { kind: 'env', value: 'qa' },
        value,
        secret,
        updatedAt: new Date().toISOString(),
        updatedBy: 'dev',
      });

    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-status-snapshots-'));
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
      for (const [n, secret] of [
        [1, 'key-one'],
        [2, 'key-two'],
      ] as const) {
        const hostId = `host_web-${n}`;
        await store.hosts.create({
          id: hostId,
          name: `web-${n}`,
          env: 'qa',
          roles: ['web'],
          vars: {},
        });
        await store.hosts.setFacts(
          hostId,
          hostFactsSchema.parse({
            factsVersion: 2,
            roles: ['web'],
            apps: { cart: { current: 1, config: { installId: `inst_${n}` } } },
          }),
          '2024-05-01T12:00:00.000Z',
        );
        await store.installs.create({
          id: `inst_${n}`,
          hostId,
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
        await store.installs.finish(`inst_${n}`, {
          ok: true,
          rolledBack: false,
          error: null,
          at: '2024-05-01T11:00:00.000Z',
        });
      }
      await setVar('PORT', '8080');
      await setVar('API_KEY', 'key-one', true);
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

    async function changed(): Promise<{ changed: Record<string, unknown>; body: string }> {
      const answer = await server.app.inject({
        method: 'GET',
        url: `${API_PREFIX}/status?app=cart`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(answer.statusCode, answer.body).toBe(200);
      const { apps } = answer.json<{ apps: AppStatus[] }>();
      const qa = apps[0]!.environments.find((e) => e.env === 'qa')!;
      return {
        changed: Object.fromEntries(qa.hosts.map((h) => [h.host, h.changedVariables])),
        body: answer.body,
      };
    }

    it("reads each snapshot once, and still tells what changed since, a secret's too", async () => {
      const read = vi.spyOn(store.installs, 'getSnapshots');
      try {
        const first = await changed();
        expect(first.changed).toEqual({ 'web-1': [], 'web-2': ['API_KEY'] });
        const idsRead = () => read.mock.calls.flatMap(([ids]) => ids);
        expect(idsRead().sort()).toEqual(['inst_1', 'inst_2']);

        // Asked again: the same answer, no snapshot read again.
        expect((await changed()).changed).toEqual(first.changed);
        // Today's values change: seen at once, still without reading a snapshot.
        await setVar('PORT', '9090');
        await setVar('API_KEY', 'key-two', true);
        const after = await changed();
        expect(after.changed).toEqual({ 'web-1': ['API_KEY', 'PORT'], 'web-2': ['PORT'] });
        expect(idsRead().sort()).toEqual(['inst_1', 'inst_2']);
        expect(after.body).not.toMatch(/key-one|key-two/);
      } finally {
        read.mockRestore();
      }
    });

    it('tells every host what changed when fewer snapshots are kept than hosts run', async () => {
      // One kept for two hosts: reading one drops the other, which this
      // request had already found kept.
      const records = new RecordsService(
        store,
        [{ name: 'qa' } as EnvironmentConfig],
        server.bundles,
        new VariableService(store),
        new SnapshotDigests(1),
      );
      const changedOf = async () => {
        const [cart] = await records.status('cart');
        const qa = cart!.environments.find((e) => e.env === 'qa')!;
        return Object.fromEntries(qa.hosts.map((h) => [h.host, h.changedVariables]));
      };
      const first = await changedOf();
      expect(Object.keys(first).sort()).toEqual(['web-1', 'web-2']);
      expect(first['web-1']).toBeInstanceOf(Array);
      expect(first['web-2']).toBeInstanceOf(Array);
      expect(await changedOf()).toEqual(first);
      expect(await changedOf()).toEqual(first);
    });
  });
}
