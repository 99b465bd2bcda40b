import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import amqp from 'amqplib';
import { FerryError } from '../src/protocol/errors.js';
import { MAX_JOB_BYTES } from '../src/protocol/job-size.js';
import { type AgentEvent, type Job, PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { BuiltinAgentTransport } from '../src/transport/builtin/builtin-agent-transport.js';
import {
  BuiltinServerTransport,
  type BuiltinServerTransportOptions,
} from '../src/transport/builtin/builtin-server-transport.js';
import { AGENT_SOCKET_PATH } from '../src/transport/builtin/frames.js';
import { RabbitmqAgentTransport } from '../src/transport/rabbitmq/rabbitmq-agent-transport.js';
import { RabbitmqServerTransport } from '../src/transport/rabbitmq/rabbitmq-server-transport.js';
import { FinalJobError } from '../src/transport/unhandled-job.js';
import { amqpUrl as amqpUrlOf } from './helpers/services.js';
import { deleteTopology } from './helpers/rabbitmq.js';
import {
  type AgentTransport,
  type ServerTransport,
  type TransportLogger,
  WantedRefusal,
} from '../src/transport/transport.js';

/** A logger that keeps what it is told, so tests can see that bad input was reported. */
class RecordingLogger implements TransportLogger {
  readonly lines: { level: string; message: string }[] = [];
  info(_details: object, message: string): void {
    this.lines.push({ level: 'info', message });
  }
  warn(_details: object, message: string): void {
    this.lines.push({ level: 'warn', message });
  }
  error(_details: object, message: string): void {
    this.lines.push({ level: 'error', message });
  }
}

/** One transport under test: a server side that can be restarted, and agents. */
interface Harness {
  server(): ServerTransport;
  /** Stops the server side and starts a new one over the same durable state. */
  restartServer(): Promise<void>;
  agent(
    hostId: string,
    options?: { token?: string; giveUpAfterMs?: number; resendIntervalMs?: number },
  ): AgentTransport;
  /** Talks to the server side with raw frames, as a broken or hostile agent would. */
  rawAgent?(hostId: string): Promise<WebSocket>;
  /**
   * Puts a message in a host's queue as it is, past the server side's checks: a
   * job from a newer server, or one queued before jobs were bounded.
   */
  sendRaw(hostId: string, id: string, body: string): Promise<void>;
  /**
   * Built-in only: records the host as cut off in the store, as a revoke on
   * another replica does, while its credentials still pass here (the moment
   * between authentication and connection).
   */
  cutOffInStore?(hostId: string): Promise<void>;
  /** Built-in only: the host's credential stops counting (it expired), as its next check finds. */
  expireCredential?(hostId: string): void;
  /** What the logs say when an agent's credentials are refused. */
  refusal: string;
  logger: RecordingLogger;
  stop(): Promise<void>;
}

const TOKENS: Record<string, string> = { 'host-a': 'token-a', 'host-b': 'token-b' };

async function builtinHarness(
  options: Partial<BuiltinServerTransportOptions> = {},
): Promise<Harness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-transport-'));
  const store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
  const logger = new RecordingLogger();
  const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  const expired = new Set<string>();
  const authenticate = (header: string | undefined) => {
    const token = header?.replace(/^Bearer /, '');
    const host = Object.entries(TOKENS).find(([, t]) => t === token)?.[0];
    if (!host) return Promise.reject(new FerryError('E_AUTH_INVALID', 'unknown agent token'));
    return Promise.resolve({
      hostId: host,
      problem: () =>
        Promise.resolve(
          expired.has(host) ? new FerryError('E_CREDENTIAL_EXPIRED', 'it expired') : undefined,
        ),
    });
  };
  const make = () => {
    const transport = new BuiltinServerTransport({
      store,
      authenticate,
      logger,
      pingIntervalMs: 1000,
      credentialCheckMs: 100,
      // Tests whose handlers never end stop after a second, not the default five.
      stopWaitMs: 1000,
      ...options,
    });
    transport.attach(httpServer);
    return transport;
  };
  let server = make();
  const agents: AgentTransport[] = [];
  return {
    server: () => server,
    async restartServer() {
      httpServer.removeAllListeners('upgrade');
      await server.close();
      server = make();
    },
    agent(hostId, options = {}) {
      const agent = new BuiltinAgentTransport({
        server: url,
        token: options.token ?? TOKENS[hostId]!,
        logger,
        initialDelayMs: 50,
        maxDelayMs: 200,
        retryDelayMs: 50,
        ...(options.giveUpAfterMs === undefined ? {} : { giveUpAfterMs: options.giveUpAfterMs }),
        ...(options.resendIntervalMs === undefined
          ? {}
          : { resendIntervalMs: options.resendIntervalMs }),
      });
      agents.push(agent);
      return agent;
    },
    async rawAgent(hostId) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${AGENT_SOCKET_PATH}`, {
        headers: { authorization: `Bearer ${TOKENS[hostId]}` },
      });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      return ws;
    },
    sendRaw: (hostId, id, body) => store.outbox.enqueue(hostId, { id, body }),
    expireCredential: (hostId) => void expired.add(hostId),
    async cutOffInStore(hostId) {
      await store.hosts.create({ id: hostId, name: hostId, env: 'qa', roles: [], vars: {} });
      await store.hosts.cutOff(hostId, new Date().toISOString());
    },
    refusal: 'refused the agent connection',
    logger,
    async stop() {
      await Promise.all(agents.map((a) => a.close()));
      await server.close();
      await new Promise((resolve) => httpServer.close(resolve));
      await store.close();
    },
  };
}

/**
 * RabbitMQ, on the real broker of `FERRY_TEST_AMQP_URL`, under a topology prefix
 * of its own so that suites running at once do not share queues; the queues and
 * exchanges are deleted afterwards. An agent's "token" is its broker password.
 */
function rabbitmqHarness(): Promise<Harness> {
  const url = amqpUrl!;
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const logger = new RecordingLogger();
  const hosts = Object.keys(TOKENS);
  const make = () =>
    new RabbitmqServerTransport({
      url,
      logger,
      prefix,
      hostIds: () => Promise.resolve(hosts),
      hostName: (hostId) => Promise.resolve(hostId),
      presenceIntervalMs: 100,
      stopWaitMs: 1000,
    });
  let server = make();
  const agents: AgentTransport[] = [];
  return Promise.resolve({
    server: () => server,
    async restartServer() {
      await server.close();
      server = make();
    },
    agent(hostId, options = {}) {
      const withPassword = new URL(url);
      if (options.token !== undefined) withPassword.password = options.token;
      const agent = new RabbitmqAgentTransport({
        url: withPassword.toString(),
        hostId,
        logger,
        prefix,
        retryDelayMs: 50,
        ...(options.giveUpAfterMs === undefined ? {} : { giveUpAfterMs: options.giveUpAfterMs }),
      });
      agents.push(agent);
      return agent;
    },
    async sendRaw(hostId, _id, body) {
      const connection = await amqp.connect(url);
      try {
        const channel = await connection.createConfirmChannel();
        await channel.assertQueue(`${prefix}.host.${hostId}`, { durable: true });
        await new Promise<void>((resolve, reject) =>
          channel.sendToQueue(
            `${prefix}.host.${hostId}`,
            Buffer.from(body),
            { persistent: true },
            (err) => (err ? reject(new Error('the broker nacked the message')) : resolve()),
          ),
        );
        await channel.close();
      } finally {
        await connection.close();
      }
    },
    refusal: 'cannot connect to the broker',
    logger,
    async stop() {
      await Promise.all(agents.map((a) => a.close()));
      await server.close();
      await deleteTopology(url, prefix, hosts);
    },
  });
}

const amqpUrl = amqpUrlOf();

const TRANSPORTS: [string, () => Promise<Harness>][] = [
  ['builtin', builtinHarness],
  ...(amqpUrl ? [['rabbitmq', rabbitmqHarness] as [string, () => Promise<Harness>]] : []),
];

function installJob(app = 'cart', version = 1): Job {
  return {
    v: PROTOCOL_VERSION,
    id: randomUUID(),
    type: 'install',
    installId: randomUUID(),
    app,
    version,
    sha256: 'a'.repeat(64),
    size: 10,
    manifest: {},
    vars: {},
  };
}

function factsEvent(n: number): AgentEvent {
  return { v: PROTOCOL_VERSION, id: randomUUID(), type: 'facts', facts: { n } };
}

function healthEvent(app: string, restarts: number): AgentEvent {
  return {
    v: PROTOCOL_VERSION,
    id: randomUUID(),
    type: 'health',
    app,
    version: 1,
    state: 'failing',
    since: new Date().toISOString(),
    answer: 'HTTP 500',
    restarts,
    at: new Date().toISOString(),
  };
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const [name, setup] of TRANSPORTS) {
  describe(`transport contract: ${name}`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await setup();
    });
    afterEach(async () => {
      await harness.stop();
    });

    it('delivers a job sent while the host was offline, once it connects, in order', async () => {
      const first = installJob('cart', 1);
      const second = installJob('cart', 2);
      await harness.server().send('host-a', first);
      await harness.server().send('host-a', second);
      const received: Job[] = [];
      harness.agent('host-a').start((job) => {
        received.push(job);
        return Promise.resolve();
      });
      await until(() => received.length === 2, 'two jobs');
      expect(received.map((j) => j.id)).toEqual([first.id, second.id]);
    });

    it('delivers a job to a connected host at once, and only to that host', async () => {
      const gotA: Job[] = [];
      const gotB: Job[] = [];
      const a = harness.agent('host-a');
      const b = harness.agent('host-b');
      a.start((job) => Promise.resolve(void gotA.push(job)));
      b.start((job) => Promise.resolve(void gotB.push(job)));
      await until(() => harness.server().connectedHosts().length === 2, 'both hosts connected');
      const job = installJob();
      await harness.server().send('host-b', job);
      await until(() => gotB.length === 1, 'the job at host-b');
      expect(gotA).toEqual([]);
    });

    it('delivers again a job that was not acknowledged, with the same id', async () => {
      const job = installJob();
      await harness.server().send('host-a', job);
      const first = harness.agent('host-a');
      let calls = 0;
      first.start(() => {
        calls++;
        return Promise.reject(new Error('disk full: the journal could not record the job'));
      });
      await until(() => calls === 1, 'the first delivery');
      await first.close();

      const received: Job[] = [];
      harness.agent('host-a').start((j) => Promise.resolve(void received.push(j)));
      await until(() => received.length === 1, 'the second delivery');
      expect(received[0]!.id).toBe(job.id);
    });

    it('delivers again, on the same connection, a job whose handler failed, before the jobs after it', async () => {
      const job = installJob('cart', 1);
      const next = installJob('cart', 2);
      await harness.server().send('host-a', job);
      await harness.server().send('host-a', next);
      const handled: string[] = [];
      const agent = harness.agent('host-a');
      agent.start((j) => {
        handled.push(j.id);
        // The server could not say whether the job is wanted, twice.
        if (j.id === job.id && handled.filter((id) => id === job.id).length <= 2)
          return Promise.reject(new Error('the server did not answer in time'));
        return Promise.resolve();
      });
      await until(() => handled.includes(next.id), 'the job after it', 20_000);
      expect(handled).toEqual([job.id, job.id, job.id, next.id]);
    });

    it('does not deliver an acknowledged job again, even after a server restart', async () => {
      const job = installJob();
      await harness.server().send('host-a', job);
      const first = harness.agent('host-a');
      const received: Job[] = [];
      first.start((j) => Promise.resolve(void received.push(j)));
      await until(() => received.length === 1, 'the job');
      await first.close();
      await harness.restartServer();

      const later: Job[] = [];
      const second = harness.agent('host-a');
      second.start((j) => Promise.resolve(void later.push(j)));
      await until(() => harness.server().connectedHosts().includes('host-a'), 'reconnection');
      const next = installJob('cart', 2);
      await harness.server().send('host-a', next);
      await until(() => later.length === 1, 'the next job');
      expect(later.map((j) => j.id)).toEqual([next.id]);
    });

    it('keeps a job across a server restart while the host is away', async () => {
      const job = installJob();
      await harness.server().send('host-a', job);
      await harness.restartServer();
      const received: Job[] = [];
      harness.agent('host-a').start((j) => Promise.resolve(void received.push(j)));
      await until(() => received.length === 1, 'the job after the restart');
      expect(received[0]!.id).toBe(job.id);
    });

    it('carries events to the server, emitted while disconnected too, until acknowledged', async () => {
      const seen: AgentEvent[] = [];
      const senders = new Set<string>();
      let failures = 1;
      harness.server().onEvent((hostId, event) => {
        senders.add(hostId);
        // The first attempt fails: the event must come again.
        if (failures-- > 0) return Promise.reject(new Error('store busy'));
        seen.push(event);
        return Promise.resolve();
      });
      const agent = harness.agent('host-a');
      const early = factsEvent(1);
      agent.emit(early);
      agent.start(() => Promise.resolve());
      await until(() => harness.server().connectedHosts().includes('host-a'), 'connection');
      // Reconnect, so that the unacknowledged event is sent again.
      await harness.restartServer();
      harness.server().onEvent((hostId, event) => {
        senders.add(hostId);
        seen.push(event);
        return Promise.resolve();
      });
      const late = factsEvent(2);
      agent.emit(late);
      // Drained: the server has them (built-in), or the broker holds them durably (RabbitMQ).
      await agent.drain();
      await until(
        () => [early.id, late.id].every((id) => seen.some((e) => e.id === id)),
        'both events handled',
      );
      expect([...senders]).toEqual(['host-a']);
    });

    it("sends of an app's health reports emitted while disconnected only the latest", async () => {
      const seen: AgentEvent[] = [];
      harness.server().onEvent((_hostId, event) => {
        seen.push(event);
        return Promise.resolve();
      });
      const agent = harness.agent('host-a');
      const reports = Array.from({ length: 20 }, (_, i) => healthEvent('cart', i));
      for (const report of reports) agent.emit(report);
      agent.emit(healthEvent('web', 0));
      const facts = factsEvent(1);
      agent.emit(facts);
      agent.start(() => Promise.resolve());
      await agent.drain();
      await until(() => seen.some((e) => e.id === facts.id), 'the facts handled');
      await until(() => seen.length >= 3, 'the health reports handled');
      const health = seen.filter((e) => e.type === 'health');
      expect(health.map((e) => [e.app, e.restarts])).toEqual([
        ['cart', 19],
        ['web', 0],
      ]);
    });

    it('refuses a job too large for one message where it is sent, naming its largest parts, and the next job still arrives', async () => {
      const huge = installJob('cart', 1);
      huge.manifest = { install: ['x'.repeat(MAX_JOB_BYTES)] };
      const error = await harness
        .server()
        .send('host-a', huge)
        .then(
          () => null,
          (err: unknown) => err,
        );
      expect(error).toBeInstanceOf(FerryError);
      expect((error as FerryError).code).toBe('E_JOB_TOO_LARGE');
      const { parts } = (error as FerryError).details as { parts: { part: string }[] };
      expect(parts[0]!.part).toBe('manifest');
      const next = installJob('cart', 2);
      await harness.server().send('host-a', next);
      const received: Job[] = [];
      harness.agent('host-a').start((j) => Promise.resolve(void received.push(j)));
      await until(() => received.length === 1, 'the next job');
      expect(received.map((j) => j.id)).toEqual([next.id]);
    });

    it('ends a job the agent cannot handle as a failed install with the reason, and the next job still arrives', async () => {
      const finished: AgentEvent[] = [];
      harness.server().onEvent((_hostId, event) => {
        if (event.type === 'job.finished') finished.push(event);
        return Promise.resolve();
      });
      // A job from a newer server, of a type this agent does not know.
      const unknown = { ...installJob(), type: 'reboot' };
      await harness.sendRaw('host-a', unknown.id, JSON.stringify(unknown));
      // A job queued before jobs were bounded: larger than a message.
      const oversized = installJob('cart', 1);
      oversized.manifest = { install: ['x'.repeat(MAX_JOB_BYTES)] };
      await harness.sendRaw('host-a', oversized.id, JSON.stringify(oversized));
      const next = installJob('cart', 2);
      await harness.server().send('host-a', next);
      const received: Job[] = [];
      harness.agent('host-a').start((j) => Promise.resolve(void received.push(j)));
      await until(() => received.length === 1, 'the job after the ones that cannot be handled');
      expect(received.map((j) => j.id)).toEqual([next.id]);
      await until(() => finished.length === 2, 'both ended as failed');
      expect(finished.find((e) => 'jobId' in e && e.jobId === unknown.id)).toMatchObject({
        ok: false,
        error: expect.stringContaining('could not be carried out') as unknown,
      });
      expect(finished.find((e) => 'jobId' in e && e.jobId === oversized.id)).toMatchObject({
        ok: false,
        error: expect.stringContaining('bytes') as unknown,
      });
    });

    it('ends a job whose handler fails for good as a failed install, and the next job still arrives', async () => {
      const finished: AgentEvent[] = [];
      harness.server().onEvent((_hostId, event) => {
        if (event.type === 'job.finished') finished.push(event);
        return Promise.resolve();
      });
      const refused = installJob('cart', 1);
      const next = installJob('cart', 2);
      await harness.server().send('host-a', refused);
      await harness.server().send('host-a', next);
      const handled: string[] = [];
      harness.agent('host-a').start((j) => {
        handled.push(j.id);
        // The server answered 403 to "is it still wanted?": asking again will not change that.
        if (j.id === refused.id)
          return Promise.reject(new FinalJobError('the server said 403: not your install'));
        return Promise.resolve();
      });
      await until(() => handled.includes(next.id), 'the job after it');
      expect(handled).toEqual([refused.id, next.id]);
      await until(() => finished.length === 1, 'the job ended as failed');
      expect(finished[0]).toMatchObject({
        jobId: refused.id,
        ok: false,
        error: expect.stringContaining('403: not your install') as unknown,
      });
    });

    it('gives up a job whose handler keeps failing for longer than its bound, and the next job still arrives', async () => {
      const finished: AgentEvent[] = [];
      harness.server().onEvent((_hostId, event) => {
        if (event.type === 'job.finished') finished.push(event);
        return Promise.resolve();
      });
      const stuck = installJob('cart', 1);
      const next = installJob('cart', 2);
      await harness.server().send('host-a', stuck);
      await harness.server().send('host-a', next);
      const handled: string[] = [];
      harness.agent('host-a', { giveUpAfterMs: 500 }).start((j) => {
        handled.push(j.id);
        if (j.id === stuck.id) return Promise.reject(new Error('ENOSPC: no space left on device'));
        return Promise.resolve();
      });
      await until(() => handled.includes(next.id), 'the job after it', 20_000);
      expect(handled.filter((id) => id === stuck.id).length).toBeGreaterThan(1);
      expect(handled.at(-1)).toBe(next.id);
      await until(() => finished.length === 1, 'the job ended as failed');
      expect(finished[0]).toMatchObject({
        jobId: stuck.id,
        ok: false,
        error: expect.stringContaining('ENOSPC') as unknown,
      });
    });

    it('lets an event being handled finish before the server side has stopped', async () => {
      const steps: string[] = [];
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      harness.server().onEvent(async (_hostId, event) => {
        steps.push(`started ${event.id}`);
        await gate;
        steps.push(`handled ${event.id}`);
      });
      const agent = harness.agent('host-a');
      agent.start(() => Promise.resolve());
      const event = factsEvent(1);
      agent.emit(event);
      await until(() => steps.length === 1, 'the event being handled');
      const stopped = harness.restartServer().then(() => steps.push('stopped'));
      // Still handling: stopping waits for it (the agent would send it again, but
      // a handler cut half way leaves its writes half done).
      await new Promise((r) => setTimeout(r, 300));
      open();
      await stopped;
      expect(steps.slice(0, 3)).toEqual([`started ${event.id}`, `handled ${event.id}`, 'stopped']);
    });

    it('stops after its bound with a handler that does not end, saying so in the log', async () => {
      let started = false;
      harness.server().onEvent(() => {
        started = true;
        return new Promise<void>(() => undefined);
      });
      const agent = harness.agent('host-a');
      agent.start(() => Promise.resolve());
      agent.emit(factsEvent(1));
      await until(() => started, 'the event being handled');
      await harness.restartServer();
      expect(
        harness.logger.lines.some(
          (l) => l.level === 'warn' && l.message.includes('still being handled after 1 s'),
        ),
      ).toBe(true);
    });

    it('tells presence as hosts come and go', async () => {
      const changes: string[] = [];
      harness.server().onPresence((host, up) => changes.push(`${host}:${up ? 'up' : 'down'}`));
      const agent = harness.agent('host-a');
      agent.start(() => Promise.resolve());
      await until(() => changes.includes('host-a:up'), 'up');
      await agent.close();
      await until(() => changes.includes('host-a:down'), 'down');
    });

    it('refuses an agent with a wrong token, and says why', async () => {
      const agent = harness.agent('host-a', { token: 'stolen' });
      agent.start(() => Promise.resolve());
      await until(
        () => harness.logger.lines.some((l) => l.message.includes(harness.refusal)),
        'the refusal',
      );
      expect(harness.server().connectedHosts()).toEqual([]);
    });

    it.skipIf(name !== 'builtin')(
      'sends nothing to a host cut off after it authenticated, and closes its connection',
      async () => {
        await harness.cutOffInStore!('host-a');
        // A job stored after the cut-off, as a dispatch under way would.
        const job = installJob();
        await harness.sendRaw('host-a', job.id, JSON.stringify(job));
        const received: string[] = [];
        harness.agent('host-a').start((j) => Promise.resolve(void received.push(j.id)));
        await until(
          () => harness.logger.lines.some((l) => l.message.includes('host cut off')),
          'the connection closed',
        );
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(received).toEqual([]);
      },
    );

    it.skipIf(name !== 'builtin')(
      "takes a rotated credential on the open connection, and closes it on another host's",
      async () => {
        const ws = await harness.rawAgent!('host-a');
        const frames: string[] = [];
        ws.on('message', (data: Buffer) => frames.push(data.toString()));
        const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
        ws.send(JSON.stringify({ kind: 'credential', id: 'c1', token: TOKENS['host-a'] }));
        await until(() => frames.some((f) => f.includes('"c1"')), 'the answer');
        expect(JSON.parse(frames.find((f) => f.includes('"c1"'))!)).toEqual({
          kind: 'ack',
          id: 'c1',
        });
        ws.send(JSON.stringify({ kind: 'credential', id: 'c2', token: TOKENS['host-b'] }));
        expect(await closed).toBe(4001);
        expect(JSON.parse(frames.find((f) => f.includes('"c2"'))!)).toMatchObject({
          kind: 'refused',
          id: 'c2',
        });
      },
    );

    it.skipIf(name !== 'builtin')(
      'closes a connection whose credential stops counting, saying why',
      async () => {
        const ws = await harness.rawAgent!('host-b');
        const closed = new Promise<{ code: number; reason: string }>((resolve) =>
          ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
        );
        harness.expireCredential!('host-b');
        expect(await closed).toEqual({ code: 4001, reason: 'E_CREDENTIAL_EXPIRED: it expired' });
        await until(
          () => !harness.server().connectedHosts().includes('host-b'),
          'the host gone from the connected ones',
        );
      },
    );

    it.skipIf(name !== 'builtin')(
      'acknowledges again without handling again an event sent again on the same connection before its ack came',
      async () => {
        const handled: string[] = [];
        let failures = 1;
        harness.server().onEvent((_hostId, event) => {
          // A failure is not remembered: the event is handled when it comes again.
          if (event.id === 'again-2' && failures-- > 0) return Promise.reject(new Error('busy'));
          handled.push(event.id);
          return Promise.resolve();
        });
        const ws = await harness.rawAgent!('host-a');
        const acks: string[] = [];
        ws.on('message', (data: Buffer) => {
          const frame = JSON.parse(data.toString()) as { kind: string; id: string };
          if (frame.kind === 'ack') acks.push(frame.id);
        });
        const send = (id: string) =>
          ws.send(JSON.stringify({ kind: 'event', message: { ...factsEvent(1), id } }));
        for (const id of ['again-1', 'again-1', 'again-2', 'again-1', 'again-2', 'again-2'])
          send(id);
        await until(() => acks.length === 5, 'five acks');
        // again-2 failed once (no ack), then was handled once; again-1 was handled once.
        expect(handled).toEqual(['again-1', 'again-2']);
        expect(acks).toEqual(['again-1', 'again-1', 'again-1', 'again-2', 'again-2']);
        ws.close();
      },
    );

    // Raw frames exist on the built-in transport only; RabbitMQ's malformed and
    // invalid events are tested in rabbitmq-transport.test.ts.
    it.skipIf(name !== 'builtin')(
      'logs and refuses malformed and invalid messages without losing the connection',
      async () => {
        const ws = await harness.rawAgent!('host-a');
        const frames: string[] = [];
        ws.on('message', (data: Buffer) => frames.push(data.toString()));
        ws.send('this is not json');
        ws.send(JSON.stringify({ kind: 'event', message: { v: 1, id: 'bad-1', type: 'facts' } }));
        await until(() => frames.some((f) => f.includes('"refused"')), 'a refusal');
        expect(JSON.parse(frames.find((f) => f.includes('"refused"'))!)).toMatchObject({
          kind: 'refused',
          id: 'bad-1',
        });
        expect(harness.logger.lines.some((l) => l.message.includes('malformed frame'))).toBe(true);
        // Still connected and still served.
        const job = installJob();
        await harness.server().send('host-a', job);
        await until(() => frames.some((f) => f.includes(job.id)), 'the job on the same connection');
        ws.close();
      },
    );
  });
}

describe('the built-in agent transport, stopping', () => {
  it('does not hang on a job that waits for its events to be acknowledged, and leaves the job for the next start', async () => {
    const harness = await builtinHarness();
    try {
      // A server that never acknowledges events: the job's drain can only end by the agent stopping.
      harness.server().onEvent(() => new Promise<void>(() => undefined));
      await harness.server().send('host-a', installJob());
      const agent = harness.agent('host-a');
      let drained: Promise<void> | undefined;
      agent.start(() => {
        agent.emit(factsEvent(1));
        drained = agent.drain();
        return drained;
      });
      await until(() => drained !== undefined, 'the job to wait for its events');
      const started = Date.now();
      await agent.close();
      expect(Date.now() - started).toBeLessThan(5000);
      await expect(drained).rejects.toThrow(
        'the agent is stopping with 1 event not yet acknowledged',
      );
      // Not acknowledged: the next agent of the host gets the job again.
      const again: Job[] = [];
      harness.agent('host-a').start((job) => Promise.resolve(void again.push(job)));
      await until(() => again.length === 1, 'the job again');
    } finally {
      await harness.stop();
    }
  });
});

describe('the built-in transport, the still-wanted question on the connection', () => {
  /** An agent of host-a, started and connected. */
  async function connected(harness: Harness): Promise<BuiltinAgentTransport> {
    const agent = harness.agent('host-a') as BuiltinAgentTransport;
    let up = false;
    agent.onConnection((is) => (up = is));
    agent.start(() => Promise.resolve());
    await until(() => up, 'the agent connected');
    return agent;
  }

  it('is asked and answered on the open connection, for the host the connection speaks for', async () => {
    const harness = await builtinHarness();
    try {
      const asked: string[] = [];
      harness.server().onWantedQuestion!((hostId, installId) => {
        asked.push(`${hostId} ${installId}`);
        if (installId === 'ins_gone')
          return Promise.reject(new FerryError('E_INSTALL_NOT_FOUND', 'No install ins_gone'));
        if (installId === 'ins_broken') return Promise.reject(new Error('disk on fire'));
        return Promise.resolve({ proceed: true, reason: null });
      });
      // Connected once the server answers: it says so at the upgrade.
      const agent = await connected(harness);
      const signal = AbortSignal.timeout(5000);
      await expect(agent.askWanted('ins_1', signal)).resolves.toEqual({
        proceed: true,
        reason: null,
      });
      await expect(agent.askWanted('ins_gone', signal)).rejects.toMatchObject({
        code: 'E_INSTALL_NOT_FOUND',
        httpStatus: 404,
      });
      // An error that is not the server's word is a 500 (asked again), logged on the server.
      const broken = agent.askWanted('ins_broken', signal);
      await expect(broken).rejects.toBeInstanceOf(WantedRefusal);
      await expect(broken).rejects.toMatchObject({ code: 'E_INTERNAL', httpStatus: 500 });
      expect(asked).toEqual(['host-a ins_1', 'host-a ins_gone', 'host-a ins_broken']);
      expect(harness.logger.lines.some((l) => l.message.includes('still wanted failed'))).toBe(
        true,
      );
    } finally {
      await harness.stop();
    }
  });

  it('is not asked on the connection of a server that does not answer there (one from before): the agent asks over HTTPS', async () => {
    const harness = await builtinHarness();
    try {
      const agent = await connected(harness);
      expect(agent.askWanted('ins_1', AbortSignal.timeout(5000))).toBeUndefined();
    } finally {
      await harness.stop();
    }
  });

  it('fails a question whose connection goes before the answer, so that it is asked again', async () => {
    const harness = await builtinHarness();
    try {
      harness.server().onWantedQuestion!(() => new Promise(() => undefined));
      const agent = await connected(harness);
      const asked = agent.askWanted('ins_1', AbortSignal.timeout(5000));
      expect(asked).toBeDefined();
      await harness.server().disconnect('host-a', 'testing');
      await expect(asked).rejects.toThrow('closed before it answered');
    } finally {
      await harness.stop();
    }
  });
});

describe('the built-in transport, a connection whose frames wait', () => {
  /** An event frame carrying about `bytes` of facts. */
  function bigEvent(id: string, bytes: number): string {
    return JSON.stringify({
      kind: 'event',
      message: { ...factsEvent(1), id, facts: { blob: 'x'.repeat(bytes) } },
    });
  }

  /** Waits until `value()` stays the same for `quietMs` (at most `timeoutMs`), and returns it. */
  async function settled(value: () => number, quietMs: number, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    let last = value();
    let since = Date.now();
    while (Date.now() < deadline && Date.now() - since < quietMs) {
      await new Promise((r) => setTimeout(r, 50));
      if (value() !== last) [last, since] = [value(), Date.now()];
    }
    return last;
  }

  it('is not read while its frames wait: the rest stays with the agent, then all are handled in order', async () => {
    const harness = await builtinHarness();
    try {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const handled: string[] = [];
      harness.server().onEvent(async (_hostId, event) => {
        await gate;
        handled.push(event.id);
      });
      const ws = await harness.rawAgent!('host-a');
      const acks: string[] = [];
      ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString()) as { kind: string; id: string };
        if (frame.kind === 'ack') acks.push(frame.id);
      });
      // 96 MiB: more than loopback's socket buffers on both ends hold (4 + 32 MiB at most).
      const ids = Array.from({ length: 96 }, (_, i) => `big-${i}`);
      for (const id of ids) ws.send(bigEvent(id, 1024 * 1024));
      // The server stops reading while the first waits: what it did not read
      // stays queued in the agent. (Read it all, the server would hold it, and
      // the agent's queue would empty.)
      const unsent = await settled(() => ws.bufferedAmount, 1000);
      expect(unsent).toBeGreaterThan(32 * 1024 * 1024);
      open();
      await until(() => acks.length === ids.length, 'every event acknowledged', 60_000);
      expect(handled).toEqual(ids);
      expect(acks).toEqual(ids);
      expect(ws.bufferedAmount).toBe(0);
      ws.close();
    } finally {
      await harness.stop();
    }
  });

  it("leaves the agent's resends out while what it sent has not left (no copies pile up)", async () => {
    const harness = await builtinHarness();
    try {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const handled: string[] = [];
      harness.server().onEvent(async (_hostId, event) => {
        await gate;
        handled.push(event.id);
      });
      const agent = harness.agent('host-a', { resendIntervalMs: 100 });
      agent.start(() => Promise.resolve());
      await until(() => harness.server().connectedHosts().includes('host-a'), 'connected');
      // 12 MiB of events: more than the socket buffers take while the server does not read.
      const ids = Array.from({ length: 12 }, (_, i) => `big-${i}`);
      for (const id of ids)
        agent.emit({
          ...factsEvent(1),
          id,
          facts: { blob: 'x'.repeat(2 * 1024 * 1024) },
        } as AgentEvent);
      const socket = () => (agent as unknown as { socket: WebSocket | undefined }).socket!;
      const queued = await settled(() => socket().bufferedAmount, 1000);
      expect(queued).toBeGreaterThan(0);
      // Twenty resend rounds later, still only the first copies wait (and a
      // few small frames: pongs), not another 12 MiB a round.
      await new Promise((r) => setTimeout(r, 2000));
      expect(socket().bufferedAmount - queued).toBeLessThan(64 * 1024);
      open();
      await until(() => handled.length >= ids.length, 'every event handled', 60_000);
      expect(handled.slice(0, ids.length)).toEqual(ids);
    } finally {
      await harness.stop();
    }
  });

  it('is not dropped for missing pings while it is not read (its pongs wait unread)', async () => {
    const harness = await builtinHarness();
    try {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      harness.server().onEvent(() => gate);
      const ws = await harness.rawAgent!('host-a');
      let pings = 0;
      ws.on('ping', () => pings++);
      const acks: string[] = [];
      ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString()) as { kind: string; id: string };
        if (frame.kind === 'ack') acks.push(frame.id);
      });
      let closed = false;
      ws.on('close', () => (closed = true));
      // More than the server reads ahead: it stops reading the connection.
      const ids = Array.from({ length: 8 }, (_, i) => `waits-${i}`);
      for (const id of ids)
        ws.send(JSON.stringify({ kind: 'event', message: { ...factsEvent(1), id } }));
      // The harness pings every second: a ping answered while the connection
      // is not read, and three rounds past it.
      await until(() => pings >= 1, 'a ping', 5000);
      await new Promise((r) => setTimeout(r, 3500));
      expect(closed).toBe(false);
      expect(harness.logger.lines.map((l) => l.message)).not.toContain(
        'agent stopped answering pings; dropping its connection',
      );
      open();
      await until(() => acks.length === ids.length, 'every event acknowledged');
      expect(acks).toEqual(ids);
      // Read again, it is pinged again and answers.
      const before = pings;
      await until(() => pings > before, 'a ping after', 5000);
      await new Promise((r) => setTimeout(r, 2500));
      expect(closed).toBe(false);
      expect(harness.server().connectedHosts()).toContain('host-a');
      ws.close();
    } finally {
      await harness.stop();
    }
  });
});

describe('the built-in transport, stopping', () => {
  /** An event frame as an agent sends it. */
  function eventFrame(id: string): string {
    return JSON.stringify({ kind: 'event', message: { ...factsEvent(1), id } });
  }

  it('handles no frame that comes once it is stopping, and acknowledges the one it finished', async () => {
    const harness = await builtinHarness();
    try {
      const handled: string[] = [];
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let started = false;
      harness.server().onEvent(async (_hostId, event) => {
        started = true;
        await gate;
        handled.push(event.id);
      });
      const ws = await harness.rawAgent!('host-a');
      const acks: string[] = [];
      ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString()) as { kind: string; id: string };
        if (frame.kind === 'ack') acks.push(frame.id);
      });
      const closedWith = new Promise<number>((resolve) => ws.once('close', resolve));
      ws.send(eventFrame('before'));
      await until(() => started, 'the first event being handled');
      const stopped = harness.server().close();
      ws.send(eventFrame('after'));
      await new Promise((r) => setTimeout(r, 300));
      open();
      await stopped;
      // The one in hand finished and was acknowledged; the one that came later
      // waits with the agent for the next server.
      expect(handled).toEqual(['before']);
      expect(acks).toEqual(['before']);
      expect(await closedWith).toBe(1001);
    } finally {
      await harness.stop();
    }
  });

  it('stops after its bound with a handler that does not end, and says in the log what was left', async () => {
    const harness = await builtinHarness({ stopWaitMs: 300 });
    try {
      let started = false;
      harness.server().onEvent(() => {
        started = true;
        return new Promise<void>(() => undefined);
      });
      const ws = await harness.rawAgent!('host-a');
      ws.send(eventFrame('stuck'));
      await until(() => started, 'the event being handled');
      await harness.server().close();
      expect(harness.logger.lines).toContainEqual({
        level: 'warn',
        message:
          'stopping with 1 agent frame still being handled after 0.3 s (hosts: host-a): not acknowledged, the agents send them again',
      });
    } finally {
      await harness.stop();
    }
  });

  it('refuses an agent that connects while it is stopping', async () => {
    const harness = await builtinHarness();
    try {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let started = false;
      harness.server().onEvent(async () => {
        started = true;
        await gate;
      });
      const ws = await harness.rawAgent!('host-a');
      ws.send(eventFrame('in-hand'));
      await until(() => started, 'the event being handled');
      const stopped = harness.server().close();
      await expect(harness.rawAgent!('host-b')).rejects.toThrow('Unexpected server response: 503');
      open();
      await stopped;
    } finally {
      await harness.stop();
    }
  });
});

describe('the built-in transport, a handler that does not end', () => {
  it('drops the connection past its bound, saying so, and the agent sends the event again on its next connection', async () => {
    const harness = await builtinHarness({ handlerTimeoutMs: 500 });
    try {
      const seen: string[] = [];
      harness.server().onEvent((_hostId, event) => {
        seen.push(event.id);
        // The first time, wedged (a lock never given back); the second, handled.
        return seen.length === 1 ? new Promise<void>(() => undefined) : Promise.resolve();
      });
      const agent = harness.agent('host-a');
      let ups = 0;
      agent.onConnection((up) => (ups += up ? 1 : 0));
      agent.start(() => Promise.resolve());
      const event = factsEvent(1);
      agent.emit(event);
      await until(() => ups >= 2, 'the agent connected again', 10_000);
      await agent.drain();
      expect(seen).toEqual([event.id, event.id]);
      expect(
        harness.logger.lines.some(
          (l) =>
            l.level === 'error' &&
            l.message.startsWith("an agent's frame was still being handled after 0.5 s"),
        ),
      ).toBe(true);
    } finally {
      await harness.stop();
    }
  });
});

describe('the built-in transport, closing a connection it does not read', () => {
  it('sees the agent answer at once when a newer connection of the host replaces it', async () => {
    const harness = await builtinHarness();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    try {
      let started = 0;
      harness.server().onEvent(async () => {
        started++;
        await gate;
      });
      const first = await harness.rawAgent!('host-a');
      const closed = new Promise<number>((resolve) => first.once('close', resolve));
      // More than the server reads ahead: it stops reading the connection.
      for (let i = 0; i < 8; i++)
        first.send(JSON.stringify({ kind: 'event', message: factsEvent(i) }));
      await until(() => started === 1, 'the first event being handled');
      await new Promise((r) => setTimeout(r, 300));
      const replacing = Date.now();
      const second = await harness.rawAgent!('host-a');
      // Its answer to the server's close is read: not ws's 30 s wait for it.
      expect(await closed).toBe(4000);
      expect(Date.now() - replacing).toBeLessThan(5000);
      second.close();
    } finally {
      open();
      await harness.stop();
    }
  }, 40_000);
});

describe('the built-in agent transport, stopping while the server does not read it', () => {
  it("stops at once, not after ws's 30 s wait for the server's answering close", async () => {
    const harness = await builtinHarness();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    try {
      let started = 0;
      harness.server().onEvent(async () => {
        started++;
        await gate;
      });
      const agent = harness.agent('host-a');
      agent.start(() => Promise.resolve());
      // More than the server reads ahead: it stops reading the connection.
      for (let i = 0; i < 8; i++) agent.emit(factsEvent(i));
      await until(() => started === 1, 'the first event being handled');
      await new Promise((r) => setTimeout(r, 300));
      const closing = Date.now();
      await agent.close();
      expect(Date.now() - closing).toBeLessThan(5000);
    } finally {
      open();
      await harness.stop();
    }
  }, 40_000);
});
