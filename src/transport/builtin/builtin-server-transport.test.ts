import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../protocol/messages.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { BuiltinAgentTransport } from './builtin-agent-transport.js';
import { BuiltinServerTransport } from './builtin-server-transport.js';

describe('BuiltinServerTransport, a handler slower than its bound', () => {
  it('runs once: the event sent again on the next connection waits for it and is acknowledged', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-slow-handler-'));
    const store = SqliteStore.open(path.join(dir, 'ferry.db'));
    await store.migrate();
    const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const logged: string[] = [];
    const logger = {
      info: () => undefined,
      warn: () => undefined,
      error: (_details: object, message: string) => logged.push(message),
    };
    const server = new BuiltinServerTransport({
      store,
      authenticate: () =>
        Promise.resolve({ hostId: 'host-a', problem: () => Promise.resolve(undefined) }),
      logger,
      handlerTimeoutMs: 300,
    });
    server.attach(httpServer);
    // Slow, not wedged: every handling takes 600 ms (a slow disk, a long queue for the store).
    let runs = 0;
    let running = 0;
    let mostAtOnce = 0;
    server.onEvent(async () => {
      runs += 1;
      running += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      await new Promise((resolve) => setTimeout(resolve, 600));
      running -= 1;
    });
    const agent = new BuiltinAgentTransport({
      server: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`,
      token: 'fak_test',
      logger,
      initialDelayMs: 20,
      maxDelayMs: 50,
    });
    let connections = 0;
    agent.onConnection((connected) => void (connected && connections++));
    agent.start(() => Promise.resolve());
    try {
      agent.emit({
        v: PROTOCOL_VERSION,
        id: randomUUID(),
        type: 'facts',
        facts: { factsVersion: 2 },
      });
      await agent.drain();
      // Dropped once at least (the bound), acknowledged on a later connection,
      // and handled once, never beside itself.
      expect(connections).toBeGreaterThanOrEqual(2);
      expect(logged.some((m) => m.includes('still being handled after 0.3 s'))).toBe(true);
      expect(runs).toBe(1);
      expect(mostAtOnce).toBe(1);
    } finally {
      await agent.close();
      await server.close();
      await new Promise((resolve) => httpServer.close(resolve));
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
