import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { type AgentEvent, type Job, PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { RabbitmqAgentTransport } from '../src/transport/rabbitmq/rabbitmq-agent-transport.js';
import { RabbitmqServerTransport } from '../src/transport/rabbitmq/rabbitmq-server-transport.js';
import type { TransportLogger } from '../src/transport/transport.js';
import { rabbitmqSetup } from './helpers/backends.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { deleteTopology, rabbitmqctl } from './helpers/rabbitmq.js';
import { amqpUrl } from './helpers/services.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * The broker stopped and started (`rabbitmqctl stop_app` / `start_app`): while
 * jobs and events flow between the two transports, and in the middle of a
 * rollout. Server and agents reconnect, declare again, publish again what was
 * not confirmed; every job is carried out exactly once, every event handled,
 * and the rollout finishes with every host installed exactly once. It stops the
 * whole broker, so `npm test` runs this file alone, after the others.
 */

const url = amqpUrl();
const HOSTS = ['prod-1', 'prod-2', 'prod-3'];

describe.skipIf(!url)('a broker restart in the middle of a rollout', () => {
  let cluster: Cluster;
  let setup: ReturnType<typeof rabbitmqSetup>;

  beforeAll(async () => {
    setup = rabbitmqSetup(url!);
    cluster = await Cluster.start({
      ...setup.options,
      config: `${setup.options.config!}environments:\n  - name: prod\n    strategy: { batch: 1, maxFailures: 0, offlineTimeout: 120s }\n`,
    });
    for (const name of HOSTS) await cluster.addHost(name, 'prod');
  }, 120_000);

  afterAll(async () => {
    // Whatever happened, the broker is left running for whoever comes next.
    await rabbitmqctl('start_app').catch(() => undefined);
    await cluster?.close();
    await setup?.cleanup();
  });

  it('finishes the rollout, with each host installed exactly once', async () => {
    // A service that takes 2 s to come up, so that the broker goes down mid-rollout.
    const files = webAppTree('slow', { slowStartMs: 2000 });
    const version = await cluster.push(files, 'slow');
    const started = await cluster.api().deploy({ app: 'web', version, env: 'prod' });
    await waitFor('the first host to be done', async () => {
      const deployment = await cluster.api().deployment(started.id);
      return deployment.installs[0]?.state === 'succeeded' ? deployment : undefined;
    });

    await rabbitmqctl('stop_app');
    // The broker went down in the middle of the rollout, not after it.
    const during = await cluster.api().deployment(started.id);
    expect(during.state).toBe('running');
    expect(during.installs.some((i) => i.state !== 'succeeded')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await rabbitmqctl('start_app');
    await rabbitmqctl('await_startup');

    const done = await waitFor(
      'the rollout to end',
      async () => {
        const deployment = await cluster.json<DeploymentRecord>(['deployment', started.id]);
        return deployment.state === 'running' ? undefined : deployment;
      },
      150_000,
    );
    expect(done.state, done.error ?? '').toBe('succeeded');
    expect(done.installs.map((i) => [i.host, i.purpose, i.state])).toEqual(
      HOSTS.map((h) => [h, 'deploy', 'succeeded']),
    );
    expect(cluster.server.output()).toContain('lost the broker connection');
    for (const install of done.installs) {
      const host = cluster.host(install.host);
      expect(await cluster.health(install.host)).toMatchObject({ version: String(version) });
      expect(await readdir(path.join(host.root, 'agent', 'journal'))).toEqual([
        `${install.id}.json`,
      ]);
      const stdout = await readFile(
        path.join(host.root, 'apps', 'web', 'logs', String(version), 'service.stdout.log'),
        'utf8',
      );
      expect(stdout.match(/listening on/g), install.host).toHaveLength(1);
    }
  }, 240_000);
});

describe.skipIf(!url)('a broker restart while jobs and events flow', () => {
  const prefix = `b${randomUUID().slice(0, 8)}`;
  const lines: string[] = [];
  const logger: TransportLogger = {
    info: (_details, message) => void lines.push(message),
    warn: (_details, message) => void lines.push(message),
    error: (_details, message) => void lines.push(message),
  };
  const backoff = { initialDelayMs: 100, maxDelayMs: 1000 };
  let server: RabbitmqServerTransport | undefined;
  let agent: RabbitmqAgentTransport | undefined;

  afterAll(async () => {
    await rabbitmqctl('start_app').catch(() => undefined);
    await rabbitmqctl('await_startup').catch(() => undefined);
    await agent?.close();
    await server?.close();
    await deleteTopology(url!, prefix, ['host-a']);
  });

  it('delivers every job, carried out once by a journaled agent, and every event', async () => {
    server = new RabbitmqServerTransport({
      url: url!,
      logger,
      prefix,
      hostIds: () => Promise.resolve(['host-a']),
      hostName: (hostId) => Promise.resolve(hostId),
      presenceIntervalMs: 500,
      sendTimeoutMs: 90_000,
      ...backoff,
    });
    const seen = new Set<string>();
    server.onEvent((_hostId, event) => Promise.resolve(void seen.add(event.id)));

    // As run-agent does: the journal answers a job seen before with its result.
    const host = (agent = new RabbitmqAgentTransport({
      url: url!,
      hostId: 'host-a',
      logger,
      prefix,
      ...backoff,
    }));
    const journal = new Set<string>();
    const runs = new Map<string, number>();
    const emitted = new Set<string>();
    const report = (facts: Record<string, unknown>) => {
      const event: AgentEvent = { v: PROTOCOL_VERSION, id: randomUUID(), type: 'facts', facts };
      emitted.add(event.id);
      host.emit(event);
    };
    host.start(async (job) => {
      if (!journal.has(job.id)) {
        runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
        report({ step: 'started', job: job.id });
        await sleep(20);
        journal.add(job.id);
      }
      report({ step: 'finished', job: job.id });
      await host.drain();
    });

    const jobs: Job[] = Array.from({ length: 30 }, (_, i) => ({
      v: PROTOCOL_VERSION,
      id: randomUUID(),
      type: 'install',
      installId: randomUUID(),
      app: 'cart',
      version: i + 1,
      sha256: 'a'.repeat(64),
      size: 10,
      manifest: {},
      vars: {},
    }));
    let stopping = false;
    let sentAfterStop = 0;
    const restart = (async () => {
      await sleep(400);
      stopping = true;
      await rabbitmqctl('stop_app');
      await sleep(1000);
      await rabbitmqctl('start_app');
      await rabbitmqctl('await_startup');
    })();
    // Sends made while the broker is down wait for it (send resolves on the confirm).
    for (const job of jobs) {
      await server.send('host-a', job);
      if (stopping) sentAfterStop++;
      await sleep(100);
    }
    await restart;
    // The broker went down in the middle of the flow, not after it.
    expect(sentAfterStop).toBeGreaterThan(0);
    expect(sentAfterStop).toBeLessThan(jobs.length);

    await waitFor('every job carried out', () =>
      Promise.resolve(journal.size === jobs.length || undefined),
    );
    await waitFor('every event handled', () =>
      Promise.resolve([...emitted].every((id) => seen.has(id)) || undefined),
    );
    expect(runs.size).toBe(jobs.length);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(lines).toContain('lost the broker connection; reconnecting');
  }, 120_000);
});
