import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBundle } from '../src/bundle/pack.js';
import { startServer, type ServerProcess } from './helpers/ferry-process.js';
import { appTree, makeTree } from './helpers/source-tree.js';
import { harnessFetch, harnessTrust } from '../src/dev/harness-trust.js';

/**
 * Slow clients against a server with two checker threads: trickling uploads are cut
 * off with an answer, and a push that finds every checker busy is told so at once.
 */

let server: ServerProcess;

beforeAll(async () => {
  const config = path.join(await mkdtemp(path.join(os.tmpdir(), 'ferry-slow-')), 'server.yml');
  await writeFile(
    config,
    // The trickles hold their checkers for uploadIdleSeconds (their grace) and a
    // little more: the window in which a push must come and wait checkerWaitSeconds.
    'limits: { inspectorThreads: 2, uploadIdleSeconds: 4, uploadMinBytesPerSecond: 1000, checkerWaitSeconds: 1 }\n',
  );
  // At info, the server says when a push takes a checker, and how many are busy.
  server = await startServer(['--config', config, '--log-level', 'info']);
});
afterAll(async () => {
  await server?.stop();
});

let made = 0;
async function bundleOf(app: string): Promise<Buffer> {
  const root = await makeTree(appTree(app, `m${made++}`));
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'ferry-slow-')), 'b.tar.gz');
  await createBundle({ sourceDir: root, out: file });
  return readFile(file);
}

function push(body: Buffer): Promise<Response> {
  return harnessFetch(`${server.url}/api/v1/bundles`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/gzip', authorization: `Bearer ${server.adminToken}` },
    // Without an answer by then, the push waited behind the slow ones.
    signal: AbortSignal.timeout(8000),
  });
}

/** A push that sends its headers, then one byte every 500 ms; `answer` is all the server said. */
function trickle(
  body: Buffer,
  target: ServerProcess = server,
): { answer: Promise<string>; stop: () => void } {
  const { hostname, port } = new URL(target.url);
  const socket = tls.connect({
    port: Number(port),
    host: hostname,
    ...harnessTrust().tlsOptions(),
  });
  socket.write(
    `POST /api/v1/bundles HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${target.adminToken}\r\n` +
      `Content-Type: application/gzip\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  let sent = 0;
  const timer = setInterval(() => {
    if (!socket.destroyed && sent < body.length) socket.write(body.subarray(sent, ++sent));
  }, 500);
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  const closed = new Promise<string>((resolve) => {
    socket.on('close', () => {
      clearInterval(timer);
      resolve(answer);
    });
    socket.on('error', () => undefined);
  });
  return {
    answer: closed,
    stop: () => {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

/** Waits until the server logs that a push took a checker and `count` are busy. */
async function checkersBusy(count: number): Promise<void> {
  const said = () =>
    server
      .output()
      .split('\n')
      .some(
        (line) =>
          line.includes('push took a bundle checker') && line.includes(`"checkersBusy":${count},`),
      );
  const deadline = Date.now() + 10_000;
  while (!said()) {
    if (Date.now() > deadline)
      throw new Error(`the server never said ${count} checkers were busy:\n${server.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('slow uploads', () => {
  it('answers a push that finds both checkers held by trickling uploads with 503 and Retry-After, and cuts the trickles off with E_UPLOAD_STALLED', async () => {
    // Made first: a trickle's clock runs from when it takes its checker.
    const [quick, slow1, slow2] = [
      await bundleOf('quick'),
      await bundleOf('slow'),
      await bundleOf('slow'),
    ];
    const slow = [trickle(slow1), trickle(slow2)];
    try {
      // The server's word that both trickles hold a checker, however long their
      // headers took to get through a loaded machine.
      await checkersBusy(2);
      const startedAt = Date.now();
      const busy = await push(quick);
      expect(Date.now() - startedAt).toBeLessThan(5000);
      expect(busy.status).toBe(503);
      expect(Number(busy.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await busy.json()).toMatchObject({ code: 'E_SERVER_BUSY' });

      // Each trickle gets its answer, then the server closes the connection.
      for (const { answer } of slow) {
        const text = await answer;
        expect(text).toMatch(/^HTTP\/1\.1 408 /);
        const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { code: string };
        expect(body.code).toBe('E_UPLOAD_STALLED');
      }

      // The checkers are free again, and nothing of the slow pushes was kept.
      const next = await push(await bundleOf('quick'));
      expect(next.status).toBe(201);
      expect(await readdir(path.join(server.dataDir, 'bundles', 'tmp'))).toEqual([]);
      const apps = await harnessFetch(`${server.url}/api/v1/apps`, {
        headers: { authorization: `Bearer ${server.adminToken}` },
      });
      expect(((await apps.json()) as { apps: { name: string }[] }).apps.map((a) => a.name)).toEqual(
        ['quick'],
      );
    } finally {
      for (const { stop } of slow) stop();
    }
  }, 30_000);

  it('answers an upload that stops sending with E_UPLOAD_STALLED before closing it', async () => {
    const body = await bundleOf('idle');
    const { hostname, port } = new URL(server.url);
    const socket = tls.connect({
      port: Number(port),
      host: hostname,
      ...harnessTrust().tlsOptions(),
    });
    socket.write(
      `POST /api/v1/bundles HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${server.adminToken}\r\n` +
        `Content-Type: application/gzip\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    socket.write(body.subarray(0, 100));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    await new Promise<void>((resolve) => {
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({
      code: 'E_UPLOAD_STALLED',
      details: { receivedBytes: 100 },
    });
  }, 30_000);
});

describe('the overall deadline', () => {
  it('cuts off an upload that keeps sending but runs past limits.uploadMaxSeconds', async () => {
    const config = path.join(await mkdtemp(path.join(os.tmpdir(), 'ferry-slow-')), 'server.yml');
    await writeFile(
      config,
      'limits: { uploadIdleSeconds: 5, uploadMinBytesPerSecond: 1, uploadMaxSeconds: 2 }\n',
    );
    const capped = await startServer(['--config', config]);
    try {
      const startedAt = Date.now();
      const text = await trickle(await bundleOf('long'), capped).answer;
      expect(Date.now() - startedAt).toBeLessThan(6000);
      expect(text).toMatch(/^HTTP\/1\.1 408 /);
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as {
        code: string;
        message: string;
      };
      expect(body.code).toBe('E_UPLOAD_STALLED');
      expect(body.message).toContain('uploadMaxSeconds');
    } finally {
      await capped.stop();
    }
  }, 30_000);
});
