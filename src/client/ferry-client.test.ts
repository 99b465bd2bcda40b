import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releasePort, reservePort } from '../dev/port-allocator.js';
import { FerryError } from '../protocol/errors.js';
import type { BuiltServer } from '../server/build-server.js';
import { openSqliteServer, type SqliteServer } from '../../test/helpers/sqlite-server.js';
import { issueServerCertificate, makeCertificateAuthority } from '../tls/certificate-authority.js';
import { ApiError, FerryClient } from './ferry-client.js';
import { ServerTrust } from './server-trust.js';

describe('FerryClient against a real server', () => {
  let opened: SqliteServer;
  let server: BuiltServer;
  let url: string;
  let admin: string;

  beforeAll(async () => {
    opened = await openSqliteServer('ferry-client-');
    ({ server, admin } = opened);
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(() => opened.close());

  it('calls a route by name and parses its answer', async () => {
    const client = new FerryClient(`${url}/`, admin);
    expect(await client.call('whoami')).toMatchObject({ role: 'admin' });
    expect(await client.call('apps')).toEqual({ apps: [] });
    const made = await client.call('createToken', { body: { role: 'qa', name: 'q a' } });
    expect(made).toMatchObject({ role: 'qa', name: 'q a' });
    expect(await client.call('revokeToken', { params: { id: made.id } })).toBeUndefined();
  });

  it("gives the server's error as a FerryError with its code and status", async () => {
    const client = new FerryClient(url, admin);
    const missing = await client
      .call('bundle', { params: { app: 'cart', version: 12 } })
      .catch((err: unknown) => err);
    expect(missing).toBeInstanceOf(FerryError);
    expect(missing).toMatchObject({ code: 'E_APP_NOT_FOUND', status: 404 });
    const anonymous = await new FerryClient(url, undefined).call('apps').catch((e: unknown) => e);
    expect(anonymous).toMatchObject({ code: 'E_AUTH_REQUIRED' });
  });

  it('encodes path parameters and query values', () => {
    const client = new FerryClient('http://server:7400', admin);
    expect(client.url('unsetVariable', { params: { name: 'A/B' }, query: { env: 'qa' } })).toBe(
      'http://server:7400/api/v1/vars/A%2FB?env=qa',
    );
    expect(client.url('bundles', { params: { app: 'cart' }, query: { limit: undefined } })).toBe(
      'http://server:7400/api/v1/apps/cart/bundles',
    );
  });
});

describe('FerryClient against answers that are not the API', () => {
  let fake: http.Server;
  let url: string;
  let answer: { status: number; body: string };

  beforeAll(async () => {
    fake = http.createServer((_request, response) => {
      response.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body);
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => fake.close(() => resolve())));

  it("names a proxy's page by its status, which it keeps", async () => {
    answer = { status: 502, body: 'Bad Gateway' };
    const err = await new FerryClient(url, 't').call('apps').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'E_INTERNAL', status: 502, httpStatus: 502 });
    expect((err as Error).message).toBe('The server answered 502: Bad Gateway');
  });

  it('refuses an answer its schema does not describe, asking about versions', async () => {
    answer = { status: 200, body: JSON.stringify({ apps: 'none' }) };
    const err = await new FerryClient(url, 't').call('apps').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_INTERNAL', details: { notUnderstood: true } });
    expect((err as Error).message).toContain('are client and server the same Ferry version?');
  });

  it('says it cannot reach a server that is not there', async () => {
    // Reserved and never bound: nothing can be listening there meanwhile.
    const port = await reservePort();
    const gone = `http://127.0.0.1:${port}`;
    try {
      const err = await new FerryClient(gone, 't').call('apps').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_SERVER_UNREACHABLE', details: { server: gone } });
      expect((err as Error).message).toContain('ECONNREFUSED');
    } finally {
      releasePort(port);
    }
  });
});

describe("FerryClient and the server's certificate", () => {
  it('says the certificate does not name the address dialled, and which names it has, when its CA is trusted', async () => {
    const ca = await makeCertificateAuthority({ name: 'Ferry CA names', days: 1 });
    const leaf = await issueServerCertificate(ca, ['ferry.internal', '10.9.8.7'], 3_600_000);
    const server = https.createServer({ cert: leaf.cert + ca.cert, key: leaf.key }, (_q, a) =>
      a.end('{}'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const client = new FerryClient(url, 'token', ServerTrust.pinned(ca.cert).clientOptions());
      const refused = (await client.call('whoami').catch((e: unknown) => e)) as FerryError;
      expect(refused).toBeInstanceOf(FerryError);
      expect(refused.code).toBe('E_SERVER_NAME_MISMATCH');
      expect(refused.message).toContain(
        `The Ferry server at ${url} presented a certificate from the CA this client trusts, but it does not name 127.0.0.1: it names ferry.internal, 10.9.8.7.`,
      );
      expect(refused.message).toContain('`ferry server --tls-name 127.0.0.1`');
      expect(refused.message).not.toContain('pin its CA');
      expect(refused.details).toMatchObject({
        host: '127.0.0.1',
        names: ['ferry.internal', '10.9.8.7'],
      });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("gives the CLI's advice for an untrusted server, or the client's own (an agent's)", async () => {
    const ca = await makeCertificateAuthority({ name: 'Ferry CA other', days: 1 });
    const pinned = await makeCertificateAuthority({ name: 'Ferry CA pinned', days: 1 });
    const leaf = await issueServerCertificate(ca, ['127.0.0.1'], 3_600_000);
    const server = https.createServer({ cert: leaf.cert + ca.cert, key: leaf.key }, (_q, a) =>
      a.end('{}'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const trust = ServerTrust.pinned(pinned.cert).clientOptions();
      const cli = (await new FerryClient(url, 'token', trust)
        .call('whoami')
        .catch((e: unknown) => e)) as FerryError;
      expect(cli.code).toBe('E_SERVER_UNTRUSTED');
      expect(cli.message).toContain('`ferry login --join`');
      const agent = (await new FerryClient(url, 'token', {
        ...trust,
        untrustedAdvice: 'enrol this host again with a join string',
      })
        .call('whoami')
        .catch((e: unknown) => e)) as FerryError;
      expect(agent.code).toBe('E_SERVER_UNTRUSTED');
      expect(agent.message).toMatch(
        /does not trust \(.*\): enrol this host again with a join string$/,
      );
      expect(agent.message).not.toContain('ferry login');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
