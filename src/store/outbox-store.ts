/** A message waiting in a host's outbox: its id and its serialized body. */
export interface OutboxMessage {
  id: string;
  body: string;
}

/**
 * Each host's durable outbox, for the built-in transport: jobs wait here until
 * the host's agent acknowledges them. Bodies are sealed at rest.
 *
 * @example
 *   await store.outbox.enqueue(hostId, { id: job.id, body: JSON.stringify(job) });
 *   for (const message of await store.outbox.pending(hostId)) send(message);
 */
export interface OutboxStore {
  /** Adds a message to a host's outbox; adding the same message id again changes nothing. */
  enqueue(hostId: string, message: OutboxMessage): Promise<void>;
  /** A host's messages not yet acknowledged, oldest first. */
  pending(hostId: string): Promise<OutboxMessage[]>;
  /** Removes an acknowledged message. */
  ack(hostId: string, messageId: string): Promise<void>;
  /** How many messages wait in all the hosts' outboxes together (a count; no body is read). */
  depth(): Promise<number>;
}
