import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_PREFIX } from '../src/protocol/api.js';
import {
  CLEARED_COOKIE,
  openSessionServer,
  type SessionServer,
  sessionRow,
} from './helpers/session-server.js';
import { STORE_DIALECTS } from './helpers/store-dialects.js';

/**
 * How a browser's session meets what else a request carries, on a real store
 * of each dialect: a proxy's own `Authorization` header in front of the
 * server, a second sign-in over a first, sign-out of a session that already
 * ended, and what the page is told when its cookie is no good.
 */

const BASIC = `Basic ${Buffer.from('proxy-user:proxy-pass').toString('base64')}`;

for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`signing in and out (${dialect.name})`, () => {
    let s: SessionServer;
    let qa: string;

    beforeAll(async () => {
      s = await openSessionServer(dialect);
      qa = (await s.server.tokens.create({ role: 'qa', name: 'quinn' }, null)).token;
    });
    afterAll(async () => {
      await s?.close();
    });

    function call(
      method: 'GET' | 'POST' | 'DELETE',
      url: string,
      headers: Record<string, string>,
      payload?: object,
    ) {
      return s.server.app.inject({
        method,
        url: `${API_PREFIX}${url}`,
        headers,
        ...(payload === undefined ? {} : { payload }),
      });
    }

    it('behind a proxy with HTTP Basic auth, the cookie still signs the page in (and its writes still need the CSRF token); only Bearer replaces it', async () => {
      const { cookie, csrf } = await s.signIn(qa, { authorization: BASIC });
      expect(cookie).toBeDefined();
      const withBasic = { cookie: `ferry_session=${cookie}`, authorization: BASIC };

      const status = await call('GET', '/status', withBasic);
      expect(status.statusCode).toBe(200);
      const session = await call('GET', '/session', withBasic);
      expect(session.statusCode).toBe(200);
      expect(session.json()).toMatchObject({ name: 'quinn', role: 'qa' });

      const mark = (headers: Record<string, string>) =>
        call('POST', '/apps/cart/bundles/1/verdict', headers, { verdict: 'passed', note: 'ok' });
      const forged = await mark(withBasic);
      expect(forged.statusCode).toBe(403);
      expect(forged.json()).toMatchObject({ code: 'E_CSRF' });
      const marked = await mark({ ...withBasic, 'x-ferry-csrf': csrf! });
      expect(marked.statusCode).toBe(201);
      expect(marked.json()).toMatchObject({ by: 'quinn' });

      // Basic alone is no Ferry credential: the caller is told to send a Bearer token.
      const basicOnly = await call('GET', '/status', { authorization: BASIC });
      expect(basicOnly.statusCode).toBe(401);
      expect(basicOnly.json()).toMatchObject({ code: 'E_AUTH_REQUIRED' });
      // A Bearer header is the credential, whatever cookie comes with it.
      const wrongBearer = await call('GET', '/status', {
        cookie: `ferry_session=${cookie}`,
        authorization: 'Bearer ferry_qa_not-a-token',
      });
      expect(wrongBearer.statusCode).toBe(401);
      expect(wrongBearer.json()).toMatchObject({ code: 'E_AUTH_INVALID' });
    });

    it('signs out a session that had already ended (signed out elsewhere, expired, revoked): 401, and the dead cookie is cleared all the same', async () => {
      const signOut = (cookie: string, csrf: string) =>
        call('DELETE', '/session', { cookie: `ferry_session=${cookie}`, 'x-ferry-csrf': csrf });

      const twice = await s.signIn(qa);
      expect((await signOut(twice.cookie!, twice.csrf!)).statusCode).toBe(204);
      const again = await signOut(twice.cookie!, twice.csrf!);
      expect(again.statusCode).toBe(401);
      expect(again.json()).toMatchObject({ code: 'E_AUTH_INVALID' });
      expect(again.headers['set-cookie']).toBe(CLEARED_COOKIE);

      const expiring = await s.signIn(qa);
      const expired = await s.opened
        .kysely()
        .updateTable('sessions')
        .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
        .where('id_hash', '=', sessionRow(expiring.cookie!))
        .executeTakeFirst();
      expect(Number(expired.numUpdatedRows)).toBe(1);
      const afterExpiry = await signOut(expiring.cookie!, expiring.csrf!);
      expect(afterExpiry.statusCode).toBe(401);
      expect(afterExpiry.headers['set-cookie']).toBe(CLEARED_COOKIE);

      const made = await s.server.tokens.create({ role: 'qa', name: 'rita' }, null);
      const revoking = await s.signIn(made.token);
      await s.server.tokens.revoke(made.id, 'admin');
      const afterRevoke = await signOut(revoking.cookie!, revoking.csrf!);
      expect(afterRevoke.statusCode).toBe(401);
      expect(afterRevoke.headers['set-cookie']).toBe(CLEARED_COOKIE);
    });

    it("does not clear the cookie of a live session on a sign-out without the page's CSRF token, nor from another site", async () => {
      const { cookie, csrf } = await s.signIn(qa);
      const forged = await call('DELETE', '/session', { cookie: `ferry_session=${cookie}` });
      expect(forged.statusCode).toBe(403);
      expect(forged.json()).toMatchObject({ code: 'E_CSRF' });
      expect(forged.headers['set-cookie']).toBeUndefined();
      const crossSite = await call('DELETE', '/session', {
        cookie: `ferry_session=${cookie}`,
        'x-ferry-csrf': csrf!,
        origin: 'https://evil.example',
      });
      expect(crossSite.statusCode).toBe(403);
      expect(crossSite.headers['set-cookie']).toBeUndefined();
      const still = await call('GET', '/status', { cookie: `ferry_session=${cookie}` });
      expect(still.statusCode).toBe(200);
    });

    it('ends the session of the cookie a browser signs in over (not when the new sign-in fails)', async () => {
      const first = await s.signIn(qa);
      const cookie = (id: string | undefined) => ({ cookie: `theme=dark; ferry_session=${id}` });

      const wrong = await s.signIn(`${qa.slice(0, -3)}zzz`, cookie(first.cookie));
      expect(wrong.answer.statusCode).toBe(401);
      expect((await call('GET', '/status', cookie(first.cookie))).statusCode).toBe(200);

      const second = await s.signIn(qa, cookie(first.cookie));
      expect(second.answer.statusCode).toBe(201);
      expect(second.cookie).toBeDefined();
      expect(second.cookie).not.toBe(first.cookie);
      const old = await call('GET', '/status', cookie(first.cookie));
      expect(old.statusCode).toBe(401);
      expect(old.json()).toMatchObject({ code: 'E_AUTH_INVALID' });
      expect((await call('GET', '/status', cookie(second.cookie))).statusCode).toBe(200);
      const rows = await s.opened
        .kysely()
        .selectFrom('sessions')
        .select('id_hash')
        .where('id_hash', '=', sessionRow(first.cookie!))
        .execute();
      expect(rows).toEqual([]);
    });

    it("signs out the cookie's session on a bearer sign-out; a bearer sign-out without a cookie is told it has no session", async () => {
      const { cookie } = await s.signIn(qa);
      const out = await call('DELETE', '/session', {
        authorization: `Bearer ${qa}`,
        cookie: `ferry_session=${cookie}`,
      });
      expect(out.statusCode).toBe(204);
      expect(out.headers['set-cookie']).toBe(CLEARED_COOKIE);
      expect((await call('GET', '/status', { cookie: `ferry_session=${cookie}` })).statusCode).toBe(
        401,
      );

      for (const method of ['GET', 'DELETE'] as const) {
        const bare = await call(method, '/session', { authorization: `Bearer ${qa}` });
        expect(bare.statusCode).toBe(401);
        expect(bare.json()).toMatchObject({ code: 'E_AUTH_REQUIRED' });
        expect(bare.json<{ message: string }>().message).toContain('a bearer token has no session');
      }
    });

    it('tells a browser whose cookie is no good, or that is not signed in, to sign in, not how to send a bearer token', async () => {
      const bearerTalk = /Bearer|--token|FERRY_TOKEN|ferry login|CLI/;
      for (const value of ['short', `${'A'.repeat(42)}!`, '']) {
        for (const url of ['/status', '/session']) {
          const answer = await call('GET', url, { cookie: `theme=dark; ferry_session=${value}` });
          expect(answer.statusCode).toBe(401);
          expect(answer.json()).toMatchObject({ code: 'E_AUTH_INVALID' });
          const { message } = answer.json<{ message: string }>();
          expect(message).toContain('sign in again');
          expect(message).not.toMatch(bearerTalk);
        }
      }
      // The page asking who it is before anyone signed in (behind a proxy's Basic auth, too).
      const anonymous: Record<string, string>[] = [
        {},
        { authorization: BASIC },
        { cookie: 'theme=dark' },
      ];
      for (const headers of anonymous) {
        const answer = await call('GET', '/session', headers);
        expect(answer.statusCode).toBe(401);
        expect(answer.json()).toMatchObject({ code: 'E_AUTH_REQUIRED' });
        const { message } = answer.json<{ message: string }>();
        expect(message).toContain('not signed in');
        expect(message).not.toMatch(bearerTalk);
      }
      // Elsewhere, a call without any credential is still told how the CLI sends one.
      const cli = await call('GET', '/status', {});
      expect(cli.json<{ message: string }>().message).toContain('Authorization: Bearer');
    });
  });
}
