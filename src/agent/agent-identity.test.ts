import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyFingerprint } from '../bundle/bundle-signature.js';
import type { BuiltServer } from '../server/build-server.js';
import { failure } from '../../test/helpers/failure.js';
import { openSqliteServer, type SqliteServer } from '../../test/helpers/sqlite-server.js';
import {
  type AgentIdentity,
  identityFile,
  loadOrEnroll,
  saveIdentity,
  signingKeyOf,
} from './agent-identity.js';

describe('the signing key an agent keeps', () => {
  let opened: SqliteServer;
  let dir: string;
  let server: BuiltServer;
  let url: string;
  let token: string;

  beforeAll(async () => {
    opened = await openSqliteServer('ferry-identity-');
    ({ dir, server, admin: token } = opened);
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(() => opened.close());

  it('is fetched once by installs that ask at the same time, and kept', async () => {
    const root = await mkdtemp(path.join(dir, 'agent-'));
    // As an agent enrolled before bundles were signed keeps it: no key.
    const identity: AgentIdentity = { server: url, hostId: 'h1', name: 'h1', env: 'qa', token };
    await saveIdentity(root, identity);
    const keys = await Promise.all([1, 2, 3].map(() => signingKeyOf(root, identity, {})));
    const { keyId, publicKey } = await server.app
      .inject({ url: '/api/v1/signing-key', headers: { authorization: `Bearer ${token}` } })
      .then((r) => r.json<{ keyId: string; publicKey: string }>());
    for (const key of keys) expect(keyFingerprint(key)).toBe(keyId);
    const kept = JSON.parse(await readFile(identityFile(root), 'utf8')) as AgentIdentity;
    expect(kept.signingKey).toBe(publicKey);
    expect(await readdir(path.dirname(identityFile(root)))).toEqual(['identity.json']);
  });

  it('saves at the same time without losing a save or leaving a file behind', async () => {
    const root = await mkdtemp(path.join(dir, 'agent-'));
    const identity: AgentIdentity = { server: url, hostId: 'h2', name: 'h2', env: 'qa', token };
    await Promise.all(
      ['a', 'b', 'c', 'd'].map((t) => saveIdentity(root, { ...identity, token: t })),
    );
    const kept = JSON.parse(await readFile(identityFile(root), 'utf8')) as AgentIdentity;
    expect(['a', 'b', 'c', 'd']).toContain(kept.token);
    expect((await stat(identityFile(root))).mode & 0o777).toBe(0o600);
    expect(await readdir(path.dirname(identityFile(root)))).toEqual(['identity.json']);
  });
});

describe('a new enrolment', () => {
  // A server that answers the enrolment as told: the fault injected is an
  // answer without the signing key, or with one that is not a key.
  async function enrolWith(answer: Record<string, unknown>) {
    const fake = http.createServer((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ hostId: 'h1', name: 'qa-1', token: 'host-token', ...answer }));
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-enrol-'));
    try {
      const { port } = fake.address() as AddressInfo;
      const refused = await failure(
        loadOrEnroll(root, `http://127.0.0.1:${port}`, 'enrol-token', {
          env: 'qa',
          roles: ['web'],
          name: 'qa-1',
        } as Parameters<typeof loadOrEnroll>[3]),
      );
      await expect(stat(identityFile(root))).rejects.toThrow();
      return refused;
    } finally {
      await new Promise((resolve) => fake.close(resolve));
      await rm(root, { recursive: true, force: true });
    }
  }

  it('fails when the answer has no signing key, keeping no identity', async () => {
    const refused = await enrolWith({});
    expect(refused.code).toBe('E_KEY_INVALID');
    expect(refused.message).toContain("The server's enrolment answer has no signingKey");
  });

  it('fails when the signing key is not an ed25519 key, keeping no identity', async () => {
    const refused = await enrolWith({ signingKey: 'bm90IGEga2V5' });
    expect(refused.code).toBe('E_KEY_INVALID');
    expect(refused.message).toBe(
      "The key in the server's enrolment answer (signingKey) is not an ed25519 public key (a PEM, or its 32 bytes in base64)",
    );
  });
});
