import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsArtifactStore } from '../src/artifacts/fs/fs-artifact-store.js';
import { streamEvents } from '../src/client/event-stream.js';
import { FerryClient } from '../src/client/ferry-client.js';
import { API_PREFIX } from '../src/protocol/api.js';
import type { FerryEvent } from '../src/protocol/events.js';
import { type BuiltServer, buildServer } from '../src/server/build-server.js';
import { serverConfigSchema } from '../src/server/server-config.js';
import type { Store } from '../src/store/store.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';
import { harnessFetch, harnessTrust } from '../src/dev/harness-trust.js';

/**
 * The dashboard's sessions on a real store of each dialect, driven in-process:
 * a person's token for an HttpOnly cookie, CSRF on every write the cookie
 * makes, sign-out, expiry and revocation, roles held through the session, and
 * the security headers on every kind of answer.
 */

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};
const COOKIE =
  /^ferry_session=([A-Za-z0-9_-]{43}); Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/;

for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`dashboard sessions (${dialect.name})`, () => {
    let opened: StoreUnderTest;
    let store: Store;
    let server: BuiltServer;
    let dir: string;
    let admin: string;
    let qa: { id: string; token: string; name: string };
    const log: string[] = [];
    /** Every secret the server was given or made: none may reach its log. */
    const secrets: string[] = [];

    function serverOver(over: Store, logTo?: string[]): BuiltServer {
      return buildServer(serverConfigSchema.parse({ data: dir, logLevel: 'info' }), {
        store: over,
        artifacts: new FsArtifactStore(path.join(dir, 'artifacts')),
        webRoot: path.join(dir, 'web'),
        logStream: { write: (line) => void logTo?.push(line) },
      });
    }

    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-session-'));
      await mkdir(path.join(dir, 'web'));
      await writeFile(path.join(dir, 'web', 'index.html'), '<!doctype html><title>Ferry</title>');
      opened = await dialect.open();
      store = opened.store;
      await store.bundles.record(
        {
          app: 'cart',
          sha256: 'a'.repeat(64),
          size: 10,
          label: null,
          commit: null,
          dirty: null,
          fileCount: 1,
          createdAt: '2024-05-01T10:00:00.000Z',
          pushedBy: 'dev',
          manifest: {},
        },
        () => Promise.resolve(),
      );
      server = serverOver(store, log);
      await server.app.ready();
      admin = (await server.tokens.create({ role: 'admin' }, null)).token;
      const made = await server.tokens.create({ role: 'qa', name: 'quinn' }, null);
      qa = { id: made.id, token: made.token, name: made.name };
      secrets.push(admin, qa.token);
    });

    afterAll(async () => {
      await server?.app.close();
      await opened?.close();
      await rm(dir, { recursive: true, force: true });
    });

    async function signIn(token: string, app = server.app) {
      const answer = await app.inject({
        method: 'POST',
        url: `${API_PREFIX}/session`,
        payload: { token },
      });
      const cookie = COOKIE.exec(String(answer.headers['set-cookie']))?.[1];
      if (cookie !== undefined) secrets.push(cookie);
      return { answer, cookie, csrf: answer.json<{ csrfToken?: string }>().csrfToken };
    }

    function withCookie(
      cookie: string | undefined,
      method: 'GET' | 'POST' | 'DELETE',
      url: string,
      options: { csrf?: string; payload?: object; headers?: Record<string, string> } = {},
      app = server.app,
    ) {
      return app.inject({
        method,
        url: `${API_PREFIX}${url}`,
        headers: {
          cookie: `theme=dark; ferry_session=${cookie}`,
          ...(options.csrf === undefined ? {} : { 'x-ferry-csrf': options.csrf }),
          ...options.headers,
        },
        ...(options.payload === undefined ? {} : { payload: options.payload }),
      });
    }

    async function verdictCount(): Promise<number> {
      const answer = await server.app.inject({
        url: `${API_PREFIX}/apps/cart/bundles/1/verdicts`,
        headers: { authorization: `Bearer ${admin}` },
      });
      return answer.json<{ verdicts: unknown[] }>().verdicts.length;
    }

    it('signs a qa person in: an HttpOnly, SameSite=Strict cookie, and an answer without the token; the cookie alone then reads the API', async () => {
      const { answer, cookie, csrf } = await signIn(qa.token);
      expect(answer.statusCode).toBe(201);
      expect(answer.headers['set-cookie']).toMatch(COOKIE);
      const body = answer.json<Record<string, unknown>>();
      expect(Object.keys(body).sort()).toEqual(
        ['csrfToken', 'env', 'expiresAt', 'name', 'role', 'version'].sort(),
      );
      expect(body).toMatchObject({ name: 'quinn', role: 'qa', env: null });
      expect(Date.parse(body.expiresAt as string) - Date.now()).toBeGreaterThan(11.9 * 3600_000);
      expect(answer.body).not.toContain(qa.token);
      expect(answer.body).not.toContain(cookie);

      const status = await withCookie(cookie, 'GET', '/status');
      expect(status.statusCode).toBe(200);
      expect(status.json()).toHaveProperty('apps');
      const session = await withCookie(cookie, 'GET', '/session');
      expect(session.statusCode).toBe(200);
      expect(session.json()).toMatchObject({ name: 'quinn', role: 'qa', csrfToken: csrf });

      // Without the cookie (or with a made-up one) the same reads are refused.
      expect((await server.app.inject({ url: `${API_PREFIX}/status` })).statusCode).toBe(401);
      const madeUp = await withCookie('x'.repeat(43), 'GET', '/status');
      expect(madeUp.statusCode).toBe(401);
      expect(madeUp.json()).toMatchObject({ code: 'E_AUTH_INVALID' });
    });

    it("refuses a cookie's write without the CSRF token, with a wrong one, or from another site; records it with the right one", async () => {
      const { cookie, csrf } = await signIn(qa.token);
      const mark = (options: { csrf?: string; headers?: Record<string, string> }) =>
        withCookie(cookie, 'POST', '/apps/cart/bundles/1/verdict', {
          ...options,
          payload: { verdict: 'passed', note: 'looks good' },
        });
      const before = await verdictCount();

      const none = await mark({});
      expect(none.statusCode).toBe(403);
      expect(none.json()).toMatchObject({
        code: 'E_CSRF',
        message: "This write came without the page's CSRF token; reload the page",
      });
      const wrong = await mark({ csrf: `${csrf!.slice(0, -1)}x` });
      expect(wrong.statusCode).toBe(403);
      expect(wrong.json()).toMatchObject({ code: 'E_CSRF' });
      const crossSite = await mark({ csrf, headers: { origin: 'https://evil.example' } });
      expect(crossSite.statusCode).toBe(403);
      expect(crossSite.json()).toMatchObject({ code: 'E_CSRF' });
      expect(await verdictCount()).toBe(before);

      const otherPort = await mark({
        csrf,
        headers: { host: 'ferry.example', origin: 'http://ferry.example:8080' },
      });
      expect(otherPort.statusCode).toBe(403);
      expect(await verdictCount()).toBe(before);

      const right = await mark({ csrf, headers: { origin: 'http://localhost' } });
      expect(right.statusCode).toBe(201);
      // The page over HTTPS through a proxy that ends TLS: the server sees plain HTTP.
      const proxied = await mark({
        csrf,
        headers: { host: 'ferry.example', origin: 'https://ferry.example' },
      });
      expect(proxied.statusCode).toBe(201);
      const { verdicts } = (await withCookie(cookie, 'GET', '/apps/cart/bundles/1/verdicts')).json<{
        verdicts: { verdict: string; by: string }[];
      }>();
      expect(verdicts.length).toBe(before + 2);
      expect(verdicts[0]).toMatchObject({ verdict: 'passed', by: 'quinn' });
    });

    it('takes a bearer write without any CSRF token, as it always did', async () => {
      const before = await verdictCount();
      const answer = await server.app.inject({
        method: 'POST',
        url: `${API_PREFIX}/apps/cart/bundles/1/verdict`,
        headers: { authorization: `Bearer ${qa.token}` },
        payload: { verdict: 'failed' },
      });
      expect(answer.statusCode).toBe(201);
      expect(await verdictCount()).toBe(before + 1);
    });

    it("holds the token's role through the session: a qa session may not promote", async () => {
      const { cookie, csrf } = await signIn(qa.token);
      const answer = await withCookie(cookie, 'POST', '/promotions', {
        csrf,
        payload: { app: 'cart', version: 1 },
      });
      expect(answer.statusCode).toBe(403);
      expect(answer.json()).toMatchObject({ code: 'E_FORBIDDEN' });
    });

    it('signs out: the cookie is cleared and the old one is refused; not without the CSRF token', async () => {
      const { cookie, csrf } = await signIn(qa.token);
      const forged = await withCookie(cookie, 'DELETE', '/session');
      expect(forged.statusCode).toBe(403);
      expect((await withCookie(cookie, 'GET', '/status')).statusCode).toBe(200);

      const out = await withCookie(cookie, 'DELETE', '/session', { csrf });
      expect(out.statusCode).toBe(204);
      expect(out.headers['set-cookie']).toBe(
        'ferry_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0',
      );
      const after = await withCookie(cookie, 'GET', '/status');
      expect(after.statusCode).toBe(401);
      expect(after.json()).toMatchObject({ code: 'E_AUTH_INVALID' });
    });

    it('refuses a session once it has expired', async () => {
      const { cookie } = await signIn(qa.token);
      expect((await withCookie(cookie, 'GET', '/status')).statusCode).toBe(200);
      // Only this session's row: the others (of other tests) must stay as they are.
      const idHash = createHash('sha256').update(cookie!).digest('hex');
      const expired = await opened
        .kysely()
        .updateTable('sessions')
        .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
        .where('id_hash', '=', idHash)
        .executeTakeFirst();
      expect(Number(expired.numUpdatedRows)).toBe(1);
      const answer = await withCookie(cookie, 'GET', '/status');
      expect(answer.statusCode).toBe(401);
      expect(answer.json()).toMatchObject({ code: 'E_AUTH_INVALID' });
    });

    it('refuses the session of a token revoked since', async () => {
      const made = await server.tokens.create({ role: 'deployer', name: 'dana' }, null);
      secrets.push(made.token);
      const { cookie } = await signIn(made.token);
      expect((await withCookie(cookie, 'GET', '/status')).statusCode).toBe(200);
      const revoked = await server.app.inject({
        method: 'DELETE',
        url: `${API_PREFIX}/tokens/${made.id}`,
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(revoked.statusCode).toBe(204);
      expect((await withCookie(cookie, 'GET', '/status')).statusCode).toBe(401);
    });

    it("refuses an agent's token, and a wrong token without repeating it; no cookie for either", async () => {
      const agent = await server.tokens.create({ role: 'agent' }, null);
      secrets.push(agent.token);
      const asAgent = await signIn(agent.token);
      expect(asAgent.answer.statusCode).toBe(403);
      expect(asAgent.answer.json()).toMatchObject({ code: 'E_FORBIDDEN' });
      expect(asAgent.answer.headers['set-cookie']).toBeUndefined();

      const typo = `${qa.token.slice(0, -3)}zzz`;
      const wrong = await signIn(typo);
      expect(wrong.answer.statusCode).toBe(401);
      expect(wrong.answer.json()).toMatchObject({ code: 'E_AUTH_INVALID' });
      expect(wrong.answer.body).not.toContain(typo);
      expect(wrong.answer.body).not.toContain(typo.slice(6, 30));
      expect(wrong.answer.headers['set-cookie']).toBeUndefined();
    });

    it('refuses a sign-in from another site', async () => {
      const answer = await server.app.inject({
        method: 'POST',
        url: `${API_PREFIX}/session`,
        headers: { origin: 'https://evil.example' },
        payload: { token: qa.token },
      });
      expect(answer.statusCode).toBe(403);
      expect(answer.json()).toMatchObject({ code: 'E_CSRF' });
      expect(answer.headers['set-cookie']).toBeUndefined();
    });

    it('takes a session made on one replica on another sharing the store', async () => {
      const { cookie, csrf } = await signIn(qa.token);
      const other = serverOver(await opened.another());
      try {
        await other.app.ready();
        const session = await withCookie(cookie, 'GET', '/session', {}, other.app);
        expect(session.statusCode).toBe(200);
        expect(session.json()).toMatchObject({ name: 'quinn', csrfToken: csrf });
        const out = await withCookie(cookie, 'DELETE', '/session', { csrf }, other.app);
        expect(out.statusCode).toBe(204);
      } finally {
        await other.app.close();
      }
      expect((await withCookie(cookie, 'GET', '/status')).statusCode).toBe(401);
    });

    it("streams events to a client that sends only the cookie, and the client's headers carry its writes", async () => {
      const { cookie, csrf } = await signIn(qa.token);
      await server.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = server.app.server.address() as AddressInfo;
      const url = `http://127.0.0.1:${port}`;
      const page = new FerryClient(url, undefined, {
        ...harnessTrust().clientOptions(),
        headers: () => ({ cookie: `ferry_session=${cookie}`, 'x-ferry-csrf': csrf! }),
      });
      const seen: FerryEvent[] = [];
      const controller = new AbortController();
      let opened!: () => void;
      const isOpen = new Promise<void>((resolve) => (opened = resolve));
      const streaming = streamEvents({
        client: page,
        query: { app: 'cart', kinds: ['verdict.changed'] },
        signal: controller.signal,
        onOpen: () => opened(),
        onEvent: (event) => {
          seen.push(event);
          return false;
        },
      });
      await isOpen;
      const marked = await page.call('markVerdict', {
        params: { app: 'cart', version: 1 },
        body: { verdict: 'passed', note: 'from the page' },
      });
      expect(marked).toMatchObject({ verdict: 'passed', by: 'quinn' });
      await streaming;
      expect(seen[0]).toMatchObject({ kind: 'verdict.changed', app: 'cart' });

      // The stream writes its own head: it carries the security headers all the same.
      const raw = new AbortController();
      const stream = await harnessFetch(`${url}${API_PREFIX}/events`, {
        headers: { cookie: `ferry_session=${cookie}` },
        signal: raw.signal,
      });
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-security-policy')).toBe(
        SECURITY_HEADERS['content-security-policy'],
      );
      expect(stream.headers.get('x-frame-options')).toBe('DENY');
      expect(stream.headers.get('cache-control')).toBe('no-store, no-transform');
      raw.abort();
      controller.abort();
    });

    it('puts the security headers on a page, an API answer, a refusal and a 404', async () => {
      const answers = {
        page: await server.app.inject({ url: '/' }),
        api: await server.app.inject({ url: `${API_PREFIX}/health` }),
        refusal: await server.app.inject({ url: `${API_PREFIX}/status` }),
        notFound: await server.app.inject({ url: `${API_PREFIX}/no/such/route` }),
        // Refused by the router itself, before any hook.
        badUrl: await server.app.inject({ url: `${API_PREFIX}/apps/%E0%A4%A/bundles` }),
      };
      expect(answers.badUrl.statusCode).toBe(400);
      expect(answers.page.statusCode).toBe(200);
      expect(answers.api.statusCode).toBe(200);
      expect(answers.refusal.statusCode).toBe(401);
      expect(answers.notFound.statusCode).toBe(404);
      for (const [which, answer] of Object.entries(answers)) {
        for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
          expect({ which, [name]: answer.headers[name] }).toEqual({ which, [name]: value });
        }
        expect({ which, cache: answer.headers['cache-control'] }).toEqual({
          which,
          cache: which === 'page' ? 'no-cache' : 'no-store',
        });
      }
    });

    it('never writes a token or a session id to its log', () => {
      const text = log.join('');
      // The log is read: it has the sign-ins above.
      expect(text).toContain('session started');
      expect(secrets.length).toBeGreaterThan(8);
      for (const secret of secrets) expect(text).not.toContain(secret);
    });
  });
}
