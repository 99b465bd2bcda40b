import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { keyFingerprint, parsePublicKey } from '../bundle/bundle-signature.js';
import type { BuiltServer } from '../server/build-server.js';
import {
  type CertifiedKey,
  issueServerCertificate,
  makeCertificateAuthority,
} from '../tls/certificate-authority.js';
import { caFingerprint, splitPemCertificates } from '../tls/pem.js';
import { failure } from '../../test/helpers/failure.js';
import { openSqliteServer, type SqliteServer } from '../../test/helpers/sqlite-server.js';
import {
  type AgentIdentity,
  identityFile,
  loadOrEnroll,
  signingKeyOf,
  updateIdentity,
} from './agent-identity.js';
import { CredentialRotation } from './credential-rotation.js';

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

  /** An agent enrolled with the server, as one enrolled before bundles were signed: no key. */
  async function enrolledWithoutKey(name: string) {
    const root = await mkdtemp(path.join(dir, 'agent-'));
    const enrolment = await server.tokens.create({ role: 'agent', env: 'qa' }, null);
    const { identity } = await loadOrEnroll(root, url, enrolment.token, {
      name,
      env: 'qa',
      roles: ['web'],
      vars: {},
    });
    const kept = await updateIdentity(root, (id) => {
      delete id.signingKey;
    });
    delete identity.signingKey;
    expect(kept.signingKey).toBeUndefined();
    return { root, identity };
  }

  it('is fetched once by installs that ask at the same time, and kept', async () => {
    const { root, identity } = await enrolledWithoutKey('h1');
    const keys = await Promise.all([1, 2, 3].map(() => signingKeyOf(root, identity, {})));
    const { keyId, publicKey } = await server.app
      .inject({ url: '/api/v1/signing-key', headers: { authorization: `Bearer ${token}` } })
      .then((r) => r.json<{ keyId: string; publicKey: string }>());
    for (const key of keys) expect(keyFingerprint(key)).toBe(keyId);
    const kept = JSON.parse(await readFile(identityFile(root), 'utf8')) as AgentIdentity;
    expect(kept.signingKey).toBe(publicKey);
    expect(await readdir(path.dirname(identityFile(root)))).toEqual(['identity.json']);
  });

  it('keeps both a rotated credential and a fetched key when their answers come at once', async () => {
    const { root, identity } = await enrolledWithoutKey('h2');
    const before = identity.token;
    // Both answers are held until both have come, then handed on together: each
    // write of identity.json then starts before the other has ended.
    let arrived = 0;
    let release!: () => void;
    const together = new Promise<void>((resolve) => (release = resolve));
    const heldFetch: typeof fetch = async (input, init) => {
      const answer = await fetch(input, init);
      const body = await answer.text();
      if (++arrived === 2) release();
      await together;
      return new Response(body, { status: answer.status, headers: answer.headers });
    };
    const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const rotation = new CredentialRotation({
      root,
      identity,
      logger,
      clientOptions: { fetch: heldFetch },
    });
    const [, key] = await Promise.all([
      rotation.rotate(),
      signingKeyOf(root, identity, { fetch: heldFetch }),
    ]);
    const kept = JSON.parse(await readFile(identityFile(root), 'utf8')) as AgentIdentity;
    expect(kept.token).not.toBe(before);
    expect(kept.token).toBe(identity.token);
    expect(kept.credential).toEqual(identity.credential);
    expect(kept.signingKey).toBeDefined();
    expect(keyFingerprint(parsePublicKey(kept.signingKey!, 'kept'))).toBe(keyFingerprint(key));
    expect((await stat(identityFile(root))).mode & 0o777).toBe(0o600);
    expect(await readdir(path.dirname(identityFile(root)))).toEqual(['identity.json']);
  });

  it('applies changes queued at the same time one after the other, losing none', async () => {
    const { root } = await enrolledWithoutKey('h3');
    await Promise.all(
      ['a', 'b', 'c', 'd'].map((t) => updateIdentity(root, (id) => ({ ...id, [`extra-${t}`]: t }))),
    );
    const kept = JSON.parse(await readFile(identityFile(root), 'utf8')) as Record<string, string>;
    for (const t of ['a', 'b', 'c', 'd']) expect(kept[`extra-${t}`]).toBe(t);
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

describe("the server's CA an agent pinned", () => {
  let ca: CertifiedKey;
  let fake: https.Server;
  let url: string;
  let roots: string[] = [];

  beforeAll(async () => {
    ca = await makeCertificateAuthority({ name: 'Ferry CA pin-test', days: 1 });
    const leaf = await issueServerCertificate(ca, ['127.0.0.1'], 3_600_000);
    const signingKey = generateKeyPairSync('ed25519')
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    // A server that answers every enrolment; the CA is what is under test.
    fake = https.createServer({ cert: leaf.cert + ca.cert, key: leaf.key }, (_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ hostId: 'h1', name: 'qa-1', token: 'host-token', signingKey }));
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => fake.close(resolve));
    for (const root of roots) await rm(root, { recursive: true, force: true });
    roots = [];
  });

  const body = { env: 'qa', roles: ['web'], name: 'qa-1', vars: {} };

  async function enrolled() {
    const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-pin-'));
    roots.push(root);
    const first = await loadOrEnroll(root, url, 'enrol-token', body, caFingerprint(ca.cert));
    expect(first.enrolled).toBe(true);
    return { root, identity: first.identity };
  }

  it('is named in identity.json at enrolment, and trusted alone after a restart', async () => {
    const { root, identity } = await enrolled();
    expect(identity.serverCa).toBe(caFingerprint(ca.cert));
    const kept = JSON.parse(await readFile(identityFile(root), 'utf8')) as AgentIdentity;
    expect(kept.serverCa).toBe(caFingerprint(ca.cert));
    const again = await loadOrEnroll(root, url, undefined, body);
    expect(again.enrolled).toBe(false);
    expect(again.trust.ca).toBe(ca.cert);
  });

  it("stops the agent when server-ca.pem is gone, instead of trusting the system's store", async () => {
    const { root } = await enrolled();
    await rm(path.join(root, 'agent', 'server-ca.pem'));
    const refused = await failure(loadOrEnroll(root, url, undefined, body));
    expect(refused.code).toBe('E_PINNED_CA_MISSING');
    expect(refused.message).toContain(`pinned the server's CA ${caFingerprint(ca.cert)}`);
    expect(refused.message).toContain(`${path.join(root, 'agent', 'server-ca.pem')} is missing`);
    expect(refused.message).toContain('enrol this host again with a join string');
    expect(refused.message).toContain('`ferry tokens create --role agent --env qa`');
  });

  it('stops the agent when server-ca.pem holds another CA', async () => {
    const { root } = await enrolled();
    const other = await makeCertificateAuthority({ name: 'Ferry CA pin-test', days: 1 });
    await writeFile(path.join(root, 'agent', 'server-ca.pem'), other.cert);
    const refused = await failure(loadOrEnroll(root, url, undefined, body));
    expect(refused.code).toBe('E_PINNED_CA_MISSING');
    expect(refused.message).toContain(`holds another CA (${caFingerprint(other.cert)})`);
  });

  it('is recorded from server-ca.pem for an agent enrolled before identity.json kept it', async () => {
    const { root } = await enrolled();
    await updateIdentity(root, (id) => {
      delete id.serverCa;
    });
    const again = await loadOrEnroll(root, url, undefined, body);
    expect(again.trust.ca).toBe(ca.cert);
    expect(again.identity.serverCa).toBe(caFingerprint(ca.cert));
    const kept = JSON.parse(await readFile(identityFile(root), 'utf8')) as AgentIdentity;
    expect(kept.serverCa).toBe(caFingerprint(ca.cert));
    // From then on, the file is needed.
    await rm(path.join(root, 'agent', 'server-ca.pem'));
    expect((await failure(loadOrEnroll(root, url, undefined, body))).code).toBe(
      'E_PINNED_CA_MISSING',
    );
  });

  it('trusts only the pinned certificate, not another CA appended to server-ca.pem', async () => {
    const { root } = await enrolled();
    const other = await makeCertificateAuthority({ name: 'Ferry CA appended', days: 1 });
    const file = path.join(root, 'agent', 'server-ca.pem');
    await writeFile(file, (await readFile(file, 'utf8')) + other.cert);
    const again = await loadOrEnroll(root, url, undefined, body);
    expect(splitPemCertificates(again.trust.ca!)).toHaveLength(1);
    expect(caFingerprint(again.trust.ca!)).toBe(caFingerprint(ca.cert));
    expect(again.trust.ca).not.toContain(other.cert.trim());
  });

  it('forgets a server-ca.pem left by a failed pinned enrolment when enrolling without a pin', async () => {
    const signingKey = generateKeyPairSync('ed25519')
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const plain = http.createServer((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ hostId: 'h2', name: 'qa-2', token: 'host-token', signingKey }));
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-pin-'));
      roots.push(root);
      await mkdir(path.join(root, 'agent'), { recursive: true });
      await writeFile(path.join(root, 'agent', 'server-ca.pem'), ca.cert, { mode: 0o600 });
      const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
      const first = await loadOrEnroll(root, plainUrl, 'enrol-token', body);
      expect(first.enrolled).toBe(true);
      expect(first.identity.serverCa).toBeUndefined();
      const again = await loadOrEnroll(root, plainUrl, undefined, body);
      expect(again.trust.ca).toBeUndefined();
      expect(again.identity.serverCa).toBeUndefined();
      expect(await readdir(path.join(root, 'agent'))).toEqual(['identity.json']);
    } finally {
      await new Promise((resolve) => plain.close(resolve));
    }
  });

  it("trusts the system's store for an agent that never pinned a CA", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-pin-'));
    roots.push(root);
    await mkdir(path.join(root, 'agent'), { recursive: true });
    const identity: AgentIdentity = { server: url, hostId: 'h', name: 'h', env: 'qa', token: 't' };
    await writeFile(identityFile(root), JSON.stringify(identity), { mode: 0o600 });
    const loaded = await loadOrEnroll(root, url, undefined, body);
    expect(loaded.trust.ca).toBeUndefined();
    expect(loaded.identity.serverCa).toBeUndefined();
  });
});

describe('the identity file on disk', () => {
  it('is flushed to disk, file and folder, when it changes', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-sync-'));
    try {
      await mkdir(path.join(root, 'agent'), { recursive: true });
      const identity: AgentIdentity = {
        server: 'x',
        hostId: 'h',
        name: 'h',
        env: 'qa',
        token: 't',
      };
      await writeFile(identityFile(root), JSON.stringify(identity), { mode: 0o600 });
      // The FileHandle class is not exported: its prototype, from a handle.
      const probe = await open(identityFile(root), 'r');
      const handleProto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
      await probe.close();
      const sync = vi.spyOn(handleProto, 'sync');
      try {
        await updateIdentity(root, (id) => {
          id.token = 'rotated';
        });
        // The new file, then the folder holding the rename.
        expect(sync).toHaveBeenCalledTimes(2);
      } finally {
        sync.mockRestore();
      }
      expect(JSON.parse(await readFile(identityFile(root), 'utf8'))).toMatchObject({
        token: 'rotated',
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it.each([
    ['empty', '', 'it is not JSON'],
    ['cut short', '{"server": "https://x", "tok', 'it is not JSON'],
    ['not an object', '[]', 'it holds no identity object'],
  ])('is named, with what to do, when it is %s', async (_what, text, problem) => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-corrupt-'));
    try {
      await mkdir(path.join(root, 'agent'), { recursive: true });
      await writeFile(identityFile(root), text, { mode: 0o600 });
      const refused = await failure(
        loadOrEnroll(root, 'https://127.0.0.1:1', undefined, {
          env: 'qa',
          roles: [],
          name: 'h',
          vars: {},
        }),
      );
      expect(refused.code).toBe('E_CONFIG_INVALID');
      expect(refused.message).toContain(
        `identity file ${identityFile(root)} is damaged: ${problem}`,
      );
      expect(refused.message).toContain('enrol this host again');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
