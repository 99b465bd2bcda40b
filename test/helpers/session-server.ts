import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { FsArtifactStore } from '../../src/artifacts/fs/fs-artifact-store.js';
import { API_PREFIX } from '../../src/protocol/api.js';
import { type BuiltServer, buildServer } from '../../src/server/build-server.js';
import { serverConfigSchema } from '../../src/server/server-config.js';
import type { Store } from '../../src/store/store.js';
import type { StoreDialectCase, StoreUnderTest } from './store-dialects.js';

/** A sign-in's `Set-Cookie` over plain HTTP, with the session id in group 1. */
export const SESSION_COOKIE_SET =
  /^ferry_session=([A-Za-z0-9_-]{43}); Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/;

/** What sign-out (or any clearing of the cookie) sends over plain HTTP. */
export const CLEARED_COOKIE = 'ferry_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0';

/** A sign-in's answer, its cookie's session id and its CSRF token. */
export interface SignedIn {
  answer: LightMyRequestResponse;
  cookie: string | undefined;
  csrf: string | undefined;
}

/**
 * A server on a real store of one dialect, for the dashboard's session suites:
 * a bundle `cart@1` to mark, an admin token, and a way to sign in and to open
 * more replicas over the same store.
 */
export interface SessionServer {
  opened: StoreUnderTest;
  store: Store;
  server: BuiltServer;
  admin: string;
  /** Another replica over the same database, with its own config (closed with the rest). */
  replica(config?: Record<string, unknown>): Promise<BuiltServer>;
  signIn(
    token: string,
    headers?: Record<string, string>,
    app?: BuiltServer['app'],
  ): Promise<SignedIn>;
  /** Marks cart@1 with the admin token: an event on the stream. */
  markCart(note: string, app?: BuiltServer['app']): Promise<void>;
  close(): Promise<void>;
}

/** The sha256 of a session id: how the store names its row. */
export function sessionRow(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** Opens a store of `dialect` and a server over it with `config` on top of the defaults. */
export async function openSessionServer(
  dialect: StoreDialectCase,
  config: Record<string, unknown> = {},
): Promise<SessionServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-session-'));
  await mkdir(path.join(dir, 'web'));
  await writeFile(path.join(dir, 'web', 'index.html'), '<!doctype html><title>Ferry</title>');
  const opened = await dialect.open();
  const servers: BuiltServer[] = [];
  const build = (store: Store, overrides: Record<string, unknown>): BuiltServer => {
    const built = buildServer(
      serverConfigSchema.parse({ data: dir, logLevel: 'silent', ...overrides }),
      {
        store,
        artifacts: new FsArtifactStore(path.join(dir, 'artifacts')),
        webRoot: path.join(dir, 'web'),
      },
    );
    servers.push(built);
    return built;
  };
  await opened.store.bundles.record(
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
  const server = build(opened.store, config);
  await server.app.ready();
  const admin = (await server.tokens.create({ role: 'admin' }, null)).token;
  return {
    opened,
    store: opened.store,
    server,
    admin,
    async replica(overrides = {}) {
      const other = build(await opened.another(), overrides);
      await other.app.ready();
      return other;
    },
    async signIn(token, headers = {}, app = server.app) {
      const answer = await app.inject({
        method: 'POST',
        url: `${API_PREFIX}/session`,
        headers,
        payload: { token },
      });
      return {
        answer,
        cookie: SESSION_COOKIE_SET.exec(String(answer.headers['set-cookie']))?.[1],
        csrf: answer.json<{ csrfToken?: string }>().csrfToken,
      };
    },
    async markCart(note, app = server.app) {
      const marked = await app.inject({
        method: 'POST',
        url: `${API_PREFIX}/apps/cart/bundles/1/verdict`,
        headers: { authorization: `Bearer ${admin}` },
        payload: { verdict: 'passed', note },
      });
      if (marked.statusCode !== 201) throw new Error(`marking cart@1 failed: ${marked.body}`);
    },
    async close() {
      for (const built of servers.reverse()) await built.app.close();
      await opened.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
