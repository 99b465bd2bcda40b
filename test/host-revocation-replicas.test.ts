import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostRecord, TokenRecord } from '../src/protocol/api.js';
import { type AgentProcess, startAgent } from './helpers/agent-process.js';
import { waitFor } from './helpers/cluster.js';
import { runFerry, type ServerProcess, startServer } from './helpers/ferry-process.js';
import { createTestDatabase } from './helpers/pg-database.js';
import { pgUrl } from './helpers/services.js';
import { newSigningKey } from '../src/bundle/bundle-signature.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

/**
 * Two replicas on one PostgreSQL database, the built-in transport: a host's
 * token revoked through one replica cuts off the host's connection to the
 * other within about a second.
 */

const postgres = pgUrl();

describe.skipIf(!postgres)('revoking a host token, with two replicas', () => {
  let work: string;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: ServerProcess;
  let b: ServerProcess;
  let agent: AgentProcess | undefined;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'ferry-revoke-replicas-'));
    database = await createTestDatabase(postgres!);
    // Replicas of one store share the key that seals its secrets.
    const FERRY_SECRET_KEY = randomBytes(32).toString('base64');
    // And sign bundles with one key.
    const FERRY_SIGNING_KEY = newSigningKey().privateKeyPem;
    a = await startServer(['--store-url', database.url], {
      FERRY_REPLICA_ID: 'replica-a',
      FERRY_SECRET_KEY,
      FERRY_SIGNING_KEY,
    });
    // … and its CA: agents pin one for both.
    b = await startServer(
      ['--store-url', database.url],
      { FERRY_REPLICA_ID: 'replica-b', FERRY_SECRET_KEY, FERRY_SIGNING_KEY },
      { caFrom: a.dataDir },
    );
  }, 120_000);
  afterAll(async () => {
    await agent?.stop();
    await a?.stop();
    await b?.stop();
    await database?.drop();
    await rm(work, { recursive: true, force: true });
  });

  it('closes the connection held by the other replica within about a second', async () => {
    const env = {
      FERRY_SERVER: a.url,
      FERRY_TOKEN: a.adminToken,
      FERRY_CONFIG_DIR: path.join(work, 'cli'),
    };
    const made = await runFerry(['tokens', 'create', '--role', 'agent', '--env', 'qa'], { env });
    expect(made.code, made.stderr).toBe(0);
    // The agent holds its connection to replica b.
    agent = await startAgent({
      admin: a,
      server: b.url,
      token: made.stdout.trim(),
      env: 'qa',
      roles: ['web'],
      root: path.join(work, 'qa-1'),
      name: 'qa-1',
    });
    const connected = async () => {
      const answer = await harnessFetch(`${a.url}/api/v1/hosts`, {
        headers: { authorization: `Bearer ${a.adminToken}` },
      });
      return ((await answer.json()) as { hosts: HostRecord[] }).hosts[0]?.connected;
    };
    await waitFor('qa-1 connected', async () => ((await connected()) ? true : undefined));

    const list = await runFerry(['tokens', 'list', '--json'], { env });
    const own = (JSON.parse(list.stdout) as TokenRecord[]).find((t) => t.name === 'agent-qa-1')!;
    const revoked = await runFerry(['tokens', 'revoke', own.id], { env });
    expect(revoked.code, revoked.stderr).toBe(0);
    const started = Date.now();
    await waitFor('qa-1 disconnected', async () => ((await connected()) ? undefined : true), 5000);
    expect(Date.now() - started).toBeLessThan(2500);
    await waitFor('the agent told it is refused', () =>
      Promise.resolve(agent!.output().includes('refused the agent connection') ? true : undefined),
    );
  });
});
