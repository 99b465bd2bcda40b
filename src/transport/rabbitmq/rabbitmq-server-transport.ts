import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Message } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '../../protocol/errors.js';
import { assertJobFits } from '../../protocol/job-size.js';
import { type AgentEvent, agentEventSchema, type Job, jobSchema } from '../../protocol/messages.js';
import type { ServerTransport, TransportLogger } from '../transport.js';
import { AmqpConnection } from './amqp-connection.js';
import { HOST_HEADER, Topology } from './topology.js';

export interface RabbitmqServerTransportOptions {
  /** The broker, with the server's own user: it declares the topology. */
  url: string;
  /** For an amqps:// URL: a PEM file of the CA the broker's certificate must chain to (else the system's). */
  caFile?: string | undefined;
  logger: TransportLogger;
  /** Every enrolled host: their queues are declared, and their presence watched. */
  hostIds: () => Promise<string[]>;
  /** Who may speak for a host: its name, by default, besides the host's id and trusted users. */
  hostName: (hostId: string) => Promise<string | undefined>;
  /**
   * Whether a host was cut off (on any replica): its queue, once deleted, is
   * never declared again, even by a job that was on its way when the host was
   * cut off. Hosts cut off through this transport's `disconnect` count already.
   */
  isCutOff?: (hostId: string) => Promise<boolean>;
  /**
   * Broker users trusted to speak for any host (agents that share one user).
   * The server's own user always is.
   */
  trustedUsers?: string[];
  /** Topology names' prefix (`ferry`). */
  prefix?: string;
  /** How often hosts' presence is read from their queues' consumers. */
  presenceIntervalMs?: number;
  /** How long `send` keeps trying, connection outages included, before it gives up. */
  sendTimeoutMs?: number;
  /**
   * An event whose handler keeps failing goes back to the broker after this
   * delay, doubled at each failure up to `maxRetryDelayMs`.
   */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Reconnection backoff: the first delay, doubled up to the second, with jitter. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /**
   * How long `close` waits for the event being handled to end (3 s, within
   * the server's 8 s to stop) before it gives up on it, saying so in the log.
   */
  stopWaitMs?: number;
}

/** Quick tries of an event's handler before it is handed back to the broker: they keep the order. */
const QUICK_TRIES = 3;

/** Failure counts kept for events being retried; beyond it the oldest are forgotten. */
const MAX_TRACKED_FAILURES = 10_000;

/**
 * The server's side of the RabbitMQ transport. A job is published, persistent
 * and mandatory, to the `jobs` exchange with the host's id as routing key, and
 * `send` resolves only once the broker confirmed it (a connection lost before
 * the confirm, or a job that found no queue, means publishing it again: the job
 * id makes that harmless). Events are consumed from the `events` queue, in
 * order, and acknowledged only once handled. A host is connected while its
 * queue has a consumer: every replica reads that from the broker, so they agree.
 *
 * @example
 *   const transport = new RabbitmqServerTransport({
 *     url: 'amqp://ferry:secret@rabbit:5672', logger,
 *     hostIds: async () => (await store.listHosts()).map((h) => h.id),
 *     hostName: async (id) => (await store.getHost(id))?.name,
 *   });
 */
export class RabbitmqServerTransport implements ServerTransport {
  private readonly topology: Topology;
  private readonly connection: AmqpConnection;
  private publisher: ConfirmChannel | undefined;
  private admin: Channel | undefined;
  /** Hosts whose queue is declared and bound on the current connection. */
  private readonly declared = new Set<string>();
  private eventHandler: (hostId: string, event: AgentEvent) => Promise<void> = () =>
    Promise.resolve();
  private presenceHandler: (hostId: string, connected: boolean) => void = () => undefined;
  private readonly present = new Set<string>();
  /** Hosts cut off through `disconnect`: no queue is declared for them any more. */
  private readonly cutOff = new Set<string>();
  /** Until a first full reading, every host's presence is told, not only changes. */
  private presenceRead = false;
  private polling = false;
  private readonly presenceTimer: NodeJS.Timeout;
  private handling: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly trusted: Set<string>;
  /** Publishes waiting for the broker's confirm, failed together if the channel closes. */
  private readonly awaitingConfirm = new Set<(err: Error) => void>();
  /** Jobs the broker handed back as unroutable (their host's queue was gone). */
  private readonly returned = new Set<string>();
  /** Events whose handler failed, by id, with how many times. */
  private readonly failures = new Map<string, number>();
  /** Events waiting to be handed back to the broker after a failure. */
  private readonly retryTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: RabbitmqServerTransportOptions) {
    this.topology = new Topology(options.prefix);
    this.connection = new AmqpConnection({
      url: options.url,
      caFile: options.caFile,
      logger: options.logger,
      name: 'server',
      setup: (connection) => this.setup(connection),
      onLost: () => {
        this.publisher = undefined;
        this.admin = undefined;
        this.declared.clear();
      },
      initialDelayMs: options.initialDelayMs,
      maxDelayMs: options.maxDelayMs,
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
    // Bounded like the built-in transport's frames, so both refuse the same jobs.
    assertJobFits(message, `install ${message.id} for host ${hostId}`);
    const body = Buffer.from(JSON.stringify(message));
    const timeoutMs = this.options.sendTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        // A broker that is down counts against the deadline too: the caller hears of it.
        await within(this.connection.ready(), deadline - Date.now(), 'the broker is unreachable');
        await this.publish(hostId, message.id, body);
        return;
      } catch (err) {
        // A host cut off: trying again will not give it a queue.
        if (err instanceof FerryError) throw err;
        const why = (err as Error).message;
        if (this.closed || Date.now() >= deadline) {
          throw new FerryError(
            'E_TRANSPORT_UNAVAILABLE',
            `RabbitMQ did not take job ${message.id} for host ${hostId} within ${timeoutMs / 1000} s: ${why}`,
            { hostId, jobId: message.id },
            { cause: err },
          );
        }
        this.options.logger.warn(
          { hostId, jobId: message.id, err: why },
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

  /**
   * Stops consuming and publishing. Hosts are not reported gone: their agents
   * are still connected to the broker, and another replica (or this one, when
   * it starts again) reads their presence from there.
   */
  /**
   * Deletes the host's queue: the broker cancels the agent's consumer, and the
   * agent cannot declare the queue again (its user has no configure rights).
   * `hostIds` must no longer list the host, or the queue would be declared again.
   */
  async disconnect(hostId: string, reason: string): Promise<void> {
    this.cutOff.add(hostId);
    this.declared.delete(hostId);
    const admin = this.admin;
    // Thrown, not skipped: the caller tries again until the queue is gone.
    if (!admin)
      throw new Error(`not connected to the broker: the queue of ${hostId} is still there`);
    this.options.logger.warn({ hostId, reason }, 'deleting a cut-off host queue');
    await admin.deleteQueue(this.topology.hostQueue(hostId));
    // No longer read from the broker (not in `hostIds`): told gone here, once its queue is.
    if (this.present.delete(hostId)) this.presenceHandler(hostId, false);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.presenceTimer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    // The event being handled ends before the connection closes, so that its
    // ack goes; the events delivered behind it are not handled (see
    // `received`), and the broker delivers them again once the channel closes.
    const ms = this.options.stopWaitMs ?? 3000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)));
    const inTime = await Promise.race([this.handling.then(() => true), late]);
    clearTimeout(timer);
    if (!inTime)
      this.options.logger.warn(
        {},
        `stopping with an agent event still being handled after ${ms / 1000} s: not acknowledged, the broker delivers it again`,
      );
    await this.connection.close();
  }

  private async setup(connection: ChannelModel): Promise<void> {
    const admin = await connection.createChannel();
    admin.on('error', () => undefined);
    admin.on('close', () => this.connection.reset('the server channel closed'));
    await this.topology.declareShared(admin);
    for (const hostId of await this.options.hostIds())
      if (!this.cutOff.has(hostId)) await this.topology.declareHost(admin, hostId);
    const publisher = await connection.createConfirmChannel();
    publisher.on('error', () => undefined);
    publisher.on('return', (message: Message) => {
      const id: unknown = message.properties.messageId;
      if (typeof id === 'string') this.returned.add(id);
    });
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
        // The broker cancelled the consumer (the queue was deleted): start over, declaring it.
        if (!message) return this.connection.reset('the events queue went away');
        // One at a time, in order: a step's end must not be recorded before its start.
        this.handling = this.handling
          .then(() => this.received(consumer, message))
          .catch((err: unknown) =>
            this.options.logger.error({ err }, 'handling an event from the broker failed'),
          );
      },
      { noAck: false },
    );
    this.admin = admin;
    this.publisher = publisher;
    this.declared.clear();
  }

  private async publish(hostId: string, id: string, body: Buffer): Promise<void> {
    const { admin, publisher } = this;
    if (!admin || !publisher) throw new Error('the broker connection is not set up');
    if (!this.declared.has(hostId)) {
      // The queue of a host cut off is gone for good: a job that was on its way
      // when the host was cut off (it found no queue and came back) must not bring it back.
      if (this.cutOff.has(hostId) || (await this.options.isCutOff?.(hostId))) {
        throw new FerryError(
          'E_TRANSPORT_UNAVAILABLE',
          `Host ${hostId} was cut off: it has no queue any more, and job ${id} is not sent`,
          { hostId, jobId: id },
        );
      }
      await this.topology.declareHost(admin, hostId);
      this.declared.add(hostId);
    }
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      this.awaitingConfirm.add(fail);
      this.returned.delete(id);
      publisher.publish(
        this.topology.jobsExchange,
        hostId,
        body,
        // Mandatory: a job that reaches no queue comes back instead of being dropped.
        { persistent: true, mandatory: true, messageId: id, contentType: 'application/json' },
        (err: unknown) => {
          this.awaitingConfirm.delete(fail);
          if (err) return reject(new Error(`the broker refused job ${id}`));
          // The broker returns an unroutable message before it confirms it.
          if (this.returned.delete(id)) {
            this.declared.delete(hostId);
            return reject(new Error(`job ${id} found no queue for host ${hostId}`));
          }
          resolve();
        },
      );
    });
  }

  private async received(channel: Channel, message: ConsumeMessage): Promise<void> {
    const hostId: unknown = message.properties.headers?.[HOST_HEADER];
    const user: unknown = message.properties.userId;
    const drop = (why: string) => {
      this.options.logger.error({ hostId, user, why }, 'refused an event from the broker');
      settle(() => channel.ack(message));
    };
    if (typeof hostId !== 'string') return drop(`no ${HOST_HEADER} header`);
    if (typeof user !== 'string') return drop('no user-id: the agent must send it');
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
    // Handled before it is acknowledged. A failure is tried again here a few
    // times, which keeps the order through a short hiccup; then the event is
    // handed back to the broker after a growing delay, without holding up the
    // events behind it (an event that always fails must not stop the others,
    // nor spin).
    const id = event.data.id;
    let lastError: unknown;
    for (let attempt = 1; attempt <= QUICK_TRIES && !this.closed; attempt++) {
      try {
        // Asked each time: the host's name comes from the store, which may be what failed.
        if (!(await this.speaksFor(user, hostId))) {
          return drop(`broker user ${user} may not speak for ${hostId}`);
        }
        await this.eventHandler(hostId, event.data);
        this.failures.delete(id);
        settle(() => channel.ack(message));
        return;
      } catch (err) {
        lastError = err;
        if (attempt < QUICK_TRIES) await sleep(100 * attempt);
      }
    }
    if (this.closed) return; // Not acknowledged: the broker delivers it again.
    const failures = (this.failures.get(id) ?? 0) + 1;
    this.failures.delete(id);
    this.failures.set(id, failures);
    if (this.failures.size > MAX_TRACKED_FAILURES) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    const delay = Math.min(
      this.options.maxRetryDelayMs ?? 30_000,
      (this.options.retryDelayMs ?? 1000) * 2 ** (failures - 1),
    );
    this.options.logger.error(
      { err: lastError, hostId, id, type: event.data.type, failures, retryInMs: delay },
      'handling an agent event failed; the broker delivers it again later',
    );
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      settle(() => channel.nack(message, false, true));
    }, delay);
    this.retryTimers.add(timer);
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
    // A reading of many hosts may outlast the interval: one at a time.
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      await this.readPresence();
    } finally {
      this.polling = false;
    }
  }

  private async readPresence(): Promise<void> {
    const hostIds = await this.options.hostIds();
    for (const hostId of hostIds) {
      const admin = this.admin;
      if (!admin || this.closed) return;
      // Cut off since `hostIds` was read: its queue is not declared again.
      if (this.cutOff.has(hostId)) continue;
      let consumers: number;
      if (this.declared.has(hostId)) {
        consumers = await this.topology.hostConsumers(admin, hostId);
      } else {
        consumers = await this.topology.declareHost(admin, hostId);
        this.declared.add(hostId);
      }
      const connected = consumers > 0;
      // The first reading tells every host: the store may say a host is connected
      // whose agent went away while no server was watching.
      if (this.presenceRead && connected === this.present.has(hostId)) continue;
      if (connected) this.present.add(hostId);
      else this.present.delete(hostId);
      this.presenceHandler(hostId, connected);
    }
    this.presenceRead = true;
  }
}

/** Acks and nacks on a channel that closed throw; the broker then delivers the message again. */
function settle(action: () => void): void {
  try {
    action();
  } catch {
    // The channel is gone.
  }
}

/** Waits for `promise`, or fails with `why` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, why: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(why)), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
