import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { labelSchema } from '../src/protocol/fields.js';
import { type HostFacts, parseHostFacts } from '../src/protocol/host-facts.js';
import { readReportPieces } from '../src/store/kysely/kysely-report-logs.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import type { NewBundle, NewInstall, Store, StoredDeployment } from '../src/store/store.js';
import { createTestDatabase } from './helpers/pg-database.js';
import { pgUrl } from './helpers/services.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';

/**
 * One contract for every store: each dialect, against a real database, must
 * answer the same. Domain code depends only on the `Store` interface.
 */

function bundle(app: string, sha: string, extra: Partial<NewBundle> = {}): NewBundle {
  return {
    app,
    sha256: sha.padStart(64, '0'),
    size: 5_000_000_000, // beyond 32 bits: a bigint column on PostgreSQL
    label: null,
    commit: null,
    dirty: null,
    fileCount: 3,
    createdAt: '2026-11-01T00:00:00.000Z',
    pushedBy: 'alice',
    manifest: { role: app, install: [] },
    ...extra,
  };
}

const noop = () => Promise.resolve();
const STRATEGY = { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: '60s' };

for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`store contract: ${dialect.name}`, () => {
    let under: StoreUnderTest;
    let store: Store;

    beforeEach(async () => {
      under = await dialect.open();
      store = under.store;
    });
    afterEach(async () => {
      await under.close();
    });

    async function host(name: string, env = 'qa'): Promise<string> {
      const id = `host_${name}`;
      await store.hosts.create({ id, name, env, roles: ['web'], vars: { PORT: '8080' } });
      return id;
    }

    async function deployment(
      id: string,
      options: {
        lock?: boolean;
        installs?: NewInstall[];
        env?: string;
        state?: 'pending' | 'running';
      } = {},
    ) {
      return store.deployments.create(
        {
          id,
          app: 'web',
          version: 1,
          env: options.env ?? 'qa',
          kind: 'deploy',
          state: options.state ?? 'running',
          strategy: STRATEGY,
          fromVersion: null,
          createdBy: 'alice',
        },
        options.installs ?? [],
        { lock: options.lock ?? true },
      );
    }

    it('migrates again without harm', async () => {
      await store.migrate();
      expect(await store.environments.list()).toEqual(['dev', 'qa', 'prod']);
    });

    describe('bundles', () => {
      it('numbers the bundles of each app from 1, and gives the same bytes their version again', async () => {
        const moved: string[] = [];
        const first = await store.bundles.record(bundle('web', 'a'), () => {
          moved.push('a');
          return Promise.resolve();
        });
        expect(first).toMatchObject({ created: true, bundle: { app: 'web', version: 1 } });
        expect(first.bundle.size).toBe(5_000_000_000);
        expect((await store.bundles.record(bundle('web', 'b'), noop)).bundle.version).toBe(2);
        expect((await store.bundles.record(bundle('api', 'a'), noop)).bundle.version).toBe(1);
        const again = await store.bundles.record(bundle('web', 'a'), () => {
          moved.push('again');
          return Promise.resolve();
        });
        expect(again).toMatchObject({ created: false, bundle: { version: 1 } });
        expect(moved).toEqual(['a']);
      });

      it('records nothing when moving the file fails', async () => {
        await expect(
          store.bundles.record(bundle('web', 'a'), () => Promise.reject(new Error('disk full'))),
        ).rejects.toThrow('disk full');
        expect(await store.bundles.hasApp('web')).toBe(false);
        expect((await store.bundles.record(bundle('web', 'a'), noop)).bundle.version).toBe(1);
      });

      it('gets, lists newest first with a limit, and summarises apps', async () => {
        await store.bundles.record(
          bundle('web', 'a', { label: '1.0', dirty: true, commit: 'c0ffee' }),
          noop,
        );
        await store.bundles.record(bundle('web', 'b'), noop);
        await store.bundles.record(bundle('web', 'c'), noop);
        const got = await store.bundles.get('web', 1);
        expect(got).toMatchObject({
          app: 'web',
          version: 1,
          label: '1.0',
          dirty: true,
          commit: 'c0ffee',
          fileCount: 3,
          manifest: { role: 'web', install: [] },
        });
        expect(await store.bundles.get('web', 9)).toBeUndefined();
        expect((await store.bundles.list('web')).map((b) => b.version)).toEqual([3, 2, 1]);
        expect((await store.bundles.list('web', { limit: 2 })).map((b) => b.version)).toEqual([
          3, 2,
        ]);
        expect(await store.bundles.listApps()).toEqual([
          expect.objectContaining({ name: 'web', latestVersion: 3, bundleCount: 3 }),
        ]);
        expect(await store.bundles.hasApp('nope')).toBe(false);
      });

      it('lists the bundles of a label across apps, by app then version', async () => {
        await store.bundles.record(bundle('web', 'a', { label: '0.4.0' }), noop);
        await store.bundles.record(bundle('web', 'b', { label: '0.4.1' }), noop);
        await store.bundles.record(bundle('web', 'c', { label: '0.4.0' }), noop);
        await store.bundles.record(bundle('api', 'a', { label: '0.4.0' }), noop);
        expect(
          (await store.bundles.listByLabel('0.4.0')).map((b) => `${b.app}@${b.version}`),
        ).toEqual(['api@1', 'web@1', 'web@3']);
        expect(await store.bundles.listByLabel('0.4')).toEqual([]);
      });
    });

    describe('bundle signatures', () => {
      const server = { publicKey: 'A'.repeat(43) + '=', signature: 'S'.repeat(86) + '==' };
      const alice = { publicKey: 'B'.repeat(43) + '=', signature: 'T'.repeat(86) + '==' };
      const bob = { publicKey: 'C'.repeat(43) + '=', signature: 'U'.repeat(86) + '==' };

      it("signs a bundle as it is recorded, with its version, and keeps developers' signatures", async () => {
        const seen: unknown[] = [];
        const { bundle: recorded } = await store.bundles.record(
          bundle('web', 'a', { label: '1.0', developerSignatures: [alice] }),
          noop,
          (b) => {
            seen.push({ app: b.app, version: b.version, sha256: b.sha256, label: b.label });
            return server;
          },
        );
        expect(seen).toEqual([
          { app: 'web', version: 1, sha256: 'a'.padStart(64, '0'), label: '1.0' },
        ]);
        const expected = [
          { by: 'server', keyId: expect.stringMatching(/^SHA256:/), name: null, ...server },
          { by: 'developer', keyId: expect.stringMatching(/^SHA256:/), name: null, ...alice },
        ];
        expect(recorded.signatures).toEqual(expected);
        expect((await store.bundles.get('web', 1))?.signatures).toEqual(expected);
        expect((await store.bundles.list('web'))[0]?.signatures).toEqual(expected);
        expect(recorded.signatures[0]!.keyId).not.toBe(recorded.signatures[1]!.keyId);
      });

      it("adds a developer's signature, replacing one by the same key", async () => {
        await store.bundles.record(bundle('web', 'a', { developerSignatures: [alice] }), noop);
        await store.bundles.addDeveloperSignature('web', 1, bob);
        const again = { ...alice, signature: 'V'.repeat(86) + '==' };
        const added = await store.bundles.addDeveloperSignature('web', 1, again);
        expect(added?.signatures.map((s) => s.signature)).toEqual([bob.signature, again.signature]);
        expect((await store.bundles.get('web', 1))?.signatures).toEqual(added?.signatures);
        expect(await store.bundles.addDeveloperSignature('web', 9, bob)).toBeUndefined();
      });

      it('lists the bundles recorded unsigned and signs each once, if its sha256 is unchanged', async () => {
        await store.bundles.record(bundle('web', 'a'), noop);
        await store.bundles.record(bundle('web', 'b'), noop, () => server);
        await store.bundles.record(bundle('api', 'c'), noop);
        const unsigned = await store.bundles.listUnsigned(10);
        expect(unsigned.map((b) => `${b.app}@${b.version}`).sort()).toEqual(['api@1', 'web@1']);
        expect(await store.bundles.setServerSignature('web', 1, 'f'.repeat(64), server)).toBe(
          false,
        );
        expect(
          await store.bundles.setServerSignature('web', 1, 'a'.padStart(64, '0'), server),
        ).toBe(true);
        expect(await store.bundles.setServerSignature('web', 1, 'a'.padStart(64, '0'), bob)).toBe(
          false,
        );
        expect((await store.bundles.get('web', 1))?.signatures).toMatchObject([
          { by: 'server', ...server },
        ]);
        expect((await store.bundles.listUnsigned(10)).map((b) => b.app)).toEqual(['api']);
      });

      it('keeps a label exactly as it was signed, and cannot keep one that is not well-formed', async () => {
        // What the server signs is the record as given; a store that read back
        // another string would make its signature fail on every agent.
        const label = 'v1 😀 e\u0301 — “rc”';
        const signed: (string | null)[] = [];
        await store.bundles.record(bundle('web', 'a', { label }), noop, (record) => {
          signed.push(record.label);
          return server;
        });
        expect(signed).toEqual([label]);
        expect((await store.bundles.get('web', 1))?.label).toBe(label);
        // A lone surrogate is one string in JavaScript and another once stored
        // (U+FFFD): the protocol's label schema refuses it before it gets here.
        const lone = 'v1\ud800';
        expect(labelSchema.safeParse(lone).success).toBe(false);
        await store.bundles.record(bundle('web', 'b', { label: lone }), noop);
        expect((await store.bundles.get('web', 2))?.label).not.toBe(lone);
      });

      it('records the first signing key, and answers it to every later claim', async () => {
        expect(await store.bundles.claimSigningKey(server.publicKey)).toBe(server.publicKey);
        expect(await store.bundles.claimSigningKey(bob.publicKey)).toBe(server.publicKey);
      });
    });

    describe('tokens', () => {
      it('creates, finds by hash, touches, lists and revokes', async () => {
        expect(await store.tokens.list()).toEqual([]);
        const created = await store.tokens.create({
          id: 'tok_1',
          name: 'ci',
          role: 'deployer',
          env: 'qa',
          tokenHash: 'h1',
          createdBy: 'admin',
        });
        expect(created).toMatchObject({ id: 'tok_1', role: 'deployer', env: 'qa', hostId: null });
        expect(await store.tokens.findActive('h1')).toMatchObject({ id: 'tok_1', tokenHash: 'h1' });
        await store.tokens.touch('tok_1', '2026-11-02T00:00:00.000Z');
        expect((await store.tokens.list())[0]!.lastUsedAt).toBe('2026-11-02T00:00:00.000Z');
        expect((await store.tokens.list()).map((t) => t.id)).toEqual(['tok_1']);
        expect(await store.tokens.revoke('tok_1')).toBe(true);
        expect(await store.tokens.revoke('tok_1')).toBe(true);
        expect(await store.tokens.revoke('tok_nope')).toBe(false);
        expect(await store.tokens.findActive('h1')).toBeUndefined();
      });

      it('creates the first token only while there is none', async () => {
        const first = { name: 'admin', role: 'admin', env: null, createdBy: null } as const;
        expect(
          await store.tokens.createFirst({ ...first, id: 'tok_a', tokenHash: 'ha' }),
        ).toMatchObject({ id: 'tok_a', role: 'admin' });
        expect(
          await store.tokens.createFirst({ ...first, id: 'tok_b', tokenHash: 'hb' }),
        ).toBeUndefined();
        expect((await store.tokens.list()).map((t) => t.id)).toEqual(['tok_a']);
      });

      it('rotates a host credential: the successor replaces it once confirmed, the old one keeps a grace', async () => {
        const own = { name: 'agent-web-1', role: 'agent', env: 'qa', createdBy: 'x' } as const;
        const later = '2099-01-01T00:00:00.000Z';
        const grace = '2098-01-01T00:00:00.000Z';
        await host('1');
        await store.tokens.create({
          ...own,
          id: 'tok_1',
          tokenHash: 'h1',
          hostId: 'host_1',
          expiresAt: later,
        });
        expect(await store.tokens.findActive('h1')).toMatchObject({
          expiresAt: later,
          replaces: null,
        });
        const next = (id: string) => ({
          ...own,
          id,
          tokenHash: `h-${id}`,
          hostId: 'host_1',
          expiresAt: later,
        });
        // A first successor, never kept by its agent; asked again, it is replaced by a second.
        expect(await store.tokens.rotate('tok_1', next('tok_2'), grace)).toBe(true);
        expect(await store.tokens.findActive('h1')).toMatchObject({ expiresAt: grace });
        expect(await store.tokens.findActive('h-tok_2')).toMatchObject({ replaces: 'tok_1' });
        expect(await store.tokens.rotate('tok_1', next('tok_3'), later)).toBe(true);
        expect(await store.tokens.findActive('h-tok_2')).toBeUndefined();
        // The grace never lengthens the old credential's life.
        expect(await store.tokens.findActive('h1')).toMatchObject({ expiresAt: grace });
        await store.tokens.confirm('tok_3');
        await store.tokens.confirm('tok_3');
        expect(await store.tokens.findActive('h1')).toBeUndefined();
        expect(await store.tokens.findActive('h-tok_3')).toMatchObject({
          replaces: null,
          hostId: 'host_1',
        });
        // A revoked credential rotates into nothing.
        expect(await store.tokens.rotate('tok_1', next('tok_4'), grace)).toBe(false);
        expect(await store.tokens.findActive('h-tok_4')).toBeUndefined();
        // The list leaves out the credentials rotation replaced, unless asked for all.
        expect(await store.tokens.list()).toEqual([
          expect.objectContaining({ id: 'tok_3', expiresAt: later, superseded: false }),
        ]);
        expect(
          (await store.tokens.list({ all: true })).map((t) => [t.id, t.superseded]).sort(),
        ).toEqual([
          ['tok_1', true],
          ['tok_2', true],
          ['tok_3', false],
        ]);
        expect(await store.tokens.get('tok_1')).toMatchObject({ superseded: true });
        // A host's current credential revoked (the host cut off) is listed, revoked.
        await store.tokens.revoke('tok_3');
        expect(await store.tokens.list()).toEqual([
          expect.objectContaining({ id: 'tok_3', superseded: false }),
        ]);
      });

      it('rotates no credential of a host cut off or removed, and finds none of its tokens active', async () => {
        const later = '2099-01-01T00:00:00.000Z';
        const own = (id: string, hostId: string) => ({
          id,
          name: `agent-${hostId}`,
          role: 'agent' as const,
          env: 'qa',
          tokenHash: `h-${id}`,
          createdBy: 'x',
          hostId,
          expiresAt: later,
        });
        for (const [name, end] of [
          ['cut-1', (id: string) => store.hosts.cutOff(id, later)],
          ['gone-1', (id: string) => store.hosts.remove(id, later)],
        ] as const) {
          const hostId = await host(name);
          await store.tokens.create(own(`tok_${name}`, hostId));
          await end(hostId);
          // A credential of a host cut off, however it is still on record, counts for nothing.
          await store.tokens.create(own(`tok_${name}_late`, hostId));
          expect(await store.tokens.findActive(`h-tok_${name}_late`), name).toBeUndefined();
          await under
            .kysely()
            .updateTable('tokens')
            .set({ revoked_at: null })
            .where('id', '=', `tok_${name}`)
            .execute();
          expect(
            await store.tokens.rotate(`tok_${name}`, own(`tok_${name}_next`, hostId), later),
            name,
          ).toBe(false);
          expect(await store.tokens.findActive(`h-tok_${name}_next`), name).toBeUndefined();
        }
        // No host on record: nothing to rotate for.
        await store.tokens.create(own('tok_orphan', 'host_none'));
        expect(
          await store.tokens.rotate('tok_orphan', own('tok_orphan_2', 'host_none'), later),
        ).toBe(false);
      });
    });

    describe('outbox', () => {
      it('keeps messages per host in order, once per id, until acknowledged', async () => {
        await store.outbox.enqueue('h1', { id: 'm1', body: '{"a":1}' });
        await store.outbox.enqueue('h1', { id: 'm2', body: '{"a":2}' });
        await store.outbox.enqueue('h1', { id: 'm1', body: '{"a":1}' });
        await store.outbox.enqueue('h2', { id: 'm3', body: '{}' });
        expect((await store.outbox.pending('h1')).map((m) => m.id)).toEqual(['m1', 'm2']);
        await store.outbox.ack('h1', 'm1');
        expect(await store.outbox.pending('h1')).toEqual([{ id: 'm2', body: '{"a":2}' }]);
        expect((await store.outbox.pending('h2')).map((m) => m.id)).toEqual(['m3']);
        // Every host's waiting messages together: h1's m2 and h2's m3.
        expect(await store.outbox.depth()).toBe(2);
      });
    });

    describe('environments', () => {
      it('syncs environments, keeping one that still has hosts', async () => {
        await host('old-1', 'prod');
        expect(await store.environments.sync(['dev', 'staging'])).toEqual({ kept: ['prod'] });
        expect(await store.environments.list()).toEqual(['dev', 'staging', 'prod']);
      });
    });

    describe('hosts', () => {
      it('records hosts, their presence and their facts', async () => {
        const id = await host('qa-1');
        await host('prod-1', 'prod');
        expect(await store.hosts.get(id)).toMatchObject({
          name: 'qa-1',
          roles: ['web'],
          vars: { PORT: '8080' },
          connected: false,
          facts: null,
        });
        expect((await store.hosts.findByName('qa-1'))?.id).toBe(id);
        expect(await store.hosts.findByName('nope')).toBeUndefined();
        await store.hosts.setPresence(id, true, '2026-11-02T00:00:00.000Z');
        const facts = parseHostFacts({ factsVersion: 2, apps: { web: { current: 3 } } });
        await store.hosts.setFacts(id, facts, '2026-11-02T00:00:01.000Z');
        expect(await store.hosts.get(id)).toMatchObject({
          connected: true,
          lastSeenAt: '2026-11-02T00:00:01.000Z',
          facts,
        });
        expect((await store.hosts.list({ env: 'qa' })).map((h) => h.name)).toEqual(['qa-1']);
        expect((await store.hosts.list()).map((h) => h.name)).toEqual(['prod-1', 'qa-1']);
        await store.hosts.resetPresence();
        expect((await store.hosts.get(id))?.connected).toBe(false);
      });

      it('lists only the hosts asked for by id, removed ones left out', async () => {
        const ids = [];
        for (let n = 1; n <= 1005; n++) ids.push(await host(`qa-${String(n).padStart(4, '0')}`));
        const prod = await host('prod-1', 'prod');
        await store.hosts.remove(ids[1]!, '2026-11-02T00:00:00.000Z');
        const names = async (options: { env?: string; ids?: readonly string[] }) =>
          (await store.hosts.list(options)).map((h) => h.name);
        expect(await names({ ids: [prod, ids[2]!, ids[1]!, ids[0]!, 'host_nope', prod] })).toEqual([
          'prod-1',
          'qa-0001',
          'qa-0003',
        ]);
        expect(await names({ ids: [prod, ids[0]!], env: 'qa' })).toEqual(['qa-0001']);
        expect(await names({ ids: [] })).toEqual([]);
        // More ids than one statement takes: read in pieces, in the same order.
        const all = await names({ ids: [prod, ...ids].reverse() });
        expect(all).toEqual((await store.hosts.list()).map((h) => h.name));
        expect(all).toHaveLength(1005);
      });

      it('gives each read of a host its own facts, and reads them anew once they change', async () => {
        const id = await host('qa-1');
        const facts = parseHostFacts({
          factsVersion: 2,
          runtimes: { node: '20.11.1' },
          apps: { web: { current: 3, releases: [2, 3] } },
        });
        await store.hosts.setFacts(id, facts, '2026-11-02T00:00:01.000Z');
        // A caller that changes what it was given changes nothing for the next one.
        const first = (await store.hosts.get(id))!.facts!;
        expect(first).toEqual(facts);
        first.runtimes.node = 'changed by a caller';
        first.apps.web!.releases.push(99);
        for (const read of [
          (await store.hosts.get(id))?.facts,
          (await store.hosts.list())[0]?.facts,
          (await store.hosts.findByName('qa-1'))?.facts,
        ])
          expect(read).toEqual(facts);
        // New facts are read as they are now.
        const newer = parseHostFacts({ factsVersion: 2, runtimes: { node: '22.1.0' } });
        await store.hosts.setFacts(id, newer, '2026-11-02T00:00:02.000Z');
        expect((await store.hosts.list())[0]?.facts).toEqual(newer);
        // Facts that no longer read (an older Ferry's, broken) read as none, every time.
        await store.hosts.setFacts(id, { factsVersion: 2, cpus: -1 } as unknown as HostFacts, 'T3');
        expect((await store.hosts.get(id))?.facts).toBeNull();
        expect((await store.hosts.list())[0]?.facts).toBeNull();
      });

      it("lists a host's facts shared, when asked: one frozen object until they change", async () => {
        const id = await host('qa-1');
        const facts = parseHostFacts({
          factsVersion: 2,
          runtimes: { node: '20.11.1' },
          apps: { web: { current: 3, releases: [2, 3] } },
        });
        await store.hosts.setFacts(id, facts, '2026-11-02T00:00:01.000Z');
        const [first] = await store.hosts.list({ facts: 'shared' });
        const [again] = await store.hosts.list({ facts: 'shared', env: 'qa' });
        // Read once: the same object for each shared list, as the facts were.
        expect(first!.facts).toEqual(facts);
        expect(again!.facts).toBe(first!.facts);
        // Nobody can change it under the others; a read of one's own is still one's own.
        expect(() => {
          first!.facts!.apps.web!.releases.push(99);
        }).toThrow(TypeError);
        expect(() => {
          first!.facts!.runtimes.node = 'changed by a caller';
        }).toThrow(TypeError);
        const own = (await store.hosts.list())[0]!.facts!;
        expect(own).not.toBe(first!.facts);
        own.runtimes.node = 'mine';
        expect((await store.hosts.list({ facts: 'shared' }))[0]!.facts).toEqual(facts);
        // New facts: a new object, read as they are now.
        const newer = parseHostFacts({ factsVersion: 2, runtimes: { node: '22.1.0' } });
        await store.hosts.setFacts(id, newer, '2026-11-02T00:00:02.000Z');
        const [changed] = await store.hosts.list({ facts: 'shared' });
        expect(changed!.facts).toEqual(newer);
        expect(changed!.facts).not.toBe(first!.facts);
      });

      it("keeps each host's facts history newest first, pruned to a count and an age", async () => {
        const id = await host('qa-1');
        const other = await host('qa-2');
        const sample = (minute: number, node: string) => ({
          at: `2026-11-02T00:${String(minute).padStart(2, '0')}:00.000Z`,
          facts: parseHostFacts({ factsVersion: 2, runtimes: { node } }),
        });
        const keep = (count: number) => ({ keep: count, since: '2026-11-02T00:00:00.000Z' });
        await store.hosts.addFactsSample(other, sample(0, 'other'), keep(10));
        for (let minute = 1; minute <= 5; minute++)
          await store.hosts.addFactsSample(id, sample(minute, `20.${minute}.0`), keep(3));
        const nodes = async (hostId: string) =>
          (await store.hosts.listFactsSamples(hostId)).map((s) => [
            s.at.slice(14, 16),
            s.facts.runtimes.node,
          ]);
        expect(await nodes(id)).toEqual([
          ['05', '20.5.0'],
          ['04', '20.4.0'],
          ['03', '20.3.0'],
        ]);
        expect((await store.hosts.listFactsSamples(id, { limit: 1 }))[0]?.facts).toEqual(
          sample(5, '20.5.0').facts,
        );
        // By age: what is older than `since` goes, whatever the count.
        await store.hosts.addFactsSample(id, sample(6, '20.6.0'), {
          keep: 10,
          since: '2026-11-02T00:04:30.000Z',
        });
        expect(await nodes(id)).toEqual([
          ['06', '20.6.0'],
          ['05', '20.5.0'],
        ]);
        // Another host's history is its own.
        expect(await nodes(other)).toEqual([['00', 'other']]);
      });

      it('reads facts an older Ferry stored, before facts had a schema', async () => {
        const id = await host('qa-1');
        await store.hosts.setFacts(
          id,
          // As an older server wrote them: whatever the agent sent.
          { os: 'Linux 6.1', runtimes: { node: '18.0.0' }, apps: { web: { current: 2 } } } as never,
          '2026-11-02T00:00:01.000Z',
        );
        expect((await store.hosts.get(id))?.facts).toMatchObject({
          factsVersion: 1,
          os: 'Linux',
          runtimes: { node: '18.0.0', pip: null },
          apps: { web: { current: 2, releases: [] } },
        });
      });

      it('cuts a host off with its tokens, and removes one so that its name is free again', async () => {
        const id = await host('qa-1');
        await store.tokens.create({
          id: 'tok_qa1',
          name: 'agent-qa-1',
          role: 'agent',
          env: 'qa',
          tokenHash: 'h'.repeat(64),
          createdBy: 'admin',
          hostId: id,
        });
        expect(await store.hosts.cutOffIds()).toEqual([]);
        await store.hosts.cutOff(id, '2026-11-03T00:00:00.000Z');
        expect((await store.hosts.get(id))?.revokedAt).toBe('2026-11-03T00:00:00.000Z');
        expect(await store.tokens.findActive('h'.repeat(64))).toBeUndefined();
        expect(await store.hosts.cutOffIds()).toEqual([id]);

        expect(await store.hosts.remove(id, '2026-11-03T00:00:01.000Z')).toBe(true);
        expect(await store.hosts.remove(id, '2026-11-03T00:00:02.000Z')).toBe(false);
        expect(await store.hosts.list()).toEqual([]);
        expect(await store.hosts.findByName('qa-1')).toBeUndefined();
        // Kept for the history, under a name that says so.
        expect((await store.hosts.get(id))?.name).toBe(`qa-1 (removed ${id})`);
        await store.hosts.create({
          id: 'host_new',
          name: 'qa-1',
          env: 'qa',
          roles: ['web'],
          vars: {},
        });
        expect((await store.hosts.findByName('qa-1'))?.id).toBe('host_new');
      });

      it("drops a host's outbox when it is cut off or removed: those jobs are never delivered", async () => {
        const cut = await host('qa-1');
        const removed = await host('qa-2');
        const kept = await host('qa-3');
        for (const id of [cut, removed, kept])
          await store.outbox.enqueue(id, { id: `job-${id}`, body: '{"vars":{"SECRET":"x"}}' });
        await store.hosts.cutOff(cut, '2026-11-03T00:00:00.000Z');
        expect(await store.hosts.remove(removed, '2026-11-03T00:00:01.000Z')).toBe(true);
        expect(await store.outbox.pending(cut)).toEqual([]);
        expect(await store.outbox.pending(removed)).toEqual([]);
        expect((await store.outbox.pending(kept)).map((m) => m.id)).toEqual([`job-${kept}`]);
      });
    });

    describe('installs', () => {
      it('records steps once per delivery, replaces a re-run step, and keeps the output in order', async () => {
        const hostId = await host('qa-1');
        await store.installs.create({
          id: 'ins_1',
          hostId,
          app: 'web',
          version: 1,
          createdBy: 'alice',
        });
        const started = {
          kind: 'started' as const,
          step: 'install',
          at: '2026-11-02T00:00:00.000Z',
        };
        await store.installs.recordStep('ins_1', started);
        await store.installs.recordStep('ins_1', started);
        for (const seq of [0, 1, 1]) {
          await store.installs.recordStep('ins_1', {
            kind: 'output',
            step: 'install',
            stream: 'stdout',
            seq,
            text: `line ${seq}\n`,
          });
        }
        // Each step's log says how it stands: running, with no exit code or duration yet.
        expect((await store.installs.logs('ins_1'))?.steps).toEqual([
          {
            step: 'install',
            state: 'running',
            exitCode: null,
            durationMs: null,
            stdout: 'line 0\nline 1\n',
            stderr: '',
          },
        ]);
        // A NUL in output is kept as U+FFFD on both stores (PostgreSQL's text cannot hold it).
        await store.installs.recordStep('ins_1', {
          kind: 'output',
          step: 'install',
          stream: 'stderr',
          seq: 0,
          text: 'binary\0junk\n',
        });
        expect((await store.installs.logs('ins_1'))?.steps[0]?.stderr).toBe('binary\uFFFDjunk\n');
        // The same step started again (the agent re-ran the job): its output starts over.
        await store.installs.recordStep('ins_1', { ...started, at: '2026-11-02T00:00:05.000Z' });
        expect((await store.installs.logs('ins_1'))?.steps[0]?.stdout).toBe('');
        await store.installs.recordStep('ins_1', {
          kind: 'finished',
          step: 'install',
          ok: false,
          exitCode: 2,
          durationMs: 1234,
          error: 'npm failed',
          at: '2026-11-02T00:00:06.000Z',
        });
        await store.installs.finish('ins_1', {
          ok: false,
          rolledBack: true,
          error: 'npm failed',
          at: '2026-11-02T00:00:07.000Z',
        });
        expect(await store.installs.get('ins_1')).toMatchObject({
          host: 'qa-1',
          state: 'failed',
          rolledBack: true,
          error: 'npm failed',
          purpose: 'install',
          deploymentId: null,
          steps: [{ step: 'install', state: 'failed', exitCode: 2, durationMs: 1234 }],
        });
        expect((await store.installs.logs('ins_1'))?.steps[0]).toMatchObject({
          step: 'install',
          state: 'failed',
          exitCode: 2,
          durationMs: 1234,
        });
        expect(await store.installs.get('nope')).toBeUndefined();
        expect(await store.installs.logs('nope')).toBeUndefined();
      });

      it('gives what a step report or an end changed, from the write itself; a repeated one changes nothing', async () => {
        const hostId = await host('qa-1');
        await store.installs.create({
          id: 'ins_c',
          hostId,
          app: 'web',
          version: 3,
          createdBy: 'alice',
          state: 'queued',
        });
        const started = { kind: 'started' as const, step: 'fetch', at: '2026-11-02T00:00:00.000Z' };
        const first = await store.installs.recordStep('ins_c', started);
        expect(first).toMatchObject({
          install: {
            id: 'ins_c',
            host: 'qa-1',
            app: 'web',
            version: 3,
            state: 'running',
            steps: [],
          },
          stateChanged: true,
          steps: [{ step: 'fetch', state: 'running', startedAt: started.at, exitCode: null }],
        });
        // Delivered again: recorded once, nothing to tell.
        expect(await store.installs.recordStep('ins_c', started)).toMatchObject({
          stateChanged: false,
          steps: [],
        });
        const finished = {
          kind: 'finished' as const,
          step: 'fetch',
          ok: true,
          exitCode: 0,
          durationMs: 12,
          error: null,
          at: '2026-11-02T00:00:01.000Z',
        };
        expect(await store.installs.recordStep('ins_c', finished)).toMatchObject({
          install: { state: 'running' },
          stateChanged: false,
          steps: [
            {
              step: 'fetch',
              state: 'succeeded',
              exitCode: 0,
              durationMs: 12,
              startedAt: started.at,
            },
          ],
        });
        expect(await store.installs.recordStep('ins_c', finished)).toMatchObject({ steps: [] });
        // Started again (a re-run): a change, though the step was there.
        expect(
          await store.installs.recordStep('ins_c', { ...started, at: '2026-11-02T00:00:02.000Z' }),
        ).toMatchObject({ stateChanged: false, steps: [{ step: 'fetch', state: 'running' }] });
        // Output is no change to tell; an unknown install has none.
        expect(
          await store.installs.recordStep('ins_c', {
            kind: 'output',
            step: 'fetch',
            stream: 'stdout',
            seq: 0,
            text: 'x',
          }),
        ).toBeUndefined();
        expect(await store.installs.recordStep('nope', finished)).toBeUndefined();
        const end = { ok: true, rolledBack: false, error: null, at: '2026-11-02T00:00:03.000Z' };
        expect(await store.installs.finish('ins_c', end)).toMatchObject({
          install: { state: 'succeeded', finishedAt: end.at },
          stateChanged: true,
          steps: [],
        });
        expect(await store.installs.finish('ins_c', end)).toMatchObject({ stateChanged: false });
        expect(await store.installs.finish('nope', end)).toBeUndefined();
      });

      it("records a step report given with a host only on that host's install, and gives the install as a read after the write would", async () => {
        const own = await host('qa-1');
        const other = await host('qa-2');
        await store.installs.create({
          id: 'ins_h',
          hostId: own,
          app: 'web',
          version: 3,
          createdBy: 'alice',
          state: 'queued',
        });
        const started = { kind: 'started' as const, step: 'fetch', at: '2026-11-02T00:00:00.000Z' };
        const finished = {
          kind: 'finished' as const,
          step: 'fetch',
          ok: true,
          exitCode: 0,
          durationMs: 12,
          error: null,
          at: '2026-11-02T00:00:01.000Z',
        };
        // Another host's report: nothing recorded, nothing to tell.
        expect(await store.installs.recordStep('ins_h', started, other)).toBeUndefined();
        expect(await store.installs.get('ins_h')).toMatchObject({ state: 'queued', steps: [] });
        const first = await store.installs.recordStep('ins_h', started, own);
        expect(first).toMatchObject({ stateChanged: true, steps: [{ step: 'fetch' }] });
        expect(first?.install).toEqual(await store.installs.get('ins_h', { steps: false }));
        expect(await store.installs.recordStep('ins_h', finished, other)).toBeUndefined();
        expect((await store.installs.get('ins_h'))?.steps).toMatchObject([{ state: 'running' }]);
        const ended = await store.installs.recordStep('ins_h', finished, own);
        expect(ended).toMatchObject({ steps: [{ step: 'fetch', state: 'succeeded' }] });
        expect(ended?.install).toEqual(await store.installs.get('ins_h', { steps: false }));
      });

      it('moves an install only from the states given, and records what a host did with one cancelled after it was told to go ahead', async () => {
        const hostId = await host('qa-1');
        await store.installs.createMany([
          {
            id: 'ins_a',
            hostId,
            app: 'web',
            version: 2,
            createdBy: 'x',
            state: 'pending',
            batch: 0,
          },
        ]);
        expect(
          await store.installs.mark('ins_a', { state: 'queued', sentAt: 'T1' }, ['pending']),
        ).toBe(true);
        expect(await store.installs.mark('ins_a', { state: 'queued' }, ['pending'])).toBe(false);
        expect(await store.installs.get('ins_a')).toMatchObject({
          state: 'queued',
          sentAt: 'T1',
          batch: 0,
        });
        expect(
          await store.installs.mark('ins_a', { state: 'cancelled', error: 'stop' }, ['queued']),
        ).toBe(true);
        // The host had asked and been told to go ahead before the cancel: its
        // reports are what it did, and the record follows them.
        await store.installs.recordStep('ins_a', { kind: 'started', step: 'fetch', at: 'T2' });
        expect((await store.installs.get('ins_a'))?.state).toBe('running');
        await store.installs.finish('ins_a', {
          ok: true,
          rolledBack: false,
          error: null,
          at: 'T2',
        });
        expect((await store.installs.get('ins_a'))?.state).toBe('succeeded');
        // A repeated report of another end changes nothing: an install ends once.
        await store.installs.finish('ins_a', {
          ok: false,
          rolledBack: false,
          error: 'x',
          at: 'T3',
        });
        expect((await store.installs.get('ins_a'))?.state).toBe('succeeded');
        // A skipped install that the host runs after all comes back to life.
        await store.installs.createMany([
          { id: 'ins_b', hostId, app: 'web', version: 2, createdBy: 'x', state: 'pending' },
        ]);
        await store.installs.mark('ins_b', { state: 'skipped' }, ['pending']);
        await store.installs.recordStep('ins_b', { kind: 'started', step: 'fetch', at: 'T3' });
        expect((await store.installs.get('ins_b'))?.state).toBe('running');
      });

      it('records when an install ends, however it ends, and forgets it when a host revives it', async () => {
        const hostId = await host('qa-1');
        await store.installs.createMany(
          ['ins_c', 'ins_s', 'ins_q'].map((id) => ({
            id,
            hostId,
            app: 'web',
            version: 2,
            createdBy: 'x',
            state: 'pending' as const,
          })),
        );
        const before = new Date().toISOString();
        await store.installs.mark('ins_c', { state: 'cancelled', error: 'stop' }, ['pending']);
        await store.installs.mark('ins_s', { state: 'skipped', error: 'away' }, ['pending']);
        await store.installs.mark('ins_q', { state: 'queued', sentAt: 'T1' }, ['pending']);
        for (const id of ['ins_c', 'ins_s']) {
          const ended = await store.installs.get(id);
          expect(ended?.finishedAt, id).not.toBeNull();
          expect(ended!.finishedAt! >= before, id).toBe(true);
        }
        // Sent is not ended.
        expect((await store.installs.get('ins_q'))?.finishedAt).toBeNull();
        // A given time is kept.
        await store.installs.mark('ins_q', { state: 'failed', finishedAt: 'T2' }, ['queued']);
        expect((await store.installs.get('ins_q'))?.finishedAt).toBe('T2');
        // The skipped host runs it after all: it has not ended until the host says so.
        await store.installs.recordStep('ins_s', { kind: 'started', step: 'fetch', at: 'T3' });
        expect(await store.installs.get('ins_s')).toMatchObject({
          state: 'running',
          finishedAt: null,
        });
        await store.installs.finish('ins_s', {
          ok: true,
          rolledBack: false,
          error: null,
          at: 'T4',
        });
        expect((await store.installs.get('ins_s'))?.finishedAt).toBe('T4');
      });

      it('lists installs by deployment, host, app and state, newest first', async () => {
        const a = await host('qa-1');
        const b = await host('qa-2');
        await store.installs.createMany([
          {
            id: 'ins_1',
            hostId: a,
            app: 'web',
            version: 1,
            createdBy: 'x',
            deploymentId: 'dep_1',
            purpose: 'deploy',
          },
          {
            id: 'ins_2',
            hostId: b,
            app: 'web',
            version: 1,
            createdBy: 'x',
            deploymentId: 'dep_1',
            purpose: 'deploy',
          },
          { id: 'ins_3', hostId: a, app: 'api', version: 4, createdBy: 'x', fromVersion: 3 },
        ]);
        expect(
          (await store.installs.list({ deploymentId: 'dep_1' })).map((i) => i.id).sort(),
        ).toEqual(['ins_1', 'ins_2']);
        // Those of no deployment: installs by hand.
        expect((await store.installs.list({ deploymentId: null })).map((i) => i.id)).toEqual([
          'ins_3',
        ]);
        const ofHost = await store.installs.list({ hostId: a, app: 'api' });
        expect(ofHost.map((i) => [i.id, i.fromVersion, i.purpose])).toEqual([
          ['ins_3', 3, 'install'],
        ]);
        expect(await store.installs.list({ hostId: a, states: ['succeeded'] })).toEqual([]);
        expect(await store.installs.list({ hostId: a, limit: 1 })).toHaveLength(1);
      });

      it('lists the newest install of each host and app, as list(limit 1) gives it for each', async () => {
        const a = await host('qa-1');
        const b = await host('qa-2');
        const made = async (at: string, installs: NewInstall[]) => {
          vi.useFakeTimers({ toFake: ['Date'] });
          vi.setSystemTime(new Date(at));
          try {
            await store.installs.createMany(installs);
          } finally {
            vi.useRealTimers();
          }
        };
        const install = (id: string, hostId: string, app: string, version: number) => ({
          id,
          hostId,
          app,
          version,
          createdBy: 'x',
        });
        await made('2026-11-01T00:00:00.000Z', [
          install('ins_a1', a, 'web', 1),
          install('ins_b1', b, 'web', 1),
          install('ins_a_api', a, 'api', 7),
        ]);
        await made('2026-11-02T00:00:00.000Z', [
          install('ins_a2', a, 'web', 2),
          // Made at the same moment as ins_b3: the lower id is the newer, as `list` orders them.
          install('ins_b9', b, 'web', 2),
          install('ins_b3', b, 'web', 3),
        ]);
        await store.installs.finish('ins_a1', {
          ok: true,
          rolledBack: false,
          error: null,
          at: 'T',
        });
        await store.installs.finish('ins_b1', {
          ok: true,
          rolledBack: false,
          error: null,
          at: 'T',
        });
        await store.installs.finish('ins_a2', { ok: false, rolledBack: true, error: 'x', at: 'T' });

        const heads = (list: { id: string }[]) => list.map((i) => i.id).sort();
        expect(await store.installs.listNewest()).toEqual(
          expect.arrayContaining([
            { id: 'ins_a2', hostId: a, app: 'web', version: 2, state: 'failed' },
            { id: 'ins_b3', hostId: b, app: 'web', version: 3, state: 'queued' },
            { id: 'ins_a_api', hostId: a, app: 'api', version: 7, state: 'queued' },
          ]),
        );
        expect(heads(await store.installs.listNewest())).toEqual(['ins_a2', 'ins_a_api', 'ins_b3']);
        expect(heads(await store.installs.listNewest({ app: 'web' }))).toEqual([
          'ins_a2',
          'ins_b3',
        ]);
        expect(heads(await store.installs.listNewest({ states: ['succeeded'] }))).toEqual([
          'ins_a1',
          'ins_b1',
        ]);
        expect(heads(await store.installs.listNewest({ perVersion: true }))).toEqual([
          'ins_a1',
          'ins_a2',
          'ins_a_api',
          'ins_b1',
          'ins_b3',
          'ins_b9',
        ]);
        expect(await store.installs.listNewest({ states: [] })).toEqual([]);
        // The same answer as asking `list` for each host and app, one query each.
        for (const states of [
          undefined,
          ['succeeded' as const],
          ['failed' as const, 'queued' as const],
        ]) {
          const one = [];
          for (const hostId of [a, b])
            for (const app of ['web', 'api']) {
              const [newest] = await store.installs.list({
                hostId,
                app,
                limit: 1,
                ...(states ? { states } : {}),
              });
              if (newest) one.push(newest.id);
            }
          expect(heads(await store.installs.listNewest(states ? { states } : {}))).toEqual(
            one.sort(),
          );
        }
      });

      it('keeps the first configuration snapshot recorded for each install', async () => {
        expect(await store.installs.getSnapshot('ins_1')).toBeUndefined();
        await store.installs.saveSnapshots([
          { installId: 'ins_1', snapshot: { vars: { REDIS_HOST: 'a' }, secrets: [] } },
          { installId: 'ins_2', snapshot: { vars: { TOKEN: 't', PORT: '1' }, secrets: ['TOKEN'] } },
        ]);
        // Saved again (a replica carrying on after another): the first one stays.
        await store.installs.saveSnapshots([
          { installId: 'ins_1', snapshot: { vars: { REDIS_HOST: 'b' }, secrets: [] } },
        ]);
        expect(await store.installs.getSnapshot('ins_1')).toEqual({
          vars: { REDIS_HOST: 'a' },
          secrets: [],
        });
        expect(await store.installs.getSnapshot('ins_2')).toEqual({
          vars: { TOKEN: 't', PORT: '1' },
          secrets: ['TOKEN'],
        });
        await store.installs.saveSnapshots([]);
      });
    });

    describe('variables', () => {
      it('sets, replaces, lists by scope and unsets', async () => {
        const base = { value: 'x', secret: false, updatedAt: 'T', updatedBy: 'alice' };
        expect(
          await store.variables.set({ ...base, name: 'A', scope: { kind: 'global' } }),
        ).toEqual({
          created: true,
        });
        expect(
          await store.variables.set({ ...base, name: 'A', scope: { kind: 'global' }, value: 'y' }),
        ).toEqual({ created: false });
        await store.variables.set({
          ...base,
          name: 'A',
          scope: { kind: 'env', value: 'qa' },
          secret: true,
        });
        await store.variables.set({ ...base, name: 'B', scope: { kind: 'host', value: 'qa-1' } });
        expect(await store.variables.get('A', { kind: 'global' })).toMatchObject({ value: 'y' });
        expect(await store.variables.get('A', { kind: 'env', value: 'qa' })).toMatchObject({
          secret: true,
        });
        const scoped = await store.variables.list({ scopes: [{ kind: 'env', value: 'qa' }] });
        expect(scoped.map((v) => v.name)).toEqual(['A']);
        expect((await store.variables.list()).map((v) => [v.name, v.scope.kind])).toEqual([
          ['A', 'global'],
          ['A', 'env'],
          ['B', 'host'],
        ]);
        expect(await store.variables.unset('A', { kind: 'global' })).toBe(true);
        expect(await store.variables.unset('A', { kind: 'global' })).toBe(false);
      });

      it('lists by the scopes of a thousand hosts and more at once', async () => {
        const base = { value: 'x', secret: false, updatedAt: 'T', updatedBy: 'alice' };
        const scope = (kind: 'env' | 'role' | 'host', value: string) => ({ kind, value });
        await store.variables.set({ ...base, name: 'G', scope: { kind: 'global' } });
        await store.variables.set({ ...base, name: 'E', scope: scope('env', 'prod') });
        await store.variables.set({ ...base, name: 'R', scope: scope('role', 'web') });
        await store.variables.set({ ...base, name: 'H', scope: scope('host', 'prod-1999') });
        await store.variables.set({ ...base, name: 'H', scope: scope('host', 'qa-1') });
        // A release report asks for every host's scope: 2,000 hosts, their roles and environments.
        const scopes = [
          { kind: 'global' as const },
          scope('env', 'prod'),
          scope('role', 'web'),
          scope('role', 'db'),
          ...Array.from({ length: 2000 }, (_, i) => scope('host', `prod-${i}`)),
        ];
        expect((await store.variables.list({ scopes })).map((v) => [v.name, v.scope])).toEqual([
          ['E', scope('env', 'prod')],
          ['G', { kind: 'global' }],
          ['H', scope('host', 'prod-1999')],
          ['R', scope('role', 'web')],
        ]);
        // A value that is one kind's is not another's: a host named like a role is not that role.
        expect(
          (await store.variables.list({ scopes: [scope('host', 'web')] })).map((v) => v.name),
        ).toEqual([]);
      });

      it('keeps a variable for one app apart from the one for every app in the same scope', async () => {
        const base = { secret: false, updatedAt: 'T', updatedBy: 'alice' };
        const qa = { kind: 'env', value: 'qa' } as const;
        await store.variables.set({ ...base, name: 'PORT', scope: qa, value: '8080' });
        expect(
          await store.variables.set({
            ...base,
            name: 'PORT',
            scope: { ...qa, app: 'cart' },
            value: '8081',
            secret: true,
          }),
        ).toEqual({ created: true });
        await store.variables.set({
          ...base,
          name: 'PORT',
          scope: { ...qa, app: 'shop' },
          value: '1',
        });
        expect(await store.variables.get('PORT', qa)).toMatchObject({
          value: '8080',
          secret: false,
        });
        expect(await store.variables.get('PORT', { ...qa, app: 'cart' })).toMatchObject({
          value: '8081',
          secret: true,
          scope: { kind: 'env', value: 'qa', app: 'cart' },
        });
        // With an app: those for every app and that app's; without: all of them.
        expect(
          (await store.variables.list({ scopes: [qa], app: 'cart' })).map((v) => v.value),
        ).toEqual(['8080', '8081']);
        expect((await store.variables.list({ app: '' })).map((v) => v.value)).toEqual(['8080']);
        expect(await store.variables.list({ scopes: [qa] })).toHaveLength(3);
        expect(await store.variables.unset('PORT', { ...qa, app: 'cart' })).toBe(true);
        expect(await store.variables.get('PORT', qa)).toMatchObject({ value: '8080' });
      });

      it('reads a plain value that looks sealed as it is: only secrets are opened', async () => {
        // A value in the shape of a sealed secret, set as a plain variable: it is
        // not a secret, so nothing opens it, and no other read fails because of it.
        const lookalike = 'ferry:sealed:v1:0:AAAA';
        const base = { secret: false, updatedAt: 'T', updatedBy: 'alice' };
        await store.variables.set({
          ...base,
          name: 'X',
          scope: { kind: 'global' },
          value: lookalike,
        });
        await store.variables.set({ ...base, name: 'Y', scope: { kind: 'global' }, value: 'y' });
        expect(await store.variables.get('X', { kind: 'global' })).toMatchObject({
          value: lookalike,
          secret: false,
        });
        expect((await store.variables.list()).map((v) => [v.name, v.value])).toEqual([
          ['X', lookalike],
          ['Y', 'y'],
        ]);
      });
    });

    describe('verdicts', () => {
      it('keeps every change, newest first, with the one before', async () => {
        expect(await store.verdicts.current('web', 1)).toBe('pending');
        const mark = (verdict: 'passed' | 'failed', at: string) =>
          store.verdicts.record({ app: 'web', version: 1, verdict, note: null, by: 'qa', at });
        expect(await mark('passed', 'T1')).toEqual({ previous: 'pending', recorded: true });
        expect(await mark('failed', 'T2')).toEqual({ previous: 'passed', recorded: true });
        expect(await store.verdicts.current('web', 1)).toBe('failed');
        expect((await store.verdicts.list('web', 1)).map((v) => v.verdict)).toEqual([
          'failed',
          'passed',
        ]);
        await store.verdicts.record({
          app: 'web',
          version: 2,
          verdict: 'passed',
          note: 'ok',
          by: 'qa',
          at: 'T3',
        });
        expect((await store.verdicts.listByApp('web')).map((v) => [v.version, v.verdict])).toEqual([
          [2, 'passed'],
          [1, 'failed'],
          [1, 'passed'],
        ]);
      });

      it("records the server's verdict on a happening only if it changes the verdict and none was recorded since, even from two at once", async () => {
        const byServer = (verdict: 'passed' | 'failed', at: string, since: string) =>
          store.verdicts.record(
            { app: 'api', version: 1, verdict, note: 'install failed', by: 'ferry', at },
            { unchangedSince: since },
          );
        const [one, two] = await Promise.all([
          byServer('failed', '2026-01-01T00:00:02.000Z', '2026-01-01T00:00:01.000Z'),
          byServer('failed', '2026-01-01T00:00:02.500Z', '2026-01-01T00:00:01.000Z'),
        ]);
        expect([one.recorded, two.recorded].sort()).toEqual([false, true]);
        expect(await store.verdicts.list('api', 1)).toHaveLength(1);
        // A person's verdict after the happening stands.
        await store.verdicts.record({
          app: 'api',
          version: 1,
          verdict: 'passed',
          note: null,
          by: 'qa',
          at: '2026-01-01T00:00:03.000Z',
        });
        expect(
          await byServer('failed', '2026-01-01T00:00:04.000Z', '2026-01-01T00:00:01.000Z'),
        ).toEqual({ previous: 'passed', recorded: false });
        // A later happening is judged again.
        expect(
          await byServer('failed', '2026-01-01T00:00:06.000Z', '2026-01-01T00:00:05.000Z'),
        ).toEqual({ previous: 'passed', recorded: true });
        expect((await store.verdicts.list('api', 1)).map((v) => v.verdict)).toEqual([
          'failed',
          'passed',
          'failed',
        ]);
      });
    });

    describe('notes', () => {
      const at = (s: number) => `2026-11-01T00:00:${String(s).padStart(2, '0')}.000Z`;
      const note = (
        on: { kind: 'bundle'; app: string; version: number } | { kind: 'label'; label: string },
        text: string,
        s = 1,
      ) =>
        store.notes.add({
          on,
          section: 'deployment',
          impact: 'minor',
          text,
          fixedBy: null,
          at: at(s),
          by: 'alice',
        });

      it('keeps the finding a note is made from, through a read, a list and an edit', async () => {
        await store.bundles.record(bundle('web', 'a', { label: '0.4.0' }), noop);
        const made = await store.notes.add({
          on: { kind: 'label', label: '0.4.0' },
          section: 'deployment',
          impact: 'major',
          text: 'PostgreSQL warnings in the migration',
          fixedBy: null,
          finding: 'warnings/web/qa/postgres',
          at: at(1),
          by: 'alice',
        });
        expect(made.finding).toBe('warnings/web/qa/postgres');
        expect((await store.notes.get(made.id))?.finding).toBe('warnings/web/qa/postgres');
        expect((await store.notes.list({ label: '0.4.0' })).map((n) => n.finding)).toEqual([
          'warnings/web/qa/postgres',
        ]);
        const edited = await store.notes.edit(
          made.id,
          { impact: 'minor' },
          { at: at(2), by: 'bob' },
        );
        expect(edited?.after).toMatchObject({
          impact: 'minor',
          finding: 'warnings/web/qa/postgres',
        });
        // A note made by hand names none.
        expect((await note({ kind: 'label', label: '0.4.0' }, 'by hand', 3)).finding).toBeNull();
      });

      it('numbers notes, and lists them by bundle, app, label (with its bundles) or all', async () => {
        await store.bundles.record(bundle('web', 'a', { label: '0.4.0' }), noop);
        await store.bundles.record(bundle('web', 'b'), noop);
        await store.bundles.record(bundle('api', 'a', { label: '0.4.0' }), noop);
        const onWeb1 = await note(
          { kind: 'bundle', app: 'web', version: 1 },
          'web one\nsecond line',
        );
        const onLabel = await note({ kind: 'label', label: '0.4.0' }, 'the release');
        const onWeb2 = await note({ kind: 'bundle', app: 'web', version: 2 }, 'web two');
        const onApi1 = await note({ kind: 'bundle', app: 'api', version: 1 }, 'api one');
        expect(onWeb1).toEqual({
          id: onWeb1.id,
          on: { kind: 'bundle', app: 'web', version: 1 },
          section: 'deployment',
          impact: 'minor',
          text: 'web one\nsecond line',
          fixedBy: null,
          finding: null,
          createdAt: at(1),
          createdBy: 'alice',
          updatedAt: at(1),
          updatedBy: 'alice',
          actions: [],
        });
        expect(onLabel.id).toBeGreaterThan(onWeb1.id);
        expect(onWeb2.id).toBeGreaterThan(onLabel.id);
        expect(await store.notes.get(onLabel.id)).toEqual(onLabel);
        expect(await store.notes.get(onApi1.id + 100)).toBeUndefined();

        const ids = (notes: { id: number }[]) => notes.map((n) => n.id);
        expect(ids(await store.notes.list())).toEqual([
          onWeb1.id,
          onLabel.id,
          onWeb2.id,
          onApi1.id,
        ]);
        expect(ids(await store.notes.list({ app: 'web', version: 1 }))).toEqual([onWeb1.id]);
        expect(ids(await store.notes.list({ app: 'web' }))).toEqual([onWeb1.id, onWeb2.id]);
        // A label's notes: on the label, and on each bundle pushed with it.
        expect(ids(await store.notes.list({ label: '0.4.0' }))).toEqual([
          onWeb1.id,
          onLabel.id,
          onApi1.id,
        ]);
        expect(await store.notes.list({ label: '0.5.0' })).toEqual([]);
      });

      it('edits a note, stamping who and when, and answers it before and after', async () => {
        const made = await note({ kind: 'label', label: '0.4.0' }, 'first words');
        const edited = await store.notes.edit(
          made.id,
          { impact: 'blocker', fixedBy: { app: 'web', version: 13 } },
          { at: at(5), by: 'bob' },
        );
        expect(edited?.before).toEqual(made);
        expect(edited?.after).toEqual({
          ...made,
          impact: 'blocker',
          fixedBy: { app: 'web', version: 13 },
          updatedAt: at(5),
          updatedBy: 'bob',
        });
        const again = await store.notes.edit(
          made.id,
          { section: 'patch', text: 'new words', fixedBy: null },
          { at: at(6), by: 'carol' },
        );
        expect(again?.after).toMatchObject({
          section: 'patch',
          impact: 'blocker',
          text: 'new words',
          fixedBy: null,
          createdBy: 'alice',
          updatedBy: 'carol',
        });
        expect(await store.notes.get(made.id)).toEqual(again?.after);
        expect(
          await store.notes.edit(made.id + 1, { impact: 'nil' }, { at: at(7), by: 'bob' }),
        ).toBeUndefined();
      });

      it('keeps actions on notes, done once, listed by owner and open', async () => {
        const first = await note({ kind: 'label', label: '0.4.0' }, 'mq logs mixed');
        const second = await note({ kind: 'bundle', app: 'web', version: 1 }, 'python 2.7.6');
        expect(
          await store.notes.addAction({
            noteId: second.id + 1,
            owner: 'bob',
            text: 'x',
            at: at(1),
            by: 'alice',
          }),
        ).toBeUndefined();
        const add = (noteId: number, owner: string, text: string, s: number) =>
          store.notes.addAction({ noteId, owner, text, at: at(s), by: 'alice' });
        const a1 = await add(first.id, 'bob', 'split the log files', 2);
        const a2 = await add(second.id, 'carol', 'upgrade python', 3);
        const a3 = await add(first.id, 'bob', 'document it', 4);
        expect(a1).toEqual({
          id: a1!.id,
          noteId: first.id,
          owner: 'bob',
          text: 'split the log files',
          done: false,
          createdAt: at(2),
          createdBy: 'alice',
          doneAt: null,
          doneBy: null,
        });
        expect((await store.notes.get(first.id))?.actions).toEqual([a1, a3]);
        expect(await store.notes.getAction(a2!.id)).toEqual(a2);

        const done = await store.notes.completeAction(a1!.id, { at: at(8), by: 'bob' });
        expect(done).toEqual({
          changed: true,
          action: { ...a1, done: true, doneAt: at(8), doneBy: 'bob' },
        });
        // Done again: it stays as it was, with the first who and when.
        expect(await store.notes.completeAction(a1!.id, { at: at(9), by: 'carol' })).toEqual({
          changed: false,
          action: done!.action,
        });
        expect(await store.notes.completeAction(a3!.id + 100, { at: at(9), by: 'x' })).toBe(
          undefined,
        );

        const ids = (actions: { id: number }[]) => actions.map((a) => a.id);
        expect(ids(await store.notes.listActions())).toEqual([a1!.id, a2!.id, a3!.id]);
        expect(ids(await store.notes.listActions({ owner: 'bob' }))).toEqual([a1!.id, a3!.id]);
        expect(ids(await store.notes.listActions({ owner: 'bob', open: true }))).toEqual([a3!.id]);
        expect(ids(await store.notes.listActions({ open: false }))).toEqual([a1!.id]);
        expect((await store.notes.listActions({ owner: 'carol' }))[0]).toEqual({
          ...a2,
          note: {
            on: { kind: 'bundle', app: 'web', version: 1 },
            section: 'deployment',
            impact: 'minor',
            text: 'python 2.7.6',
          },
        });
        expect(await store.notes.listActions({ owner: 'nobody' })).toEqual([]);
      });
    });

    describe('the reads of a release report', () => {
      it('reads a bounded head of every step and the tail of a failed one, whatever was stored', async () => {
        const hostId = await host('qa-1');
        await store.installs.create({
          id: 'ins_big',
          hostId,
          app: 'web',
          version: 1,
          createdBy: 'a',
        });
        const step = (name: string, at: string) =>
          store.installs.recordStep('ins_big', { kind: 'started', step: name, at });
        const piece = (name: string, stream: 'stdout' | 'stderr', seq: number, text: string) =>
          store.installs.recordStep('ins_big', { kind: 'output', step: name, stream, seq, text });
        const ended = (name: string, ok: boolean) =>
          store.installs.recordStep('ins_big', {
            kind: 'finished',
            step: name,
            ok,
            exitCode: ok ? 0 : 1,
            durationMs: 5,
            error: null,
            at: '2026-11-02T00:00:09.000Z',
          });
        // Ten pieces of 10 characters each per stream: `<step><seq>` padded with dots.
        const text = (name: string, seq: number) => `${name}${seq}`.padEnd(9, '.') + '\n';
        for (const [name, ok] of [
          ['install', true],
          ['migrate', false],
        ] as const) {
          await step(name, '2026-11-02T00:00:00.000Z');
          // Sent out of order, as pieces may arrive.
          for (const seq of [9, 0, 1, 2, 3, 4, 5, 6, 7, 8]) {
            await piece(name, 'stdout', seq, text(name, seq));
            await piece(name, 'stderr', seq, text(name, seq).toUpperCase());
          }
          await ended(name, ok);
        }
        const [logs] = await store.installs.logsForReport(['ins_big'], {
          headChars: 25,
          tailChars: 15,
        });
        const all = (name: string) =>
          Array.from({ length: 10 }, (_, seq) => text(name, seq)).join('');
        // The limit is the database's, not a cut in JavaScript: the query gives of each
        // stream only the pieces that start in its head, and of a failed step's stream
        // those that end in its tail — under (25 + 10) + (15 + 10) characters, not 100.
        const pieces = await readReportPieces(under.kysely(), ['ins_big'], {
          headChars: 25,
          tailChars: 15,
        });
        const read = (name: string, stream: string) =>
          pieces
            .filter((p) => p.step === name && p.stream === stream)
            .map((p) => p.text)
            .join('');
        expect(read('install', 'stdout')).toBe(all('install').slice(0, 30));
        expect(read('install', 'stderr')).toBe(all('install').toUpperCase().slice(0, 30));
        expect(read('migrate', 'stdout')).toBe(
          all('migrate').slice(0, 30) + all('migrate').slice(-20),
        );
        expect(read('migrate', 'stderr')).toBe(
          (all('migrate').slice(0, 30) + all('migrate').slice(-20)).toUpperCase(),
        );
        expect(logs!.installId).toBe('ins_big');
        expect(logs!.steps.map((s) => [s.step, s.state, s.exitCode])).toEqual([
          ['install', 'succeeded', 0],
          ['migrate', 'failed', 1],
        ]);
        const [install, migrate] = logs!.steps;
        expect(install).toMatchObject({
          stdout: all('install').slice(0, 25),
          stderr: all('install').toUpperCase().slice(0, 25),
          tail: null,
        });
        expect(migrate).toMatchObject({
          stdout: all('migrate').slice(0, 25),
          tail: {
            stdout: all('migrate').slice(-15),
            stderr: all('migrate').toUpperCase().slice(-15),
          },
        });
        // Bounds wider than the output give all of it, head and tail alike.
        const [whole] = await store.installs.logsForReport(['ins_big'], {
          headChars: 1000,
          tailChars: 1000,
        });
        expect(whole!.steps[1]).toMatchObject({
          stdout: all('migrate'),
          tail: { stdout: all('migrate'), stderr: all('migrate').toUpperCase() },
        });
        expect(await store.installs.logsForReport([], { headChars: 1, tailChars: 1 })).toEqual([]);
      });

      it('answers a release: bundles by label with manifests, its deployments, installs, logs and snapshots', async () => {
        await store.bundles.record(bundle('web', 'a1', { label: '0.4.0' }), noop);
        await store.bundles.record(bundle('web', 'a2', { label: '0.4.1' }), noop);
        await store.bundles.record(bundle('api', 'b1', { label: '0.4.0' }), noop);
        const details = await store.bundles.listDetailsByLabel('0.4.0');
        expect(details.map((b) => [b.app, b.version, b.manifest.role])).toEqual([
          ['api', 1, 'api'],
          ['web', 1, 'web'],
        ]);
        expect(await store.bundles.listDetailsByLabel('nope')).toEqual([]);

        const hostId = await host('qa-1');
        const planned = (id: string, version: number, deploymentId: string | null): NewInstall => ({
          id,
          hostId,
          app: 'web',
          version,
          createdBy: 'alice',
          deploymentId,
          state: 'pending',
        });
        await deployment('dep_1', { installs: [planned('ins_1', 1, 'dep_1')] });
        await store.deployments.update('dep_1', { state: 'succeeded' });
        // A deployment of web@2, and a rollback from it to web@1 whose install is of version 1.
        for (const [id, version, kind, fromVersion] of [
          ['dep_2', 2, 'deploy', 1],
          ['dep_3', 1, 'rollback', 2],
        ] as const) {
          await store.deployments.create(
            {
              id,
              app: 'web',
              version,
              env: 'qa',
              kind,
              state: 'running',
              strategy: STRATEGY,
              fromVersion,
              createdBy: 'alice',
            },
            [planned(`ins_${id}`, version, id)],
            { lock: false },
          );
        }
        await store.installs.create(planned('ins_hand', 2, null));
        const ofTwo = await store.deployments.listForBundles([{ app: 'web', version: 2 }]);
        expect(ofTwo.map((d) => d.id)).toEqual(['dep_2', 'dep_3']);
        expect(await store.deployments.listForBundles([])).toEqual([]);

        const installs = await store.installs.listForRelease({
          bundles: [{ app: 'web', version: 2 }],
          deploymentIds: ['dep_2', 'dep_3'],
        });
        expect(installs.map((i) => i.id).sort()).toEqual(['ins_dep_2', 'ins_dep_3', 'ins_hand']);
        expect(installs.every((i) => i.host === 'qa-1' && Array.isArray(i.steps))).toBe(true);

        await store.installs.recordStep('ins_hand', {
          kind: 'started',
          step: 'install',
          at: '2026-11-02T00:00:00.000Z',
        });
        for (const [stream, seq, text] of [
          ['stdout', 0, 'a\n'],
          ['stderr', 0, 'warn\n'],
          ['stdout', 1, 'b\n'],
        ] as const)
          await store.installs.recordStep('ins_hand', {
            kind: 'output',
            step: 'install',
            stream,
            seq,
            text,
          });
        const logs = await store.installs.logsForReport(['ins_hand', 'ins_dep_2', 'ins_none'], {
          headChars: 1024,
          tailChars: 1024,
        });
        const full = await store.installs.logs('ins_hand');
        expect(logs.find((l) => l.installId === 'ins_hand')).toEqual({
          ...full,
          steps: full!.steps.map((s) => ({ ...s, tail: null })),
        });
        expect(logs.find((l) => l.installId === 'ins_dep_2')).toEqual({
          installId: 'ins_dep_2',
          steps: [],
        });
        expect(logs.map((l) => l.installId)).not.toContain('ins_none');

        const snapshot = { vars: { PORT: '8080', TOKEN: 's3cret' }, secrets: ['TOKEN'] };
        await store.installs.saveSnapshots([{ installId: 'ins_hand', snapshot }]);
        expect(await store.installs.getSnapshots(['ins_hand', 'ins_dep_2'])).toEqual([
          { installId: 'ins_hand', snapshot },
        ]);
      });

      it('records a history event once per id, and lists by type and deployment', async () => {
        const event = (id: string, type: 'cancel' | 'report', deploymentId: string) => ({
          id,
          at: '2026-11-01T00:00:01.000Z',
          by: 'ferry',
          type,
          app: 'web',
          version: 1,
          env: 'prod',
          detail: `event ${id}`,
          deploymentId,
        });
        await store.history.record(event('h1', 'report', 'dep_1'));
        await store.history.record(event('h1', 'report', 'dep_1'));
        await store.history.record(event('h2', 'cancel', 'dep_1'));
        await store.history.record(event('h3', 'report', 'dep_2'));
        const ids = (events: { id: string }[]) => events.map((e) => e.id).sort();
        expect(ids(await store.history.list({ limit: 10 }))).toEqual(['h1', 'h2', 'h3']);
        expect(ids(await store.history.list({ type: 'report', limit: 10 }))).toEqual(['h1', 'h3']);
        expect(
          ids(await store.history.list({ type: 'report', deploymentIds: ['dep_1'], limit: 10 })),
        ).toEqual(['h1']);
        expect(await store.history.list({ deploymentIds: [], limit: 10 })).toEqual([]);
      });
    });

    describe('history', () => {
      it('lists the changes no other record tells, newest first, by app or all', async () => {
        const change = (id: string, at: string, app: string | null) =>
          store.history.record({
            id,
            at,
            by: 'alice',
            type: app ? 'cancel' : 'token',
            app,
            version: app ? 1 : null,
            env: app ? 'qa' : null,
            detail: `change ${id}`,
            deploymentId: app ? 'dep_1' : null,
          });
        await change('h1', '2026-11-01T00:00:01.000Z', 'web');
        await change('h2', '2026-11-01T00:00:02.000Z', null);
        await change('h3', '2026-11-01T00:00:03.000Z', 'api');
        await change('h4', '2026-11-01T00:00:03.000Z', 'web');
        const ids = (events: { id: string }[]) => events.map((e) => e.id);
        expect(ids(await store.history.list({ limit: 10 }))).toEqual(['h4', 'h3', 'h2', 'h1']);
        expect(ids(await store.history.list({ app: 'web', limit: 10 }))).toEqual(['h4', 'h1']);
        expect(ids(await store.history.list({ limit: 1 }))).toEqual(['h4']);
        expect((await store.history.list({ app: 'web', limit: 1 }))[0]).toEqual({
          id: 'h4',
          at: '2026-11-01T00:00:03.000Z',
          by: 'alice',
          type: 'cancel',
          app: 'web',
          version: 1,
          env: 'qa',
          detail: 'change h4',
          deploymentId: 'dep_1',
        });
      });
    });

    describe('events', () => {
      const pushed = (app: string, version: number, at?: string) => ({
        kind: 'bundle.pushed' as const,
        app,
        env: null,
        deploymentId: null,
        hostId: null,
        data: { version, sha256: 'a'.repeat(64), label: null, by: 'alice' },
        ...(at === undefined ? {} : { at }),
      });

      it('numbers events in order and lists them after an id, filtered', async () => {
        expect([await store.events.firstId(), await store.events.lastId()]).toEqual([0, 0]);
        const made = [];
        for (let v = 1; v <= 5; v++)
          made.push(await store.events.append(pushed(v % 2 ? 'web' : 'api', v)));
        const ids = made.map((e) => Number(e.id));
        expect([...ids].sort((a, b) => a - b)).toEqual(ids);
        expect(new Set(ids).size).toBe(5);
        expect(await store.events.firstId()).toBe(ids[0]);
        expect(await store.events.lastId()).toBe(ids[4]);

        const after = await store.events.list({ after: ids[1]!, limit: 10 });
        expect(after.map((e) => e.id)).toEqual(made.slice(2).map((e) => e.id));
        expect(after[0]).toEqual(made[2]);
        const web = await store.events.list({ after: 0, limit: 2, filter: { app: 'web' } });
        expect(web.map((e) => e.data)).toMatchObject([{ version: 1 }, { version: 3 }]);
        expect(await store.events.list({ after: ids[4]!, limit: 10 })).toEqual([]);
        // Up to an id: none past it, however many would match.
        const span = await store.events.list({ after: ids[0]!, until: ids[3]!, limit: 10 });
        expect(span.map((e) => e.id)).toEqual(made.slice(1, 4).map((e) => e.id));
        const webUpTo = { after: 0, until: ids[1]!, limit: 10, filter: { app: 'web' } };
        expect((await store.events.list(webUpTo)).map((e) => e.id)).toEqual([made[0]!.id]);
      });

      it('prunes events before a time, but never the newest', async () => {
        await store.events.append(pushed('web', 1, '2000-01-01T00:00:00.000Z'));
        const kept = await store.events.append(pushed('web', 2, '2000-01-02T00:00:00.000Z'));
        expect(await store.events.prune('2100-01-01T00:00:00.000Z')).toBe(1);
        expect(await store.events.firstId()).toBe(Number(kept.id));
        const next = await store.events.append(pushed('web', 3));
        expect(Number(next.id)).toBeGreaterThan(Number(kept.id));
      });
    });

    describe('service health', () => {
      const report = (
        hostId: string,
        extra: Partial<Parameters<Store['health']['record']>[0]> = {},
      ) => ({
        hostId,
        app: 'cart',
        version: 3,
        state: 'healthy' as const,
        since: '2026-12-01T10:00:00.000Z',
        answer: null,
        restarts: 0,
        at: '2026-12-01T10:00:01.000Z',
        ...extra,
      });

      it('keeps the last report per host and app, and says what it changed', async () => {
        const a = await host('qa-1');
        const b = await host('prod-1', 'prod');
        expect(await store.health.record(report(a))).toEqual({
          previous: null,
          restartsBefore: null,
          changed: true,
        });
        expect(await store.health.record(report(a))).toEqual({
          previous: 'healthy',
          restartsBefore: 0,
          changed: false,
        });
        const failing = report(a, {
          state: 'failing',
          answer: 'HTTP 500',
          since: '2026-12-01T10:05:00.000Z',
        });
        expect(await store.health.record(failing)).toEqual({
          previous: 'healthy',
          restartsBefore: 0,
          changed: true,
        });
        expect(await store.health.record(report(a, { state: 'failing', restarts: 2 }))).toEqual({
          previous: 'failing',
          restartsBefore: 0,
          changed: true,
        });
        await store.health.record(report(b, { app: 'web' }));
        const qa = await store.health.list({ env: 'qa' });
        expect(qa).toEqual([
          expect.objectContaining({
            hostId: a,
            host: 'qa-1',
            env: 'qa',
            app: 'cart',
            state: 'failing',
            restarts: 2,
          }),
        ]);
        expect((await store.health.list()).map((h) => h.app).sort()).toEqual(['cart', 'web']);
        expect(await store.health.list({ app: 'web', hostId: b })).toHaveLength(1);
        await store.health.forget(a);
        expect(await store.health.list({ env: 'qa' })).toEqual([]);
      });

      it('refuses a report the agent made before the one kept', async () => {
        const a = await host('qa-1');
        const at = (minute: number) => `2026-12-01T10:0${minute}:00.000Z`;
        await store.health.record(report(a, { state: 'failing', agentAt: at(5) }));
        expect(await store.health.record(report(a, { agentAt: at(4) }))).toEqual({
          previous: 'failing',
          restartsBefore: 0,
          changed: false,
          stale: true,
        });
        expect(await store.health.list({ hostId: a })).toEqual([
          expect.objectContaining({ state: 'failing', agentAt: at(5) }),
        ]);
        expect(await store.health.record(report(a, { agentAt: at(6) }))).toEqual({
          previous: 'failing',
          restartsBefore: 0,
          changed: true,
        });
      });

      it("takes an older report of the agent's clock once the kept one is a minute old (its clock stepped back)", async () => {
        const a = await host('qa-1');
        await store.health.record(
          report(a, { agentAt: '2026-12-01T12:00:00.000Z', at: '2026-12-01T10:00:00.000Z' }),
        );
        // Two minutes later by the server's clock, an hour earlier by the host's.
        const later = report(a, {
          state: 'failing',
          answer: 'HTTP 500',
          agentAt: '2026-12-01T11:00:00.000Z',
          at: '2026-12-01T10:02:00.000Z',
        });
        expect(await store.health.record(later)).toMatchObject({ changed: true });
        expect(await store.health.list({ hostId: a })).toEqual([
          expect.objectContaining({ state: 'failing' }),
        ]);
      });

      it('forgets a row only while it is of the version named', async () => {
        const a = await host('qa-1');
        await store.health.record(report(a, { version: 4 }));
        expect(await store.health.forget(a, 'cart', 3)).toBe(false);
        expect(await store.health.list({ hostId: a })).toHaveLength(1);
        expect(await store.health.forget(a, 'cart', 4)).toBe(true);
        expect(await store.health.list({ hostId: a })).toEqual([]);
      });
    });

    describe('alerts', () => {
      const alert = (key: string, startedAt = '2026-12-01T10:00:00.000Z') => ({
        kind: 'disk-full' as const,
        key,
        env: 'qa',
        app: null,
        hostId: 'host_qa-1',
        host: 'qa-1',
        version: null,
        deploymentId: null,
        message: 'qa-1: / is 93% full',
        startedAt,
      });

      it('holds one open alert per key, cleared with its reason, and a new one after', async () => {
        const first = await store.alerts.raise(alert('disk-full:host_qa-1:/'));
        expect(first.raised).toBe(true);
        expect(first.alert).toMatchObject({
          id: expect.any(Number),
          clearedAt: null,
          host: 'qa-1',
        });
        const again = await store.alerts.raise(
          alert('disk-full:host_qa-1:/', '2026-12-01T10:01:00.000Z'),
        );
        expect(again).toEqual({ alert: first.alert, raised: false });
        await store.alerts.raise(alert('disk-full:host_qa-1:/var'));
        expect((await store.alerts.list({ open: true })).length).toBe(2);

        const cleared = await store.alerts.clear(
          'disk-full:host_qa-1:/',
          '2026-12-01T10:09:00.000Z',
          'back to 70%',
        );
        expect(cleared).toMatchObject({
          id: first.alert.id,
          clearedAt: '2026-12-01T10:09:00.000Z',
          clearedBecause: 'back to 70%',
        });
        expect(
          await store.alerts.clear('disk-full:host_qa-1:/', '2026-12-01T10:10:00.000Z', 'x'),
        ).toBeUndefined();
        expect((await store.alerts.list({ open: true })).map((a) => a.key)).toEqual([
          'disk-full:host_qa-1:/var',
        ]);

        const next = await store.alerts.raise(
          alert('disk-full:host_qa-1:/', '2026-12-01T11:00:00.000Z'),
        );
        expect(next.raised).toBe(true);
        expect(next.alert.id).not.toBe(first.alert.id);
        expect(await store.alerts.get(first.alert.id)).toMatchObject({
          clearedBecause: 'back to 70%',
        });
        expect((await store.alerts.list()).map((a) => a.startedAt)).toEqual([
          '2026-12-01T11:00:00.000Z',
          '2026-12-01T10:00:00.000Z',
          '2026-12-01T10:00:00.000Z',
        ]);
        expect(await store.alerts.list({ open: false })).toHaveLength(1);
      });

      it('counts open alerts by kind past any list limit, and prunes only cleared ones by age', async () => {
        for (let i = 0; i < 7; i++) await store.alerts.raise(alert(`disk-full:host_qa-1:/m${i}`));
        await store.alerts.raise({ ...alert('memory-full:host_qa-1'), kind: 'memory-full' });
        await store.alerts.clear('disk-full:host_qa-1:/m0', '2026-01-01T00:00:00.000Z', 'old');
        await store.alerts.clear('disk-full:host_qa-1:/m1', '2026-12-01T10:00:00.000Z', 'new');
        expect(await store.alerts.countOpen()).toEqual({ 'disk-full': 5, 'memory-full': 1 });
        expect(await store.alerts.pruneCleared('2026-06-01T00:00:00.000Z')).toBe(1);
        const left = (await store.alerts.list()).map((a) => a.key);
        expect(left).toHaveLength(7);
        expect(left).not.toContain('disk-full:host_qa-1:/m0');
        expect(left).toContain('disk-full:host_qa-1:/m1');
        expect(await store.alerts.countOpen()).toEqual({ 'disk-full': 5, 'memory-full': 1 });
      });

      it('raises a condition once when raised from two places at once', async () => {
        const results = await Promise.all(
          Array.from({ length: 6 }, () => store.alerts.raise(alert('host-away:host_qa-1'))),
        );
        expect(results.filter((r) => r.raised)).toHaveLength(1);
        expect(new Set(results.map((r) => r.alert.id)).size).toBe(1);
      });
    });

    describe('webhooks', () => {
      const webhook = (id: string, createdAt = '2026-12-01T10:00:00.000Z') => ({
        id,
        url: 'https://hooks.example.com/ferry',
        env: 'prod',
        kinds: ['deployment.failed' as const, 'alert.raised' as const],
        format: 'json' as const,
        cursor: 5,
        createdAt,
        createdBy: 'alice',
      });
      const delivery = (webhookId: string, seq: number, dedupKey = String(seq)) => ({
        id: `${webhookId}:${seq}`,
        webhookId,
        dedupKey,
        seq,
        kind: 'deployment.failed' as const,
        body: `{"seq":${seq}}`,
        createdAt: '2026-12-01T10:05:00.000Z',
      });
      const outcome = (status: 'pending' | 'delivered' | 'failed', at: string) => ({
        status,
        lastStatus: status === 'delivered' ? 200 : 500,
        lastError: status === 'delivered' ? null : 'HTTP 500',
        nextAttemptAt: at,
        at,
      });

      it('keeps webhooks with their secret apart, and removes one with its deliveries', async () => {
        await store.webhooks.add(webhook('wh_a'), 'whsec_a');
        await store.webhooks.add(webhook('wh_b', '2026-12-01T11:00:00.000Z'), 'whsec_b');
        expect(await store.webhooks.get('wh_a')).toEqual(webhook('wh_a'));
        expect(await store.webhooks.secret('wh_b')).toBe('whsec_b');
        expect(await store.webhooks.secret('wh_x')).toBeUndefined();
        expect((await store.webhooks.list()).map((w) => w.id)).toEqual(['wh_a', 'wh_b']);
        expect(JSON.stringify(await store.webhooks.list())).not.toContain('whsec');

        expect(await store.webhooks.advance('wh_a', 5, 9, [delivery('wh_a', 7)])).toBe(true);
        expect(await store.webhooks.remove('wh_a')).toBe(true);
        expect(await store.webhooks.remove('wh_a')).toBe(false);
        expect(await store.webhooks.deliveries('wh_a', 10)).toEqual([]);
        expect(await store.webhooks.get('wh_a')).toBeUndefined();
      });

      it('derives each notification once: the cursor moves only from where it stood', async () => {
        await store.webhooks.add(webhook('wh_a'), 'whsec_a');
        expect(
          await store.webhooks.advance('wh_a', 5, 9, [delivery('wh_a', 6), delivery('wh_a', 8)]),
        ).toBe(true);
        // A second replica that read the same events from the same cursor records nothing.
        expect(await store.webhooks.advance('wh_a', 5, 9, [delivery('wh_a', 6)])).toBe(false);
        // One notification per key: a later event with a key already recorded is left out.
        expect(
          await store.webhooks.advance('wh_a', 9, 12, [
            delivery('wh_a', 10, '8'),
            delivery('wh_a', 11),
          ]),
        ).toBe(true);
        expect((await store.webhooks.get('wh_a'))?.cursor).toBe(12);
        const all = await store.webhooks.deliveries('wh_a', 10);
        expect(all.map((d) => d.seq).sort()).toEqual([11, 6, 8]);
        expect(all[0]).toMatchObject({ status: 'pending', attempts: 0, lastStatus: null });
      });

      it('hands the oldest pending delivery to one holder at a time, and records attempts', async () => {
        await store.webhooks.add(webhook('wh_a'), 'whsec_a');
        await store.webhooks.advance('wh_a', 5, 9, [delivery('wh_a', 8), delivery('wh_a', 6)]);
        const first = await store.webhooks.nextPending('wh_a');
        expect(first?.id).toBe('wh_a:6');

        const now = '2026-12-01T10:06:00.000Z';
        const claims = await Promise.all(
          ['r1', 'r2', 'r3'].map((r) =>
            store.webhooks.claim('wh_a:6', r, now, '2026-12-01T10:07:00.000Z'),
          ),
        );
        expect(claims.filter(Boolean)).toHaveLength(1);
        const holder = ['r1', 'r2', 'r3'][claims.indexOf(true)]!;
        // Another holder's attempt does not count; the lease runs out, then it may be claimed.
        await store.webhooks.finish('wh_a:6', 'other', outcome('delivered', now));
        expect(
          await store.webhooks.claim(
            'wh_a:6',
            'r4',
            '2026-12-01T10:08:00.000Z',
            '2026-12-01T10:09:00.000Z',
          ),
        ).toBe(true);
        await store.webhooks.finish('wh_a:6', holder, outcome('delivered', now));
        expect((await store.webhooks.nextPending('wh_a'))?.id).toBe('wh_a:6');
        await store.webhooks.finish('wh_a:6', 'r4', outcome('pending', '2026-12-01T10:10:00.000Z'));
        expect(await store.webhooks.nextPending('wh_a')).toMatchObject({
          id: 'wh_a:6',
          attempts: 1,
          lastStatus: 500,
          lastError: 'HTTP 500',
          nextAttemptAt: '2026-12-01T10:10:00.000Z',
          leaseUntil: null,
        });
        expect(await store.webhooks.claim('wh_a:6', 'r1', now, '2026-12-01T10:11:00.000Z')).toBe(
          true,
        );
        await store.webhooks.finish('wh_a:6', 'r1', outcome('delivered', now));
        expect(await store.webhooks.claim('wh_a:6', 'r2', now, '2026-12-01T10:11:00.000Z')).toBe(
          false,
        );
        expect((await store.webhooks.nextPending('wh_a'))?.id).toBe('wh_a:8');

        await store.webhooks.record(
          { ...delivery('wh_a', 0, 'ping:1'), id: 'wh_a:ping-1', kind: 'ping' },
          outcome('delivered', '2026-12-01T10:20:00.000Z'),
        );
        const recent = await store.webhooks.deliveries('wh_a', 10);
        expect(recent.find((d) => d.id === 'wh_a:6')).toMatchObject({
          status: 'delivered',
          attempts: 2,
          lastStatus: 200,
        });
        expect(recent.find((d) => d.kind === 'ping')).toMatchObject({
          status: 'delivered',
          attempts: 1,
        });

        // Pruning takes what ended before a time, never what is pending.
        expect(await store.webhooks.prune('2026-12-01T10:15:00.000Z')).toBe(1);
        expect((await store.webhooks.deliveries('wh_a', 10)).map((d) => d.id).sort()).toEqual([
          'wh_a:8',
          'wh_a:ping-1',
        ]);
        expect(await store.webhooks.prune('2026-12-02T00:00:00.000Z')).toBe(1);
        expect((await store.webhooks.deliveries('wh_a', 10)).map((d) => d.id)).toEqual(['wh_a:8']);
      });
    });

    describe('audit', () => {
      const entry = (at: string, name: string | null, outcome = 'ok') => ({
        at,
        who:
          name === null
            ? null
            : { tokenId: `tok_${name}`, name, role: 'deployer' as const, via: 'token' as const },
        from: '10.0.0.7',
        action: 'deploy',
        method: 'POST',
        path: '/deployments',
        target: { app: 'web', version: 12, env: 'prod', id: 'dep_1' },
        status: outcome === 'ok' ? 201 : 403,
        outcome,
      });

      it('keeps every field, and lists the newest entries oldest first', async () => {
        await store.audit.record(entry('2026-11-01T00:00:02.000Z', 'alice'));
        await store.audit.record(entry('2026-11-01T00:00:01.000Z', null, 'E_AUTH_INVALID'));
        await store.audit.record(entry('2026-11-01T00:00:03.000Z', 'bob', 'E_FORBIDDEN'));
        await store.audit.record(entry('2026-11-01T00:00:03.000Z', 'alice'));
        const all = await store.audit.list({ limit: 10 });
        expect(all.map((e) => [e.at.slice(17, 19), e.who?.name ?? null])).toEqual([
          ['01', null],
          ['02', 'alice'],
          ['03', 'bob'],
          ['03', 'alice'],
        ]);
        expect(new Set(all.map((e) => e.id)).size).toBe(4);
        expect(all[0]).toEqual({
          id: all[0]!.id,
          ...entry('2026-11-01T00:00:01.000Z', null, 'E_AUTH_INVALID'),
          count: 1,
        });
        expect(all[3]).toEqual({
          id: all[3]!.id,
          ...entry('2026-11-01T00:00:03.000Z', 'alice'),
          count: 1,
        });
        expect(all[3]!.id).toBeGreaterThan(all[2]!.id);
        // The newest two, still oldest first.
        expect((await store.audit.list({ limit: 2 })).map((e) => e.who?.name)).toEqual([
          'bob',
          'alice',
        ]);
      });

      it('keeps the count of requests a coalesced entry stands for', async () => {
        await store.audit.record({
          ...entry('2026-11-01T00:00:01.000Z', null, 'E_AUTH_REQUIRED'),
          count: 1999,
        });
        expect((await store.audit.list({ limit: 10 })).map((e) => e.count)).toEqual([1999]);
      });

      it('lists since a time, and of one token by its name or its id', async () => {
        await store.audit.record(entry('2026-11-01T00:00:01.000Z', 'alice'));
        await store.audit.record(entry('2026-11-02T00:00:00.000Z', 'bob'));
        await store.audit.record(entry('2026-11-03T00:00:00.000Z', 'alice'));
        const names = (entries: { who: { name: string } | null; at: string }[]) =>
          entries.map((e) => `${e.who?.name}@${e.at.slice(8, 10)}`);
        expect(
          names(await store.audit.list({ since: '2026-11-02T00:00:00.000Z', limit: 10 })),
        ).toEqual(['bob@02', 'alice@03']);
        expect(names(await store.audit.list({ who: 'alice', limit: 10 }))).toEqual([
          'alice@01',
          'alice@03',
        ]);
        expect(names(await store.audit.list({ who: 'tok_bob', limit: 10 }))).toEqual(['bob@02']);
        expect(
          names(
            await store.audit.list({ who: 'alice', since: '2026-11-02T00:00:00.000Z', limit: 10 }),
          ),
        ).toEqual(['alice@03']);
        expect(await store.audit.list({ who: 'carol', limit: 10 })).toEqual([]);
      });

      it('prunes the entries from before a time', async () => {
        await store.audit.record(entry('2025-01-01T00:00:00.000Z', 'alice'));
        await store.audit.record(entry('2025-06-01T00:00:00.000Z', 'alice'));
        await store.audit.record(entry('2026-11-01T00:00:00.000Z', 'alice'));
        expect(await store.audit.prune('2026-01-01T00:00:00.000Z')).toBe(2);
        expect((await store.audit.list({ limit: 10 })).map((e) => e.at)).toEqual([
          '2026-11-01T00:00:00.000Z',
        ]);
        expect(await store.audit.prune('2026-01-01T00:00:00.000Z')).toBe(0);
      });
    });

    describe('deployments', () => {
      it('records a deployment with its installs and takes the lock; a second is refused with the holder', async () => {
        const hostId = await host('qa-1');
        const installs: NewInstall[] = [
          {
            id: 'ins_1',
            hostId,
            app: 'web',
            version: 1,
            createdBy: 'alice',
            deploymentId: 'dep_1',
            purpose: 'deploy',
            batch: 0,
            state: 'pending',
          },
        ];
        expect(await deployment('dep_1', { installs })).toEqual({ created: true });
        const refused = await deployment('dep_2');
        expect(refused).toMatchObject({
          created: false,
          holder: { app: 'web', env: 'qa', deploymentId: 'dep_1' },
        });
        expect(await store.deployments.get('dep_2')).toBeUndefined();
        expect(await store.deployments.get('dep_1')).toMatchObject({
          state: 'running',
          phase: 'rollout',
          strategy: STRATEGY,
          kind: 'deploy',
          leaseOwner: null,
        });
        expect((await store.installs.list({ deploymentId: 'dep_1' })).map((i) => i.state)).toEqual([
          'pending',
        ]);
        // Another environment has its own lock.
        expect(await deployment('dep_3', { env: 'prod' })).toEqual({ created: true });
        await store.deployments.releaseLock('web', 'qa', 'dep_other');
        expect((await store.deployments.getLock('web', 'qa'))?.deploymentId).toBe('dep_1');
        await store.deployments.releaseLock('web', 'qa', 'dep_1');
        expect(await store.deployments.getLock('web', 'qa')).toBeUndefined();
        // A pending deployment takes the lock when it starts; one at a time.
        await deployment('dep_4', { lock: false, state: 'pending' });
        await deployment('dep_5', { lock: false, state: 'pending' });
        expect((await store.deployments.takeLock('web', 'qa', 'dep_4', 'T')).deploymentId).toBe(
          'dep_4',
        );
        expect((await store.deployments.takeLock('web', 'qa', 'dep_5', 'T')).deploymentId).toBe(
          'dep_4',
        );
      });

      it('does not count as a lock one left by a deployment that ended (its server died before releasing it)', async () => {
        expect(await deployment('dep_1')).toEqual({ created: true });
        const end = { state: 'succeeded', finishedAt: new Date().toISOString() } as const;
        await store.deployments.update('dep_1', end);
        expect(await store.deployments.getLock('web', 'qa')).toBeUndefined();
        expect(await deployment('dep_2')).toEqual({ created: true });
        expect((await store.deployments.getLock('web', 'qa'))?.deploymentId).toBe('dep_2');
        // The same when a queued deployment starts.
        await store.deployments.update('dep_2', { ...end, state: 'failed' });
        await deployment('dep_3', { lock: false, state: 'pending' });
        expect((await store.deployments.takeLock('web', 'qa', 'dep_3', 'T')).deploymentId).toBe(
          'dep_3',
        );
        // A lock held by a deployment under way still refuses the next.
        expect(await deployment('dep_4')).toMatchObject({
          created: false,
          holder: { deploymentId: 'dep_3' },
        });
      });

      it('lists newest first by app, environment and state, and updates', async () => {
        await deployment('dep_1', { lock: false });
        await new Promise((resolve) => setTimeout(resolve, 5));
        await deployment('dep_2', { lock: false, env: 'prod' });
        await store.deployments.update('dep_1', {
          state: 'succeeded',
          finishedAt: 'T9',
          error: null,
          phase: 'reverting',
        });
        expect((await store.deployments.list()).map((d) => d.id)).toEqual(['dep_2', 'dep_1']);
        expect((await store.deployments.list({ env: 'qa' })).map((d) => d.id)).toEqual(['dep_1']);
        expect((await store.deployments.list({ states: ['running'] })).map((d) => d.id)).toEqual([
          'dep_2',
        ]);
        expect((await store.deployments.list({ limit: 1 })).map((d) => d.id)).toEqual(['dep_2']);
        expect(await store.deployments.get('dep_1')).toMatchObject({
          state: 'succeeded',
          finishedAt: 'T9',
          phase: 'reverting',
        });
      });

      it('ends a deployment only from the states given, setting its desired release in the same step', async () => {
        await deployment('dep_1');
        const desired = {
          env: 'qa',
          app: 'web',
          version: 1,
          deploymentId: 'dep_1',
          updatedAt: 'T1',
        };
        // Cancelled first (by a person): ending it as succeeded changes nothing,
        // and the environment keeps the desired release it had (none).
        expect(
          await store.deployments.update('dep_1', { state: 'cancelled' }, { from: ['running'] }),
        ).toBe(true);
        expect(
          await store.deployments.update(
            'dep_1',
            { state: 'succeeded' },
            { from: ['pending', 'running'], desired },
          ),
        ).toBe(false);
        expect((await store.deployments.get('dep_1'))?.state).toBe('cancelled');
        expect(await store.deployments.listDesiredReleases({ env: 'qa' })).toEqual([]);
        await deployment('dep_2');
        expect(
          await store.deployments.update(
            'dep_2',
            { state: 'succeeded' },
            { from: ['running'], desired: { ...desired, deploymentId: 'dep_2' } },
          ),
        ).toBe(true);
        expect(await store.deployments.listDesiredReleases({ env: 'qa' })).toMatchObject([
          { version: 1, deploymentId: 'dep_2' },
        ]);
        expect(await store.deployments.update('dep_2', { error: 'x' }, { from: [] })).toBe(false);
      });

      it('cancels a deployment with its installs no host has begun, in one step, only if it changed', async () => {
        const hostIds = [await host('qa-1'), await host('qa-2'), await host('qa-3')];
        const states = ['pending', 'queued', 'queued'] as const;
        await deployment('dep_1', {
          installs: hostIds.map((hostId, i) => ({
            id: `ins_${i}`,
            hostId,
            app: 'web',
            version: 1,
            createdBy: 'alice',
            deploymentId: 'dep_1',
            purpose: 'deploy' as const,
            batch: i,
            state: states[i],
          })),
        });
        // qa-3 was told to go ahead: it has the job, and finishes it.
        await store.installs.mark('ins_2', { state: 'running', startedAt: 'T1' }, ['queued']);
        const cancel = {
          from: ['pending', 'running'] as const,
          cancelUnstarted: { error: 'the deployment was cancelled by alice' },
        };
        expect(await store.deployments.update('dep_1', { state: 'cancelled' }, cancel)).toBe(true);
        const installs = await store.installs.list({ deploymentId: 'dep_1' });
        expect(installs.map((i) => [i.id, i.state, i.error]).sort()).toEqual([
          ['ins_0', 'cancelled', 'the deployment was cancelled by alice'],
          ['ins_1', 'cancelled', 'the deployment was cancelled by alice'],
          ['ins_2', 'running', null],
        ]);
        expect(installs.find((i) => i.id === 'ins_0')?.finishedAt).not.toBeNull();
        // A deployment that had moved on already cancels nothing.
        await deployment('dep_2', {
          lock: false,
          installs: [
            {
              id: 'ins_9',
              hostId: hostIds[0]!,
              app: 'web',
              version: 1,
              createdBy: 'alice',
              deploymentId: 'dep_2',
              purpose: 'deploy',
              state: 'pending',
            },
          ],
        });
        await store.deployments.update('dep_2', { state: 'succeeded' });
        expect(await store.deployments.update('dep_2', { state: 'cancelled' }, cancel)).toBe(false);
        expect((await store.installs.get('ins_9'))?.state).toBe('pending');
      });

      it('gives a lease to one replica at a time, and to another once it expired or was released', async () => {
        await deployment('dep_1');
        const t = (s: number) => new Date(Date.UTC(2026, 10, 1, 0, 0, s)).toISOString();
        expect(await store.deployments.claimLease('dep_1', 'a', t(0), t(15))).toBe(true);
        expect(await store.deployments.claimLease('dep_1', 'b', t(5), t(20))).toBe(false);
        expect(await store.deployments.claimLease('dep_1', 'a', t(10), t(25))).toBe(true);
        expect(await store.deployments.claimLease('dep_1', 'b', t(26), t(41))).toBe(true);
        expect(((await store.deployments.get('dep_1')) as StoredDeployment).leaseOwner).toBe('b');
        await store.deployments.releaseLease('dep_1', 'a');
        expect((await store.deployments.get('dep_1'))?.leaseOwner).toBe('b');
        await store.deployments.releaseLease('dep_1', 'b');
        expect(await store.deployments.claimLease('dep_1', 'a', t(27), t(42))).toBe(true);
        // A finished deployment is nobody's to drive.
        await store.deployments.update('dep_1', { state: 'succeeded' });
        await store.deployments.releaseLease('dep_1', 'a');
        expect(await store.deployments.claimLease('dep_1', 'a', t(28), t(43))).toBe(false);
      });

      it('keeps one desired release per environment and app', async () => {
        await store.deployments.setDesiredRelease({
          env: 'qa',
          app: 'web',
          version: 1,
          deploymentId: 'dep_1',
          updatedAt: 'T1',
        });
        await store.deployments.setDesiredRelease({
          env: 'qa',
          app: 'web',
          version: 3,
          deploymentId: 'dep_3',
          updatedAt: 'T3',
        });
        await store.deployments.setDesiredRelease({
          env: 'prod',
          app: 'web',
          version: 1,
          deploymentId: 'dep_2',
          updatedAt: 'T2',
        });
        expect(await store.deployments.listDesiredReleases({ env: 'qa' })).toEqual([
          { env: 'qa', app: 'web', version: 3, deploymentId: 'dep_3', updatedAt: 'T3' },
        ]);
        expect(
          (await store.deployments.listDesiredReleases({ app: 'web' })).map((d) => d.env),
        ).toEqual(['prod', 'qa']);
      });
    });

    // SQLite is one server's file: only PostgreSQL is shared by several replicas.
    if (dialect.name === 'postgres')
      describe('several replicas at once', () => {
        it('numbers concurrent pushes of one app from two stores 1..20, with no gap and no repeat', async () => {
          const other = await under.another();
          const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              (i % 2 === 0 ? store : other).bundles.record(bundle('web', `c${i}`), noop),
            ),
          );
          expect(results.map((r) => r.bundle.version).sort((a, b) => a - b)).toEqual(
            Array.from({ length: 20 }, (_, i) => i + 1),
          );
        });

        it('gives the same bytes pushed twice at once one version', async () => {
          const other = await under.another();
          const [a, b] = await Promise.all([
            store.bundles.record(bundle('web', 'same'), noop),
            other.bundles.record(bundle('web', 'same'), noop),
          ]);
          expect([a.bundle.version, b.bundle.version]).toEqual([1, 1]);
          expect([a.created, b.created].sort()).toEqual([false, true]);
        });

        it('leaves a host removed while its credential rotates with no active token', async () => {
          const hostId = await host('web-1');
          const later = '2099-01-01T00:00:00.000Z';
          const own = (id: string) => ({
            id,
            name: 'agent-web-1',
            role: 'agent' as const,
            env: 'qa',
            tokenHash: `h-${id}`,
            createdBy: 'x',
            hostId,
            expiresAt: later,
          });
          await store.tokens.create(own('tok_old'));
          const other = await under.another();
          const pg = await import('pg');
          // A third connection holds the old credential's row, so that the rotation
          // and the removal each stop at their first lock, in this order.
          const holder = new pg.default.Client({ connectionString: under.url });
          const watcher = new pg.default.Client({ connectionString: under.url });
          await holder.connect();
          await watcher.connect();
          try {
            await holder.query('begin');
            await holder.query(`select id from tokens where id = 'tok_old' for update`);
            const waiting = async (count: number) => {
              for (;;) {
                const { rows } = await watcher.query<{ n: string }>(
                  `select count(*) as n from pg_stat_activity
                   where datname = current_database() and wait_event_type = 'Lock'`,
                );
                if (Number(rows[0]!.n) >= count) return;
                await new Promise((resolve) => setTimeout(resolve, 10));
              }
            };
            const rotation = store.tokens.rotate('tok_old', own('tok_new'), later);
            await waiting(1);
            const removal = other.hosts.remove(hostId, new Date().toISOString());
            await waiting(2);
            await holder.query('commit');
            const [rotated, removed] = await Promise.all([rotation, removal]);
            expect(removed).toBe(true);
            // Whether the rotation made one or not (here it did, first), nothing of the removed host counts.
            expect(rotated).toBe(true);
            expect(await store.tokens.findActive('h-tok_new')).toBeUndefined();
            expect(await store.tokens.findActive('h-tok_old')).toBeUndefined();
            const left = (await store.tokens.list()).filter(
              (t) => t.hostId === hostId && t.revokedAt === null,
            );
            expect(left).toEqual([]);
          } finally {
            await holder.end();
            await watcher.end();
          }
        });

        it('lets one of two racing deployments take the lock', async () => {
          const other = await under.another();
          const attempt = (s: Store, id: string) =>
            s.deployments.create(
              {
                id,
                app: 'web',
                version: 1,
                env: 'qa',
                kind: 'deploy',
                state: 'running',
                strategy: STRATEGY,
                fromVersion: null,
                createdBy: 'x',
              },
              [],
              { lock: true },
            );
          const results = await Promise.all([attempt(store, 'dep_a'), attempt(other, 'dep_b')]);
          expect(results.filter((r) => r.created)).toHaveLength(1);
          expect(await store.deployments.list()).toHaveLength(1);
        });
      });
  });
}

const postgres = pgUrl();
describe.skipIf(!postgres)('PostgreSQL migrations', () => {
  it('migrate once, and make one first token, when two replicas start together', async () => {
    const database = await createTestDatabase(postgres!);
    const [a, b] = await Promise.all([
      PostgresStore.open(database.url),
      PostgresStore.open(database.url),
    ]);
    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: database.url });
    await client.connect();
    try {
      // Both replicas migrate at once; neither fails, and each migration ran once
      // (kysely_migration holds one row per migration, and its tables exist once).
      await Promise.all([a.migrate(), b.migrate()]);
      expect(await a.environments.list()).toEqual(['dev', 'qa', 'prod']);

      // Both replicas find no token and make the admin token: one of them does.
      for (let round = 0; round < 10; round++) {
        const made = await Promise.all(
          [a, b].map((store, i) =>
            store.tokens.createFirst({
              id: `tok_${round}_${i}`,
              name: 'admin',
              role: 'admin',
              env: null,
              tokenHash: `h_${round}_${i}`,
              createdBy: null,
            }),
          ),
        );
        expect(made.filter(Boolean), `round ${round}`).toHaveLength(1);
        expect(await b.tokens.list()).toHaveLength(1);
        await client.query('delete from tokens');
      }
    } finally {
      await client.end();
      await a.close();
      await b.close();
      await database.drop();
    }
  });

  it('says which database it cannot reach, without its password', async () => {
    await expect(
      PostgresStore.open('postgres://ferry:hunter2@127.0.0.1:1/nowhere'),
    ).rejects.toThrow(
      /Cannot connect to the PostgreSQL store at postgres:\/\/ferry:\*\*\*@127\.0\.0\.1:1\/nowhere/,
    );
  });
});
