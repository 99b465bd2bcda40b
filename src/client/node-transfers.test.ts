import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentClient } from './agent-client.js';
import { downloadBundleAttempt } from './node-transfers.js';

// A download from a real local server that stops sending part-way.

let server: http.Server;
let dir: string;
let client: AgentClient;
const body = Buffer.alloc(256 * 1024, 7);

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-download-'));
  server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-length': String(body.length) });
    // Half the body, then nothing: the connection stays open.
    response.write(body.subarray(0, body.length / 2));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new AgentClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'token');
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('downloadBundleAttempt', () => {
  it('gives up on a server that stops sending, keeping what came for the next attempt', async () => {
    const file = path.join(dir, 'bundle.partial');
    const started = Date.now();
    await expect(
      downloadBundleAttempt(client, { app: 'web', version: 1 }, file, { idleMs: 300 }),
    ).rejects.toThrow();
    // Well under the test's own timeout: the attempt did not hang.
    expect(Date.now() - started).toBeLessThan(4_000);
    const kept = await readFile(file);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.equals(body.subarray(0, kept.length))).toBe(true);
  });
});
