import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AgentEvent, agentEventSchema, type Job, jobSchema } from '../../protocol/messages.js';
import type { AgentTransport, TransportLogger } from '../transport.js';
import { AmqpConnection } from './amqp-connection.js';
import { HOST_HEADER, Topology } from './topology.js';

export interface RabbitmqAgentTransportOptions {
  /** The broker, with this host's own user (or one shared by hosts, if the server trusts it). */
  url: string;
  hostId: string;
  logger: TransportLogger;
  /** Topology names' prefix (`ferry`). */
  prefix?: string;
  /** How long a job whose handler failed waits before it is handed back to the broker. */
  retryDelayMs?: number;
}

/**
 * The agent's side of the RabbitMQ transport. It consumes its own queue with a
 * prefetch of one, so jobs come one at a time in order, and acknowledges a job
 * only once the handler has recorded its result (in the journal, with every
 * event confirmed). Events are published, persistent, to the events exchange
 * with this connection's user-id (which the broker checks) and the host's id;
 * each is kept until the broker confirms it, and published again after a lost
 * connection. `drain` resolves when every event emitted so far is confirmed: the
 * broker holds them then, whatever happens to this process.
 *
 * The agent declares nothing, so that its broker user needs no configure
 * rights: the server declares the host's queue.
 */
export class RabbitmqAgentTransport implements AgentTransport {
  private readonly topology: Topology;
  private readonly connection: AmqpConnection;
  private publisher: ConfirmChannel | undefined;
  private onJob: ((job: Job) => Promise<void>) | undefined;
  private connectionHandler: (connected: boolean) => void = () => undefined;
  /** Events not yet confirmed by the broker, in the order they were emitted. */
  private readonly unconfirmed = new Map<string, AgentEvent>();
  /** Events published on the current channel and waiting for their confirm. */
  private readonly inFlight = new Set<string>();
  private drainWaiters: (() => void)[] = [];
  private jobs: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: RabbitmqAgentTransportOptions) {
    this.topology = new Topology(options.prefix);
    this.connection = new AmqpConnection({
      url: options.url,
      logger: options.logger,
      name: `agent ${options.hostId}`,
      setup: (connection) => this.setup(connection),
      onLost: () => {
        this.publisher = undefined;
        this.inFlight.clear();
        this.connectionHandler(false);
      },
    });
  }

  start(onJob: (job: Job) => Promise<void>): void {
    this.onJob = onJob;
    this.connection.start();
  }

  emit(event: AgentEvent): void {
    const checked = agentEventSchema.parse(event);
    this.unconfirmed.set(checked.id, checked);
    if (this.publisher) this.publish(this.publisher, checked);
  }

  drain(): Promise<void> {
    if (this.unconfirmed.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  onConnection(handler: (connected: boolean) => void): void {
    this.connectionHandler = handler;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.connection.close();
    await this.jobs;
  }

  private async setup(connection: ChannelModel): Promise<void> {
    const publisher = await connection.createConfirmChannel();
    publisher.on('error', () => undefined);
    publisher.on('close', () => this.connection.reset('the publishing channel closed'));
    const consumer = await connection.createChannel();
    consumer.on('error', (err: Error) =>
      this.options.logger.error(
        { hostId: this.options.hostId, err: err.message },
        'the broker refused the job queue (does the server know this host, and may this user read its queue?)',
      ),
    );
    consumer.on('close', () => this.connection.reset('the job channel closed'));
    await consumer.prefetch(1);
    await consumer.consume(
      this.topology.hostQueue(this.options.hostId),
      (message) => {
        if (!message) return;
        this.jobs = this.jobs.then(() => this.received(consumer, message));
      },
      { noAck: false },
    );
    this.publisher = publisher;
    // What was not confirmed before the connection was lost goes out again, in order.
    for (const event of this.unconfirmed.values()) this.publish(publisher, event);
    this.connectionHandler(true);
  }

  private publish(publisher: ConfirmChannel, event: AgentEvent): void {
    if (this.inFlight.has(event.id)) return;
    this.inFlight.add(event.id);
    publisher.publish(
      this.topology.eventsExchange,
      '',
      Buffer.from(JSON.stringify(event)),
      {
        persistent: true,
        messageId: event.id,
        contentType: 'application/json',
        userId: this.connection.username,
        headers: { [HOST_HEADER]: this.options.hostId },
      },
      (err: unknown) => {
        if (this.publisher !== publisher) return;
        this.inFlight.delete(event.id);
        if (err) {
          // Refused (nacked): kept, and published again after the next reconnection.
          this.options.logger.warn({ id: event.id }, 'the broker did not take an event');
          return;
        }
        this.unconfirmed.delete(event.id);
        if (this.unconfirmed.size === 0) {
          for (const resolve of this.drainWaiters.splice(0)) resolve();
        }
      },
    );
  }

  private async received(channel: Channel, message: ConsumeMessage): Promise<void> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message.content.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const job = jobSchema.safeParse(parsed);
    if (!job.success) {
      const error = job.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      this.options.logger.error({ error }, 'refused an invalid job');
      settle(() => channel.ack(message));
      return;
    }
    try {
      await this.onJob?.(job.data);
      // On a channel lost meanwhile this fails: the job comes again, and the
      // journal answers it with its result instead of running it twice.
      settle(() => channel.ack(message));
    } catch (err) {
      this.options.logger.error({ err, jobId: job.data.id }, 'handling a job failed');
      if (this.closed) return;
      await sleep(this.options.retryDelayMs ?? 2000);
      settle(() => channel.nack(message, false, true));
    }
  }
}

/** Acks and nacks on a channel that closed throw; the broker then delivers the job again. */
function settle(action: () => void): void {
  try {
    action();
  } catch {
    // The channel is gone.
  }
}
