import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteServer, type SqliteServer } from '../../test/helpers/sqlite-server.js';
import type { BuiltServer } from './build-server.js';
describe("revoking a host's credential", () => {
  let opened: SqliteServer;
  let server: BuiltServer;
  let admin: string;

  beforeAll(async () => {
    opened = await openSqliteServer('ferry-tokens-');
    ({ server, admin } = opened);
    await server.app.ready();
  });

  afterAll(() => opened.close());

  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, token: string, body?: object) =>
    server.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { payload: body }),
    });

  it('leaves the host alone when the row revoked is one its rotation already retired', async () => {
    const enrolment = (await server.tokens.create({ role: 'agent', env: 'qa' }, null)).token;
    const enrolled = (
      await call('POST', '/agents/enroll', enrolment, {
        name: 'qa-1',
        env: 'qa',
        roles: ['web'],
        vars: {},
      })
    ).json<{ hostId: string; token: string }>();
    const rotated = (await call('POST', '/agent/credential', enrolled.token)).json<{
      token: string;
    }>();
    // Its first use confirms it and retires the first one.
    expect((await call('POST', '/agent/credential/confirm', rotated.token)).statusCode).toBe(200);
    expect((await call('GET', '/whoami', enrolled.token)).statusCode).toBe(401);

    const rows = (await call('GET', '/tokens?all=true', admin)).json<{
      tokens: { id: string; hostId: string | null; revokedAt: string | null }[];
    }>().tokens;
    const retired = rows.find((t) => t.hostId === enrolled.hostId && t.revokedAt !== null);
    expect(retired).toBeDefined();
    // The list leaves the retired row out unless asked for all, and shows expiries.
    type Listed = {
      id: string;
      hostId: string | null;
      expiresAt: string | null;
      superseded: boolean;
    };
    const listed = (await call('GET', '/tokens', admin)).json<{ tokens: Listed[] }>().tokens;
    expect(listed.filter((t) => t.hostId === enrolled.hostId)).toEqual([
      expect.objectContaining({ superseded: false, expiresAt: expect.any(String) as string }),
    ]);
    const all = (await call('GET', '/tokens?all=true', admin)).json<{ tokens: Listed[] }>().tokens;
    expect(all.filter((t) => t.hostId === enrolled.hostId).map((t) => t.superseded)).toEqual([
      true,
      false,
    ]);
    expect((await call('GET', '/tokens?all=yes', admin)).statusCode).toBe(400);
    // Tidying the retired row is answered as done, and cuts nothing off.
    expect((await call('DELETE', `/tokens/${retired!.id}`, admin)).statusCode).toBe(204);
    expect((await call('GET', '/whoami', rotated.token)).statusCode).toBe(200);
    const hosts = (await call('GET', '/hosts', admin)).json<{ hosts: { name: string }[] }>();
    expect(hosts.hosts.map((h) => h.name)).toContain('qa-1');

    // Revoking the one in use still ends it at once.
    const current = (await call('GET', '/tokens', admin))
      .json<{ tokens: { id: string; hostId: string | null; revokedAt: string | null }[] }>()
      .tokens.find((t) => t.hostId === enrolled.hostId && t.revokedAt === null);
    expect((await call('DELETE', `/tokens/${current!.id}`, admin)).statusCode).toBe(204);
    expect((await call('GET', '/whoami', rotated.token)).statusCode).toBe(401);
  });

  it("refuses a host's credential once its host is cut off, even one whose row was missed", async () => {
    const enrolment = (await server.tokens.create({ role: 'agent', env: 'qa' }, null)).token;
    const enrolled = (
      await call('POST', '/agents/enroll', enrolment, {
        name: 'qa-2',
        env: 'qa',
        roles: ['web'],
        vars: {},
      })
    ).json<{ hostId: string; token: string }>();
    const before = await server.tokens.authenticateSecret(enrolled.token);
    await opened.store.hosts.cutOff(enrolled.hostId, new Date().toISOString());
    // As if revoking the host's tokens had missed this one (made by a rotation at that moment).
    const db = new SQLite(path.join(opened.dir, 'ferry.db'));
    try {
      db.prepare('update tokens set revoked_at = null where host_id = ?').run(enrolled.hostId);
    } finally {
      db.close();
    }
    const whoami = await call('GET', '/whoami', enrolled.token);
    expect(whoami.statusCode).toBe(401);
    expect(whoami.json<{ code: string }>().code).toBe('E_AUTH_INVALID');
    // Nor does it rotate into a new one.
    await expect(server.tokens.rotateHostCredential(before)).rejects.toMatchObject({
      code: 'E_AUTH_INVALID',
    });
  });
});
