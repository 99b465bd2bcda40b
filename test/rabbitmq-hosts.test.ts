import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstallRecord } from '../src/protocol/api.js';
import { Topology } from '../src/transport/rabbitmq/topology.js';
import { LocalAgent } from '../src/dev/local-agent.js';
import { rabbitmqSetup } from './helpers/backends.js';
import { Cluster, killServices, reservePort, waitFor } from './helpers/cluster.js';
import { restrictedUser, setPermissions } from './helpers/rabbitmq.js';
import { amqpUrl } from './helpers/services.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * Hosts on RabbitMQ: a job sent while a host's agent is stopped waits in its
 * queue and is carried out once; a host under its own restricted broker user
 * installs and reports as any other, and can neither read another host's queue
 * nor speak for another host.
 */

const url = amqpUrl();

describe.skipIf(!url)('hosts on RabbitMQ', () => {
  let cluster: Cluster;
  let setup: ReturnType<typeof rabbitmqSetup>;
  let version: number;

  beforeAll(async () => {
    setup = rabbitmqSetup(url!);
    cluster = await Cluster.start(setup.options);
    await cluster.addHost('qa-1', 'dev');
    version = await cluster.push(webAppTree('one'), 'one');
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
    await setup?.cleanup();
  });

  /** The journal entries of a host: one file per job it ran. */
  const journal = (name: string) =>
    readdir(path.join(cluster.host(name).root, 'agent', 'journal')).catch(() => []);

  it('carries out once, when the agent starts, a job sent while it was stopped', async () => {
    await cluster.stopAgent('qa-1', 'SIGKILL');
    const sent = await cluster.ferry(['install', `web@${version}`, '--host', 'qa-1', '--detach']);
    expect(sent.code, sent.stderr).toBe(0);
    const id = /^install (ins_\w+)/m.exec(sent.stdout)![1]!;
    // It waits in the broker: nothing on the host yet.
    expect(await journal('qa-1')).toEqual([]);

    await cluster.startAgentAgain('qa-1');
    const done = await waitFor('the install', async () => {
      const install: InstallRecord = await cluster.api().install(id);
      return install.state === 'succeeded' || install.state === 'failed' ? install : undefined;
    });
    expect(done.state, done.error ?? '').toBe('succeeded');
    expect(await cluster.health('qa-1')).toMatchObject({ ok: true, version: String(version) });

    // Once, even across another restart. A job sent after the restart comes from
    // the same queue, one at a time: had the first been delivered again, it would
    // have come before this one. So: two journal entries, two starts of the service.
    await cluster.stopAgent('qa-1', 'SIGTERM');
    await cluster.startAgentAgain('qa-1');
    const again = await cluster.ferry(['install', `web@${version}`, '--host', 'qa-1']);
    expect(again.code, again.stderr).toBe(0);
    const second = /^install (ins_\w+)/m.exec(again.stdout)![1]!;
    expect((await journal('qa-1')).sort()).toEqual([`${id}.json`, `${second}.json`].sort());
    const stdout = await readFile(
      path.join(
        cluster.host('qa-1').root,
        'apps',
        'web',
        'logs',
        String(version),
        'service.stdout.log',
      ),
      'utf8',
    );
    expect(stdout.match(/listening on/g)).toHaveLength(2);
  }, 120_000);

  it('carries a step log larger than one event may be, in pieces, whole', async () => {
    // 6 MiB on stdout from an install command: more than the 4 MiB one event may
    // carry, so it only arrives if the agent sends it in bounded pieces.
    const size = 6 * 1024 * 1024;
    const tree = webAppTree('chatty');
    tree['ferry.yml'] = tree['ferry.yml']!.replace(
      '    keepReleases: 5',
      `    install: ['node -e "process.stdout.write(String(Date.now() % 10).repeat(${size}))"']\n    keepReleases: 5`,
    );
    const chatty = await cluster.push(tree, 'chatty');
    const installed = await cluster.ferry(['install', `web@${chatty}`, '--host', 'qa-1']);
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    const id = /install (ins_\w+)/.exec(installed.stdout)![1]!;
    const logs = await cluster.api().installLogs(id);
    const install = logs.steps.find((s) => s.step === 'install')!;
    const printed = install.stdout.slice(install.stdout.indexOf('\n') + 1);
    expect(printed).toHaveLength(size);
    expect(printed).toBe(printed.charAt(0).repeat(size));
  }, 120_000);

  it('documents in docs/rabbitmq.md the permissions a host user is given', async () => {
    const doc = await readFile(path.join(import.meta.dirname, '..', 'docs', 'rabbitmq.md'), 'utf8');
    const { configure, write, read } = new Topology('ferry').hostPermissions('HOST');
    const line = `rabbitmqctl set_permissions -p / web-1 '${configure}' '${write}' '${read.replace('HOST$', '')}`;
    expect(doc).toContain(line);
  });

  it('runs a host under its own restricted broker user, which reads only its queue and speaks only for itself', async () => {
    const prefix = /prefix: (\w+)/.exec(setup.options.config!)![1]!;
    const topology = new Topology(prefix);
    const name = `locked-${Math.random().toString(36).slice(2, 8)}`;
    // The user exists but has no permissions yet: the agent enrols over HTTP, says
    // what its user needs, and retries the broker until it has them.
    const user = await restrictedUser(url!, name, { configure: '^$', write: '^$', read: '^$' });
    const root = path.join(cluster.work, 'hosts', name);
    const port = await reservePort();
    // What `ferry tokens create --role agent` prints: a join string, pinning the server's CA.
    const made = await cluster.ferry(['tokens', 'create', '--role', 'agent', '--env', 'dev']);
    expect(made.code, made.stderr).toBe(0);
    const join = made.stdout.trim();
    // Not started to be ready: it cannot reach the broker until it has permissions.
    const agent = await LocalAgent.spawn({
      server: cluster.server.url,
      admin: cluster.api(),
      join,
      env: 'dev',
      roles: ['web'],
      root,
      name,
      vars: { PORT: String(port) },
      args: ['--transport-prefix', prefix],
      // The host's broker password: in the environment, not in `ps`.
      processEnv: { FERRY_TRANSPORT_URL: user.url },
      readyTimeoutMs: 60_000,
    });
    const output = () => agent.output();
    try {
      const hostId = await waitFor('the agent to enrol', async () => {
        const identity = await readFile(path.join(root, 'agent', 'identity.json'), 'utf8').catch(
          () => '',
        );
        return identity ? (JSON.parse(identity) as { hostId: string }).hostId : undefined;
      });
      // Its queue goes with the suite's, once the server (which declares it) has stopped.
      setup.options.onHostEnrolled?.(hostId);
      const permissions = topology.hostPermissions(hostId);
      // The agent says what its user needs (in its JSON log, the backslashes are doubled).
      await waitFor('the agent to say what its user needs', () =>
        Promise.resolve(
          output().includes(
            `set_permissions <user> '^$' '^${prefix}\\\\.events$' '^${prefix}\\\\.host\\\\.${hostId}$'`,
          ) || undefined,
        ),
      );
      // Said once the first attempt was refused, which may come after the line above.
      await waitFor('the agent to say the broker refused it', () =>
        Promise.resolve(output().includes('cannot connect to the broker') || undefined),
      );
      await setPermissions(name, permissions);
      // Listed connected, through the API.
      await agent.ready();

      // It installs and reports like any host.
      const installed = await cluster.ferry(['install', `web@${version}`, '--host', name]);
      expect(installed.code, installed.stdout + output()).toBe(0);
      expect(installed.stdout).toContain(`succeeded: ${name} runs web@${version}`);

      // It cannot read another host's queue.
      const other = topology.hostQueue(cluster.host('qa-1').hostId);
      const connection = await amqp.connect(user.url);
      try {
        const channel = await connection.createChannel();
        channel.on('error', () => undefined);
        await expect(channel.consume(other, () => undefined)).rejects.toThrow(/ACCESS_REFUSED/);
        // Nor the server's events, nor send a job to any host.
        const reader = await connection.createChannel();
        reader.on('error', () => undefined);
        await expect(reader.consume(topology.eventsQueue, () => undefined)).rejects.toThrow(
          /ACCESS_REFUSED/,
        );
        const sender = await connection.createChannel();
        const refused = new Promise<Error>((resolve) => sender.once('error', resolve));
        sender.publish(topology.jobsExchange, cluster.host('qa-1').hostId, Buffer.from('{}'));
        expect((await refused).message).toMatch(/ACCESS_REFUSED/);
        // Nor speak for another host: the broker vouches for the user, and the server checks it.
        const events = await connection.createConfirmChannel();
        events.on('error', () => undefined);
        await new Promise<void>((resolve, reject) =>
          events.publish(
            topology.eventsExchange,
            '',
            Buffer.from(
              JSON.stringify({ v: 1, id: 'forged-1', type: 'facts', facts: { apps: {} } }),
            ),
            { userId: name, headers: { 'x-ferry-host': cluster.host('qa-1').hostId } },
            (err: unknown) => (err ? reject(new Error('refused')) : resolve()),
          ),
        );
        await waitFor('the server to refuse the forged event', () =>
          Promise.resolve(
            cluster.server.output().includes(`broker user ${name} may not speak for`) || undefined,
          ),
        );
        const forgedUser = await connection.createChannel();
        forgedUser.on('error', () => undefined);
        // And RabbitMQ refuses a user-id that is not the connection's user.
        forgedUser.publish(topology.eventsExchange, '', Buffer.from('{}'), { userId: 'guest' });
        await new Promise((resolve) => forgedUser.once('close', resolve));
      } finally {
        await connection.close().catch(() => undefined);
      }
    } finally {
      await agent.stop();
      await killServices(root);
      await user.remove();
    }
  }, 180_000);
});
