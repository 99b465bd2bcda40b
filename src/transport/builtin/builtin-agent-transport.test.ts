import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { BuiltinAgentTransport } from './builtin-agent-transport.js';
import { BuiltinServerTransport } from './builtin-server-transport.js';
import { AGENT_SOCKET_PATH, PING_INTERVAL_HEADER, silenceLimitMs } from './frames.js';

const closing: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

/** A real server transport on a real HTTP server and SQLite store, closed after the test. */
async function realServer(options: { pingIntervalMs?: number } = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-agent-server-'));
  const store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
  const server = new BuiltinServerTransport({
    store,
    authenticate: () =>
      Promise.resolve({ hostId: 'host_a', problem: () => Promise.resolve(undefined) }),
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    ...options,
  });
  const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
  server.attach(httpServer);
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  closing.push(async () => {
    await server.close();
    await new Promise((resolve) => httpServer.close(resolve));
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  return { server, httpServer, url };
}

/**
 * A server that accepts agents' connections, says it pings every `pingMs`,
 * and then pings (when `pings`) or says nothing at all: a connection the
 * network lost, as the agent sees it.
 */
async function silentServer(
  pingMs: number,
  pings: boolean,
): Promise<{ url: string; connections: () => number }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: AGENT_SOCKET_PATH });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  wss.on('headers', (headers) => headers.push(`${PING_INTERVAL_HEADER}: ${pingMs}`));
  let connections = 0;
  wss.on('connection', (ws) => {
    connections += 1;
    if (!pings) return;
    const pinger = setInterval(() => ws.ping(), pingMs);
    ws.on('close', () => clearInterval(pinger));
  });
  closing.push(
    () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  );
  return {
    url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    connections: () => connections,
  };
}

function agentOf(
  server: string,
  warnings: string[],
  onConnection: (connected: boolean) => void = () => undefined,
): BuiltinAgentTransport {
  const transport = new BuiltinAgentTransport({
    server,
    token: 'fak_test',
    logger: {
      info: () => undefined,
      warn: (_details, message) => warnings.push(message),
      error: () => undefined,
    },
    initialDelayMs: 10,
    maxDelayMs: 20,
    silenceFloorMs: 150,
  });
  transport.onConnection(onConnection);
  transport.start(() => Promise.resolve());
  closing.push(() => transport.close());
  return transport;
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('BuiltinAgentTransport, a connection the server went silent on', () => {
  it('is dropped after six of its ping rounds (never under the floor) and opened again', async () => {
    const server = await silentServer(25, false);
    const warnings: string[] = [];
    agentOf(server.url, warnings);
    await until('a second connection', () => server.connections() >= 2);
    expect(warnings).toContain(
      'the server has sent nothing for too long; dropping the connection and connecting again',
    );
  });

  it('is kept while the server pings it', async () => {
    const server = await silentServer(25, true);
    const warnings: string[] = [];
    agentOf(server.url, warnings);
    await until('the connection', () => server.connections() === 1);
    // Well past the silence limit (150 ms here): pings keep it.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(server.connections()).toBe(1);
    expect(warnings).not.toContain(
      'the server has sent nothing for too long; dropping the connection and connecting again',
    );
  });

  it("is kept by the real server's pings, which it is told the interval of at the upgrade", async () => {
    const { url } = await realServer({ pingIntervalMs: 20 });
    const raw = new WebSocket(`${url.replace('http', 'ws')}${AGENT_SOCKET_PATH}`, {
      headers: { authorization: 'Bearer fak_test' },
    });
    const said = await new Promise<unknown>((resolve, reject) => {
      raw.once('upgrade', (response) => resolve(response.headers[PING_INTERVAL_HEADER]));
      raw.once('error', reject);
    });
    raw.terminate();
    expect(said).toBe('20');
    let connects = 0;
    const warnings: string[] = [];
    agentOf(url, warnings, (connected) => void (connected && connects++));
    await until('the connection', () => connects === 1);
    // Five times the silence limit (150 ms): the server's pings every 20 ms keep it.
    await new Promise((resolve) => setTimeout(resolve, 750));
    expect(connects).toBe(1);
    expect(warnings).not.toContain(
      'the server has sent nothing for too long; dropping the connection and connecting again',
    );
  });

  it('waits six ping rounds, and at least 90 s by default', () => {
    expect(silenceLimitMs(15_000)).toBe(90_000);
    expect(silenceLimitMs(60_000)).toBe(360_000);
    expect(silenceLimitMs(25, 150)).toBe(150);
  });
});

describe('BuiltinAgentTransport, refused by a server that is stopping', () => {
  it('logs the 503 (E_SERVER_STOPPING) as a warning, not an error, and connects again', async () => {
    const { server, httpServer, url } = await realServer();
    let upgrades = 0;
    httpServer.on('upgrade', () => upgrades++);
    // Stopping (its store and HTTP server still up): each upgrade is refused with E_SERVER_STOPPING.
    await server.close();
    const logged: { level: string; details: unknown; message: string }[] = [];
    const transport = new BuiltinAgentTransport({
      server: url,
      token: 'fak_test',
      logger: {
        info: () => undefined,
        warn: (details, message) => logged.push({ level: 'warn', details, message }),
        error: (details, message) => logged.push({ level: 'error', details, message }),
      },
      initialDelayMs: 10,
      maxDelayMs: 20,
    });
    transport.start(() => Promise.resolve());
    closing.push(() => transport.close());
    await until('connecting again', () => upgrades >= 3);
    expect(logged.filter((entry) => entry.level === 'error')).toEqual([]);
    expect(logged).toContainEqual({
      level: 'warn',
      details: { status: 503, code: 'E_SERVER_STOPPING' },
      message: 'the server is stopping or restarting: connecting again',
    });
  });
});
