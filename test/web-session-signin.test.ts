import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_PREFIX } from '../src/protocol/api.js';
import { openSessionServer, type SessionServer } from './helpers/session-server.js';
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
  });
}
