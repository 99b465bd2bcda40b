import { execFileSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamEvents } from '../src/client/event-stream.js';
import { FerryClient } from '../src/client/ferry-client.js';
import { harnessTrust } from '../src/dev/harness-trust.js';
import type { AppStatus, HostStatus } from '../src/protocol/deployment-api.js';
import type { FerryEvent } from '../src/protocol/events.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import {
  startSupervisord,
  SUPERVISORCTL,
  SUPERVISORD_SUITES_RUN,
  type TestSupervisord,
} from './helpers/supervisord.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * Continuous health (issue 19, part 1) with a real server, a real agent and a
 * real service: the agent checks the running release every `health.every`
 * (200 ms here) and reports changes; the server records them, shows them in
 * `ferry status` and its API, and publishes `host.health` events.
 */

let cluster: Cluster;
/** qa-2's supervisord, started when the host is added (supervisord suites only). */
let supervisor: TestSupervisord | undefined;
let sick: string;
let version: number;

/** A host's row of web in qa, as the API's status says. */
async function hostRow(host: string): Promise<HostStatus | undefined> {
  const apps: AppStatus[] = await cluster.api().status('web');
  return apps[0]?.environments.find((e) => e.env === 'qa')?.hosts.find((h) => h.host === host);
}

/** Waits for qa-1's service health to satisfy `check`. */
function serviceOfQa1(
  what: string,
  check: (service: NonNullable<HostStatus['service']>) => boolean,
  host = 'qa-1',
) {
  return waitFor(
    what,
    async () => {
      const service = (await hostRow(host))?.service;
      return service && check(service) ? service : undefined;
    },
    30_000,
  );
}

/** Opens the event stream of `host.health` and resolves once it holds the subscription. */
async function healthEvents(done: (events: FerryEvent[]) => boolean) {
  const events: FerryEvent[] = [];
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const stop = new AbortController();
  const ended = streamEvents({
    client: new FerryClient(
      cluster.server.url,
      cluster.server.adminToken,
      harnessTrust().clientOptions(),
    ),
    query: { kinds: ['host.health'] },
    signal: stop.signal,
    onOpen: () => opened(),
    onEvent: (event) => {
      events.push(event);
      return !done(events);
    },
  });
  await open;
  return { events, ended, stop: () => stop.abort() };
}

/** The builtin driver's record of web on qa-1: the pid of its process group. */
async function servicePid(): Promise<number> {
  const file = path.join(cluster.host('qa-1').root, 'agent', 'services', 'web.json');
  const record = JSON.parse(await readFile(file, 'utf8')) as { pid: number | null };
  if (record.pid === null) throw new Error('web does not run on qa-1');
  return record.pid;
}

beforeAll(async () => {
  cluster = await Cluster.start({
    agentArgs: ({ name }) =>
      name === 'qa-2'
        ? [
            '--driver',
            'supervisord',
            '--supervisord-config',
            supervisor!.config,
            '--supervisord-include',
            supervisor!.include,
          ]
        : [],
  });
  await cluster.addHost('qa-1', 'qa');
  sick = path.join(cluster.work, 'qa-1.sick');
  // qa deploys on push.
  version = await cluster.push(
    webAppTree('one', { sickFile: sick, healthEvery: '200ms', healthTimeout: '3s' }),
    'one',
  );
  await serviceOfQa1('web healthy on qa-1', (s) => s.state === 'healthy' && s.version === version);
}, 120_000);

afterAll(async () => {
  // Before the cluster's folder, which holds its socket, goes.
  await supervisor?.stop();
  await cluster?.close();
});

describe('continuous health', () => {
  it('goes healthy → failing (with the answer) → healthy, in the status, the CLI and the event stream', async () => {
    const stream = await healthEvents((events) =>
      events.some((e) => e.kind === 'host.health' && e.data.previous === 'failing'),
    );
    try {
      await writeFile(sick, '');
      const failing = await serviceOfQa1('web failing on qa-1', (s) => s.state === 'failing');
      expect(failing.version).toBe(version);
      // The status and the body's start.
      expect(failing.answer).toMatch(
        /^HTTP 503 from http:\/\/127\.0\.0\.1:\d+\/health, expected 200: "\{\\"ok\\":false,.*"$/,
      );

      const printed = await cluster.ferry(['status', 'web']);
      expect(printed.code, printed.stderr).toBe(0);
      expect(printed.stdout).toMatch(/qa-1 {2}@\d+ {2}\w+ {2}failing since \d\d:\d\d/);
      expect(printed.stdout).toContain(failing.answer!);
      const json = await cluster.json<AppStatus[]>(['status', 'web']);
      const row = json[0]?.environments.find((e) => e.env === 'qa')?.hosts[0];
      expect(row?.service).toMatchObject({ state: 'failing', answer: failing.answer });

      await rm(sick);
      await serviceOfQa1('web healthy again on qa-1', (s) => s.state === 'healthy');
      await Promise.race([
        stream.ended,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('no host.health event back to healthy')), 15_000),
        ),
      ]);
      const seen = stream.events.flatMap((e) =>
        e.kind === 'host.health'
          ? [
              {
                app: e.app,
                env: e.env,
                host: e.data.host,
                previous: e.data.previous,
                state: e.data.state,
              },
            ]
          : [],
      );
      expect(seen).toEqual([
        { app: 'web', env: 'qa', host: 'qa-1', previous: 'healthy', state: 'failing' },
        { app: 'web', env: 'qa', host: 'qa-1', previous: 'failing', state: 'healthy' },
      ]);
      const turned = stream.events[0];
      expect(turned?.kind === 'host.health' && turned.data.answer).toBe(failing.answer);
    } finally {
      stream.stop();
      await rm(sick, { force: true });
    }
  }, 60_000);

  it('counts the restarts of a service killed again and again', async () => {
    for (let kill = 1; kill <= 2; kill += 1) {
      const pid = await servicePid();
      // The whole group: the shell and the node it started.
      process.kill(-pid, 'SIGKILL');
      await waitFor(`web restarted after kill ${kill}`, async () => {
        const now = await servicePid().catch(() => pid);
        return now !== pid && (await cluster.health('qa-1'))?.ok ? true : undefined;
      });
    }
    const service = await serviceOfQa1(
      'two restarts counted',
      (s) => s.restarts === 2 && s.state === 'healthy',
    );
    expect(service.version).toBe(version);
    const printed = await cluster.ferry(['status', 'web']);
    expect(printed.stdout).toMatch(/healthy since \d\d:\d\d \(2 restarts in the last hour\)/);
  }, 60_000);

  it('reports the present state again after the agent reconnects', async () => {
    const before = await serviceOfQa1('web healthy', (s) => s.state === 'healthy');
    const restartedAt = new Date().toISOString();
    // The agent keeps running and reconnects; nothing changed on the host, so
    // only the report made on reconnecting can bring a newer record.
    await cluster.restartServer('SIGKILL');
    const after = await serviceOfQa1('a report after the reconnect', (s) => s.at > restartedAt);
    expect(after).toMatchObject({
      state: 'healthy',
      version,
      since: before.since,
      restarts: before.restarts,
    });
  }, 90_000);
});

describe.skipIf(!SUPERVISORD_SUITES_RUN)('continuous health under supervisord', () => {
  beforeAll(async () => {
    supervisor = await startSupervisord(path.join(cluster.work, 'supervisor'));
    // Caught up to the desired web on joining, its service run by supervisord.
    await cluster.addHost('qa-2', 'qa');
    await serviceOfQa1(
      'web healthy on qa-2',
      (s) => s.state === 'healthy' && s.version === version,
      'qa-2',
    );
  }, 120_000);

  it('counts a restart by supervisord, seen as a new pid of the running service', async () => {
    const pidOf = () =>
      Number(
        execFileSync(SUPERVISORCTL, ['-c', supervisor!.config, 'pid', 'ferry-web'], {
          encoding: 'utf8',
        }).trim(),
      );
    const pid = pidOf();
    expect(pid).toBeGreaterThan(0);
    // The program's whole group, as a crash would take it; supervisord starts it again.
    process.kill(-pid, 'SIGKILL');
    const service = await serviceOfQa1(
      'a restart counted on qa-2',
      (s) => s.restarts === 1 && s.state === 'healthy',
      'qa-2',
    );
    expect(service.version).toBe(version);
    expect(pidOf()).not.toBe(pid);
  }, 60_000);
});
