import type { Channel } from 'amqplib';

/** The header that names the host an event comes from (the broker vouches for its user-id). */
export const HOST_HEADER = 'x-ferry-host';

/**
 * The RabbitMQ topology, as in the design: jobs go through the direct exchange
 * `<prefix>.jobs` to one durable queue per host, `<prefix>.host.<hostId>`, bound
 * by the host's id; events from every agent go through the exchange
 * `<prefix>.events` to the durable queue `<prefix>.events`, which the server
 * replicas consume one at a time (single active consumer), so events are handled
 * in the order they were sent. The prefix is `ferry` unless configured (tests
 * use their own, to share a broker).
 */
export class Topology {
  constructor(readonly prefix = 'ferry') {}

  get jobsExchange(): string {
    return `${this.prefix}.jobs`;
  }

  get eventsExchange(): string {
    return `${this.prefix}.events`;
  }

  get eventsQueue(): string {
    return `${this.prefix}.events`;
  }

  hostQueue(hostId: string): string {
    return `${this.prefix}.host.${hostId}`;
  }

  /** Declares the exchanges and the events queue (idempotent). Needs configure rights: the server's. */
  async declareShared(channel: Channel): Promise<void> {
    await channel.assertExchange(this.jobsExchange, 'direct', { durable: true });
    await channel.assertExchange(this.eventsExchange, 'fanout', { durable: true });
    await channel.assertQueue(this.eventsQueue, {
      durable: true,
      arguments: { 'x-single-active-consumer': true },
    });
    await channel.bindQueue(this.eventsQueue, this.eventsExchange, '');
  }

  /** Declares a host's queue and binds it (idempotent); answers how many consumers it has. */
  async declareHost(channel: Channel, hostId: string): Promise<number> {
    const queue = this.hostQueue(hostId);
    const declared = await channel.assertQueue(queue, { durable: true });
    await channel.bindQueue(queue, this.jobsExchange, hostId);
    return declared.consumerCount;
  }

  /**
   * How many consumers a host's queue has (an agent connected = one consumer),
   * declaring the queue if it went missing. The binding is the sender's
   * business: a job that finds no queue comes back to it (mandatory), and it
   * declares and binds again.
   */
  async hostConsumers(channel: Channel, hostId: string): Promise<number> {
    const declared = await channel.assertQueue(this.hostQueue(hostId), { durable: true });
    return declared.consumerCount;
  }

  /**
   * The permissions a host's own broker user needs, for `rabbitmqctl
   * set_permissions <user> <configure> <write> <read>`: nothing to configure,
   * write only to the events exchange, read only its own queue.
   */
  hostPermissions(hostId: string): { configure: string; write: string; read: string } {
    return {
      configure: '^$',
      write: `^${escape(this.eventsExchange)}$`,
      read: `^${escape(this.hostQueue(hostId))}$`,
    };
  }
}

function escape(name: string): string {
  return name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
