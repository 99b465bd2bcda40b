import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBundle } from '../src/bundle/pack.js';
import type { BundleMeta } from '../src/bundle/bundle-meta.js';
import { writeArchive } from './helpers/archive.js';
import { startServer, type ServerProcess } from './helpers/ferry-process.js';
import { appTree, makeTree } from './helpers/source-tree.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

let server: ServerProcess;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

function api(
  pathname: string,
  init: RequestInit & { token?: string | null } = {},
): Promise<Response> {
  const { token = server.adminToken, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  return harnessFetch(`${server.url}/api/v1${pathname}`, { ...rest, headers });
}

function push(body: Buffer, token?: string): Promise<Response> {
  return api('/bundles', {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/gzip' },
    ...(token === undefined ? {} : { token }),
  });
}

async function bundleOf(
  app: string,
  marker: string,
  extra: Record<string, string | Buffer> = {},
): Promise<Buffer> {
  const root = await makeTree({ ...appTree(app, marker), ...extra });
  const file = path.join(os.tmpdir(), `ferry-reg-${process.pid}-${app}-${marker}.tar.gz`);
  await createBundle({ sourceDir: root, out: file });
  return readFile(file);
}

/** Every file under the server's artifact folder: objects and temporary uploads. */
async function artifactFiles(): Promise<string[]> {
  const root = path.join(server.dataDir, 'bundles');
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { code: string }).code;
}

describe('authentication', () => {
  it('answers health without a token', async () => {
    const response = await api('/health', { token: null });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ok: true });
  });

  it('refuses a missing token and a wrong token with 401 and a message that says what to do', async () => {
    const missing = await api('/apps', { token: null });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({
      code: 'E_AUTH_REQUIRED',
      message: expect.stringContaining('token'),
    });

    const wrong = await api('/apps', { token: 'ferry_admin_not-a-real-token' });
    expect(wrong.status).toBe(401);
    expect(await errorCode(wrong)).toBe('E_AUTH_INVALID');
  });

  it('cannot be skipped by encoding the path', async () => {
    for (const pathname of [
      '/%61pi/v1/apps',
      '/api/v1/%61pps',
      '/api/v1/tokens',
      '/%61pi/v1/tokens',
    ]) {
      const response = await harnessFetch(`${server.url}${pathname}`);
      expect(response.status, pathname).toBe(401);
      expect(await errorCode(response)).toBe('E_AUTH_REQUIRED');
    }
  });

  it('keeps the admin token file private', async () => {
    const { stat } = await import('node:fs/promises');
    const mode = (await stat(path.join(server.dataDir, 'admin-token'))).mode & 0o777;
    expect(mode).toBe(0o600);
    expect(server.output()).toContain('admin-token');
  });

  it('makes tokens with roles, refuses a push by the qa role, and refuses revoked tokens', async () => {
    const created = await api('/tokens', {
      method: 'POST',
      body: JSON.stringify({ role: 'qa', name: 'alice' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(created.status).toBe(201);
    const qa = (await created.json()) as { id: string; token: string };

    const refused = await push(await bundleOf('roles', 'one'), qa.token);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({
      code: 'E_FORBIDDEN',
      message: expect.stringContaining('deployer'),
    });

    const listed = (await (await api('/tokens')).json()) as { tokens: Record<string, unknown>[] };
    expect(listed.tokens.map((t) => t.name)).toContain('alice');
    expect(JSON.stringify(listed)).not.toContain(qa.token);

    expect((await api(`/tokens/${qa.id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await errorCode(await api('/apps', { token: qa.token }))).toBe('E_AUTH_INVALID');
  });
});

describe('push, list, show, download', () => {
  it('numbers a pushed bundle and serves back the very same bytes', async () => {
    const body = await bundleOf('shop', 'v1');
    const pushed = await push(body);
    expect(pushed.status).toBe(201);
    const result = (await pushed.json()) as { created: boolean; bundle: Record<string, unknown> };
    expect(result.created).toBe(true);
    expect(result.bundle).toMatchObject({
      app: 'shop',
      version: 1,
      size: body.length,
      pushedBy: 'admin',
    });

    const apps = (await (await api('/apps')).json()) as {
      apps: { name: string; latestVersion: number }[];
    };
    expect(apps.apps).toContainEqual(
      expect.objectContaining({ name: 'shop', latestVersion: 1, bundleCount: 1 }),
    );

    const list = (await (await api('/apps/shop/bundles')).json()) as {
      bundles: { version: number }[];
    };
    expect(list.bundles.map((b) => b.version)).toEqual([1]);

    const shown = (await (await api('/apps/shop/bundles/1')).json()) as Record<string, unknown>;
    expect(shown).toMatchObject({
      app: 'shop',
      version: 1,
      sha256: result.bundle.sha256,
      fileCount: 3,
    });
    expect(shown.manifest).toMatchObject({ role: 'shop', service: { command: 'node server.js' } });

    const download = await api('/apps/shop/bundles/1/download');
    expect(download.status).toBe(200);
    expect(download.headers.get('accept-ranges')).toBe('bytes');
    expect(download.headers.get('x-ferry-sha256')).toBe(result.bundle.sha256);
    expect(Buffer.from(await download.arrayBuffer())).toEqual(body);
  });

  it('answers Range requests with exactly the bytes asked for', async () => {
    const body = await bundleOf('ranged', 'v1', { 'data.txt': 'x'.repeat(5000) });
    expect((await push(body)).status).toBe(201);
    const ranged = (range: string) =>
      api('/apps/ranged/bundles/1/download', { headers: { range } });

    const middle = await ranged('bytes=10-99');
    expect(middle.status).toBe(206);
    expect(middle.headers.get('content-range')).toBe(`bytes 10-99/${body.length}`);
    expect(Buffer.from(await middle.arrayBuffer())).toEqual(body.subarray(10, 100));

    const tail = await ranged('bytes=-16');
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(body.subarray(body.length - 16));

    const rest = await ranged(`bytes=${body.length - 5}-`);
    expect(Buffer.from(await rest.arrayBuffer())).toEqual(body.subarray(body.length - 5));

    const outside = await ranged(`bytes=${body.length}-`);
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe(`bytes */${body.length}`);
    expect(await errorCode(outside)).toBe('E_RANGE_NOT_SATISFIABLE');
  });

  it('returns the existing version when the same bundle is pushed again', async () => {
    const body = await bundleOf('retry', 'same');
    const first = (await (await push(body)).json()) as { bundle: { version: number } };
    const again = await push(body);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({
      created: false,
      bundle: { version: first.bundle.version },
    });
    const list = (await (await api('/apps/retry/bundles')).json()) as { bundles: unknown[] };
    expect(list.bundles).toHaveLength(1);
  });

  it('stores and checks a bundle many times larger than the buffers it travels through, byte for byte', async () => {
    // Incompressible files of uneven sizes: the upload passes through the
    // checker's reused 1 MiB slots many times over, and ends mid-slot.
    const body = await bundleOf('big', 'v1', {
      'assets/a.bin': randomBytes(7 * 1024 * 1024 + 3),
      'assets/b.bin': randomBytes(5 * 1024 * 1024 - 511),
      'assets/c.bin': randomBytes(9 * 1024 * 1024 + 1),
    });
    expect(body.length).toBeGreaterThan(20 * 1024 * 1024);
    const pushed = await push(body);
    expect(pushed.status).toBe(201);
    const result = (await pushed.json()) as { bundle: { sha256: string; size: number } };
    expect(result.bundle.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(result.bundle.size).toBe(body.length);
    const download = await api('/apps/big/bundles/1/download');
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(body)).toBe(true);
  });

  it('takes a bundle followed by zero padding as an unpack does: stored whole, its sha256 that of every byte', async () => {
    // More padding than the checker's ring holds: zlib's output ends with the gzip
    // data, and the rest of the upload must still be hashed and stored.
    const body = Buffer.concat([await bundleOf('padded', 'v1'), Buffer.alloc(9 * 1024 * 1024)]);
    const pushed = await push(body);
    expect(pushed.status).toBe(201);
    const result = (await pushed.json()) as { bundle: { sha256: string; size: number } };
    expect(result.bundle.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(result.bundle.size).toBe(body.length);
    const download = await api('/apps/padded/bundles/1/download');
    expect(Buffer.from(await download.arrayBuffer()).equals(body)).toBe(true);
  });

  it('gives 20 concurrent pushes of one app 20 distinct consecutive versions', async () => {
    const bodies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => bundleOf('busy', `n${i}`)),
    );
    const responses = await Promise.all(bodies.map((body) => push(body)));
    const versions = await Promise.all(
      responses.map(async (r) => {
        expect(r.status).toBe(201);
        return ((await r.json()) as { bundle: { version: number } }).bundle.version;
      }),
    );
    expect([...versions].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  it('names what is missing: an unknown app or version', async () => {
    expect(await errorCode(await api('/apps/nope/bundles'))).toBe('E_APP_NOT_FOUND');
    const missing = await api('/apps/shop/bundles/99');
    expect(missing.status).toBe(404);
    expect(await errorCode(missing)).toBe('E_BUNDLE_NOT_FOUND');
  });
});

describe('refused uploads leave nothing behind', () => {
  async function expectRefused(body: Buffer, code: string, status = 400): Promise<void> {
    const before = await artifactFiles();
    const response = await push(body);
    expect(response.status).toBe(status);
    expect(await errorCode(response)).toBe(code);
    expect(await artifactFiles()).toEqual(before);
  }

  async function metaOf(app: string): Promise<BundleMeta> {
    const root = await makeTree(appTree(app, 'meta'));
    const created = await createBundle({
      sourceDir: root,
      out: path.join(os.tmpdir(), `ferry-meta-${process.pid}.tar.gz`),
    });
    return created.meta;
  }

  it('refuses a corrupt gzip', async () => {
    const body = await bundleOf('corrupt', 'v1', { 'big.txt': 'y'.repeat(100_000) });
    body.fill(0x55, 40, 200);
    await expectRefused(body, 'E_BUNDLE_NOT_GZIP');
  });

  it('refuses a bundle followed by bytes that are not zero padding at once, as an unpack would', async () => {
    const bundle = await bundleOf('trailing', 'v1');
    for (const tail of [
      randomBytes(3 * 1024 * 1024),
      Buffer.concat([Buffer.alloc(2 * 1024 * 1024), randomBytes(2 * 1024 * 1024)]),
    ]) {
      // Refused for what it is, not left to the idle deadline (E_UPLOAD_STALLED).
      await expectRefused(Buffer.concat([bundle, tail]), 'E_BUNDLE_NOT_GZIP');
    }
  });

  it('refuses a tar without ferry-bundle.json', async () => {
    await expectRefused(
      await writeArchive([{ name: 'server.js', content: 'x' }]),
      'E_BUNDLE_META_MISSING',
    );
  });

  it('refuses a bundle naming an app its manifest does not define', async () => {
    const meta = await metaOf('cart');
    const forged = { ...meta, app: 'front' };
    const body = await writeArchive([
      { name: 'ferry-bundle.json', content: JSON.stringify(forged) },
    ]);
    await expectRefused(body, 'E_BUNDLE_APP_UNDEFINED');
  });

  it('refuses an archive whose files differ from its list', async () => {
    const meta = await metaOf('cart');
    const entries = meta.files.map((f) => ({
      name: f.path,
      content: f.path === 'server.js' ? 'tampered!' : '',
    }));
    const body = await writeArchive([
      { name: 'ferry-bundle.json', content: JSON.stringify(meta) },
      ...entries,
    ]);
    await expectRefused(body, 'E_BUNDLE_CONTENT_MISMATCH');
  });

  it('refuses paths that leave the bundle and entries that are not files or links', async () => {
    const meta = await metaOf('cart');
    const escaping = {
      ...meta,
      files: [
        { type: 'file', path: '../../etc/cron.d/x', size: 1, mode: 0o644, sha256: '0'.repeat(64) },
      ],
    };
    await expectRefused(
      await writeArchive([{ name: 'ferry-bundle.json', content: JSON.stringify(escaping) }]),
      'E_BUNDLE_UNSAFE_PATH',
    );

    const linkOut = { ...meta, files: [{ type: 'symlink', path: 'etc', target: '/etc' }] };
    await expectRefused(
      await writeArchive([{ name: 'ferry-bundle.json', content: JSON.stringify(linkOut) }]),
      'E_BUNDLE_UNSAFE_PATH',
    );

    const fifo = await writeArchive([
      { name: 'ferry-bundle.json', content: JSON.stringify({ ...meta, files: [meta.files[0]] }) },
      { name: meta.files[0]!.path, type: 'fifo' },
    ]);
    await expectRefused(fifo, 'E_BUNDLE_UNSAFE_PATH');
  });

  it('refuses link chains that climb out, and entries written through a link', async () => {
    const meta = await metaOf('cart');
    const chain = {
      ...meta,
      files: [
        { type: 'symlink', path: 'p', target: 'q/..' },
        { type: 'symlink', path: 'q', target: '.' },
      ],
    };
    const body = await writeArchive([
      { name: 'ferry-bundle.json', content: JSON.stringify(chain) },
      { name: 'p', type: 'symlink', linkname: 'q/..' },
      { name: 'q', type: 'symlink', linkname: '.' },
    ]);
    await expectRefused(body, 'E_BUNDLE_UNSAFE_PATH');

    const through = {
      ...meta,
      files: [
        { type: 'symlink', path: 'lib', target: 'src' },
        { type: 'file', path: 'lib/x.js', size: 0, mode: 0o644, sha256: EMPTY_SHA256 },
      ],
    };
    const under = await writeArchive([
      { name: 'ferry-bundle.json', content: JSON.stringify(through) },
    ]);
    await expectRefused(under, 'E_BUNDLE_UNSAFE_PATH');
  });

  it('refuses a body that is not a bundle stream', async () => {
    const response = await api('/bundles', {
      method: 'POST',
      body: JSON.stringify({ app: 'cart' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      code: 'E_BAD_REQUEST',
      message: expect.stringContaining('application/gzip'),
    });
  });

  it('refuses an upload over the size limit, declared or streamed, and keeps nothing', async () => {
    const big = await startServer([], { FERRY_MAX_BUNDLE_BYTES: '2000' });
    const { randomBytes } = await import('node:crypto');
    const body = await bundleOf('large', 'v1', {
      'noise.txt': randomBytes(4000).toString('base64'),
    });
    const send = (init: RequestInit) =>
      harnessFetch(`${big.url}/api/v1/bundles`, {
        method: 'POST',
        ...init,
        headers: { 'content-type': 'application/gzip', authorization: `Bearer ${big.adminToken}` },
      });
    try {
      const declared = await send({ body });
      expect(declared.status).toBe(413);
      expect(await errorCode(declared)).toBe('E_BUNDLE_TOO_LARGE');

      // Without a Content-Length the server finds out only while reading, and cuts the upload off.
      const streamed = await send({
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(body);
            controller.close();
          },
        }),
        duplex: 'half',
      }).then(
        (r) => r.status,
        () => 'cut off',
      );
      expect([413, 'cut off']).toContain(streamed);
      const left = await readdir(path.join(big.dataDir, 'bundles'), {
        recursive: true,
        withFileTypes: true,
      });
      expect(left.filter((e) => e.isFile())).toEqual([]);
    } finally {
      await big.stop();
    }
  });

  it('cuts off an upload that stalls, so it does not hold the checker for ever', async () => {
    const { writeFile } = await import('node:fs/promises');
    const config = path.join(os.tmpdir(), `ferry-stall-${process.pid}.yml`);
    await writeFile(config, 'limits: { uploadIdleSeconds: 1, inspectorThreads: 1 }\n');
    const slow = await startServer(['--config', config]);
    try {
      const body = await bundleOf('stalled', 'v1');
      const { port, hostname } = new URL(slow.url);
      const socket = net.connect(Number(port), hostname);
      socket.write(
        `POST /api/v1/bundles HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${slow.adminToken}\r\n` +
          `Content-Type: application/gzip\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      socket.write(body.subarray(0, 100));
      // The server answers before it closes: read the answer, so the close is seen.
      socket.resume();
      const closed = await new Promise<boolean>((resolve) => {
        socket.on('close', () => resolve(true));
        socket.on('error', () => resolve(true));
        setTimeout(() => resolve(false), 10_000);
      });
      expect(closed).toBe(true);
      // The one checker thread is free again: a normal push goes through.
      const next = await harnessFetch(`${slow.url}/api/v1/bundles`, {
        method: 'POST',
        body: await bundleOf('stalled', 'v2'),
        headers: { 'content-type': 'application/gzip', authorization: `Bearer ${slow.adminToken}` },
      });
      expect(next.status).toBe(201);
      const tmp = await readdir(path.join(slow.dataDir, 'bundles', 'tmp'));
      expect(tmp).toEqual([]);
    } finally {
      await slow.stop();
    }
  });

  it('keeps no record and no file when the client aborts mid-upload', async () => {
    const body = await bundleOf('aborted', 'v1', {
      'data.bin': Buffer.alloc(4 * 1024 * 1024, 7).toString('base64'),
    });
    const before = await artifactFiles();
    const { port, hostname } = new URL(server.url);
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(Number(port), hostname, () => {
        socket.write(
          `POST /api/v1/bundles HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${server.adminToken}\r\n` +
            `Content-Type: application/gzip\r\nContent-Length: ${body.length}\r\n\r\n`,
        );
        socket.write(body.subarray(0, Math.floor(body.length / 2)), () => {
          // Give the server time to start writing the temporary file, then vanish.
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 300);
        });
      });
      socket.on('error', reject);
    });
    // The server notices the reset and cleans up; poll briefly for that.
    for (let i = 0; i < 50 && (await artifactFiles()).length !== before.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await artifactFiles()).toEqual(before);
    expect(await errorCode(await api('/apps/aborted/bundles'))).toBe('E_APP_NOT_FOUND');
  });
});
