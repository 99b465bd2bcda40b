import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsArtifactStore } from '../src/artifacts/fs/fs-artifact-store.js';
import type { AlertRecord } from '../src/protocol/alert-api.js';
import { PROTOCOL_VERSION, type AgentEvent } from '../src/protocol/messages.js';
import type { HostFactsInput } from '../src/protocol/host-facts.js';
import { type BuiltServer, buildServer } from '../src/server/build-server.js';
import { HostAwaySweep } from '../src/server/alerts/host-away-sweep.js';
import { environmentSchema } from '../src/server/environment-config.js';
import { eventedStore } from '../src/server/events/evented-store.js';
import { serverConfigSchema } from '../src/server/server-config.js';
import type { ServiceHealthReport } from '../src/store/health-store.js';
import type { Store } from '../src/store/store.js';
import { capturingTransport } from './helpers/capturing-transport.js';
import { waitFor } from './helpers/cluster.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';

/**
 * Alerts on a real server and a real store, on each dialect: a service's
 * health recorded as the server records an agent's report (through its
 * evented store) raises `service-failing` naming host, app and release, once
 * however many reports, and clears when healthy; facts reports through the
 * server's own facts path raise and clear `disk-full` and `memory-full`
 * (thresholds lowered); a host that goes away longer than its environment's
 * offline timeout (shortened) raises `host-away`, cleared when it connects.
 * All seen through `GET /api/v1/alerts`.
 */

const GB = 1024 ** 3;
let seq = 0;

for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`alerts on ${dialect.name}`, () => {
    let dir: string;
    let opened: StoreUnderTest;
    let store: Store;
    let server: BuiltServer;
    let admin: string;
    let deliver: (hostId: string, event: AgentEvent) => Promise<void>;
    let presence: (hostId: string, connected: boolean) => void;

    beforeEach(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-alerts-'));
      opened = await dialect.open();
      store = opened.store;
      await store.hosts.create({ id: 'host_p', name: 'prod-3', env: 'prod', roles: [], vars: {} });
      const captured = capturingTransport();
      deliver = captured.deliver;
      presence = captured.presence;
      const artifacts = new FsArtifactStore(path.join(dir, 'artifacts'));
      await artifacts.init();
      server = buildServer(
        serverConfigSchema.parse({
          data: dir,
          logLevel: 'silent',
          environments: [{ name: 'prod', strategy: { offlineTimeout: '1s' } }],
          alerts: { diskPercent: 50, memoryPercent: 80, restartsPerHour: 3, checkEvery: '200ms' },
        }),
        { store, artifacts, transport: () => captured.transport },
      );
      await server.app.ready();
      admin = (await server.tokens.create({ role: 'admin' }, null)).token;
      // prod-3's agent is connected, as it is when it reports.
      presence('host_p', true);
      await waitFor('the host connected', async () =>
        (await store.hosts.get('host_p'))?.connected === true ? true : undefined,
      );
    });
    afterEach(async () => {
      await server.app.close();
      await opened.close();
      await rm(dir, { recursive: true, force: true });
    });

    async function alerts(query = '', token = admin): Promise<AlertRecord[]> {
      const response = await server.app.inject({
        url: `/api/v1/alerts${query}`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.statusCode, response.body).toBe(200);
      return response.json<{ alerts: AlertRecord[] }>().alerts;
    }
    const ofKind = async (kind: string, query = '') =>
      (await alerts(query)).filter((alert) => alert.kind === kind);

    it('raises service-failing naming host, app and release, once however many reports, and clears it when healthy', async () => {
      // cart@12 was installed on prod-3 two minutes before it began to fail.
      const failingSince = new Date(Date.now() - 60_000);
      await store.installs.create({
        id: 'ins_12',
        hostId: 'host_p',
        app: 'cart',
        version: 12,
        createdBy: 'alice',
      });
      await store.installs.finish('ins_12', {
        ok: true,
        rolledBack: false,
        error: null,
        at: new Date(failingSince.getTime() - 2 * 60_000).toISOString(),
      });
      // What the server does with an agent's health report: record it in its evented store.
      const health = eventedStore(store, server.events).health;
      const report = (change: Partial<ServiceHealthReport>) =>
        server.events.withEffects(() =>
          health.record({
            hostId: 'host_p',
            app: 'cart',
            version: 12,
            state: 'failing',
            since: failingSince.toISOString(),
            answer: 'HTTP 500',
            restarts: 0,
            at: new Date().toISOString(),
            ...change,
          }),
        );

      await report({});
      await report({ restarts: 1 });
      await report({ restarts: 2, answer: 'HTTP 503' });
      const [failing, ...more] = await ofKind('service-failing', '?open=true&host=prod-3');
      expect(more).toEqual([]);
      const time = failingSince.toISOString().slice(11, 16);
      expect(failing?.message).toBe(
        `cart@12 on prod-3 fails its health check since ${time} UTC, 2 minutes after it was installed: HTTP 500`,
      );
      expect(failing).toMatchObject({
        env: 'prod',
        app: 'cart',
        version: 12,
        host: 'prod-3',
        hostId: 'host_p',
        clearedAt: null,
      });
      expect(await ofKind('service-restarting')).toEqual([]);

      // A third restart within the hour.
      await report({ restarts: 3 });
      const [restarting] = await ofKind('service-restarting', '?open=true');
      expect(restarting?.message).toBe(
        'cart@12 on prod-3 restarted 3 times in the last hour (alerts at 3)',
      );

      await report({ state: 'healthy', answer: null, restarts: 0 });
      expect(await alerts('?open=true&app=cart')).toEqual([]);
      const cleared = await alerts('?open=false&env=prod');
      expect(cleared.map((a) => [a.kind, a.clearedBecause])).toEqual(
        expect.arrayContaining([
          ['service-failing', 'its health check passes again'],
          // The count fell from 3 to 0 at once: aged past the hour, or the agent
          // restarted and counts afresh — the text claims neither.
          [
            'service-restarting',
            'its restart count fell from 3 to 0, under 3 (older restarts are over an hour old, or its agent restarted and counts afresh)',
          ],
        ]),
      );
      expect(cleared.find((a) => a.kind === 'service-failing')?.id).toBe(failing?.id);
      // Raised once, cleared once: as events, too.
      const events = await store.events.list({ after: 0, limit: 1000 });
      const alertEvents = events
        .filter((e) => e.kind === 'alert.raised' || e.kind === 'alert.cleared')
        .filter((e) => e.data.alertKind === 'service-failing')
        .map((e) => e.kind);
      expect(alertEvents).toEqual(['alert.raised', 'alert.cleared']);
    });

    it('raises and clears disk-full per mount and memory-full from facts reports', async () => {
      const facts = (disks: [string, number, number][], memoryFree: number) =>
        deliver('host_p', {
          v: PROTOCOL_VERSION,
          id: `ev-${++seq}`,
          type: 'facts',
          facts: {
            factsVersion: 2,
            disks: disks.map(([mount, size, free]) => ({
              mount,
              sizeBytes: size * GB,
              freeBytes: free * GB,
            })),
            memory: { totalBytes: 8 * GB, freeBytes: memoryFree * GB },
          } satisfies HostFactsInput,
        });

      // /var is 90% full, over the 50% of this server; / is not; memory is half used.
      await facts(
        [
          ['/', 100, 60],
          ['/var', 10, 1],
        ],
        4,
      );
      const [disk] = await waitFor('the disk-full alert', async () => {
        const open = await ofKind('disk-full', '?open=true');
        return open.length > 0 ? open : undefined;
      });
      expect(disk?.message).toBe('/var on prod-3 is 90% full (1.0 GB free of 10.0 GB), over 50%');
      expect(await ofKind('memory-full')).toEqual([]);

      // Room made on /var; memory now fills up.
      await facts(
        [
          ['/', 100, 60],
          ['/var', 10, 8],
        ],
        0.5,
      );
      const [memory] = await waitFor('the memory-full alert', async () => {
        const open = await ofKind('memory-full', '?open=true');
        return open.length > 0 ? open : undefined;
      });
      expect(memory?.message).toBe(
        'memory on prod-3 is 93% used (512.0 MB free of 8.0 GB), over 80%',
      );
      const [diskCleared] = await ofKind('disk-full', '?open=false');
      expect(diskCleared).toMatchObject({ id: disk?.id, clearedBecause: '/var is under 50% full' });
      expect(await ofKind('disk-full', '?open=true')).toEqual([]);

      await facts([['/', 100, 60]], 6);
      await waitFor('memory-full to clear', async () =>
        (await ofKind('memory-full', '?open=true')).length === 0 ? true : undefined,
      );
      // Reported again, unchanged: nothing new is raised.
      await facts([['/', 100, 60]], 6);
      await facts([['/', 100, 60]], 6);
      expect((await alerts()).map((a) => [a.kind, a.clearedAt === null])).toEqual([
        ['memory-full', false],
        ['disk-full', false],
      ]);
    });

    it('raises host-away for a host away longer than its offline timeout, and clears it when it connects', async () => {
      // Sweeps come and go: a connected host is not away, however long.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await ofKind('host-away')).toEqual([]);

      const wentAt = Date.now();
      presence('host_p', false);
      const [away] = await waitFor('the host-away alert', async () => {
        const open = await ofKind('host-away', '?open=true');
        return open.length > 0 ? open : undefined;
      });
      expect(Date.parse(away!.startedAt) - wentAt).toBeGreaterThanOrEqual(1000);
      expect(away?.message).toMatch(
        /^prod-3 is away since \d\d:\d\d UTC \(1 second\), longer than prod's offline timeout of 1s$/,
      );
      expect(away).toMatchObject({ host: 'prod-3', env: 'prod', app: null });

      presence('host_p', true);
      const [cleared] = await waitFor('the host-away alert to clear', async () => {
        const done = await ofKind('host-away', '?open=false');
        return done.length > 0 ? done : undefined;
      });
      expect(cleared).toMatchObject({ id: away?.id, clearedBecause: 'it connected again' });
      expect(await ofKind('host-away', '?open=true')).toEqual([]);
    });

    it("clears a removed host's open alerts, of every kind", async () => {
      const evented = eventedStore(store, server.events);
      await server.events.withEffects(() =>
        evented.health.record({
          hostId: 'host_p',
          app: 'cart',
          version: 12,
          state: 'stopped',
          since: new Date().toISOString(),
          answer: null,
          restarts: 0,
          at: new Date().toISOString(),
        }),
      );
      const [stopped] = await ofKind('service-failing', '?open=true');
      expect(stopped?.message).toMatch(/^cart@12 on prod-3 is stopped since \d\d:\d\d UTC$/);

      await server.agents.removeHost('prod-3', 'alice');
      const [cleared] = await waitFor('the alert of the removed host to clear', async () => {
        const done = await ofKind('service-failing', '?open=false');
        return done.length > 0 ? done : undefined;
      });
      expect(cleared).toMatchObject({ id: stopped?.id, clearedBecause: 'the host was removed' });
      expect(await alerts('?open=true')).toEqual([]);
    });

    it('gives hosts away while no server ran their offline timeout to come back', async () => {
      // prod-4 was last seen an hour ago, before this sweep (a server's start) began.
      // (In an environment the server does not configure: its own sweep waits 60 s.)
      await store.hosts.create({
        id: 'host_4',
        name: 'prod-4',
        env: 'staging',
        roles: [],
        vars: {},
      });
      await store.hosts.setPresence(
        'host_4',
        false,
        new Date(Date.now() - 3_600_000).toISOString(),
      );
      let now = new Date();
      const sweep = new HostAwaySweep(
        eventedStore(store, server.events),
        [environmentSchema.parse({ name: 'staging', strategy: { offlineTimeout: '1m' } })],
        60_000,
        { error: () => undefined },
        () => now,
      );
      await sweep.sweep();
      expect(await ofKind('host-away', '?host=prod-4')).toEqual([]);
      now = new Date(now.getTime() + 61_000);
      await sweep.sweep();
      const [away] = await ofKind('host-away', '?host=prod-4');
      expect(away?.message).toMatch(
        /^prod-4 is away since \d\d:\d\d UTC \(1 hour\), longer than staging's offline timeout of 1m$/,
      );
    });

    /** An agent's health report of cart on prod-3, as the transport hands it to the server. */
    const healthEvent = (change: Partial<Extract<AgentEvent, { type: 'health' }>> = {}) =>
      ({
        v: PROTOCOL_VERSION,
        id: `ev-${++seq}`,
        type: 'health',
        app: 'cart',
        version: 12,
        state: 'failing',
        since: new Date().toISOString(),
        answer: 'HTTP 500',
        restarts: 0,
        at: new Date().toISOString(),
        ...change,
      }) satisfies AgentEvent;

    it('raises the alert of a health report delivered again after its alert could not be raised', async () => {
      const event = healthEvent();
      // The first delivery is kept, but raising its alert fails (a database blip).
      const raise = store.alerts.raise.bind(store.alerts);
      store.alerts.raise = () => Promise.reject(new Error('database blip'));
      await expect(deliver('host_p', event)).rejects.toThrow('database blip');
      store.alerts.raise = raise;
      expect(await ofKind('service-failing', '?open=true')).toEqual([]);
      // Not acknowledged, so the agent sends it again: the row is as it says, and the alert is raised all the same.
      await deliver('host_p', event);
      const [failing] = await ofKind('service-failing', '?open=true');
      expect(failing).toMatchObject({ app: 'cart', version: 12, host: 'prod-3' });
    });

    it("refuses a health report older, by the agent's clock, than the one kept", async () => {
      const now = Date.now();
      await deliver('host_p', healthEvent({ at: new Date(now).toISOString() }));
      // A healthy report made a minute before, delivered late (it waited out a disconnect).
      await deliver(
        'host_p',
        healthEvent({ state: 'healthy', answer: null, at: new Date(now - 60_000).toISOString() }),
      );
      const [kept] = await store.health.list({ hostId: 'host_p' });
      expect(kept).toMatchObject({ state: 'failing', answer: 'HTTP 500' });
      expect(await ofKind('service-failing', '?open=true')).toHaveLength(1);
    });

    it('forgets the health, and clears the alerts, of a release that no longer runs', async () => {
      // cart@13 fails and restarts; then the host reports that cart@12 is current
      // (a failed switch back): the agent no longer watches @13.
      const at = new Date(Date.now() - 1000).toISOString();
      await deliver('host_p', healthEvent({ version: 13, restarts: 3, at }));
      expect((await alerts('?open=true')).map((a) => a.kind).sort()).toEqual([
        'service-failing',
        'service-restarting',
      ]);
      await deliver('host_p', {
        v: PROTOCOL_VERSION,
        id: `ev-${++seq}`,
        type: 'facts',
        facts: {
          factsVersion: 2,
          collectedAt: new Date().toISOString(),
          apps: { cart: { releases: [12, 13], current: 12 } },
        } satisfies HostFactsInput,
      });
      await waitFor('the alerts of cart@13 to clear', async () =>
        (await alerts('?open=true')).length === 0 ? true : undefined,
      );
      expect(await store.health.list({ hostId: 'host_p' })).toEqual([]);
      expect((await alerts('?open=false')).map((a) => a.clearedBecause)).toEqual([
        'cart@13 no longer runs on prod-3 (cart@12 is current)',
        'cart@13 no longer runs on prod-3 (cart@12 is current)',
      ]);
    });

    it('reads no alerts for a facts report that crosses no threshold', async () => {
      const facts = () =>
        deliver('host_p', {
          v: PROTOCOL_VERSION,
          id: `ev-${++seq}`,
          type: 'facts',
          facts: {
            factsVersion: 2,
            disks: [{ mount: '/', sizeBytes: 100 * GB, freeBytes: 60 * GB }],
            memory: { totalBytes: 8 * GB, freeBytes: 4 * GB },
          } satisfies HostFactsInput,
        });
      await facts();
      await server.events.idle();
      // Counted from the second report on: the first reads the host's open alerts once.
      // The host-away sweep (every 200 ms here) reads every open alert, not the host's: not counted.
      const list = store.alerts.list.bind(store.alerts);
      let reads = 0;
      store.alerts.list = (query) => {
        if (query?.hostId !== undefined) reads++;
        return list(query);
      };
      try {
        for (let i = 0; i < 5; i++) await facts();
        await server.events.idle();
        expect(reads).toBe(0);
      } finally {
        store.alerts.list = list;
      }
    });

    it('refuses an unknown host and a bad open value', async () => {
      const ask = (query: string) =>
        server.app.inject({
          url: `/api/v1/alerts${query}`,
          headers: { authorization: `Bearer ${admin}` },
        });
      const unknown = await ask('?host=nobody');
      expect([unknown.statusCode, unknown.json<{ code: string }>().code]).toEqual([
        404,
        'E_HOST_NOT_FOUND',
      ]);
      const bad = await ask('?open=yes');
      expect([bad.statusCode, bad.json<{ code: string }>().code]).toEqual([400, 'E_BAD_REQUEST']);
    });
  });
}
