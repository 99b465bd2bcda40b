import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { FsArtifactStore } from '../src/artifacts/fs/fs-artifact-store.js';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { buildServer } from '../src/server/build-server.js';
import { serverConfigSchema } from '../src/server/server-config.js';
import { openStore } from '../src/store/open-store.js';
import { SecretBox } from '../src/store/secret-box.js';
import type { Store } from '../src/store/store.js';
import { AGENT_SOCKET_PATH } from '../src/transport/builtin/frames.js';

/**
 * A server stopping while an agent's event is half way through its handler
 * (facts recorded, their sample not yet): the handler ends before the store
 * closes, its writes whole and the event acknowledged. The server is real
 * (HTTP, the built-in transport on a real socket, a SQLite file); the one
 * fault injected is a pause in the store after the handler's first write.
 */

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** The store, with `hosts.setFacts` waiting for `gate` once it has written. */
function pausingAfterFacts(store: Store, reached: () => void, gate: Promise<void>): Store {
  const hosts = new Proxy(store.hosts, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (property === 'setFacts')
        return async (...args: Parameters<Store['hosts']['setFacts']>) => {
          await target.setFacts(...args);
          reached();
          await gate;
        };
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  return new Proxy(store, {
    get(target, property) {
      if (property === 'hosts') return hosts;
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

describe('a server stopping while an agent event is being handled', () => {
  it('lets the handler finish and acknowledges the event before its store closes', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-shutdown-'));
    const file = path.join(dir, 'ferry.db');
    const box = new SecretBox(randomBytes(32));
    const store = await openStore({ driver: 'sqlite', file }, box);
    await store.migrate();
    const artifacts = new FsArtifactStore(path.join(dir, 'artifacts'));
    await artifacts.init();
    let reached!: () => void;
    const halfWay = new Promise<void>((resolve) => (reached = resolve));
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const server = buildServer(serverConfigSchema.parse({ data: dir, logLevel: 'silent' }), {
      store: pausingAfterFacts(store, reached, gate),
      artifacts,
    });
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = server.app.server.address() as { port: number };
    const url = `http://127.0.0.1:${port}`;

    const admin = (await server.tokens.create({ role: 'admin' }, null)).token;
    const enrolment = (await server.tokens.create({ role: 'agent', env: 'dev' }, null)).token;
    const answer = await fetch(`${url}/api/v1/agents/enroll`, {
      method: 'POST',
      headers: { authorization: `Bearer ${enrolment}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'dev-1', env: 'dev', roles: ['web'], vars: {} }),
    });
    expect(answer.status).toBe(201);
    const enrolled = (await answer.json()) as { hostId: string; token: string };

    const ws = new WebSocket(`ws://127.0.0.1:${port}${AGENT_SOCKET_PATH}`, {
      headers: { authorization: `Bearer ${enrolled.token}` },
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const acks: string[] = [];
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { kind: string; id: string };
      if (frame.kind === 'ack') acks.push(frame.id);
    });
    const id = randomUUID();
    const facts = { factsVersion: 2, memory: { totalBytes: 8e9, freeBytes: 4e9 } };
    ws.send(
      JSON.stringify({
        kind: 'event',
        message: { v: PROTOCOL_VERSION, id, type: 'facts', facts },
      }),
    );
    await halfWay;

    // As `ferry server` stops on SIGTERM: the app, then the store.
    const stopped = (async () => {
      await server.app.close();
      await store.close();
    })();
    await new Promise((r) => setTimeout(r, 300));
    // A request meanwhile is refused with a code a client knows (not Fastify's bare 503).
    const during = await fetch(`${url}/api/v1/apps`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(during.status).toBe(503);
    expect(((await during.json()) as { code: string }).code).toBe('E_SERVER_STOPPING');
    open();
    await stopped;

    expect(acks).toEqual([id]);
    const after = await openStore({ driver: 'sqlite', file }, box);
    try {
      expect((await after.hosts.get(enrolled.hostId))?.facts).toMatchObject(facts);
      // The handler's second write: made before the store closed, not cut.
      const samples = await after.hosts.listFactsSamples(enrolled.hostId, { limit: 5 });
      expect(samples.map((s) => s.facts)).toEqual([expect.objectContaining(facts)]);
    } finally {
      await after.close();
    }
  });
});
