import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../src/cli/api-client.js';
import { streamEvents } from '../src/client/event-stream.js';
import { FerryClient } from '../src/client/ferry-client.js';
import type { FerryEvent } from '../src/protocol/events.js';
import { isActiveDeployment } from '../src/protocol/lifecycle.js';
import type { DeploymentState } from '../src/protocol/deployment-api.js';
import { type AgentProcess, startAgent } from './helpers/agent-process.js';
import { killServices, reservePort } from './helpers/cluster.js';
import { runFerry, type ServerProcess, startServer } from './helpers/ferry-process.js';
import { createTestDatabase } from './helpers/pg-database.js';
import { pgUrl } from './helpers/services.js';
import { makeTree } from './helpers/source-tree.js';
import { webAppTree } from './helpers/web-app.js';
import { newSigningKey } from '../src/bundle/bundle-signature.js';
import { harnessTrust } from '../src/dev/harness-trust.js';

/**
 * The live event stream across two `ferry server` processes sharing one
 * PostgreSQL (a database of this suite's own): a client streaming from replica
 * A sees every step of a deployment that replica B drives (its agents are
 * connected to B), once and in order; a client that drops its connection in
 * the middle of the rollout and comes back to A with `Last-Event-ID` receives
 * every event it missed, exactly once. Under CI=true, a missing PostgreSQL
 * fails the suite rather than skipping it (`pgUrl`).
 */

const postgres = pgUrl();
const HOSTS = ['qa-1', 'qa-2'];

describe.skipIf(!postgres)('the event stream with two server replicas on PostgreSQL', () => {
  let work: string;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  const replicas = {} as Record<'a' | 'b', ServerProcess>;
  const agents: { agent: AgentProcess; root: string }[] = [];
  let token: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'ferry-event-replicas-'));
    database = await createTestDatabase(postgres!);
    const shared = [
      `store: { driver: postgres, url: '${database.url}' }`,
      `artifacts: { kind: fs, path: '${path.join(work, 'shared-bundles')}' }`,
      '# Replicas of one store seal secrets with one key.',
      `secretKey: '${randomBytes(32).toString('base64')}'`,
      '# And sign bundles with one key.',
      `signingKey: ${JSON.stringify(newSigningKey().privateKeyPem)}`,
      'environments:',
      '  - { name: qa, strategy: { batch: 1 } }',
    ];
    const configA = path.join(work, 'a.yml');
    const configB = path.join(work, 'b.yml');
    // A looks for deployments to drive once a minute: B, woken at once by the
    // deployment it makes, holds the lease, and A never takes it.
    await writeFile(configA, [...shared, 'rollout: { tickMs: 60000 }', ''].join('\n'));
    await writeFile(configB, [...shared, ''].join('\n'));
    replicas.a = await startServer(['--config', configA, '--log-level', 'info'], {
      FERRY_REPLICA_ID: 'replica-a',
    });
    // Replicas share the CA (as they share the store): agents pin one for both.
    replicas.b = await startServer(
      ['--config', configB, '--log-level', 'info'],
      { FERRY_REPLICA_ID: 'replica-b' },
      { caFrom: replicas.a.dataDir },
    );
    token = replicas.a.adminToken;
    expect(token).not.toBe('');
    const enrol = await runFerry(['tokens', 'create', '--role', 'agent', '--env', 'qa'], {
      env: { FERRY_SERVER: replicas.a.url, FERRY_TOKEN: token },
    });
    const enrolToken = enrol.stdout.split('\n')[0]!.trim();
    // Every agent speaks to replica B only: B records their steps.
    for (const name of HOSTS) {
      const root = path.join(work, 'hosts', name);
      const agent = await startAgent({
        admin: { url: replicas.a.url, adminToken: token },
        server: replicas.b.url,
        token: enrolToken,
        env: 'qa',
        roles: ['web'],
        root,
        name,
        vars: { PORT: String(await reservePort()) },
      });
      agents.push({ agent, root });
    }
  }, 120_000);

  afterAll(async () => {
    for (const { agent, root } of agents) {
      await agent.stop();
      await killServices(root);
    }
    for (const replica of Object.values(replicas)) await replica?.stop();
    await database?.drop();
    await rm(work, { recursive: true, force: true });
  });

  /** Streams `web`'s events from a replica, until `done` says so or the signal aborts. */
  function collect(
    replica: ServerProcess,
    done: (events: FerryEvent[]) => boolean,
    options: { after?: string; signal?: AbortSignal } = {},
  ): { events: FerryEvent[]; opened: Promise<void>; ended: Promise<void> } {
    const events: FerryEvent[] = [];
    let opened!: () => void;
    const isOpen = new Promise<void>((resolve) => (opened = resolve));
    const ended = streamEvents({
      client: new FerryClient(replica.url, token, harnessTrust().clientOptions()),
      query: { app: 'web' },
      ...options,
      onOpen: opened,
      onEvent: (event) => {
        events.push(event);
        return !done(events);
      },
    });
    return { events, opened: isOpen, ended };
  }

  const ended = (events: FerryEvent[]) =>
    events.some(
      (e) => e.kind === 'deployment.state' && !isActiveDeployment(e.data.state as DeploymentState),
    );

  it('streams from A every step of a deployment B drives, in order; a client resuming with Last-Event-ID misses nothing and gets nothing twice', async () => {
    const gate = path.join(work, 'gate');
    const dir = await makeTree(webAppTree('gated', { gateFile: gate }), path.join(work, 'src'));
    const onB = { FERRY_SERVER: replicas.b.url, FERRY_TOKEN: token };
    const pushed = await runFerry(['push', dir, '--json'], { env: onB });
    expect(pushed.code, pushed.stderr).toBe(0);
    const version = (JSON.parse(pushed.stdout) as { bundle: { version: number } }).bundle.version;

    // Both subscribed before the deployment is made: each stream starts now.
    const whole = collect(replicas.a, ended);
    const fromB = collect(replicas.b, ended);
    const dropping = new AbortController();
    // This one leaves once the first host is at its health check (held there by the gate).
    const first = collect(
      replicas.a,
      (events) => events.some((e) => e.kind === 'install.step' && e.data.step === 'health'),
      { signal: dropping.signal },
    );
    await Promise.all([whole.opened, fromB.opened, first.opened]);
    const b = new ApiClient(replicas.b.url, token, harnessTrust());
    const deployment = await b.deploy({ app: 'web', version, env: 'qa' });
    await first.ended;
    dropping.abort();
    expect(whole.events.some((e) => ended([e]))).toBe(false);

    // Away while the rollout goes on and ends.
    await writeFile(gate, '');
    await Promise.all([whole.ended, fromB.ended]);
    const rest = collect(replicas.a, ended, {
      after: first.events.at(-1)!.id,
    });
    await rest.ended;

    // Replica B drove it; A only streamed it.
    expect(replicas.b.output()).toContain('driving a deployment');
    expect(replicas.a.output()).not.toContain('driving a deployment');

    // A streamed what B recorded: the same events, in the same order, each once.
    const ids = (events: FerryEvent[]) => events.map((e) => e.id);
    expect(ids(whole.events)).toEqual(ids(fromB.events));
    const numbers = whole.events.map((e) => Number(e.id));
    expect(numbers).toEqual([...numbers].sort((x, y) => x - y));
    expect(new Set(numbers).size).toBe(numbers.length);

    // Every step of every host, in the order the server recorded them.
    const done = await b.deployment(deployment.id);
    expect(done.state, done.error ?? '').toBe('succeeded');
    for (const { id, host } of done.installs) {
      const record = await b.install(id);
      const expected = record.steps.flatMap((s) => [`${s.step} running`, `${s.step} ${s.state}`]);
      const streamed = whole.events.flatMap((e) =>
        e.kind === 'install.step' && e.data.installId === id
          ? [`${e.data.step} ${e.data.state}`]
          : [],
      );
      expect(streamed, host).toEqual(expected);
      expect(streamed).toContain('health succeeded');
    }

    // The client that dropped: what it saw, then what it missed, is the whole stream, once.
    expect(rest.events.length).toBeGreaterThan(0);
    expect([...ids(first.events), ...ids(rest.events)]).toEqual(ids(whole.events));
  }, 120_000);
});
