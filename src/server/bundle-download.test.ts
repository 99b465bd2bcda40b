import type * as NodeCrypto from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { ReadStream } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FsArtifactStore } from '../artifacts/fs/fs-artifact-store.js';
import { openSqliteServer, type SqliteServer } from '../../test/helpers/sqlite-server.js';

// Every digest the process makes is watched, so a download path that hashes the
// bundle again shows up. Tokens are hashed too (a few dozen bytes per request):
// the checks below are against the bundle's size.
const digests = vi.hoisted(() => ({
  /** Each Hash's update(data), and the one-shot hash(algorithm, data). */
  updates: [] as { mock: { calls: unknown[][] } }[],
  oneShots: [] as { mock: { calls: unknown[][] } }[],
}));
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof NodeCrypto>();
  const createHash: typeof actual.createHash = (algorithm, options) => {
    const hash = actual.createHash(algorithm, options);
    digests.updates.push(vi.spyOn(hash, 'update'));
    return hash;
  };
  const hash = vi.fn(actual.hash);
  digests.oneShots.push(hash);
  return { ...actual, default: { ...actual, createHash, hash }, createHash, hash };
});

/** The bytes hashed so far, by any digest made through `node:crypto`. */
function bytesHashed(): number {
  const size = (data: unknown) =>
    typeof data === 'string'
      ? Buffer.byteLength(data)
      : ArrayBuffer.isView(data)
        ? data.byteLength
        : 0;
  let bytes = 0;
  for (const spy of digests.updates) for (const call of spy.mock.calls) bytes += size(call[0]);
  for (const spy of digests.oneShots) for (const call of spy.mock.calls) bytes += size(call[1]);
  return bytes;
}

/** The streams the artifact store opened, to read how much of the file each read. */
const reads = vi.spyOn(FsArtifactStore.prototype, 'read');
const opened = (): ReadStream[] => reads.mock.results.map((r) => r.value as ReadStream);

const BUNDLE_MIB = 24;
let served: SqliteServer;
let url: string;
let bundle: Buffer;

beforeAll(async () => {
  served = await openSqliteServer('ferry-download-');
  url = await served.server.app.listen({ host: '127.0.0.1', port: 0 });
  // The download path serves the stored bytes as they are: they are recorded
  // here as a push would leave them (the push's own checks are tested elsewhere).
  bundle = randomBytes(BUNDLE_MIB * 1024 * 1024);
  const sha256 = createHash('sha256').update(bundle).digest('hex');
  const upload = await new FsArtifactStore(path.join(served.dir, 'artifacts')).beginUpload();
  await new Promise<void>((resolve, reject) =>
    upload.stream.on('error', reject).end(bundle, () => resolve()),
  );
  await served.store.bundles.record(
    {
      app: 'big',
      sha256,
      size: bundle.length,
      label: null,
      commit: null,
      dirty: null,
      fileCount: 1,
      createdAt: new Date().toISOString(),
      pushedBy: 'test',
      manifest: { service: { command: 'node server.js' } },
    },
    () => upload.commit(sha256),
  );
}, 60_000);

afterAll(async () => {
  await served?.close();
});

/**
 * GET the bundle's download with plain http, each on a connection of its own
 * (a reused one keeps the receive buffer the kernel grew for an earlier download);
 * the response is left unread until asked.
 */
function get(): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/api/v1/apps/big/bundles/1/download`, {
        agent: false,
        headers: { authorization: `Bearer ${served.admin}` },
      })
      .on('response', resolve)
      .on('error', reject);
  });
}

async function body(response: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('the server serving one bundle to many agents at once', () => {
  it('streams each download from the file once, and hashes none of it', async () => {
    const agents = 8;
    reads.mockClear();
    const hashedBefore = bytesHashed();
    const bodies = await Promise.all(
      Array.from({ length: agents }, async () => {
        const response = await get();
        expect(response.statusCode).toBe(200);
        expect(response.headers['x-ferry-sha256']).toMatch(/^[0-9a-f]{64}$/);
        return body(response);
      }),
    );
    for (const got of bodies) expect(got.equals(bundle)).toBe(true);
    // One read of the file per download, each of exactly its bytes: nothing reads it again to check it.
    expect(opened()).toHaveLength(agents);
    for (const stream of opened()) expect(stream.bytesRead).toBe(bundle.length);
    // The bundle was hashed at push; serving it hashes at most the requests' tokens.
    expect(bytesHashed() - hashedBefore).toBeLessThan(64 * 1024);
  });

  it('reads no further ahead of an agent that stops reading than its buffers hold', async () => {
    reads.mockClear();
    const responses = await Promise.all(Array.from({ length: 4 }, () => get()));
    for (const response of responses) response.pause();
    // The server reads until the socket pushes back, then its read stream fills
    // its buffer and stops: wait for that state, whatever the machine's speed.
    await vi.waitFor(
      () => {
        expect(opened()).toHaveLength(4);
        for (const stream of opened()) {
          expect(stream.readableFlowing).toBe(false);
          expect(stream.readableLength).toBeGreaterThanOrEqual(stream.readableHighWaterMark);
        }
      },
      { timeout: 60_000, interval: 50 },
    );
    // Each download holds its read-ahead (1 MiB) and the sockets' buffers (the
    // kernel's send buffer is at most 4 MiB here), far from the whole bundle:
    // the file is streamed, not loaded.
    for (const stream of opened()) expect(stream.bytesRead).toBeLessThan(bundle.length / 2);
    for (const response of responses) response.destroy();
  });
});
