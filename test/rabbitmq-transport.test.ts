import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { FerryError } from '../src/protocol/errors.js';
import { type AgentEvent, type Job, PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { RabbitmqAgentTransport } from '../src/transport/rabbitmq/rabbitmq-agent-transport.js';
import {
  RabbitmqServerTransport,
  type RabbitmqServerTransportOptions,
} from '../src/transport/rabbitmq/rabbitmq-server-transport.js';
import { HOST_HEADER, Topology } from '../src/transport/rabbitmq/topology.js';
import type { TransportLogger } from '../src/transport/transport.js';
import { deleteTopology } from './helpers/rabbitmq.js';
import { amqpUrl } from './helpers/services.js';

/**
 * The RabbitMQ transport on the real broker, where the contract suite cannot
 * look: dropped sockets while jobs and events flow (through a TCP proxy of the
 * test's own, so other suites on the broker are not disturbed), messages the
 * server must refuse, an event whose handler keeps failing, queues that went
 * missing, presence at start, and clear errors. amqplib is used here only to
 * inject faults, as a broken or hostile client would.
 */

const url = amqpUrl();
const HOSTS = ['host-a', 'host-b'];

/** A logger that keeps what it is told. */
class RecordingLogger implements TransportLogger {
  readonly lines: { level: string; message: string; details: object }[] = [];
  info(details: object, message: string): void {
    this.lines.push({ level: 'info', message, details });
  }
  warn(details: object, message: string): void {
    this.lines.push({ level: 'warn', message, details });
  }
  error(details: object, message: string): void {
    this.lines.push({ level: 'error', message, details });
  }
  count(text: string): number {
    return this.lines.filter((l) => l.message.includes(text)).length;
  }
}

/** A TCP proxy in front of the broker: `drop` cuts every connection through it, as a network would. */
class BrokerProxy {
  private readonly sockets = new Set<net.Socket>();
  private refusing = false;
  private constructor(
    private readonly server: net.Server,
    readonly url: string,
  ) {}

  static async start(brokerUrl: string): Promise<BrokerProxy> {
    const broker = new URL(brokerUrl);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const own = new URL(brokerUrl);
    own.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const proxy = new BrokerProxy(server, own.toString());
    server.on('connection', (client) => {
      if (proxy.refusing) return client.destroy();
      const upstream = net.connect(Number(broker.port || 5672), broker.hostname);
      for (const socket of [client, upstream]) {
        proxy.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          proxy.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    return proxy;
  }

  /** Cuts every connection through the proxy. */
  drop(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** While on, connections are cut as they come: the broker is unreachable. */
  refuse(on: boolean): void {
    this.refusing = on;
    if (on) this.drop();
  }

  /** Stops forwarding, leaving every connection open: a broker that no longer answers. */
  stall(): void {
    for (const socket of this.sockets) socket.pause();
  }

  async close(): Promise<void> {
    this.drop();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

function installJob(n: number): Job {
  return {
    v: PROTOCOL_VERSION,
    id: randomUUID(),
    type: 'install',
    installId: randomUUID(),
    app: 'cart',
    version: n,
    sha256: 'a'.repeat(64),
    size: 10,
    manifest: {},
    vars: {},
  };
}

function factsEvent(facts: Record<string, unknown> = {}): AgentEvent {
  return { v: PROTOCOL_VERSION, id: randomUUID(), type: 'facts', facts };
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe.skipIf(!url)('the RabbitMQ transport, beyond the contract', () => {
  let prefix: string;
  let logger: RecordingLogger;
  const closing: (() => Promise<void>)[] = [];

  const server = (options: Partial<RabbitmqServerTransportOptions> = {}) => {
    const transport = new RabbitmqServerTransport({
      url: url!,
      logger,
      prefix,
      hostIds: () => Promise.resolve(HOSTS),
      hostName: (hostId) => Promise.resolve(hostId),
      presenceIntervalMs: 100,
      initialDelayMs: 50,
      maxDelayMs: 200,
      ...options,
    });
    closing.push(() => transport.close());
    return transport;
  };
  const agent = (hostId: string, brokerUrl = url!) => {
    const transport = new RabbitmqAgentTransport({
      url: brokerUrl,
      hostId,
      logger,
      prefix,
      retryDelayMs: 50,
      resendDelayMs: 200,
      initialDelayMs: 50,
      maxDelayMs: 200,
    });
    closing.push(() => transport.close());
    return transport;
  };
  /** A raw connection to the broker, to do what a broken or hostile client would. */
  const raw = async () => {
    const connection = await amqp.connect(url!);
    closing.push(() => connection.close().catch(() => undefined));
    const channel = await connection.createConfirmChannel();
    channel.on('error', () => undefined);
    return channel;
  };

  const fresh = () => {
    prefix = `r${randomUUID().slice(0, 8)}`;
    logger = new RecordingLogger();
  };
  fresh();
  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
    await deleteTopology(url!, prefix, HOSTS);
    fresh();
  });

  it('carries every job out once and handles every event through dropped connections', async () => {
    const proxy = await BrokerProxy.start(url!);
    closing.push(() => proxy.close());
    const seen = new Set<string>();
    const transport = server({ url: proxy.url });
    transport.onEvent((_hostId, event) => Promise.resolve(void seen.add(event.id)));

    // The agent's handler, as run-agent's: a journal answers a job seen before
    // with its result; a new one is run, recorded, reported, and drained.
    const host = agent('host-a', proxy.url);
    const journal = new Set<string>();
    const runs = new Map<string, number>();
    const emitted = new Set<string>();
    const report = (event: AgentEvent) => {
      emitted.add(event.id);
      host.emit(event);
    };
    host.start(async (job) => {
      if (!journal.has(job.id)) {
        runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
        report(factsEvent({ step: 'started', job: job.id }));
        await sleep(Math.random() * 30);
        report(factsEvent({ step: 'output', job: job.id, text: 'x'.repeat(10_000) }));
        journal.add(job.id);
      }
      report(factsEvent({ step: 'finished', job: job.id }));
      await host.drain();
    });

    const jobs = Array.from({ length: 40 }, (_, i) => installJob(i + 1));
    let sending = true;
    const dropping = (async () => {
      for (let i = 0; i < 5 && sending; i++) {
        await sleep(400);
        proxy.drop();
      }
    })();
    for (const job of jobs) {
      await transport.send('host-a', job);
      await sleep(20);
    }
    sending = false;
    await dropping;

    await until(() => journal.size === jobs.length, 'every job carried out', 60_000);
    await until(() => [...emitted].every((id) => seen.has(id)), 'every event handled', 60_000);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(runs.size).toBe(jobs.length);
    expect(logger.count('lost the broker connection')).toBeGreaterThan(0);
  }, 120_000);

  it('refuses and logs events that are not JSON, invalid, or without user or host, and goes on', async () => {
    const seen: AgentEvent[] = [];
    const transport = server();
    transport.onEvent((_hostId, event) => Promise.resolve(void seen.push(event)));
    await until(() => logger.count('connected to the broker') > 0, 'the server connected');
    const channel = await raw();
    const exchange = new Topology(prefix).eventsExchange;
    const publish = (body: string, options: amqp.Options.Publish) =>
      new Promise<void>((resolve, reject) =>
        channel.publish(exchange, '', Buffer.from(body), options, (err: unknown) =>
          err ? reject(new Error('nacked')) : resolve(),
        ),
      );
    const as = { userId: 'guest', headers: { [HOST_HEADER]: 'host-a' } };
    await publish('this is not json', as);
    await publish(JSON.stringify({ v: 1, id: 'bad-1', type: 'facts' }), as);
    await publish(JSON.stringify(factsEvent()), { userId: 'guest' });
    await publish(JSON.stringify(factsEvent()), { headers: { [HOST_HEADER]: 'host-a' } });
    const good = factsEvent({ fine: true });
    await publish(JSON.stringify(good), as);

    await until(() => seen.length === 1, 'the valid event');
    expect(seen[0]!.id).toBe(good.id);
    const refusals = logger.lines
      .filter((l) => l.message === 'refused an event from the broker')
      .map((l) => (l.details as { why: string }).why);
    expect(refusals).toEqual([
      'not JSON',
      expect.stringContaining('facts'),
      `no ${HOST_HEADER} header`,
      'no user-id: the agent must send it',
    ]);
  });

  it('retries an event whose handler keeps failing, with a growing delay, without holding up the others', async () => {
    const transport = server({ retryDelayMs: 200, maxRetryDelayMs: 1000 });
    const poison = factsEvent({ poison: true });
    let attempts = 0;
    let healed = false;
    const seen: string[] = [];
    transport.onEvent((_hostId, event) => {
      if (event.id === poison.id && !healed) {
        attempts++;
        return Promise.reject(new Error('the store refuses this one'));
      }
      seen.push(event.id);
      return Promise.resolve();
    });
    const host = agent('host-a');
    host.start(() => Promise.resolve());
    host.emit(poison);
    const others = Array.from({ length: 5 }, (_, i) => factsEvent({ n: i }));
    for (const event of others) host.emit(event);
    await host.drain();

    await until(() => others.every((e) => seen.includes(e.id)), 'the events behind it');
    await sleep(3000);
    // Three quick tries a round, rounds 0.2, 0.4, 0.8, 1, 1 s apart: not a hot loop.
    expect(attempts).toBeGreaterThan(3);
    expect(attempts).toBeLessThan(25);
    expect(logger.count('the broker delivers it again later')).toBeGreaterThan(1);
    healed = true;
    await until(() => seen.includes(poison.id), 'the event once its handler works');
  }, 30_000);

  it('does not lose a job whose host queue went missing after it was declared', async () => {
    const transport = server();
    await transport.send('host-a', installJob(1));
    const channel = await raw();
    // Deleted with what it held; the presence reading declares it again, unbound.
    await channel.deleteQueue(new Topology(prefix).hostQueue('host-a'));
    const job = installJob(2);
    await transport.send('host-a', job);
    const received: string[] = [];
    agent('host-a').start((j) => Promise.resolve(void received.push(j.id)));
    await until(() => received.includes(job.id), 'the job sent after the queue went');
  });

  it('never declares the queue of a host cut off again, even for a job that was on its way', async () => {
    const transport = server();
    await transport.send('host-a', installJob(1));
    await transport.disconnect('host-a', 'its token was revoked');
    // A dispatch that checked the host just before it was cut off.
    const error = await transport.send('host-a', installJob(2)).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).code).toBe('E_TRANSPORT_UNAVAILABLE');
    const channel = await raw();
    const gone = await channel.checkQueue(new Topology(prefix).hostQueue('host-a')).then(
      () => false,
      () => true,
    );
    expect(gone).toBe(true);
  });

  it('fails a cut-off it could not carry out, so that it is tried again', async () => {
    const down = server({ url: 'amqp://guest:guest@127.0.0.1:1' });
    await expect(down.disconnect('host-a', 'its token was revoked')).rejects.toThrow(
      /not connected to the broker/,
    );
  });

  it('keeps an event while no events queue exists, and delivers it once the server has declared one', async () => {
    const first = server();
    await until(() => logger.count('connected to the broker') > 0, 'the server connected');
    await first.close();
    const channel = await raw();
    await channel.deleteQueue(new Topology(prefix).eventsQueue);

    const host = agent('host-a');
    host.start(() => Promise.resolve());
    const event = factsEvent({ early: true });
    host.emit(event);
    let drained = false;
    const draining = host.drain().then(() => (drained = true));
    await until(
      () => logger.lines.some((l) => JSON.stringify(l.details).includes('no events queue')),
      'the broker to return the event',
    );
    expect(drained).toBe(false);

    const seen: string[] = [];
    server().onEvent((_hostId, e) => Promise.resolve(void seen.push(e.id)));
    await draining;
    await until(() => seen.includes(event.id), 'the event at the new server');
  });

  it('tells, at start, that hosts whose agents are away are gone', async () => {
    const changes: string[] = [];
    server().onPresence((hostId, up) => changes.push(`${hostId}:${up ? 'up' : 'down'}`));
    await until(() => changes.length === 2, 'the first reading');
    expect(changes.sort()).toEqual(['host-a:down', 'host-b:down']);
  });

  it('does not hang closing while a job waits for confirms that cannot come', async () => {
    const proxy = await BrokerProxy.start(url!);
    closing.push(() => proxy.close());
    const transport = server();
    const host = agent('host-a', proxy.url);
    let handling = false;
    host.start(async () => {
      handling = true;
      proxy.refuse(true);
      host.emit(factsEvent());
      await host.drain();
    });
    const job = installJob(1);
    await transport.send('host-a', job);
    await until(() => handling, 'the job');
    const started = Date.now();
    await host.close();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(logger.count('handling a job failed')).toBe(1);

    // Not acknowledged: it comes again.
    const received: string[] = [];
    agent('host-a').start((j) => Promise.resolve(void received.push(j.id)));
    await until(() => received.includes(job.id), 'the job again');
  });

  it('closes within seconds when the broker stops answering', async () => {
    const proxy = await BrokerProxy.start(url!);
    closing.push(() => proxy.close());
    server();
    const host = agent('host-a', proxy.url);
    host.start(() => Promise.resolve());
    const connected = () =>
      logger.lines.some(
        (l) =>
          l.message === 'connected to the broker' &&
          JSON.stringify(l.details).includes('agent host-a'),
      );
    await until(connected, 'the agent connected');
    proxy.stall();
    const started = Date.now();
    await host.close();
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("waits, saying so once, for the server to declare a new host's queue", async () => {
    const known = ['host-a'];
    server({ hostIds: () => Promise.resolve([...known]) });
    const host = agent('host-b');
    const received: string[] = [];
    host.start((job) => Promise.resolve(void received.push(job.id)));
    await until(() => logger.count('cannot connect to the broker') > 0, 'the refusal');
    await sleep(1000);
    const refusals = logger.lines.filter((l) => l.message.includes('cannot connect'));
    expect(refusals).toHaveLength(1);
    expect(JSON.stringify(refusals[0]!.details)).toContain('NOT_FOUND');
    expect(JSON.stringify(refusals[0]!.details)).toContain(
      new Topology(prefix).hostQueue('host-b'),
    );

    // Enrolled: the server's next presence reading declares the queue.
    known.push('host-b');
    await until(() => logger.count('connected to the broker') >= 2, 'the agent connected');
  });

  it('says once that the broker refused the password, and keeps trying', async () => {
    const wrong = new URL(url!);
    wrong.password = 'not-the-password';
    agent('host-a', wrong.toString()).start(() => Promise.resolve());
    await until(() => logger.count('cannot connect to the broker') > 0, 'the refusal');
    await sleep(1500);
    const refusals = logger.lines.filter((l) => l.message.includes('cannot connect'));
    expect(refusals).toHaveLength(1);
    expect(JSON.stringify(refusals[0]!.details)).toContain('ACCESS_REFUSED');
    expect(JSON.stringify(refusals[0]!.details)).not.toContain('not-the-password');
  });

  it('makes a broken broker URL a configuration error that names it', () => {
    for (const bad of ['amqp://guest:guest@127.0.0.1:notaport', 'http://rabbit:5672', 'amqp://']) {
      const error = (() => {
        try {
          agent('host-a', bad);
        } catch (err) {
          return err;
        }
      })();
      expect(error, bad).toBeInstanceOf(FerryError);
      expect((error as FerryError).code).toBe('E_CONFIG_INVALID');
      expect((error as FerryError).message).toContain('RabbitMQ URL');
    }
    expect(() => server({ url: 'amqp//rabbit' })).toThrow(/RabbitMQ URL/);
  });

  it('gives up on a job the broker cannot take in time, with E_TRANSPORT_UNAVAILABLE', async () => {
    const down = server({ url: 'amqp://guest:guest@127.0.0.1:1', sendTimeoutMs: 600 });
    const error = await down.send('host-a', installJob(1)).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).code).toBe('E_TRANSPORT_UNAVAILABLE');
    expect((error as FerryError).status).toBe(503);
    expect((error as FerryError).message).toMatch(/did not take job .* within 0\.6 s/);
  });

  it('refuses an event larger than a transport carries', () => {
    const host = agent('host-a');
    expect(() => host.emit(factsEvent({ huge: 'x'.repeat(5 * 1024 * 1024) }))).toThrow(
      /larger than the 4194304/,
    );
  });
});
