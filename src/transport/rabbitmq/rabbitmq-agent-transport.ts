import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Message } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AgentEvent, agentEventSchema, type Job, jobSchema } from '../../protocol/messages.js';
import { MAX_JOB_BYTES, MAX_MESSAGE_BYTES } from '../../protocol/job-size.js';
import type { AgentTransport, TransportLogger } from '../transport.js';
import { dropSupersededHealth } from '../superseded-health.js';
import { JobRetries, unhandledJobEvent } from '../unhandled-job.js';
import { AmqpConnection } from './amqp-connection.js';
import { HOST_HEADER, Topology } from './topology.js';

export interface RabbitmqAgentTransportOptions {
  /** The broker, with this host's own user (or one shared by hosts, if the server trusts it). */
  url: string;
  hostId: string;
  /** For an amqps:// URL: a PEM file of the CA the broker's certificate must chain to (else the system's). */
  caFile?: string | undefined;
  logger: TransportLogger;
  /** Topology names' prefix (`ferry`). */
  prefix?: string;
  /** How long a job whose handler failed waits before it is handed back to the broker. */
  retryDelayMs?: number;
  /**
   * How long a job's handler may keep failing before the job is ended as a
   * failed install and acknowledged (15 minutes); a `FinalJobError` ends it at once.
   */
  giveUpAfterMs?: number;
  /** How long an event the broker did not take (nacked, or no queue to go to) waits before it is published again. */
  resendDelayMs?: number;
  /** Reconnection backoff: the first delay, doubled up to the second, with jitter. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * The largest event published, as JSON: the built-in transport's frame limit.
 * Step output is sent in pieces of at most 64 Ki characters (`StepReporter`),
 * and the schema bounds a piece to 256 Ki, so only an outlandish facts report
 * could come near it.
 */
export const MAX_EVENT_BYTES = MAX_MESSAGE_BYTES;

/**
 * The agent's side of the RabbitMQ transport. It consumes its own queue with a
 * prefetch of one, so jobs come one at a time in order, and acknowledges a job
 * only once the handler has recorded its result (in the journal, with every
 * event confirmed). Events are published, persistent and mandatory, to the
 * events exchange with this connection's user-id (which the broker checks) and
 * the host's id; each is kept until the broker confirms it has queued it, and
 * published again after a lost connection, a nack or a return. `drain` resolves
 * when every event emitted so far is confirmed: the broker holds them then,
 * whatever happens to this process.
 *
 * The agent declares nothing, so that its broker user needs no configure
 * rights: the server declares the host's queue.
 *
 * @example
 *   const transport = new RabbitmqAgentTransport({ url: 'amqp://qa-web-1:secret@rabbit', hostId, logger });
 *   transport.start(async (job) => { ...record it in the journal...; await transport.drain(); });
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
  /** Events the broker returned as unroutable (no events queue bound). */
  private readonly returned = new Set<string>();
  private drainWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private resendTimer: NodeJS.Timeout | undefined;
  private jobs: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly retries: JobRetries;

  constructor(private readonly options: RabbitmqAgentTransportOptions) {
    this.retries = new JobRetries(options.giveUpAfterMs);
    this.topology = new Topology(options.prefix);
    this.connection = new AmqpConnection({
      url: options.url,
      caFile: options.caFile,
      logger: options.logger,
      name: `agent ${options.hostId}`,
      setup: (connection) => this.setup(connection),
      onLost: () => {
        this.publisher = undefined;
        this.inFlight.clear();
        this.connectionHandler(false);
      },
      initialDelayMs: options.initialDelayMs,
      maxDelayMs: options.maxDelayMs,
    });
  }

  start(onJob: (job: Job) => Promise<void>): void {
    this.onJob = onJob;
    this.connection.start();
  }

  emit(event: AgentEvent): void {
    const checked = agentEventSchema.parse(event);
    const bytes = Buffer.byteLength(JSON.stringify(checked));
    if (bytes > MAX_EVENT_BYTES) {
      throw new Error(
        `A ${checked.type} event of ${bytes} bytes is larger than the ${MAX_EVENT_BYTES} a transport carries`,
      );
    }
    // A newer health report of an app replaces one not yet confirmed: the latest says all.
    dropSupersededHealth(this.unconfirmed, checked);
    this.unconfirmed.set(checked.id, checked);
    if (this.publisher) this.publish(this.publisher, checked);
  }

  drain(): Promise<void> {
    if (this.unconfirmed.size === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(closedError(this.unconfirmed.size));
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  onConnection(handler: (connected: boolean) => void): void {
    this.connectionHandler = handler;
  }

  /**
   * Nothing to do: the broker connection authenticates with the host's broker
   * user (the operator's, in the URL), not with its Ferry credential, which
   * only the agent's HTTP calls carry.
   */
  useCredential(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Stops taking jobs. A job under way is waited for; if it waits for its
   * events' confirms, it is told they will not come (its `drain` rejects), so
   * it is not acknowledged and comes again on the next start, when the journal
   * reports its result again.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.resendTimer);
    for (const waiter of this.drainWaiters.splice(0))
      waiter.reject(closedError(this.unconfirmed.size));
    await this.connection.close();
    await this.jobs;
  }

  private async setup(connection: ChannelModel): Promise<void> {
    const publisher = await connection.createConfirmChannel();
    publisher.on('error', () => undefined);
    publisher.on('close', () => {
      if (this.publisher === publisher) this.publisher = undefined;
      this.connection.reset('the publishing channel closed');
    });
    publisher.on('return', (message: Message) => {
      const id: unknown = message.properties.messageId;
      if (typeof id === 'string') this.returned.add(id);
    });
    const consumer = await connection.createChannel();
    const queue = this.topology.hostQueue(this.options.hostId);
    let consuming = false;
    consumer.on('error', (err: Error) => {
      // Before consuming, the failure is the connection attempt's, said once there.
      if (consuming) {
        this.options.logger.error(
          { hostId: this.options.hostId, queue, err: err.message },
          'the broker closed the job channel',
        );
      }
    });
    consumer.on('close', () => this.connection.reset('the job channel closed'));
    await consumer.prefetch(1);
    try {
      await consumer.consume(
        queue,
        (message) => {
          // The broker cancelled the consumer (the queue was deleted): start over.
          if (!message) return this.connection.reset('the job queue went away');
          this.jobs = this.jobs
            .then(() => this.received(consumer, message))
            .catch((err: unknown) =>
              this.options.logger.error({ err }, 'handling a job from the broker failed'),
            );
        },
        { noAck: false },
      );
    } catch (err) {
      throw new Error(
        `cannot take jobs from ${queue}: ${(err as Error).message} ` +
          '(NOT_FOUND: the server has not declared it yet, which it does within seconds of the ' +
          "host's enrolment; ACCESS_REFUSED: this broker user may not read it)",
        { cause: err },
      );
    }
    consuming = true;
    this.publisher = publisher;
    // What was not confirmed before the connection was lost goes out again, in order.
    for (const event of this.unconfirmed.values()) this.publish(publisher, event);
    this.connectionHandler(true);
  }

  private publish(publisher: ConfirmChannel, event: AgentEvent): void {
    if (this.inFlight.has(event.id)) return;
    this.inFlight.add(event.id);
    this.returned.delete(event.id);
    try {
      publisher.publish(
        this.topology.eventsExchange,
        '',
        Buffer.from(JSON.stringify(event)),
        {
          persistent: true,
          // An event that reaches no queue comes back instead of being dropped.
          mandatory: true,
          messageId: event.id,
          contentType: 'application/json',
          userId: this.connection.username,
          headers: { [HOST_HEADER]: this.options.hostId },
        },
        (err: unknown) => this.confirmed(publisher, event.id, err),
      );
    } catch (err) {
      // The channel closed under us: the next connection publishes it again.
      this.inFlight.delete(event.id);
      this.options.logger.warn(
        { id: event.id, err: (err as Error).message },
        'could not publish an event',
      );
    }
  }

  private confirmed(publisher: ConfirmChannel, id: string, err: unknown): void {
    if (this.publisher !== publisher) return;
    this.inFlight.delete(id);
    // The broker returns an unroutable message before it confirms it.
    const returned = this.returned.delete(id);
    if (err) {
      // A closing channel fails its confirms before it says it closed: looked at
      // a turn later, a lost channel is no nack (the next connection publishes
      // the event again).
      setImmediate(() => {
        if (this.publisher === publisher) this.refused(id, 'nacked');
      });
      return;
    }
    if (returned) return this.refused(id, 'no events queue to go to');
    this.unconfirmed.delete(id);
    if (this.unconfirmed.size === 0) {
      for (const waiter of this.drainWaiters.splice(0)) waiter.resolve();
    }
  }

  /**
   * The broker did not take an event: it is kept and published again after a
   * while (the server declares the events queue when it starts, and a nack is
   * the broker's passing trouble).
   */
  private refused(id: string, why: string): void {
    this.options.logger.warn(
      { id, why },
      'the broker did not take an event; publishing it again later',
    );
    this.scheduleResend();
  }

  private scheduleResend(): void {
    if (this.resendTimer !== undefined || this.closed) return;
    this.resendTimer = setTimeout(() => {
      this.resendTimer = undefined;
      const publisher = this.publisher;
      if (!publisher) return; // The next connection publishes them all.
      for (const event of this.unconfirmed.values()) this.publish(publisher, event);
    }, this.options.resendDelayMs ?? 2000);
  }

  /**
   * A job this agent cannot handle ends as a failed install with the reason,
   * and is acknowledged so that the jobs behind it come. Until the broker has
   * the event, the job stays unacknowledged (and comes again).
   */
  private async refuse(
    channel: Channel,
    message: ConsumeMessage,
    id: string,
    error: string,
  ): Promise<void> {
    this.options.logger.error({ id, error }, 'refused a job this agent cannot handle');
    await this.endFailed(channel, message, id, `this agent cannot handle it (${error})`);
  }

  /** Ends a job as a failed install with the reason, then acknowledges it once the broker has the event. */
  private async endFailed(
    channel: Channel,
    message: ConsumeMessage,
    id: string,
    reason: string,
  ): Promise<void> {
    try {
      if (id !== '') {
        this.emit(unhandledJobEvent(id, reason));
        await this.drain();
      }
      settle(() => channel.ack(message));
    } catch (err) {
      this.options.logger.error({ err, jobId: id }, 'reporting an unhandled job failed');
    }
  }

  private async received(channel: Channel, message: ConsumeMessage): Promise<void> {
    // Delivered as the transport was closing: not acknowledged, so it comes again.
    if (this.closed) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message.content.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const job = jobSchema.safeParse(parsed);
    const tooLarge = message.content.length > MAX_JOB_BYTES;
    if (!job.success || tooLarge) {
      const error = tooLarge
        ? `it is ${message.content.length} bytes, more than the ${MAX_JOB_BYTES} a transport message carries`
        : job.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      await this.refuse(channel, message, idOf(parsed), error);
      return;
    }
    try {
      await this.onJob?.(job.data);
      this.retries.done(job.data.id);
      // On a channel lost meanwhile this fails: the job comes again, and the
      // journal answers it with its result instead of running it twice.
      settle(() => channel.ack(message));
    } catch (err) {
      if (this.closed) {
        this.options.logger.error({ err, jobId: job.data.id }, 'handling a job failed');
        return;
      }
      const givenUp = this.retries.failed(job.data.id, err);
      if (givenUp !== undefined) {
        // Ended as a failed install and acknowledged, as a job that cannot be handled is.
        this.options.logger.error(
          { err, jobId: job.data.id, reason: givenUp },
          'handling a job failed for good: it ends as a failed install',
        );
        await this.endFailed(channel, message, job.data.id, givenUp);
        return;
      }
      this.options.logger.error({ err, jobId: job.data.id }, 'handling a job failed');
      // Held a while before it is handed back, so a failing disk does not spin.
      await sleep(this.options.retryDelayMs ?? 2000);
      settle(() => channel.nack(message, false, true));
    }
  }
}

/** The id a job that does not parse carried, if any. */
function idOf(message: unknown): string {
  const id = (message as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id.length <= 100 ? id : '';
}

function closedError(pending: number): Error {
  return new Error(
    `the transport closed with ${pending} event(s) not confirmed by the broker; the job comes again`,
  );
}

/** Acks and nacks on a channel that closed throw; the broker then delivers the job again. */
function settle(action: () => void): void {
  try {
    action();
  } catch {
    // The channel is gone.
  }
}
