import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, FerryClient } from '../src/client/ferry-client.js';
import type { AgentIdentity } from '../src/agent/agent-identity.js';
import { harnessTrust } from '../src/dev/harness-trust.js';
import { localAgentArgs } from '../src/dev/local-agent.js';
import { AGENT_SOCKET_PATH } from '../src/transport/builtin/frames.js';
import { type Backend, LIFECYCLE_BACKENDS } from './helpers/backends.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { runFerry } from './helpers/ferry-process.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * A host's own credential expires, and its agent rotates it by itself while
 * connected: the host stays connected and jobs still flow; the old credential
 * is refused once the new one is confirmed. An agent killed right after the
 * server issued a new credential works when started again, with the old one
 * or the new one. An expired credential is refused with how to re-enrol, and
 * a connection opened with it is closed. Removing the host ends its
 * credential at once.
 *
 * Credentials here live 20 s and are rotated 5 s after they are made (a
 * quarter of their life, `rotateWhenLeft: 0.75`): every host rotates several
 * times during the suite.
 */

const LIFE_SECONDS = 20;
const CONFIG = `
hosts:
  credentialDays: ${LIFE_SECONDS / 86_400}
  rotateWhenLeft: 0.75
  rotationGraceSeconds: 60
  connectionCheckSeconds: 0.2
`;

// PostgreSQL stores credentials as SQLite does (the store contract covers both):
// the two transports carry the connection each its own way.
const BACKENDS = LIFECYCLE_BACKENDS.filter((b) => b.name !== 'PostgreSQL');

let cluster: Cluster;

async function identityOf(name: string): Promise<AgentIdentity> {
  const file = path.join(cluster.host(name).root, 'agent', 'identity.json');
  return JSON.parse(await readFile(file, 'utf8')) as AgentIdentity;
}

/** The error code a call with `token` gets, or 'ok' when it is taken. */
async function answerTo(token: string): Promise<string> {
  try {
    await new FerryClient(cluster.server.url, token, harnessTrust().clientOptions()).call(
      'confirmCredential',
    );
    return 'ok';
  } catch (err) {
    if (err instanceof ApiError) return err.code;
    throw err;
  }
}

async function connected(name: string): Promise<boolean | undefined> {
  return (await cluster.api().hosts('dev')).find((h) => h.name === name)?.connected;
}

/** How many times a host's agent has connected, from its log. */
async function connections(name: string): Promise<number> {
  const log = await readFile(path.join(cluster.host(name).root, 'agent.log'), 'utf8');
  return (log.match(/"msg":"connected to the (server|broker)"/g) ?? []).length;
}

async function installOn(name: string, version: number): Promise<void> {
  const done = await cluster.ferry(['install', `web@${version}`, '--host', name]);
  expect(done.code, `${done.stdout}\n${done.stderr}\n${cluster.logs()}`).toBe(0);
}

for (const backend of BACKENDS)
  describe.skipIf(!backend.available())(`host credentials, on ${backend.name}`, () => {
    let setup: Awaited<ReturnType<Backend['setup']>> | undefined;
    let version: number;

    beforeAll(async () => {
      setup = await backend.setup();
      cluster = await Cluster.start({
        ...setup.options,
        config: `${setup.options.config ?? ''}${CONFIG}`,
      });
      await cluster.addHost('dev-1', 'dev');
      await cluster.addHost('dev-2', 'dev');
      version = await cluster.push(webAppTree('one'), 'one');
    }, 120_000);

    afterAll(async () => {
      await cluster?.close();
      await setup?.cleanup();
    });

    it('rotates while connected: the host stays connected, jobs flow, the old credential is refused', async () => {
      const first = await identityOf('dev-1');
      expect(first.credential?.expiresAt).toBeDefined();
      const before = await connections('dev-1');
      // Two rotations: the second made with a credential the first one gave.
      const seen = new Set([first.token]);
      await waitFor(
        'two rotations',
        async () => {
          seen.add((await identityOf('dev-1')).token);
          return seen.size >= 3 ? true : undefined;
        },
        LIFE_SECONDS * 3000,
      );
      expect(await connections('dev-1')).toBe(before);
      expect(await connected('dev-1')).toBe(true);
      await installOn('dev-1', version);
      expect(await cluster.health('dev-1')).toMatchObject({ ok: true, version: String(version) });
      // Replaced and confirmed: no longer taken, long before it would have expired.
      expect(await answerTo(first.token)).toBe('E_AUTH_INVALID');
      // Nothing secret in the agent's log.
      const log = await readFile(path.join(cluster.host('dev-1').root, 'agent.log'), 'utf8');
      for (const token of seen) expect(log).not.toContain(token);
    }, 120_000);

    it('an agent killed right after the server issued a credential works again, with the old or the new one', async () => {
      // Killed before it kept the new credential: it starts again with the old one.
      await cluster.stopAgent('dev-2', 'SIGKILL');
      const kept = await identityOf('dev-2');
      const client = new FerryClient(
        cluster.server.url,
        kept.token,
        harnessTrust().clientOptions(),
      );
      const lost = await client.call('rotateCredential');
      await cluster.startAgentAgain('dev-2');
      await installOn('dev-2', version);
      // Its next rotation, with the old one, revoked the successor it never kept.
      // (Not asked before: a credential's first use confirms it, which would
      // retire the one the agent holds.)
      await waitFor(
        'the next rotation',
        async () => ((await identityOf('dev-2')).token !== kept.token ? true : undefined),
        LIFE_SECONDS * 3000,
      );
      expect(await answerTo(lost.token)).toBe('E_AUTH_INVALID');

      // Killed after it kept the new one, before it confirmed it: it starts with the new one.
      await cluster.stopAgent('dev-2', 'SIGKILL');
      const old = await identityOf('dev-2');
      const { token, ...credential } = await new FerryClient(
        cluster.server.url,
        old.token,
        harnessTrust().clientOptions(),
      ).call('rotateCredential');
      await writeFile(
        path.join(cluster.host('dev-2').root, 'agent', 'identity.json'),
        JSON.stringify({ ...old, token, credential }),
        { mode: 0o600 },
      );
      await cluster.startAgentAgain('dev-2');
      await installOn('dev-2', version);
      expect(await answerTo(old.token)).toBe('E_AUTH_INVALID');
    }, 120_000);

    it('refuses an expired credential, saying how to re-enrol, and closes a connection opened with it', async () => {
      const enrolment = await cluster.token('agent', 'dev');
      const enrolled = await new FerryClient(
        cluster.server.url,
        enrolment,
        harnessTrust().clientOptions(),
      ).call('enroll', {
        body: { name: 'raw-1', env: 'dev', roles: ['web'], vars: {} },
      });
      expect(enrolled.credential).toBeDefined();
      const expiresAt = Date.parse(enrolled.credential!.expiresAt);
      expect(expiresAt - Date.now()).toBeLessThanOrEqual(LIFE_SECONDS * 1000);

      // A built-in transport connection, opened with it and never rotating it.
      let closed: Promise<{ code: number; reason: string }> | undefined;
      if (backend.name !== 'RabbitMQ') {
        const socket = new WebSocket(
          new URL(AGENT_SOCKET_PATH, cluster.server.url.replace(/^http/, 'ws')),
          {
            ...harnessTrust().tlsOptions(),
            headers: { authorization: `Bearer ${enrolled.token}` },
          },
        );
        closed = new Promise((resolve) =>
          socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
        );
        await new Promise((resolve, reject) => {
          socket.once('open', resolve);
          socket.once('error', reject);
        });
      }
      await waitFor(
        'the credential to expire',
        async () => ((await answerTo(enrolled.token)) === 'ok' ? undefined : true),
        LIFE_SECONDS * 3000,
      );
      expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
      let refusal: unknown;
      try {
        await new FerryClient(
          cluster.server.url,
          enrolled.token,
          harnessTrust().clientOptions(),
        ).call('rotateCredential');
      } catch (err) {
        refusal = err;
      }
      expect(refusal).toBeInstanceOf(ApiError);
      expect((refusal as ApiError).code).toBe('E_CREDENTIAL_EXPIRED');
      expect((refusal as ApiError).status).toBe(401);
      expect((refusal as ApiError).message).toContain('ferry hosts remove raw-1');
      if (closed) {
        const { code, reason } = await closed;
        expect(code).toBe(4001);
        expect(reason).toContain('E_CREDENTIAL_EXPIRED');
        // And opening another is refused, with the code.
        const refused = await new Promise<{ status: number | undefined; body: string }>(
          (resolve, reject) => {
            const socket = new WebSocket(
              new URL(AGENT_SOCKET_PATH, cluster.server.url.replace(/^http/, 'ws')),
              {
                ...harnessTrust().tlsOptions(),
                headers: { authorization: `Bearer ${enrolled.token}` },
              },
            );
            socket.on('open', () => reject(new Error('the connection was taken')));
            socket.on('error', () => undefined);
            socket.on('unexpected-response', (_request, response) => {
              let body = '';
              response.on('data', (chunk: Buffer) => (body += chunk.toString()));
              response.on('end', () => {
                resolve({ status: response.statusCode, body });
                socket.terminate();
              });
            });
          },
        );
        expect(refused.status).toBe(401);
        expect(refused.body).toContain('E_CREDENTIAL_EXPIRED');
      }

      // An agent started on an identity whose credential expired stops, saying so.
      const root = path.join(cluster.work, 'hosts', 'raw-1');
      await mkdir(path.join(root, 'agent'), { recursive: true, mode: 0o700 });
      await writeFile(
        path.join(root, 'agent', 'identity.json'),
        JSON.stringify({
          server: cluster.server.url,
          hostId: enrolled.hostId,
          name: 'raw-1',
          env: 'dev',
          token: enrolled.token,
          credential: enrolled.credential,
        }),
        { mode: 0o600 },
      );
      // The CA it pinned at enrolment, as an agent enrolled with a join string keeps it.
      await writeFile(path.join(root, 'agent', 'server-ca.pem'), cluster.server.caPem!, {
        mode: 0o600,
      });
      const args = setup?.options.agentArgs
        ? await setup.options.agentArgs({ name: 'raw-1', env: 'dev' })
        : [];
      const agent = await runFerry(
        [
          'agent',
          ...localAgentArgs({
            server: cluster.server.url,
            name: 'raw-1',
            root,
            env: 'dev',
            roles: ['web'],
          }),
          ...args,
        ],
        { env: { ...setup?.options.agentEnv } },
      );
      expect(agent.code).not.toBe(0);
      expect(agent.stderr).toContain('E_CREDENTIAL_EXPIRED');
      expect(agent.stderr).toContain('ferry hosts remove raw-1');
      expect(agent.stderr).toContain('Enrol the host again with a join string');
      expect(agent.stderr).toContain(
        '`--join-file FILE`, FILE (mode 0600) holding the join string `ferry tokens create --role agent --env dev` prints',
      );
    }, 120_000);

    it('ends the credential at once when the host is removed', async () => {
      const { token } = await identityOf('dev-1');
      const removed = await cluster.ferry(['hosts', 'remove', 'dev-1']);
      expect(removed.code, removed.stderr).toBe(0);
      expect(await answerTo(token)).toBe('E_AUTH_INVALID');
      await waitFor('its connection closed', async () =>
        (await cluster.api().hosts('dev')).some((h) => h.name === 'dev-1') ? undefined : true,
      );
      if (backend.name !== 'RabbitMQ') {
        await waitFor('the agent told its connection was closed', async () => {
          const log = await readFile(path.join(cluster.host('dev-1').root, 'agent.log'), 'utf8');
          return log.includes('"msg":"the server closed the agent connection"') ? true : undefined;
        });
      }
    }, 60_000);
  });
