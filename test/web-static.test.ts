import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsArtifactStore } from '../src/artifacts/fs/fs-artifact-store.js';
import { type BuiltServer, buildServer } from '../src/server/build-server.js';
import { serverConfigSchema } from '../src/server/server-config.js';
import { defaultWebRoot } from '../src/server/web/web-root.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';

/**
 * The built dashboard as `ferry server` serves it, over real HTTP (a client
 * that sends a path as written, `..` and all): its files with their types and
 * caching, the page for every route of its own, the API's 404s left alone,
 * every way out of the web root refused, and a plain 503 when it was not built.
 */

const INDEX =
  '<!doctype html><title>Ferry</title><script type="module" src="/assets/index-3f2a.js"></script>';
const SCRIPT = 'console.log("ferry dashboard");\n';
/** Beside the web root: a request that gets out of it would show these. */
const OUTSIDE = 'OUTSIDE-THE-WEB-ROOT-5b1e';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('serving the built dashboard', () => {
  let base: string;
  let opened: StoreUnderTest;
  let server: BuiltServer;
  let port: number;

  /** A request with its path sent exactly as given. */
  function get(rawPath: string, method = 'GET'): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port, path: rawPath, method }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      });
      request.on('error', reject);
      request.end();
    });
  }

  function serverWith(webRoot: string): BuiltServer {
    return buildServer(serverConfigSchema.parse({ data: base, logLevel: 'silent' }), {
      store: opened.store,
      artifacts: new FsArtifactStore(path.join(base, 'artifacts')),
      webRoot,
    });
  }

  beforeAll(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'ferry-web-'));
    await writeFile(path.join(base, 'package.json'), `{"name":"${OUTSIDE}"}`);
    await writeFile(path.join(base, 'secret.txt'), OUTSIDE);
    const web = path.join(base, 'web');
    await mkdir(path.join(web, 'assets'), { recursive: true });
    await writeFile(path.join(web, 'index.html'), INDEX);
    await writeFile(path.join(web, 'assets', 'index-3f2a.js'), SCRIPT);
    await writeFile(path.join(web, 'assets', 'index-9c1d.css'), 'body { margin: 0 }\n');
    await writeFile(
      path.join(web, 'assets', 'logo-77aa.svg'),
      '<svg xmlns="http://www.w3.org/2000/svg"/>',
    );
    await writeFile(path.join(web, 'favicon.ico'), Buffer.from([0, 0, 1, 0]));
    await writeFile(path.join(web, '.env'), OUTSIDE);
    await symlink('/etc', path.join(web, 'etc'));
    await symlink(path.join(base, 'secret.txt'), path.join(web, 'leak.txt'));
    opened = await STORE_DIALECTS[0]!.open();
    server = serverWith(web);
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    port = (server.app.server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await server?.app.close();
    await opened?.close();
    await rm(base, { recursive: true, force: true });
  });

  it("answers / and each of the page's own routes with index.html, revalidated each time", async () => {
    for (const route of [
      '/',
      '/apps/cart',
      '/deployments/dep_x',
      '/hosts/qa-1',
      '/reports/cart/12',
      '/activity',
      '/sign-in',
      '/apps/cart?tab=verdicts',
    ]) {
      const answer = await get(route);
      expect({ route, status: answer.status, body: answer.body }).toEqual({
        route,
        status: 200,
        body: INDEX,
      });
      expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(answer.headers['cache-control']).toBe('no-cache');
      expect(answer.headers['content-security-policy']).toContain("script-src 'self'");
    }
    const head = await get('/apps/cart', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(INDEX)));
    expect(head.body).toBe('');
  });

  it('serves assets with their type, cached for good; other files revalidated; a missing asset is a 404', async () => {
    const script = await get('/assets/index-3f2a.js');
    expect(script.status).toBe(200);
    expect(script.body).toBe(SCRIPT);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(script.headers['x-content-type-options']).toBe('nosniff');
    expect((await get('/assets/index-9c1d.css')).headers['content-type']).toBe(
      'text/css; charset=utf-8',
    );
    expect((await get('/assets/logo-77aa.svg')).headers['content-type']).toBe('image/svg+xml');
    const icon = await get('/favicon.ico');
    expect(icon.headers['content-type']).toBe('image/x-icon');
    expect(icon.headers['cache-control']).toBe('no-cache');

    const missing = await get('/assets/index-0000.js');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ code: 'E_NOT_FOUND' });
  });

  it("leaves the API's paths to the API: an unknown one is its JSON 404, never the page", async () => {
    for (const route of ['/api/v1/no/such/route', '/api/elsewhere', '/%61pi/v1/nothing']) {
      const answer = await get(route);
      expect({ route, status: answer.status }).toEqual({ route, status: 404 });
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'E_NOT_FOUND' });
      expect(answer.headers['cache-control']).toBe('no-store');
    }
    // A parameter too long for any API route is the router's 414, as without the dashboard.
    const long = await get(`/api/v1/apps/${'a'.repeat(200)}/bundles`);
    expect(long.status).toBe(414);
    expect(JSON.parse(long.body)).toMatchObject({ code: 'E_URI_TOO_LONG' });
    const health = await get('/api/v1/health');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ ok: true });
  });

  it('refuses every way out of the web root: .., encoded .., a backslash, hidden files, links leading out', async () => {
    for (const route of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/%2E%2E/%2e%2e/package.json',
      '/assets/..%2f..%2fpackage.json',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/..%5cpackage.json',
      '/.env',
      '/etc/passwd',
      '/etc/hostname',
      '/leak.txt',
    ]) {
      const answer = await get(route);
      expect({ route, status: answer.status }).toEqual({ route, status: 400 });
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'E_BAD_REQUEST' });
      expect(answer.body).not.toContain(OUTSIDE);
      expect(answer.body).not.toContain('root:');
    }
  });

  it('answers 503 with a page saying to build the dashboard when there is no web root', async () => {
    const bare = serverWith(path.join(base, 'not-built'));
    try {
      for (const route of ['/', '/apps/cart']) {
        const answer = await bare.app.inject({ url: route });
        expect(answer.statusCode).toBe(503);
        expect(answer.headers['content-type']).toBe('text/plain; charset=utf-8');
        expect(answer.body).toContain('dashboard was not built');
        expect(answer.body).toContain('npm run build');
        expect(answer.headers['x-frame-options']).toBe('DENY');
      }
      expect((await bare.app.inject({ url: '/api/v1/health' })).statusCode).toBe(200);
    } finally {
      await bare.app.close();
    }
  });

  it('finds the built dashboard at <package root>/dist/web by default', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    expect(defaultWebRoot()).toBe(path.join(root, 'dist', 'web'));
  });
});
