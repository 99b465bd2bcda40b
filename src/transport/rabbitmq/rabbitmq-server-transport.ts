import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AgentEvent, agentEventSchema, type Job, jobSchema } from '../../protocol/messages.js';
import type { ServerTransport, TransportLogger } from '../transport.js';
import { AmqpConnection } from './amqp-connection.js';
import { HOST_HEADER, Topology } from './topology.js';

export interface RabbitmqServerTransportOptions {
  /** The broker, with the server's own user: it declares the topology. */
  url: string;
  logger: TransportLogger;
  /** Every enrolled host: their queues are declared, and their presence watched. */
  hostIds: () => Promise<string[]>;
  /** Who may speak for a host: its name, by default, besides the host's id and trusted users. */
  hostName: (hostId: string) => Promise<string | undefined>;
  /**
   * Broker users trusted to speak for any host (agents that share one user).
   * The server's own user always is.
   */
  trustedUsers?: string[];
  /** Topology names' prefix (`ferry`). */
  prefix?: string;
  /** How often hosts' presence is read from their queues' consumers. */
  presenceIntervalMs?: number;
  /** How long `send` keeps trying before it gives up (the caller tries again later). */
  sendTimeoutMs?: number;
}

/**
 * The server's side of the RabbitMQ transport. A job is published, persistent,
 * to the `jobs` exchange with the host's id as routing key, and `send` resolves
 * only once the broker confirmed it (a connection lost before the confirm means
 * publishing it again: the job id makes that harmless). Events are consumed from
 * the `events` queue, one at a time and in order, and acknowledged only once
 * handled. A host is connected while its queue has a consumer: every replica
 * reads that from the broker, so they agree.
 */
export class RabbitmqServerTransport implements ServerTransport {
  private readonly topology: Topology;
  private readonly connection: AmqpConnection;
  private publisher: ConfirmChannel | undefined;
  private admin: Channel | undefined;
  /** Hosts whose queue is declared on the current connection. */
  private readonly declared = new Set<string>();
  private eventHandler: (hostId: string, event: AgentEvent) => Promise<void> = () =>
    Promise.resolve();
  private presenceHandler: (hostId: string, connected: boolean) => void = () => undefined;
  private readonly present = new Set<string>();
  private readonly presenceTimer: NodeJS.Timeout;
  private handling: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly trusted: Set<string>;
  /** Publishes waiting for the broker's confirm, failed together if the channel closes. */
  private readonly awaitingConfirm = new Set<(err: Error) => void>();

  constructor(private readonly options: RabbitmqServerTransportOptions) {
    this.topology = new Topology(options.prefix);
    this.connection = new AmqpConnection({
      url: options.url,
      logger: options.logger,
      name: 'server',
      setup: (connection) => this.setup(connection),
      onLost: () => {
        this.publisher = undefined;
        this.admin = undefined;
        this.declared.clear();
      },
    });
    this.trusted = new Set([this.connection.username, ...(options.trustedUsers ?? [])]);
    this.connection.start();
    this.presenceTimer = setInterval(
      () =>
        void this.watchPresence().catch((err: unknown) =>
          options.logger.warn({ err }, 'reading hosts presence from the broker failed'),
        ),
      options.presenceIntervalMs ?? 2000,
    );
  }

  async send(hostId: string, job: Job): Promise<void> {
    const message = jobSchema.parse(job);
    const body = Buffer.from(JSON.stringify(message));
    const deadline = Date.now() + (this.options.sendTimeoutMs ?? 30_000);
    for (;;) {
      try {
        await this.publish(hostId, message.id, body);
        return;
      } catch (err) {
        if (this.closed || Date.now() > deadline) throw err;
        this.options.logger.warn(
          { hostId, jobId: message.id, err: (err as Error).message },
          'a job was not confirmed by the broker; publishing it again',
        );
        await sleep(250);
      }
    }
  }

  onEvent(handler: (hostId: string, event: AgentEvent) => Promise<void>): void {
    this.eventHandler = handler;
  }

  onPresence(handler: (hostId: string, connected: boolean) => void): void {
    this.presenceHandler = handler;
  }

  connectedHosts(): string[] {
    return [...this.present];
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.presenceTimer);
    await this.connection.close();
    await this.handling;
  }

  private async setup(connection: ChannelModel): Promise<void> {
    const admin = await connection.createChannel();
    admin.on('error', () => undefined);
    admin.on('close', () => this.connection.reset('the server channel closed'));
    await this.topology.declareShared(admin);
    for (const hostId of await this.options.hostIds())
      await this.topology.declareHost(admin, hostId);
    const publisher = await connection.createConfirmChannel();
    publisher.on('error', () => undefined);
    publisher.on('close', () => {
      // A channel that goes away before its confirms fails the waits: they publish again.
      for (const fail of this.awaitingConfirm)
        fail(new Error('the channel closed before the confirm'));
      this.awaitingConfirm.clear();
      this.connection.reset('the publishing channel closed');
    });
    const consumer = await connection.createChannel();
    consumer.on('error', () => undefined);
    consumer.on('close', () => this.connection.reset('the events channel closed'));
    await consumer.prefetch(20);
    await consumer.consume(
      this.topology.eventsQueue,
      (message) => {
        if (!message) return;
        // One at a time, in order: a step's end must not be recorded before its start.
        this.handling = this.handling.then(() => this.received(consumer, message));
      },
      { noAck: false },
    );
    this.admin = admin;
    this.publisher = publisher;
    this.declared.clear();
  }

  private async publish(hostId: string, id: string, body: Buffer): Promise<void> {
    await this.connection.ready();
    const { admin, publisher } = this;
    if (!admin || !publisher) throw new Error('the broker connection is not set up');
    if (!this.declared.has(hostId)) {
      await this.topology.declareHost(admin, hostId);
      this.declared.add(hostId);
    }
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      this.awaitingConfirm.add(fail);
      publisher.publish(
        this.topology.jobsExchange,
        hostId,
        body,
        { persistent: true, messageId: id, contentType: 'application/json' },
        (err: unknown) => {
          this.awaitingConfirm.delete(fail);
          if (err) reject(new Error(`the broker refused job ${id}`));
          else resolve();
        },
      );
    });
  }

  private async received(channel: Channel, message: ConsumeMessage): Promise<void> {
    const hostId: unknown = message.properties.headers?.[HOST_HEADER];
    const user: unknown = message.properties.userId;
    const drop = (why: string) => {
      this.options.logger.error({ hostId, user, why }, 'refused an event from the broker');
      channel.ack(message);
    };
    if (typeof hostId !== 'string') return drop(`no ${HOST_HEADER} header`);
    if (typeof user !== 'string') return drop('no user-id: the agent must send it');
    if (!(await this.speaksFor(user, hostId))) {
      return drop(`broker user ${user} may not speak for ${hostId}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(message.content.toString('utf8'));
    } catch {
      return drop('not JSON');
    }
    const event = agentEventSchema.safeParse(parsed);
    if (!event.success) {
      return drop(event.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    }
    // Handled before it is acknowledged; a failure is tried again here a few
    // times (to keep the order), then left to the broker to deliver again.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.eventHandler(hostId, event.data);
        channel.ack(message);
        return;
      } catch (err) {
        if (attempt >= 5 || this.closed) {
          this.options.logger.error(
            { err, hostId, id: event.data.id },
            'handling an agent event failed',
          );
          try {
            channel.nack(message, false, true);
          } catch {
            // The channel is gone: the broker delivers the event again.
          }
          return;
        }
        await sleep(200 * attempt);
      }
    }
  }

  /**
   * A broker user speaks for a host when it is trusted (the server's own, or
   * listed), or when it is named after the host: its name or its id. RabbitMQ
   * itself refuses a message whose user-id is not the connection's user.
   */
  private async speaksFor(user: string, hostId: string): Promise<boolean> {
    if (this.trusted.has(user) || user === hostId) return true;
    return user === (await this.options.hostName(hostId));
  }

  private async watchPresence(): Promise<void> {
    const admin = this.admin;
    if (!admin || this.closed) return;
    for (const hostId of await this.options.hostIds()) {
      const consumers = await this.topology.declareHost(admin, hostId);
      this.declared.add(hostId);
      const connected = consumers > 0;
      if (connected === this.present.has(hostId)) continue;
      if (connected) this.present.add(hostId);
      else this.present.delete(hostId);
      this.presenceHandler(hostId, connected);
    }
  }
}
