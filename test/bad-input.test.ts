import { mkdtemp, readFile } from 'node:fs/promises';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BundleMeta } from '../src/bundle/bundle-meta.js';
import { createBundle } from '../src/bundle/pack.js';
import { readArchive, writeArchive } from './helpers/archive.js';
import { runFerry, startServer, type ServerProcess } from './helpers/ferry-process.js';
import { appTree, makeTree } from './helpers/source-tree.js';
import { harnessFetch, harnessTrust } from '../src/dev/harness-trust.js';

/**
 * Hostile input, field by field: every string a push, a token or a command line
 * carries is bounded and printable, every version is plain digits, and Fastify's own
 * refusals answer `{code, message}` with documented codes.
 */

let server: ServerProcess;

beforeAll(async () => {
  server = await startServer();
  // One bundle of `cart`, version 1, that a misread version could land on.
  expect((await push(await bundleOf('cart'))).status).toBe(201);
});
afterAll(async () => {
  await server?.stop();
});

function api(pathname: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${server.adminToken}`);
  return harnessFetch(`${server.url}/api/v1${pathname}`, { ...init, headers });
}

function push(body: Buffer, query = ''): Promise<Response> {
  return api(`/bundles${query}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/gzip' },
  });
}

let made = 0;
async function bundleOf(app: string, yml?: string): Promise<Buffer> {
  const tree = appTree(app, `m${made++}`);
  const root = await makeTree(yml === undefined ? tree : { ...tree, 'ferry.yml': yml });
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'ferry-bad-')), 'b.tar.gz');
  await createBundle({ sourceDir: root, out: file });
  return readFile(file);
}

/** A real bundle of `app` whose `ferry-bundle.json` is changed by `forge`, files intact. */
async function forged(app: string, forge: (meta: BundleMeta) => unknown): Promise<Buffer> {
  const root = await makeTree(appTree(app, `f${made++}`));
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'ferry-bad-')), 'b.tar.gz');
  await createBundle({ sourceDir: root, out: file });
  const [metaEntry, ...rest] = await readArchive(file);
  const meta = JSON.parse(metaEntry!.content.toString('utf8')) as BundleMeta;
  return writeArchive([
    { name: 'ferry-bundle.json', content: JSON.stringify(forge(meta)) },
    ...rest.map((e) => ({
      name: e.name,
      content: e.content,
      mode: e.mode,
      ...(e.type === 'symlink' ? { type: 'symlink' as const, linkname: e.linkname! } : {}),
    })),
  ]);
}

async function expectRefused(response: Response, status: number, code: string): Promise<string> {
  const body = (await response.json()) as { code: string; message: string };
  expect({ status: response.status, code: body.code }).toEqual({ status, code });
  expect(typeof body.message).toBe('string');
  return body.message;
}

describe('bundle metadata is bounded', () => {
  it('refuses a commit that is not a short hex string', async () => {
    for (const commit of ['a'.repeat(1024 * 1024), 'not-hex\u001b[2J']) {
      const body = await forged('cart', (m) => ({ ...m, git: { ...m.git, commit } }));
      const message = await expectRefused(await push(body), 400, 'E_BUNDLE_META_INVALID');
      expect(message).toContain('git.commit');
      // The refusal names the field; it does not echo a megabyte back.
      expect(message.length).toBeLessThan(2000);
    }
  });

  it('refuses a creation time with a megabyte of fractional seconds', async () => {
    const body = await forged('cart', (m) => ({
      ...m,
      createdAt: `2026-01-01T00:00:00.${'1'.repeat(1024 * 1024)}Z`,
    }));
    const message = await expectRefused(await push(body), 400, 'E_BUNDLE_META_INVALID');
    expect(message).toContain('createdAt');
  });

  it('refuses labels that are too long or hold control characters, in the bundle or ?label=', async () => {
    for (const label of ['x'.repeat(101), 'ok\u001b]0;pwned\u0007', 'two\nlines']) {
      const body = await forged('cart', (m) => ({ ...m, label }));
      await expectRefused(await push(body), 400, 'E_BUNDLE_META_INVALID');
      await expectRefused(
        await push(await bundleOf('cart'), `?label=${encodeURIComponent(label)}`),
        400,
        'E_BAD_REQUEST',
      );
    }
    const fine = await push(await bundleOf('cart'), '?label=0.4.0.0');
    expect(fine.status).toBe(201);
  });

  it("refuses a manifest role that is not a role name, and strings past the manifest's bounds", async () => {
    const role = await forged('cart', (m) => ({
      ...m,
      manifest: { apps: { cart: { ...m.manifest.apps.cart!, role: '../../x' } } },
    }));
    await expectRefused(await push(role), 400, 'E_BUNDLE_META_INVALID');

    const command = await forged('cart', (m) => ({
      ...m,
      manifest: {
        apps: {
          cart: {
            ...m.manifest.apps.cart!,
            install: ['x'.repeat(100_000)],
          },
        },
      },
    }));
    await expectRefused(await push(command), 400, 'E_BUNDLE_META_INVALID');

    const many = await forged('cart', (m) => ({
      ...m,
      manifest: {
        apps: {
          cart: { ...m.manifest.apps.cart!, exclude: Array.from({ length: 5000 }, () => 'x') },
        },
      },
    }));
    await expectRefused(await push(many), 400, 'E_BUNDLE_META_INVALID');
  });

  it('keeps listing and status working after hostile pushes', async () => {
    const list = await api('/apps/cart/bundles');
    expect(list.status).toBe(200);
    const status = await api('/status');
    expect(status.status).toBe(200);
  });
});

describe('names', () => {
  it('refuses token names that are too long or hold control characters', async () => {
    for (const name of ['n'.repeat(101), 'ci\u001b[31m', 'a\nb', 'rtl\u202eevil']) {
      const response = await api('/tokens', {
        method: 'POST',
        body: JSON.stringify({ role: 'qa', name }),
        headers: { 'content-type': 'application/json' },
      });
      await expectRefused(response, 400, 'E_BAD_REQUEST');
    }
  });
});

describe('versions are plain digits', () => {
  it('refuses 0x1, 1e0, " 1", 1.0 and +1 in a route instead of reading them as version 1', async () => {
    expect((await api('/apps/cart/bundles/1')).status).toBe(200);
    for (const version of ['0x1', '1e0', '%201', '1.0', '+1', '01', '99999999999999999999']) {
      for (const route of [
        `/apps/cart/bundles/${version}`,
        `/apps/cart/bundles/${version}/verdicts`,
      ]) {
        await expectRefused(await api(route), 400, 'E_BAD_REQUEST');
      }
    }
    await expectRefused(await api('/apps/cart/bundles?limit=0x10'), 400, 'E_BAD_REQUEST');
    await expectRefused(await api('/deployments?limit=1e3'), 400, 'E_BAD_REQUEST');
  });

  it('refuses them on the command line, before calling the server', async () => {
    const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken };
    for (const args of [
      ['deploy', 'cart@0x10', '--env', 'qa'],
      ['deploy', 'cart@1e3', '--env', 'qa'],
      ['deploy', 'cart@ 1', '--env', 'qa'],
      ['bundle', 'show', 'cart@99999999999999999999'],
      ['rollback', 'cart', '--env', 'qa', '--to', '0x10'],
      ['rollback', 'cart', '--env', 'qa', '--to', '1e3'],
      ['bundles', 'cart', '--limit', '1e3'],
      ['deployments', '--limit', '0x10'],
    ]) {
      const result = await runFerry(args, { env });
      expect({ args, code: result.code }).toEqual({ args, code: 1 });
      expect(result.stderr).toContain('E_BAD_REQUEST');
    }
  });

  it('refuses agent roles and host names that are not plain names', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-bad-agent-'));
    for (const extra of [
      ['--roles', '../../x'],
      ['--roles', 'web,Bad Role'],
      ['--roles', 'web', '--name', 'host\u001b[2J'],
    ]) {
      const result = await runFerry(
        ['agent', '--server', server.url, '--env', 'qa', '--root', root, ...extra],
        { env: { FERRY_TOKEN: 'ferry_agent_x' } },
      );
      expect({ extra, code: result.code }).toEqual({ extra, code: 1 });
      expect(result.stderr).toContain('E_CONFIG_INVALID');
    }
  });
});

describe("Fastify's own refusals answer {code, message}", () => {
  it('413 body too large, 415 media type, 400 bad JSON, 404 no route, 414 and 431 too long', async () => {
    const json = { 'content-type': 'application/json' };
    await expectRefused(
      await api('/tokens', {
        method: 'POST',
        body: JSON.stringify({ role: 'qa', name: 'x'.repeat(2 * 1024 * 1024) }),
        headers: json,
      }),
      413,
      'E_BODY_TOO_LARGE',
    );
    await expectRefused(
      await api('/tokens', {
        method: 'POST',
        body: '<role>qa</role>',
        headers: { 'content-type': 'application/xml' },
      }),
      415,
      'E_UNSUPPORTED_MEDIA_TYPE',
    );
    await expectRefused(
      await api('/tokens', { method: 'POST', body: '{"role":', headers: json }),
      400,
      'E_BAD_REQUEST',
    );
    await expectRefused(await api('/no/such/route'), 404, 'E_NOT_FOUND');
    await expectRefused(await api(`/apps/${'a'.repeat(200)}/bundles`), 414, 'E_URI_TOO_LONG');
    await expectRefused(await api('/apps/%E0%A4%A/bundles'), 400, 'E_BAD_REQUEST');

    // A request line larger than Node reads: answered before any route.
    const answer = await rawRequest(`GET /api/v1/apps/${'a'.repeat(20_000)} HTTP/1.1\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({
      code: 'E_HEADERS_TOO_LARGE',
    });
  });
});

describe('the CLI never prints a stored control character', () => {
  it('shows labels, commits and names from old records escaped in `ferry bundles` and `bundle show`', async () => {
    // A record written before labels were checked, straight into the store.
    const db = new Database(path.join(server.dataDir, 'ferry.db'));
    try {
      db.prepare(
        "UPDATE bundles SET label = ?, git_commit = ?, pushed_by = ? WHERE app = 'cart' AND version = 1",
      ).run('\u001b[2J\u001b[31mred', 'abc\u001b]0;title\u0007', 'eve\r\nroot');
    } finally {
      db.close();
    }
    const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken };
    for (const args of [
      ['bundles', 'cart'],
      ['bundle', 'show', 'cart@1'],
    ]) {
      const result = await runFerry(args, { env });
      expect(result.code).toBe(0);
      expect(result.stdout).not.toMatch(CONTROL_CHARACTERS_EXCEPT_NEWLINE);
      expect(result.stdout).toContain('\\u001b[2J');
    }
  });
});

// eslint-disable-next-line no-control-regex -- what the test looks for
const CONTROL_CHARACTERS_EXCEPT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f]/;

function rawRequest(text: string): Promise<string> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    // Over TLS, trusting the server's CA, as every client does.
    const socket = tls.connect(
      { port: Number(port), host: hostname, ...harnessTrust().tlsOptions() },
      () => socket.write(text),
    );
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', (err: Error) => (answer ? resolve(answer) : reject(err)));
  });
}
