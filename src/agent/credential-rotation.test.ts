import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CredentialRotation } from './credential-rotation.js';

const closing: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

describe('CredentialRotation, while the server restarts', () => {
  it('logs a rotation the server refused with 503 (E_SERVER_STOPPING) as a warning, and tries again', async () => {
    // A server stopping: every call answered 503 E_SERVER_STOPPING, as `build-server` does.
    let calls = 0;
    const server = http.createServer((_req, res) => {
      calls++;
      res.writeHead(503, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          code: 'E_SERVER_STOPPING',
          message: 'The server is stopping: ask again in a moment',
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closing.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-rotation-'));
    closing.push(() => rm(root, { recursive: true, force: true }));
    const logged: { level: string; message: string }[] = [];
    const rotation = new CredentialRotation({
      root,
      identity: {
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        hostId: 'host_a',
        name: 'a',
        env: 'qa',
        token: 'fak_test',
        credential: {
          rotateAt: new Date(Date.now() - 1000).toISOString(),
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        },
      },
      logger: {
        info: () => undefined,
        warn: (_details, message) => logged.push({ level: 'warn', message }),
        error: (_details, message) => logged.push({ level: 'error', message }),
      },
      retryMs: 10,
    });
    rotation.start({ useCredential: () => Promise.resolve() });
    closing.push(() => rotation.close());
    const deadline = Date.now() + 10_000;
    while (logged.length < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(logged.filter((entry) => entry.level === 'error')).toEqual([]);
    expect(logged[0]).toEqual({
      level: 'warn',
      message: 'the server is stopping or restarting: rotating the host credential again later',
    });
  });
});
