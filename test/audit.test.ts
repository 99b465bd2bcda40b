import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsArtifactStore } from '../src/artifacts/fs/fs-artifact-store.js';
import { API_PREFIX, CSRF_HEADER } from '../src/protocol/api.js';
import type { AuditEntry } from '../src/protocol/audit-api.js';
import { type BuiltServer, buildServer } from '../src/server/build-server.js';
import { serverConfigSchema } from '../src/server/server-config.js';
import type { AuditStore, NewAuditEntry } from '../src/store/store.js';
import { openSessionServer, type SessionServer } from './helpers/session-server.js';
import { STORE_DIALECTS } from './helpers/store-dialects.js';

/**
 * The audit log on a real server and store of each dialect, driven through
 * HTTP (`inject`): every write is recorded with who, from where, what and the
 * outcome, refusals included; reads are not; no body, secret, token or
 * header is kept; a store that fails or stalls neither fails nor holds up the
 * request, and its entry reaches the server's log; retention prunes.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`the audit log: ${dialect.name}`, () => {
    let under: SessionServer;
    let server: BuiltServer;

    beforeEach(async () => {
      under = await openSessionServer(dialect);
      server = under.server;
    });
    afterEach(async () => {
      await under.close();
    });

    function call(
      method: 'GET' | 'POST' | 'PUT' | 'DELETE',
      url: string,
      options: { token?: string; payload?: unknown; headers?: Record<string, string> } = {},
    ): Promise<LightMyRequestResponse> {
      return server.app.inject({
        method,
        url: `${API_PREFIX}${url}`,
        headers: {
          ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
          ...options.headers,
        },
        ...(options.payload === undefined ? {} : { payload: options.payload as object }),
      });
    }

    /** The audit log as an admin reads it, once every answered write is recorded. */
    async function audit(query = ''): Promise<AuditEntry[]> {
      await server.audit.idle();
      const answer = await call('GET', `/audit${query}`, { token: under.admin });
      expect(answer.statusCode, answer.body).toBe(200);
      return answer.json<{ entries: AuditEntry[] }>().entries;
    }

    async function token(role: string, env?: string): Promise<{ id: string; token: string }> {
      const made = await call('POST', '/tokens', {
        token: under.admin,
        payload: { role, name: `${role}-${env ?? 'any'}`, ...(env ? { env } : {}) },
      });
      expect(made.statusCode, made.body).toBe(201);
      return made.json();
    }

    it('records each write with who, from where, its target and outcome, and no read', async () => {
      await under.markCart('looks fine');
      expect((await call('GET', '/apps', { token: under.admin })).statusCode).toBe(200);
      const set = await call('PUT', '/vars', {
        token: under.admin,
        payload: { name: 'DB_PASSWORD', value: 'hunter2-secret', secret: true, env: 'qa' },
      });
      expect(set.statusCode, set.body).toBe(201);
      const ci = await token('deployer');
      expect((await call('DELETE', `/tokens/${ci.id}`, { token: under.admin })).statusCode).toBe(
        204,
      );

      const entries = await audit();
      const admin = entries[0]!.who!;
      expect(admin).toMatchObject({ name: expect.stringMatching(/^admin/), role: 'admin' });
      expect(entries.map((e) => e.action)).toEqual([
        'markVerdict',
        'setVariable',
        'createToken',
        'revokeToken',
      ]);
      expect(entries[0]).toEqual({
        id: entries[0]!.id,
        at: entries[0]!.at,
        who: { ...admin, via: 'token' },
        from: '127.0.0.1',
        action: 'markVerdict',
        method: 'POST',
        path: '/apps/:app/bundles/:version/verdict',
        target: { app: 'cart', version: 1, verdict: 'passed' },
        status: 201,
        outcome: 'ok',
        count: 1,
      });
      expect(Date.now() - Date.parse(entries[0]!.at)).toBeLessThan(60_000);
      expect(entries[1]).toMatchObject({
        target: { name: 'DB_PASSWORD', env: 'qa' },
        status: 201,
        outcome: 'ok',
      });
      expect(entries[2]).toMatchObject({
        target: { name: 'deployer-any', role: 'deployer', id: ci.id },
        outcome: 'ok',
      });
      expect(entries[3]).toMatchObject({ target: { id: ci.id }, status: 204, outcome: 'ok' });
      // Never a value, a token, a note or a header.
      const text = JSON.stringify(await audit());
      for (const secret of ['hunter2-secret', ci.token, under.admin, 'looks fine', 'Bearer'])
        expect(text).not.toContain(secret);
    });

    it('records refusals: no token, an unknown one, a role or environment not allowed, bad input', async () => {
      const qa = await token('qa');
      const deployer = await token('deployer');
      const answers = [
        await call('POST', '/tokens', { payload: { role: 'admin' } }),
        await call('POST', '/tokens', { token: 'ferry_admin_not-a-real-token', payload: {} }),
        await call('POST', '/tokens', { token: qa.token, payload: { role: 'admin' } }),
        await call('POST', '/deployments', {
          token: deployer.token,
          payload: { app: 'cart', version: 1, env: 'prod' },
        }),
        await call('POST', '/deployments', {
          token: deployer.token,
          payload: { app: 'cart', version: 'one', env: 'qa', value: 'not kept' },
        }),
        await call('DELETE', '/hosts/nobody', { token: under.admin }),
        await call('DELETE', '/vars/REGION?env=qa', { token: qa.token }),
        await call('PUT', '/vars', { token: under.admin, payload: { name: 'DB_PASS=hunter2' } }),
        await call('DELETE', '/vars/REGION?env=qa&value=hunter3', { token: qa.token }),
      ];
      expect(answers.map((a) => a.statusCode)).toEqual([
        401, 401, 403, 403, 400, 404, 403, 400, 403,
      ]);

      const [made, ...refusals] = (await audit()).slice(1); // after the qa token made
      expect(
        refusals.map((e) => [e.action, e.who?.name ?? null, e.status, e.outcome, e.target]),
      ).toEqual([
        // Refused before the body is read: what the path says, nothing more.
        ['createToken', null, 401, 'E_AUTH_REQUIRED', {}],
        ['createToken', null, 401, 'E_AUTH_INVALID', {}],
        ['createToken', 'qa-any', 403, 'E_FORBIDDEN', {}],
        ['deploy', 'deployer-any', 403, 'E_FORBIDDEN', { app: 'cart', version: 1, env: 'prod' }],
        // A body that did not validate is not read: it may hold anything.
        ['deploy', 'deployer-any', 400, 'E_BAD_REQUEST', {}],
        ['removeHost', made!.who!.name, 404, 'E_HOST_NOT_FOUND', { host: 'nobody' }],
        // Refused before the body is read, the path and query are known.
        ['unsetVariable', 'qa-any', 403, 'E_FORBIDDEN', { name: 'REGION', env: 'qa' }],
        ['setVariable', made!.who!.name, 400, 'E_BAD_REQUEST', {}],
        // A query that does not validate is not read either; the path still is.
        ['unsetVariable', 'qa-any', 403, 'E_FORBIDDEN', { name: 'REGION' }],
      ]);
      expect(refusals.every((e) => e.from === '127.0.0.1')).toBe(true);
      expect(JSON.stringify(refusals)).not.toContain('not-a-real-token');
      expect(JSON.stringify(refusals)).not.toContain('not kept');
      expect(JSON.stringify(refusals)).not.toContain('hunter');
    });

    it('coalesces a flood of refusals without a token, answering the others meanwhile', async () => {
      const flood = Array.from({ length: 2000 }, () =>
        call('POST', '/tokens', { payload: { role: 'admin' } }),
      );
      const meanwhile = await call('GET', '/apps', { token: under.admin });
      expect(meanwhile.statusCode).toBe(200);
      expect(new Set((await Promise.all(flood)).map((a) => a.statusCode))).toEqual(new Set([401]));

      server.audit.flush(true);
      const refusals = (await audit()).filter((e) => e.outcome === 'E_AUTH_REQUIRED');
      // One for the first, then one a minute at most (the flood may straddle one).
      expect(refusals.length).toBeGreaterThanOrEqual(2);
      expect(refusals.length).toBeLessThanOrEqual(4);
      expect(refusals[0]!.count).toBe(1);
      expect(refusals.reduce((sum, e) => sum + e.count, 0)).toBe(2000);
      expect(refusals.every((e) => e.action === 'createToken' && e.from === '127.0.0.1')).toBe(
        true,
      );
    });

    it("records a dashboard session's sign-in, writes and sign-out as its token", async () => {
      const qa = await token('qa');
      const { cookie, csrf } = await under.signIn(qa.token);
      const headers = { cookie: `ferry_session=${cookie}` };
      const marked = await call('POST', '/apps/cart/bundles/1/verdict', {
        headers: { ...headers, [CSRF_HEADER]: csrf! },
        payload: { verdict: 'failed' },
      });
      expect(marked.statusCode, marked.body).toBe(201);
      const forged = await call('POST', '/apps/cart/bundles/1/verdict', {
        headers,
        payload: { verdict: 'passed' },
      });
      expect(forged.statusCode).toBe(403);
      const out = await call('DELETE', '/session', {
        headers: { ...headers, [CSRF_HEADER]: csrf! },
      });
      expect(out.statusCode).toBe(204);
      const refused = await under.signIn('ferry_qa_wrong');
      expect(refused.answer.statusCode).toBe(401);

      const entries = (await audit()).slice(1);
      const who = { tokenId: qa.id, name: 'qa-any', role: 'qa' };
      expect(entries.map((e) => [e.action, e.who, e.outcome])).toEqual([
        ['startSession', { ...who, via: 'token' }, 'ok'],
        ['markVerdict', { ...who, via: 'session' }, 'ok'],
        ['markVerdict', null, 'E_CSRF'],
        ['endSession', { ...who, via: 'session' }, 'ok'],
        ['startSession', null, 'E_AUTH_INVALID'],
      ]);
      const text = JSON.stringify(entries);
      for (const secret of [qa.token, cookie!, csrf!]) expect(text).not.toContain(secret);
    });

    it('answers the log to an admin only, since a time and of one token', async () => {
      const deployer = await token('deployer');
      expect((await call('GET', '/audit', { token: deployer.token })).json()).toMatchObject({
        code: 'E_FORBIDDEN',
      });
      const before = new Date().toISOString();
      await call('PUT', '/vars', {
        token: deployer.token,
        payload: { name: 'REGION', value: 'eu' },
      });
      await under.markCart('again');
      expect((await audit()).map((e) => e.action)).toEqual([
        'createToken',
        'setVariable',
        'markVerdict',
      ]);
      expect((await audit(`?since=${before}`)).map((e) => e.action)).toEqual([
        'setVariable',
        'markVerdict',
      ]);
      expect((await audit('?who=deployer-any')).map((e) => e.action)).toEqual(['setVariable']);
      expect((await audit(`?who=${deployer.id}`)).map((e) => e.action)).toEqual(['setVariable']);
      expect((await audit('?limit=1')).map((e) => e.action)).toEqual(['markVerdict']);
      // Whether older entries matched beyond those answered.
      const more = async (query: string) =>
        (await call('GET', `/audit${query}`, { token: under.admin })).json<{ more: boolean }>()
          .more;
      expect(await more('?limit=1')).toBe(true);
      expect(await more('?limit=3')).toBe(false);
      expect(await more('')).toBe(false);
      const bad = await call('GET', '/audit?since=yesterday', { token: under.admin });
      expect(bad.statusCode).toBe(400);
      expect(bad.json<{ message: string }>().message).toContain('since');
      // A day that does not exist is refused, not rolled over to March.
      const rolled = await call('GET', '/audit?since=2026-02-30', { token: under.admin });
      expect(rolled.statusCode).toBe(400);
      expect(rolled.json<{ message: string }>().message).toContain('since');
    });

    it('prunes the entries older than audit.retentionDays when it starts', async () => {
      const old = (days: number): NewAuditEntry => ({
        at: new Date(Date.now() - days * DAY_MS).toISOString(),
        who: null,
        from: '10.0.0.1',
        action: 'deploy',
        method: 'POST',
        path: '/deployments',
        target: { id: `${days}-days` },
        status: 401,
        outcome: 'E_AUTH_REQUIRED',
      });
      for (const days of [400, 40, 20]) await under.store.audit.record(old(days));
      await under.replica({ audit: { retentionDays: 30 } });
      expect((await audit()).map((e) => e.target.id)).toEqual(['20-days']);
    });
  });
}

describe('the audit log when its store fails', () => {
  let dir: string;
  let opened: Awaited<ReturnType<(typeof STORE_DIALECTS)[number]['open']>>;
  let server: BuiltServer;
  const lines: string[] = [];
  let failing: (entry: NewAuditEntry) => Promise<void>;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-audit-'));
    opened = await STORE_DIALECTS[0]!.open();
    const real = opened.store;
    const audit: AuditStore = {
      record: (entry) => failing(entry),
      list: (query) => real.audit.list(query),
      prune: (before) => real.audit.prune(before),
    };
    const store = new Proxy(real, {
      get: (target, property) =>
        property === 'audit' ? audit : (Reflect.get(target, property) as unknown),
    });
    lines.length = 0;
    server = buildServer(serverConfigSchema.parse({ data: dir, logLevel: 'info' }), {
      store,
      artifacts: new FsArtifactStore(path.join(dir, 'artifacts')),
      logStream: { write: (line) => void lines.push(line) },
    });
    await server.app.ready();
  });
  afterEach(async () => {
    await server.app.close();
    await opened.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers the request all the same, and writes the entry to the log instead', async () => {
    failing = () => Promise.reject(new Error('disk I/O error'));
    const admin = await server.tokens.create({ role: 'admin' }, null);
    const made = await server.app.inject({
      method: 'POST',
      url: `${API_PREFIX}/tokens`,
      headers: { authorization: `Bearer ${admin.token}` },
      payload: { role: 'qa', name: 'tester' },
    });
    expect(made.statusCode).toBe(201);
    await server.audit.idle();
    const logged = lines
      .map((line) => JSON.parse(line) as { msg: string; audit?: NewAuditEntry; err?: unknown })
      .filter((line) => line.msg === 'the audit log could not record this entry');
    expect(logged).toHaveLength(1);
    expect(logged[0]!.audit).toMatchObject({
      action: 'createToken',
      who: { name: admin.name, role: 'admin' },
      target: { name: 'tester', role: 'qa' },
      outcome: 'ok',
    });
    expect(JSON.stringify(logged[0])).toContain('disk I/O error');
    expect(lines.join('')).not.toContain(admin.token);
    expect(lines.join('')).not.toContain(made.json<{ token: string }>().token);
  });

  it('does not hold up the answer while the store takes its time', async () => {
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const written: NewAuditEntry[] = [];
    failing = async (entry) => {
      await stalled;
      written.push(entry);
    };
    const admin = await server.tokens.create({ role: 'admin' }, null);
    const made = await server.app.inject({
      method: 'POST',
      url: `${API_PREFIX}/tokens`,
      headers: { authorization: `Bearer ${admin.token}` },
      payload: { role: 'qa' },
    });
    // Answered while the entry's write is still waiting on the store.
    expect(made.statusCode).toBe(201);
    expect(written).toEqual([]);
    release();
    await server.audit.idle();
    expect(written.map((e) => e.action)).toEqual(['createToken']);
  });
});
