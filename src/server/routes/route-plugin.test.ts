import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsArtifactStore } from '../../artifacts/fs/fs-artifact-store.js';
import { API_PREFIX } from '../../protocol/api.js';
import { ROUTES } from '../../protocol/routes.js';
import { SecretBox } from '../../store/secret-box.js';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import { type BuiltServer, buildServer } from '../build-server.js';
import { serverConfigSchema } from '../server-config.js';
import { REVIEWED_OWN_GUARDS } from '../../../test/helpers/reviewed-roles.js';
import { guardDeclaredRoutes, OWN_GUARD_ROUTES, routePlugin } from './route-plugin.js';

describe('routes from declarations', () => {
  let dir: string;
  let store: Store;
  let server: BuiltServer;
  const registered: string[] = [];
  /** The dashboard's pages and files, outside the API. */
  const webPages: string[] = [];
  /** Routes outside the API that check a secret of their own (`/metrics`). */
  const ownGuarded: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-routes-'));
    store = await openStore(
      { driver: 'sqlite', file: path.join(dir, 'ferry.db') },
      new SecretBox(randomBytes(32)),
    );
    await store.migrate();
    const artifacts = new FsArtifactStore(path.join(dir, 'artifacts'));
    await artifacts.init();
    const config = serverConfigSchema.parse({ data: dir, logLevel: 'silent' });
    server = buildServer(config, { store, artifacts });
    // Plugins register their routes when the app gets ready: this sees each one.
    server.app.addHook('onRoute', (route) => {
      if (route.method === 'HEAD') return;
      if (route.config?.webPage === true) webPages.push(route.url);
      else if (route.config?.ownGuard !== undefined)
        ownGuarded.push(`${String(route.method)} ${route.url}`);
      else registered.push(String(route.config?.ferryRoute));
    });
    await server.app.ready();
  });

  afterAll(async () => {
    await server.app.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('registers every declared route exactly once, and no other', () => {
    expect(registered.toSorted()).toEqual(Object.keys(ROUTES).toSorted());
    // Besides the API, only the dashboard: its page and files, outside the API prefix.
    expect(webPages.toSorted()).toEqual(['/', '/*']);
    // And the routes reviewed as guarding themselves, each with how.
    expect(OWN_GUARD_ROUTES).toEqual(REVIEWED_OWN_GUARDS);
    expect(ownGuarded.toSorted()).toEqual(
      Object.values(REVIEWED_OWN_GUARDS)
        .map((r) => r.route)
        .toSorted(),
    );
  });

  it('answers each declared route at its method and path', () => {
    for (const [name, route] of Object.entries(ROUTES)) {
      expect(
        server.app.hasRoute({ method: route.method, url: `${API_PREFIX}${route.path}` }),
        name,
      ).toBe(true);
    }
  });

  it('refuses a token of a role the route does not declare, before reading the body', async () => {
    await store.environments.sync(['dev', 'qa', 'prod']);
    const made = async (role: 'admin' | 'qa' | 'agent') =>
      (await server.tokens.create({ role, ...(role === 'agent' ? { env: 'qa' } : {}) }, null))
        .token;
    const call = async (token: string, method: 'GET' | 'POST', url: string) => {
      const answer = await server.app.inject({
        method,
        url: `${API_PREFIX}${url}`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(method === 'POST' ? { payload: '{not json' } : {}),
      });
      return { status: answer.statusCode, body: answer.json<Record<string, unknown>>() };
    };
    expect(await call(await made('qa'), 'POST', '/tokens')).toEqual({
      status: 403,
      body: {
        code: 'E_FORBIDDEN',
        message: 'This call needs a token with the admin role; yours has the qa role',
        details: { needs: ['admin'], has: 'qa' },
      },
    });
    expect(await call(await made('agent'), 'GET', '/apps')).toMatchObject({
      status: 403,
      body: {
        message: "An agent token speaks only for its host: this call needs a person's token",
        details: { needs: ['admin', 'deployer', 'qa'], has: 'agent' },
      },
    });
    expect(await call(await made('admin'), 'POST', '/agents/enroll')).toMatchObject({
      status: 403,
      body: { message: expect.stringContaining('ferry tokens create --role agent') },
    });
    // A role it takes gets on to the body, and is told what is wrong with it.
    expect(await call(await made('admin'), 'POST', '/tokens')).toMatchObject({
      status: 400,
      body: { code: 'E_BAD_REQUEST' },
    });
  });

  it('refuses a route under the API that has no declaration', () => {
    const app = Fastify();
    guardDeclaredRoutes(app);
    expect(() => app.get(`${API_PREFIX}/undeclared`, () => ({}))).toThrow(
      /GET \/api\/v1\/undeclared has no declaration in protocol\/routes.ts/,
    );
    // Outside the API, only the dashboard's pages, which say so, need no declaration:
    // any other route would take any token, of any role.
    expect(() => app.get('/elsewhere', () => ({}))).toThrow(
      /GET \/elsewhere has no declaration in protocol\/routes.ts/,
    );
    expect(() => app.get('/page', { config: { webPage: true } }, () => ({}))).not.toThrow();
    // But a dashboard route, which needs no token, never lands under the API.
    expect(() => app.get(`${API_PREFIX}/page`, { config: { webPage: true } }, () => ({}))).toThrow(
      /dashboard route under the API prefix/,
    );
    expect(() => app.get('/api/*', { config: { webPage: true } }, () => ({}))).toThrow(
      /dashboard route under the API prefix/,
    );
    // A route that guards itself is only one reviewed for it, at its own path.
    expect(() =>
      app.get('/metrics', { config: { ownGuard: 'metrics' } }, () => ({})),
    ).not.toThrow();
    expect(() =>
      app.get(`${API_PREFIX}/tokens2`, { config: { ownGuard: 'metrics' } }, () => ({})),
    ).toThrow(/not the route reviewed for its own guard/);
    expect(() => app.post('/metrics', { config: { ownGuard: 'metrics' } }, () => ({}))).toThrow(
      /POST \/metrics is not the route reviewed/,
    );
  });

  it('lets no route be added to a built server that has no declaration, wherever it is', async () => {
    const config = serverConfigSchema.parse({ data: dir, logLevel: 'silent' });
    const artifacts = new FsArtifactStore(path.join(dir, 'artifacts'));
    const built = buildServer(config, { store, artifacts });
    try {
      expect(() => built.app.get('/debug/tokens', () => ({}))).toThrow(
        /GET \/debug\/tokens has no declaration in protocol\/routes.ts/,
      );
    } finally {
      await built.app.close();
    }
  });

  it('refuses a declared path registered with another method than its declaration', () => {
    const app = Fastify();
    guardDeclaredRoutes(app);
    expect(() => app.post(`${API_PREFIX}/health`, () => ({}))).toThrow(
      /POST \/api\/v1\/health has no declaration/,
    );
  });

  it('answers 500 when checked and a JSON answer is not what its route declares', async () => {
    const app = Fastify();
    app.setErrorHandler((err: { status?: number; code?: string }, _request, reply) =>
      reply.status(err.status ?? 500).send({ code: err.code }),
    );
    await app.register(routePlugin('health', { health: () => ({ ok: 'yes' }) as never }), {
      checkAnswers: true,
    });
    const answer = await app.inject({ method: 'GET', url: `${API_PREFIX}/health` });
    expect(answer.statusCode).toBe(500);
    expect(answer.json()).toEqual({ code: 'E_INTERNAL' });

    const unchecked = Fastify();
    await unchecked.register(routePlugin('health', { health: () => ({ ok: 'yes' }) as never }));
    expect((await unchecked.inject({ method: 'GET', url: `${API_PREFIX}/health` })).json()).toEqual(
      { ok: 'yes' },
    );
  });

  it('refuses a handler for a route of another feature', () => {
    const plugin = routePlugin('health', { whoami: () => ({}) } as never);
    const app = Fastify();
    void app.register(plugin);
    return expect(app.ready()).rejects.toThrow(/whoami is not declared for the health feature/);
  });
});
