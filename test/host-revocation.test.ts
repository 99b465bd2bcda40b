import { rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { TokenRecord } from '../src/protocol/api.js';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { type Backend, LIFECYCLE_BACKENDS } from './helpers/backends.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * Revoking a host's own token cuts it off at once: its connection closes, it
 * gets no job (and so none of its variables) afterwards, and a rollout that
 * includes it skips it instead of waiting for it. `ferry hosts remove` frees
 * its name for a new enrolment.
 */

// An offline host would hold up the rollout for ten minutes: the cut-off host must not.
const CONFIG = `
environments:
  - { name: dev }
  - { name: qa, autoDeploy: true, strategy: { batch: 1, offlineTimeout: 10m } }
  - { name: prod, requires: passed }
`;

// The built-in transport and RabbitMQ: each cuts the host off its own way.
const BACKENDS = LIFECYCLE_BACKENDS.filter((b) => b.name !== 'PostgreSQL');

let cluster: Cluster;

async function connected(name: string): Promise<boolean | undefined> {
  return (await cluster.api().hosts('qa')).find((h) => h.name === name)?.connected;
}

for (const backend of BACKENDS)
  describe.skipIf(!backend.available())(`revoking a host token, on ${backend.name}`, () => {
    let setup: Awaited<ReturnType<Backend['setup']>> | undefined;
    beforeAll(async () => {
      setup = await backend.setup();
      cluster = await Cluster.start({
        ...setup.options,
        config: `${setup.options.config ?? ''}${CONFIG}`,
      });
      await cluster.addHost('qa-1', 'qa');
      await cluster.addHost('qa-2', 'qa');
    }, 120_000);
    afterAll(async () => {
      await cluster?.close();
      await setup?.cleanup();
    });

    it('closes its connection within a second, and the rollout under way skips it instead of hanging', async () => {
      await waitFor('both hosts connected', async () =>
        (await connected('qa-1')) && (await connected('qa-2')) ? true : undefined,
      );
      // qa-1 first, held until qa-2 is cut off: the rollout is under way, and
      // qa-2's turn comes only after, however slow the machine.
      const gate = path.join(cluster.work, 'qa-1-may-listen');
      await cluster.push(webAppTree('one', { gateFile: gate, healthTimeout: '60s' }), 'one');
      const deployment = await waitFor('the rollout to start', async () => {
        const [d] = await cluster.api().deployments({ app: 'web', env: 'qa', limit: 1 });
        return d?.state === 'running' ? d : undefined;
      });

      const tokens = await cluster.json<TokenRecord[]>(['tokens', 'list']);
      const own = tokens.find((t) => t.name === 'agent-qa-2');
      expect(own).toBeDefined();
      const revoked = await cluster.ferry(['tokens', 'revoke', own!.id]);
      expect(revoked.code, revoked.stderr).toBe(0);
      const started = Date.now();
      await waitFor(
        'qa-2 disconnected',
        async () => ((await connected('qa-2')) ? undefined : true),
        5000,
      );
      expect(Date.now() - started).toBeLessThan(1500);
      const during: DeploymentRecord = await cluster.api().deployment(deployment.id);
      expect(during.state).toBe('running');
      // Its turn has not come: not sent, and skipped at once now that it is cut off.
      expect(['pending', 'skipped']).toContain(
        during.installs.find((i) => i.host === 'qa-2')?.state,
      );
      await writeFile(gate, '');

      const ended = await waitFor(
        'the rollout to end',
        async () => {
          const d: DeploymentRecord = await cluster.api().deployment(deployment.id);
          return ['pending', 'running'].includes(d.state) ? undefined : d;
        },
        30_000,
      );
      const byHost = Object.fromEntries(ended.installs.map((i) => [i.host, i]));
      expect(byHost['qa-1']?.state).toBe('succeeded');
      expect(byHost['qa-2']?.state).toBe('skipped');
      expect(byHost['qa-2']?.error).toContain('token was revoked');
      expect(ended.state).toBe('partial');
      expect(ended.error).toContain('qa-2 (cut off: its token was revoked or the host removed)');
      // No job reached it: nothing of the app on the host.
      await expect(access(path.join(cluster.host('qa-2').root, 'apps', 'web'))).rejects.toThrow();
      // It stays cut off: its agent cannot come back with the revoked token.
      await new Promise((r) => setTimeout(r, 1500));
      expect(await connected('qa-2')).toBe(false);
      const listed = await cluster.ferry(['hosts', '--env', 'qa']);
      expect(listed.stdout).toMatch(/qa-2 .*cut off/);
    });

    it('lets only an admin remove a host, whose name can then be enrolled again', async () => {
      const deployer = await cluster.token('deployer');
      const refused = await cluster.ferry(['hosts', 'remove', 'qa-2'], { FERRY_TOKEN: deployer });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('[E_FORBIDDEN]');
      const unknown = await cluster.ferry(['hosts', 'remove', 'qa-9']);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('[E_HOST_NOT_FOUND]');

      const removed = await cluster.ferry(['hosts', 'remove', 'qa-2']);
      expect(removed.code, removed.stderr).toBe(0);
      expect((await cluster.api().hosts('qa')).map((h) => h.name)).toEqual(['qa-1']);

      // A new machine takes the name.
      await cluster.stopAgent('qa-2', 'SIGTERM');
      await rm(cluster.host('qa-2').root, { recursive: true, force: true });
      const again = await cluster.addHost('qa-2', 'qa');
      expect(again.hostId).not.toBe('');
      await waitFor('the new qa-2 connected', async () =>
        (await connected('qa-2')) ? true : undefined,
      );
      // The history keeps the old host's install, under a name that says it was removed.
      const [last] = await cluster.api().deployments({ app: 'web', env: 'qa', limit: 1 });
      expect(last?.installs.map((i) => i.host)).toContainEqual(
        expect.stringMatching(/^qa-2 \(removed host_/),
      );
    });
  });
